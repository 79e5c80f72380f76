"""A trial's outcome recorded on its Optuna trial: metrics checked, objective values, constraints, failures as
data the sampler learns from, trials stopped at a rung.

    values = record_success(trial, cfg, metrics)    # inside an objective: user attrs + constraints -> objective values
    values = record_failure(trial, cfg, "out of memory: MemoryError")   # a failure the sampler learns from

Failures steer the search. A trial that runs out of memory, exceeds its time limit or raises is not left as an
Optuna FAIL (which every sampler ignores, so the GP would propose the same region again): it is recorded as
COMPLETE with pessimistic objective values (`pessimistic_metrics`) and the constraint `failed` = +1 (infeasible);
successful trials have `failed` = -1. Optuna 5 samplers (GP, TPE, NSGA-II) read constraints that the objective sets
with `trial.set_constraint` (the samplers' `constraints_func` argument is deprecated), so the GP's constraint model
learns where trials fail. Each `{metric, min, max}` of `[search] constraints` adds the constraint
`min - value` / `value - max` (<= 0 is feasible).
"""

from __future__ import annotations

import math
import shutil
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from distilbo.config import Config
from distilbo.names import SCORES

FAILED = "failed"
"""Name of the constraint every trial carries: +1 when the trial failed, -1 otherwise."""
SCORE_METRICS = SCORES
"""Scores in [0, 100] (`names.SCORES`): their pessimistic value is 0."""
INTERRUPTED = "interrupted (the worker stopped before the trial finished)"


class TrialFailure(Exception):
    """A trial failed; the message is the one-line reason recorded in the `failure` user attr."""


class TrialLost(Exception):
    """The trial's worker or node was lost (an executor's fault, not the trial's): the trial is left FAIL with this
    reason in its `failure` user attr, does not count toward the budget, and the search goes on."""


def constraint_names(cfg: Config) -> list[str]:
    """Constraint keys in the order every trial sets them: the config's, then `failed`."""
    names = []
    for c in cfg.search.constraints:
        if "min" in c:
            names.append(f"{c['metric']}>={c['min']:g}")
        if "max" in c:
            names.append(f"{c['metric']}<={c['max']:g}")
    return names + [FAILED]


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_metrics(cfg: Config, metrics: Any) -> dict[str, Any]:
    """The trial's metrics, or TrialFailure when an objective or constraint metric is missing or not finite."""
    if not isinstance(metrics, dict):
        raise TrialFailure(f"the trial returned {type(metrics).__name__}, not a dict of metrics")
    needed = [o["metric"] for o in cfg.search.objectives] + [c["metric"] for c in cfg.search.constraints]
    for m in dict.fromkeys(needed):
        if m not in metrics:
            raise TrialFailure(f"the trial's metrics have no '{m}' (it returned: {', '.join(map(str, metrics)) or 'none'})")
        if not is_number(metrics[m]):
            raise TrialFailure(f"{m} = {metrics[m]!r} (not a finite number)")
    return metrics


def objective_values(cfg: Config, metrics: dict[str, Any]) -> list[float]:
    return [float(metrics[o["metric"]]) for o in cfg.search.objectives]


def constraint_values(cfg: Config, metrics: dict[str, Any], *, failed: bool) -> dict[str, float]:
    """{name: value} in `constraint_names` order; <= 0 is feasible."""
    out = {}
    for c in cfg.search.constraints:
        v = float(metrics[c["metric"]])
        if "min" in c:
            out[f"{c['metric']}>={c['min']:g}"] = float(c["min"]) - v
        if "max" in c:
            out[f"{c['metric']}<={c['max']:g}"] = v - float(c["max"])
    out[FAILED] = 1.0 if failed else -1.0
    return out


def violated(cfg: Config, known: dict[str, Any]) -> str | None:
    """Why the metrics `known` before training (e.g. num_parameters) already break a constraint, or None."""
    for c in cfg.search.constraints:
        v = known.get(c["metric"])
        if not is_number(v):
            continue
        if "max" in c and v > c["max"]:
            return f"{c['metric']} {v:.4g} > max {c['max']:.4g} (estimated before training)"
        if "min" in c and v < c["min"]:
            return f"{c['metric']} {v:.4g} < min {c['min']:.4g} (estimated before training)"
    return None


def _bad_direction(cfg: Config, metric: str) -> str:
    """'maximize' when low values of `metric` are bad, else 'minimize'."""
    for o in cfg.search.objectives:
        if o["metric"] == metric:
            return o["direction"]
    for c in cfg.search.constraints:
        if c["metric"] == metric:
            return "maximize" if "min" in c else "minimize"
    return "maximize"


def pessimistic_metrics(study: optuna.Study, cfg: Config, *, known: dict[str, Any] | None = None,
                        overrides: dict[str, float] | None = None) -> dict[str, float]:
    """Values recorded for a failed trial, per objective/constraint metric, first that applies:
    the value known before training (`known`, e.g. num_parameters from the spec); `overrides[metric]`;
    0 for a maximized score (exact, f1, ...); the worst value any successful trial reached so far; 0."""
    known, overrides = known or {}, overrides or {}
    ok = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
          if not t.user_attrs.get("failure") and not t.user_attrs.get("skipped")]
    out = {}
    for m in dict.fromkeys([o["metric"] for o in cfg.search.objectives] + [c["metric"] for c in cfg.search.constraints]):
        direction = _bad_direction(cfg, m)
        seen = [t.user_attrs["metrics"][m] for t in ok if is_number(t.user_attrs.get("metrics", {}).get(m))]
        if is_number(known.get(m)):
            out[m] = float(known[m])
        elif m in overrides:
            out[m] = float(overrides[m])
        elif m in SCORE_METRICS and direction == "maximize":
            out[m] = 0.0
        elif seen:
            out[m] = float(min(seen) if direction == "maximize" else max(seen))
        else:
            out[m] = 0.0
    return out


def _set_constraints(trial: Trial, constraints: dict[str, float]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "already set" on a retried trial is harmless
        for k, v in constraints.items():
            trial.set_constraint(k, v)


def record_success(trial: Trial, cfg: Config, metrics: dict[str, Any]) -> list[float]:
    """Store the metrics and constraints of a trial that ran; returns its objective values (for `tell`)."""
    metrics = check_metrics(cfg, metrics)
    trial.set_user_attr("metrics", jsonable(metrics))
    _set_constraints(trial, constraint_values(cfg, metrics, failed=False))
    return objective_values(cfg, metrics)


def record_failure(trial: Trial, cfg: Config, reason: str, *, known: dict[str, Any] | None = None,
                   pessimistic: dict[str, float] | None = None, skipped: bool = False) -> list[float]:
    """Record a failed (or, with `skipped`, a not-run infeasible) trial as data the sampler learns from:
    user attr `failure` (or `skipped`) = reason, pessimistic objective values, constraints violated.
    Returns the objective values to complete the trial with."""
    reason = " ".join(str(reason).split())[:300] or "failed"
    values = pessimistic_metrics(trial.study, cfg, known=known, overrides=pessimistic)
    trial.set_user_attr("skipped" if skipped else "failure", reason)
    trial.set_user_attr("metrics", jsonable({k: v for k, v in (known or {}).items() if is_number(v)}))
    _set_constraints(trial, constraint_values(cfg, values, failed=not skipped))
    return objective_values(cfg, values)


def record_stopped(trial: Trial, rung: int, *, known: dict[str, Any] | None = None) -> None:
    """Record a trial the search stopped at a rung (`search.early_stop`; the caller then raises TrialPruned):
    user attr `stopped_at_rung`, `metrics` = only what was known before training (the rung scores stay in
    `rung_K`, never taken for final ones), and its checkpoint folder removed if the trial left one."""
    trial.set_user_attr("stopped_at_rung", int(rung))
    trial.set_user_attr("metrics", jsonable({k: v for k, v in (known or {}).items() if is_number(v)}))
    folder = trial.user_attrs.get("trial_dir")
    if folder:
        shutil.rmtree(Path(folder) / "model", ignore_errors=True)


def is_finished(t: FrozenTrial) -> bool:
    """A trial that counts toward the budget: COMPLETE (failures and skipped ones included) or stopped at a rung."""
    return t.state == TrialState.COMPLETE or (t.state == TrialState.PRUNED and "stopped_at_rung" in t.user_attrs)


def jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, (bool, int, str)) or v is None:
            out[k] = v
        elif isinstance(v, float) or hasattr(v, "__float__"):
            out[k] = float(v)
        else:
            out[k] = str(v)
    return out
