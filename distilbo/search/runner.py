"""Run the search: one child process per trial, failures recorded as data, local workers, resumable.

    study = run_search(cfg)                                  # what `distilbo search` runs; rerun it to resume
    study = run_search(cfg, n_trials=8, workers=2, trial_fn="mypkg.trials:fn")

Each trial samples its parameters (`space.sample`), applies them with `cfg.with_overrides`, and runs
`trial_fn(cfg, trial_dir) -> dict[str, float]` in a child process (`python -m distilbo.search._child`) in its own
process group, with the CPU memory limit `[search] trial_memory_limit` (RLIMIT_AS) and the time limit
`trial_timeout` (the whole group is killed). Whatever the child does (raise, run out of memory, be killed, exit),
the parent records the trial as COMPLETE with pessimistic values, violated constraints and a one-line `failure`
(see `study.record_failure`), so the sampler learns to avoid the region. Before running, the optional
`estimate_fn(cfg) -> dict` (e.g. num_parameters from the spec) can show that a trial breaks a constraint: it is
then recorded infeasible without running (`skipped`).

The budget `n_trials` counts finished trials (COMPLETE, including recorded failures, and trials stopped early at
a rung, `search.early_stop`) of the whole study, so a rerun only completes what is missing. A trial interrupted by
a killed search is set to FAIL ("worker died") at the next start. Trial folders:
`<run folder>/<study folder>/trials/NNNN/` (`study.study_dir`: each study has its own; spec.json, log.txt,
metrics.json or error.txt, plus what the trial writes). Progress goes to stderr, one line per event.

This module is the search's front door; each job has its own module, and their public names are re-exported here:
    _launch.py     one trial's child process (`run_child`: time and memory limits, failure reasons)
    _objective.py  the Optuna objective (`make_objective`, the executor seam `execute=`), the baseline trial
    _loop.py       the worker loop (`work`), local worker processes and Ray threads (`run_workers`)
    _console.py    the console's event and live lines, the trials' and the study's ETA
    _ray.py        the Ray executor (`[run] executor = "ray"`)
"""

from __future__ import annotations

import time
from typing import Callable

import optuna
from sqlalchemy.exc import OperationalError

from distilbo._secrets import mask_secrets
from distilbo.config import Config
from distilbo.errors import UserError
from distilbo.search._child import import_dotted
from distilbo.search._console import Progress, study_eta, trial_eta
from distilbo.search._folders import prune_checkpoints
from distilbo.search._launch import RESERVE_BYTES, RunFolderError, check_run_folder, run_child
from distilbo.search._loop import run_workers, surplus, work
from distilbo.search._objective import (DEFAULT_CHECK_FN, DEFAULT_ESTIMATE_FN, DEFAULT_TRIAL_FN, TrialFn,
                                        ensure_baseline, make_objective, optional_fn)
from distilbo.search._storage import Storage
from distilbo.search.stored import remember_config
from distilbo.search.study import create_or_load_study

__all__ = [  # this module's own, then the re-exported names of its parts (imported from here before the split)
    "run_search", "run_child", "check_run_folder", "RunFolderError", "RESERVE_BYTES", "make_objective",
    "ensure_baseline", "DEFAULT_TRIAL_FN", "DEFAULT_ESTIMATE_FN", "DEFAULT_CHECK_FN", "TrialFn", "work", "surplus",
    "prune_checkpoints", "study_eta", "trial_eta",
]


def run_search(cfg: Config, *, n_trials: int | None = None, timeout: float | None = None,
               workers: int | None = None, trial_fn: str | TrialFn = DEFAULT_TRIAL_FN,
               estimate_fn: str | Callable | None = DEFAULT_ESTIMATE_FN, progress: bool = True,
               pessimistic: dict[str, float] | None = None, check_fn: str | Callable | None = "auto") -> optuna.Study:
    """Run (or resume) the study until it has `n_trials` finished trials (default `[search] n_trials`).

    `timeout` s (default `[search] timeout`): no new trial starts after it. `workers` (default `[search] workers`)
    > 1 starts that many local worker processes on the same storage (one GPU each when several are visible).
    The baseline (config values of the searched parameters) is enqueued first when the study has none.

    Before the study is opened, bad input is a UserError and nothing is written to it: `check_fn(cfg)` (default
    "auto": `distilbo.distill.trial:check_inputs` when `trial_fn` is the default trial, i.e. data files, teacher,
    student init and tokenizers) and `check_run_folder` (a read-only or full run folder). A storage that fails
    while the search runs (database full, server gone) is a UserError too."""
    s = cfg.search
    budget = s.n_trials if n_trials is None else n_trials
    timeout = s.timeout if timeout is None else timeout
    workers = s.workers if workers is None else workers
    storage = Storage.of(cfg)  # for error messages; every study open reads it from cfg
    if budget < 1:
        raise UserError(f"--trials {budget}: the trial budget must be >= 1 (or set [search] n_trials)")
    if workers < 1:
        raise UserError(f"--workers {workers}: must be >= 1 (or set [search] workers)")
    if check_fn == "auto":
        check_fn = DEFAULT_CHECK_FN if trial_fn == DEFAULT_TRIAL_FN else None
    if check_fn is not None:
        (import_dotted(check_fn) if isinstance(check_fn, str) else check_fn)(cfg)
    check_run_folder(cfg.run_dir)
    deadline = None if timeout is None else time.time() + timeout
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return _search(cfg, budget=budget, workers=workers, deadline=deadline, trial_fn=trial_fn,
                       estimate_fn=estimate_fn, pessimistic=pessimistic, progress=progress)
    except Exception as e:
        cause = _storage_failure(e)
        if cause is None:
            raise
        reason = storage.mask(mask_secrets(" ".join(str(getattr(cause, "orig", None) or cause).split())[:200]))
        raise UserError(f"storage {storage.label}: a write failed ({reason}); check free disk space, "
                        "that the database is writable and its server is up, then rerun to resume") from None
    finally:
        optuna.logging.set_verbosity(verbosity)


def _storage_failure(e: BaseException) -> BaseException | None:
    """The database error (SQLAlchemy OperationalError: disk full, read-only, server gone) behind `e`, or None.

    Optuna wraps it in StorageInternalError, and when even marking the trial FAIL fails, in an AssertionError
    raised while handling it; the chain of causes and contexts leads back to it."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OperationalError):
            return e
        e = e.__cause__ or e.__context__
    return None


def _search(cfg: Config, *, budget: int, workers: int, deadline: float | None,
            trial_fn: str | TrialFn, estimate_fn: str | Callable | None, pessimistic: dict[str, float] | None,
            progress: bool) -> optuna.Study:
    study = create_or_load_study(cfg, estimate=optional_fn(estimate_fn))
    remember_config(study, cfg)  # so status/report/export open it from --storage alone (search.stored)
    ensure_baseline(study, cfg, budget=budget)
    shown = Progress(study, cfg, budget=budget, enabled=progress, workers=workers)
    shown.update()
    shown.start()  # the live lines of the running trials
    try:
        return run_workers(study, cfg, budget=budget, workers=workers, deadline=deadline, trial_fn=trial_fn,
                           estimate_fn=estimate_fn, pessimistic=pessimistic, on_trial=shown.update)
    finally:
        shown.stop()
