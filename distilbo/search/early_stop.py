"""Early stopping at rungs (`[search] rungs`): how a running trial asks whether to go on, and how the search
answers, with the other trials' rung results from the study's storage. The ranking itself is `_rungs` (pure).

    # in a trial function (the default one, distill.trial.run_trial, does this at each rung fraction):
    if not report_rung(trial_dir, k, {"HasAns_forced_f1": 41.2, "num_parameters": 9.3e6}):
        raise StoppedAtRung(k)

Protocol. The trial runs in a child process (`search._launch.run_child`): `report_rung` (`distill.rung_report`,
the trial's side, re-exported here) writes `rung-K.json` into the trial folder and waits for `rung-K-decision.json`,
which the parent writes after `decide` (the parent polls the folder while it waits for the child). A trial function
run in the search's own process (tests, debugging) gets the same answer through an in-process hook. Outside a
search (`distilbo distill`), every rung answers "go on".

The decision (`decide`): the trial's rung result is stored first, as user attr `rung_K` = {metrics, continued} on
its Optuna trial, so every worker on the storage sees every rung result; then the trial is ranked with all trials
holding a `rung_K` (any state: a trial that was later stopped, killed or finished still reached the rung) by the
study's objectives, its cost metrics exact from before training (`known`: num_parameters, predicted latency) and its
accuracy from the rung's dev subset, and goes on when `_rungs.continues` says so.

A stopped trial (the child exits with EXIT_STOPPED) becomes Optuna state PRUNED with `stopped_at_rung` = K. It
counts toward the budget, is never on the frontier or in a scenario and keeps no checkpoint.

What the samplers learn from it (`stopped_as_finished`): its rung value is never taken as a final one. The gp and
botorch samplers see a stopped trial as a finished one whose accuracy is a PREDICTION, rung value + the median gain
(final - rung value) of the trials that went on from the same rung and finished (`_rungs.predicted_final`), and
whose size and latency are the exact values known before training. Until 3 trials have gone on from that rung and
finished, it informs no model. Measured on the surrogate (benchmarks/early_stopping.py, gp, 120 epochs): left
out, the GP modeled ~10 of 80 trials and ended at HV 2,063 (seeds 0-4); seen at predicted values, 2,256 (10 seeds;
full fidelity: 2,228). tpe, nsga2 and random never see stopped trials (Optuna's own handling of PRUNED trials).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import optuna
from optuna.trial import TrialState

from distilbo._io import write_json_atomic
# the trial's side of the protocol lives below the search and the trial (distill.rung_report); re-exported here
from distilbo.distill.rung_report import (ENV, EXIT_STOPPED, Decider, StoppedAtRung, answering, report_rung,  # noqa: F401
                                          rung_file)
from distilbo.search._rungs import continues, predicted_final, violations

if TYPE_CHECKING:
    from distilbo.config import Config


# ---------------------------------------------------------------------------------------------- search side
def answer_reports(trial_dir: Path, decide: Decider) -> None:
    """Answer every rung report in `trial_dir` that has no decision yet (the parent's poll while a child runs)."""
    for path in sorted(Path(trial_dir).glob("rung-*.json")):
        stem = path.stem
        if stem.endswith("-decision"):
            continue
        rung = int(stem.split("-")[1])
        out = rung_file(trial_dir, rung, decision=True)
        if out.exists():
            continue
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being written; the next poll reads it
        write_json_atomic(out, {"continue": bool(decide(rung, report["metrics"]))})


def rung_points(rows: list[dict[str, Any]], objectives: list[dict[str, Any]]) -> np.ndarray:
    """(n, d) rung results as points to minimize: maximized objectives negated, a missing value worst (+inf)."""
    pts = np.full((len(rows), len(objectives)), np.inf)
    for i, row in enumerate(rows):
        for j, o in enumerate(objectives):
            v = row.get(o["metric"])
            if isinstance(v, (int, float)) and np.isfinite(v):
                pts[i, j] = -float(v) if o["direction"] == "maximize" else float(v)
    return pts


def decide(trial: "optuna.trial.Trial", cfg: "Config", rung: int, metrics: dict[str, Any],
           known: dict[str, Any]) -> bool:
    """Store this trial's rung result, rank it with every trial that reached the rung, and say if it goes on."""
    s = cfg.search
    row = {**{k: v for k, v in known.items() if isinstance(v, (int, float))}, **metrics}
    key = f"rung_{rung}"
    trial.set_user_attr(key, {"metrics": row, "continued": None})
    peers = [t for t in trial.study.get_trials(deepcopy=False)
             if key in t.user_attrs and t.number != trial.number]
    rows = [t.user_attrs[key]["metrics"] for t in peers] + [row]
    go_on = continues(rung_points(rows, s.objectives), index=len(rows) - 1, eta=s.rung_eta, min_peers=s.rung_min_peers,
                      violation=violations(rows, s.constraints) if s.rung_feasible_first else None)
    trial.set_user_attr(key, {"metrics": row, "continued": go_on, "peers": len(peers)})
    return go_on


def stopped_as_finished(trials: "list[optuna.trial.FrozenTrial]", objectives: list[dict[str, Any]],
                        constraint_metrics: list[str], *,
                        constraints: Callable[[dict[str, float]], dict[str, float]]) -> "list[optuna.trial.FrozenTrial]":
    """In-memory COMPLETE copies of the stopped trials among `trials`, for the samplers only (nothing is stored):
    values and `metrics` = the exact metrics known before training + each accuracy metric predicted from the
    rung (`_rungs.predicted_final`), constraints = `constraints(metrics)` (study.constraint_values of a trial that
    ran: `failed` = -1). A stopped trial with an objective or constraint metric (`constraint_metrics`) that is
    neither known nor predictable is left out."""
    def ok(t: "optuna.trial.FrozenTrial") -> bool:
        return t.state == TrialState.COMPLETE and not t.user_attrs.get("failure") and not t.user_attrs.get("skipped")

    finished = [t for t in trials if ok(t)]
    needed = list(dict.fromkeys([o["metric"] for o in objectives] + list(constraint_metrics)))
    out = []
    for t in trials:
        if t.state != TrialState.PRUNED or "stopped_at_rung" not in t.user_attrs:
            continue
        key = f"rung_{t.user_attrs['stopped_at_rung']}"
        at_rung = (t.user_attrs.get(key) or {}).get("metrics") or {}
        metrics = {k: float(v) for k, v in (t.user_attrs.get("metrics") or {}).items() if _finite(v)}
        for m in needed:
            if m in metrics or not _finite(at_rung.get(m)):
                continue
            gains = [f.user_attrs["metrics"][m] - f.user_attrs[key]["metrics"][m] for f in finished
                     if _finite((f.user_attrs.get("metrics") or {}).get(m))
                     and _finite(((f.user_attrs.get(key) or {}).get("metrics") or {}).get(m))]
            value = predicted_final(float(at_rung[m]), gains)
            if value is not None:
                metrics[m] = value
        if any(m not in metrics for m in needed):
            continue
        cons = constraints(metrics)
        out.append(optuna.trial.FrozenTrial(
            number=t.number, trial_id=t._trial_id, state=TrialState.COMPLETE, value=None,
            values=[metrics[o["metric"]] for o in objectives], datetime_start=t.datetime_start,
            datetime_complete=t.datetime_complete, params=t.params, distributions=t.distributions,
            user_attrs={**t.user_attrs, "metrics": metrics, "predicted_from_rung": True},
            system_attrs={**t.system_attrs, **{f"constraints:{k}": v for k, v in cons.items()}},
            intermediate_values={}))
    return out


class WithStopped:
    """A study as the model-based samplers read it: its trials plus, as COMPLETE trials, the stopped ones with
    their predicted final values (`early_stop.stopped_as_finished`, bound to the search's objectives and
    constraints). Everything else (storage, directions, system attrs) is the study's own; nothing is written."""

    def __init__(self, study: "optuna.Study",
                 stopped: "Callable[[list[optuna.trial.FrozenTrial]], list[optuna.trial.FrozenTrial]]") -> None:
        self._study, self._stopped = study, stopped

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states: Any = None,
                    use_cache: bool = False) -> "list[optuna.trial.FrozenTrial]":
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        if states is not None and TrialState.COMPLETE not in states:
            return trials
        everything = self._study._get_trials(deepcopy=False, states=None, use_cache=use_cache)
        return trials + self._stopped(everything)

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> "list[optuna.trial.FrozenTrial]":
        return self._get_trials(deepcopy=deepcopy, states=states)


def stopped_view(study: "optuna.Study", stopped: "Callable[[list[optuna.trial.FrozenTrial]], list[optuna.trial.FrozenTrial]] | None") -> Any:
    """The study as a model-based sampler reads it: `WithStopped(study, stopped)` when rungs are on, else the study."""
    return WithStopped(study, stopped) if stopped is not None else study


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))
