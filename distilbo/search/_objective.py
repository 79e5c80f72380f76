"""The Optuna objective of the search: sample a trial's parameters, estimate it, run it through an executor and
record its outcome; and the baseline trial.

    objective = make_objective(cfg, trial_fn="mypkg.trials:fn")            # a child process per trial (`_launch`)
    objective = make_objective(cfg, execute=RayExecutor(cfg, run_child=run_child))   # each trial a Ray task

Each trial samples its parameters (`space.sample`), applies them with `cfg.with_overrides`, and runs
`trial_fn(cfg, trial_dir) -> dict[str, float]`. Before running, the optional `estimate_fn(cfg) -> dict` (e.g.
num_parameters from the spec) can show that a trial breaks a constraint: it is then recorded infeasible without
running (`skipped`). Failures are recorded as data (`_outcome.record_failure`), a trial stopped at a rung as PRUNED
(`_outcome.record_stopped`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import optuna
from optuna.trial import Trial, TrialState

from distilbo.config import parse_bytes, parse_space
from distilbo.search import early_stop
from distilbo.search._child import failure_reason, import_dotted
from distilbo.search._folders import study_dir
from distilbo.search._launch import RunFolderError, run_child
from distilbo.search._liveness import claim_trial
from distilbo.search._outcome import (INTERRUPTED, TrialFailure, TrialLost, record_failure, record_stopped,
                                      record_success, violated)
from distilbo.search.space import baseline_params, sample

if TYPE_CHECKING:
    from distilbo.config import Config

log = logging.getLogger(__name__)

DEFAULT_TRIAL_FN = "distilbo.distill.trial:run_trial"
DEFAULT_ESTIMATE_FN = "distilbo.distill.trial:estimate_metrics"
DEFAULT_CHECK_FN = "distilbo.distill.trial:check_inputs"
TrialFn = Callable[["Config", Path], dict]


def optional_fn(path: str | Callable | None) -> Callable | None:
    """The estimate function, or None when it is not there (yet): the search then runs every trial."""
    if path is None or callable(path):
        return path
    try:
        return import_dotted(path)
    except (ImportError, AttributeError, ValueError) as e:
        log.info("no pre-training estimate (%s: %s): every trial runs", path, e)
        return None


def make_objective(cfg: "Config", *, trial_fn: str | TrialFn = DEFAULT_TRIAL_FN,
                   estimate_fn: str | Callable | None = DEFAULT_ESTIMATE_FN,
                   pessimistic: dict[str, float] | None = None,
                   execute: Callable[..., dict] | None = None) -> Callable[[Trial], list[float]]:
    """The Optuna objective of the search. A string `trial_fn` ("module:function") runs in a child process; a
    callable runs in this process (tests, debugging; its exceptions are recorded as failures the same way).
    `pessimistic` overrides the values recorded for failed trials (see `_outcome.pessimistic_metrics`).

    `execute` is the executor seam: a function with `run_child`'s signature that runs the string `trial_fn`'s child
    somewhere (default `run_child`, this machine; `search._ray.RayExecutor`, a Ray cluster); it may raise
    `TrialLost` when the place it ran on was lost."""
    params = parse_space(cfg.search.space, where=cfg.source)
    estimate = optional_fn(estimate_fn)
    s = cfg.search
    memory_limit = parse_bytes(s.trial_memory_limit) if s.trial_memory_limit else None

    def objective(trial: Trial) -> list[float]:
        claim_trial(trial)
        if "is_baseline" not in trial.user_attrs:
            trial.set_user_attr("is_baseline", False)
        trial_dir = study_dir(cfg, trial.study) / "trials" / f"{trial.number:04d}"
        trial.set_user_attr("trial_dir", str(trial_dir))
        known: dict[str, Any] = {}
        try:
            tcfg = cfg.with_overrides(sample(trial, params), origin=f"trial {trial.number}")
            if estimate is not None:
                try:
                    known = dict(estimate(tcfg) or {})
                except Exception as e:  # noqa: BLE001  (the run itself will show what is wrong)
                    log.info("trial %d: estimate failed (%s); running it", trial.number, failure_reason(e))
            why = violated(cfg, known)
            if why:
                return record_failure(trial, cfg, why, known=known, pessimistic=pessimistic, skipped=True)
            def decide_rung(rung: int, rung_metrics: dict) -> bool:
                try:
                    go_on = early_stop.decide(trial, cfg, rung, rung_metrics, known)
                except Exception as e:  # noqa: BLE001  (a storage hiccup must not stop a trial)
                    log.warning("trial %d: rung %d not decided (%s): it goes on", trial.number, rung, e)
                    return True
                log.info("trial %d: rung %d, %s", trial.number, rung, "goes on" if go_on else "stopped")
                return go_on

            on_rung = decide_rung if s.rungs else None
            if callable(trial_fn):
                trial_dir.mkdir(parents=True, exist_ok=True)
                if on_rung is None:
                    metrics = trial_fn(tcfg, trial_dir)
                else:
                    with early_stop.answering(on_rung):
                        metrics = trial_fn(tcfg, trial_dir)
            else:
                metrics = (execute or run_child)(tcfg, trial_dir, trial_fn=trial_fn, timeout=s.trial_timeout,
                                                 memory_limit=memory_limit, heartbeat_interval=s.heartbeat_interval,
                                                 heartbeat=lambda: trial.set_user_attr("heartbeat", time.time()),
                                                 on_rung=on_rung)
            return record_success(trial, cfg, metrics)
        except early_stop.StoppedAtRung as e:
            record_stopped(trial, e.rung, known=known)
            raise optuna.TrialPruned(f"stopped at rung {e.rung}") from None
        except TrialFailure as e:
            reason = str(e)
        except KeyboardInterrupt:
            trial.set_user_attr("failure", INTERRUPTED)
            raise
        except TrialLost as e:  # left FAIL (work() catches it): not the trial's doing, not counted
            trial.set_user_attr("failure", str(e))
            log.warning("trial %d: %s", trial.number, e)
            raise
        except RunFolderError as e:  # no trial can run: stop the search (the trial is left FAIL with the reason)
            trial.set_user_attr("failure", str(e))
            raise
        except Exception as e:  # noqa: BLE001  (in-process trial, invalid sampled settings: a failed trial)
            reason = failure_reason(e)
        log.info("trial %d failed: %s", trial.number, reason)
        return record_failure(trial, cfg, reason, known=known, pessimistic=pessimistic)

    return objective


def ensure_baseline(study: optuna.Study, cfg: "Config", *, budget: int) -> bool:
    """Enqueue the baseline (the config's value of every searched parameter) unless the study has one that is
    done, queued or running, or the budget is spent. True when it was enqueued."""
    if not cfg.search.baseline:
        return False
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING))
    if any(t.user_attrs.get("is_baseline") for t in trials):
        return False
    if sum(t.state == TrialState.COMPLETE for t in trials) >= budget:
        return False
    study.enqueue_trial(baseline_params(cfg, parse_space(cfg.search.space, where=cfg.source)),
                        user_attrs={"is_baseline": True})
    return True
