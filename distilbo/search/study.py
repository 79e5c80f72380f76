"""The Optuna study: created or loaded from its storage, with its objectives, constraints and folder checked.

    study = create_or_load_study(cfg)              # SQLite `study.db` in the run folder unless [run] storage says
    values = record_success(trial, cfg, metrics)    # inside an objective: user attrs + constraints -> objective values
    values = record_failure(trial, cfg, "out of memory: MemoryError")   # a failure the sampler learns from
    print(status_table(records(study)))             # what `distilbo status` prints

This module is the study's front door; each job has its own module, and their public names are re-exported here:
    _storage.py    the storage URL parsed once (`Storage`), `open_storage`, passwords masked (`mask_url`)
    _samplers.py   `make_sampler`: the `[search] sampler` (botorch, gp, tpe, nsga2, random), per-process seeds
    _outcome.py    a trial's outcome: `record_success` / `record_failure` / `record_stopped`, constraints, failures
                   recorded as data the sampler learns from (pessimistic values, constraint `failed` = +1)
    _liveness.py   which worker runs a trial, `fail_stale_trials` (RUNNING trials of dead workers -> FAIL)
    _folders.py    each study's own folder (`study_dir`, `claim_study_dir`), checkpoint pruning
    _records.py    `records`: one plain dict per trial, the Pareto front marked
    _table.py      `status_table`: what `distilbo status` prints

User attrs of every trial (also shown by optuna-dashboard):
    metrics      dict of everything the trial measured (for a failure: only what was known before training)
    is_baseline  True for the enqueued baseline trial
    failure      one-line reason when the trial failed ("out of memory: ...", "timeout after 600 s", ...)
    skipped      reason when the trial was not run because an estimate broke a constraint (infeasible)
    trial_dir    the trial folder (`<run folder>/<study folder>/trials/NNNN`)
    worker       {"host", "pid", "pid_start"} of the process that ran it; `heartbeat` = last time.time() alive
    surplus      why a trial two workers started at once beyond the budget was not run (state PRUNED)
    rung_K       {metrics, continued, peers} at early-stopping rung K (`search.early_stop`)
    stopped_at_rung  K when the search stopped the trial at rung K (state PRUNED; counts toward the budget)
A trial left RUNNING by a dead worker is set to FAIL (`fail_stale_trials`) with `failure` = "worker died ...".
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna

from distilbo._secrets import mask_url
from distilbo.config import Config
from distilbo.errors import UserError
from distilbo.search._folders import STUDY_MARKER, claim_study_dir, folder_name, study_dir
from distilbo.search._liveness import claim_trial, fail_stale_trials, worker_identity
from distilbo.search._outcome import (FAILED, INTERRUPTED, SCORE_METRICS, TrialFailure, TrialLost, check_metrics,
                                      constraint_names, constraint_values, is_finished, objective_values,
                                      pessimistic_metrics, record_failure, record_stopped, record_success, violated)
from distilbo.search._records import front_records, records
from distilbo.search._samplers import PerProcessSeed, QmcThenGp, make_sampler
from distilbo.search._storage import Storage, open_storage
from distilbo.search._table import NOTE_MIN, status_table

__all__ = [  # this module's own, then the re-exported names of its parts (imported from here before the split)
    "create_or_load_study", "load_study", "status",
    "Storage", "open_storage", "mask_url", "make_sampler", "QmcThenGp", "PerProcessSeed", "FAILED", "INTERRUPTED",
    "SCORE_METRICS", "TrialFailure", "TrialLost", "check_metrics", "constraint_names", "constraint_values",
    "objective_values", "pessimistic_metrics", "violated", "record_success", "record_failure", "record_stopped",
    "is_finished", "claim_trial", "worker_identity", "fail_stale_trials", "STUDY_MARKER", "folder_name", "study_dir",
    "claim_study_dir", "records", "front_records", "status_table", "NOTE_MIN",
]


def create_or_load_study(cfg: Config, *, seed: int | None = None, estimate: Any = None) -> optuna.Study:
    """Create the study, or load it to resume. Directions and metric names come from `[search] objectives`;
    a stored study with other objectives or constraints is a UserError. Trials left RUNNING by dead workers are
    failed first (they would otherwise count as pending points for the GP and hold budget). The storage and the
    study are the config's (`cfg.storage_url`, `[run] study`: the CLI's --storage/--study land there)."""
    storage = Storage.of(cfg)
    name = cfg.run.study
    objectives = [o["metric"] for o in cfg.search.objectives]
    directions = [o["direction"] for o in cfg.search.objectives]
    store = open_storage(cfg, storage)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(storage=store, study_name=name, directions=directions,
                                    sampler=make_sampler(cfg, seed=seed, estimate=estimate), load_if_exists=True)
    have = [d.name.lower() for d in study.directions]
    have_metrics = study.metric_names
    have_constraints = study.user_attrs.get("constraints")
    wanted = ", ".join(f"{m} ({d})" for m, d in zip(objectives, directions))
    if have != directions or (have_metrics is not None and list(have_metrics) != objectives):
        stored = ", ".join(f"{m} ({d})" for m, d in zip(have_metrics or ["?"] * len(have), have))
        raise UserError(f"study '{name}' in {storage.label} has objectives {stored}, the config asks for {wanted}; "
                        "use another study name (--study NAME) or run folder, or restore [search] objectives")
    if have_constraints is not None and have_constraints != constraint_names(cfg):
        raise UserError(f"study '{name}' in {storage.label} has constraints {have_constraints[:-1]}, the config "
                        f"asks for {constraint_names(cfg)[:-1]}; use another study name (--study NAME) or run "
                        "folder, or restore [search] constraints")
    if have_metrics is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(objectives)
    if have_constraints is None:
        study.set_user_attr("constraints", constraint_names(cfg))
        study.set_user_attr("objectives", list(cfg.search.objectives))
    if study.user_attrs.get("keep") != cfg.search.keep:  # the disk budget of this run (`--keep`)
        study.set_user_attr("keep", cfg.search.keep)
    claim_study_dir(cfg, study)
    fail_stale_trials(study, grace_period=cfg.search.grace_period)
    return study


def load_study(cfg: Config) -> optuna.Study:
    """The config's existing study, read-only (never creates one): UserError naming the storage and the fix when
    absent."""
    storage = Storage.of(cfg)
    name = cfg.run.study
    if storage.missing():
        raise UserError(f"no study at {storage.label}; run `distilbo search` first or pass --storage/--study")
    store = open_storage(cfg, storage)
    try:
        study = optuna.load_study(study_name=name, storage=store)
    except KeyError:
        names = optuna.get_all_study_names(store)
        raise UserError(f"no study '{name}' in {storage.label} (it has: {', '.join(names) or 'none'}); "
                        "pass --study NAME") from None
    return study


def status(cfg: Config, *, width: int | None = None, columns: list[str] | None = None) -> str:
    """`distilbo status`: the trials table of the config's study (UserError when there is none yet); `width` and
    `columns` as in `status_table`."""
    objectives = tuple(o["metric"] for o in cfg.search.objectives)
    metrics = tuple(dict.fromkeys(objectives + ("exact", "f1")))
    return status_table(records(load_study(cfg), curves=False), metrics=metrics,
                        width=width, columns=columns)
