"""The worker loop and its executors: `work` runs trials until the study's budget is spent; `run_workers` runs it in
this process, in local worker processes (one GPU each when several are visible), or in threads whose trials are
Ray tasks (`[run] executor = "ray"`, `search._ray`).

The budget counts finished trials (COMPLETE, including recorded failures, and trials stopped early at a rung) of
the whole study, so several workers (processes, threads, hosts on one PostgreSQL database) share it exactly: a
trial is started only while finished + running < budget, and a trial two workers started at once beyond the
budget is not run (state PRUNED, user attr `surplus`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator
from typing import Callable

import optuna
from optuna.trial import Trial, TrialState

from distilbo.config import Config
from distilbo.errors import UserError
from distilbo.search._child import exit_when_orphaned
from distilbo.search._folders import own_folder, prune_checkpoints
from distilbo.search._launch import run_child
from distilbo.search._liveness import fail_stale_trials
from distilbo.search._objective import TrialFn, make_objective, optional_fn
from distilbo.search._outcome import TrialLost, is_finished
from distilbo.search._ray import RayExecutor, run_in_threads
from distilbo.search.study import create_or_load_study

log = logging.getLogger(__name__)


def _counts(study: optuna.Study) -> tuple[int, int]:
    """(finished, running): finished = COMPLETE (failures included) or stopped at a rung."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED))
    done = sum(is_finished(t) for t in trials)
    return done, sum(t.state == TrialState.RUNNING for t in trials)


def surplus(study: optuna.Study, trial: Trial, *, budget: int) -> str | None:
    """Why `trial`, just started, must not run (None when it may): the trials numbered before it that are done,
    running or queued already fill the budget, or it is a second copy of the baseline.

    Workers check `finished + running < budget` before they start a trial, but two of them can pass that check at
    the same moment; trial numbers are unique and ordered, so this check after the start lets exactly one run."""
    earlier = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING,
                                                                   TrialState.WAITING, TrialState.PRUNED))
               if t.number < trial.number and (t.state != TrialState.PRUNED or is_finished(t))]
    first_baseline = next((t.number for t in earlier if t.user_attrs.get("is_baseline")), None)
    if trial.user_attrs.get("is_baseline") and first_baseline is not None:
        return f"another worker queued the baseline first (trial {first_baseline})"
    if len(earlier) >= budget:
        return f"the budget of {budget} trials was already taken by other workers"
    return None


MAX_LOST_IN_A_ROW = 10
"""A worker stops the search (UserError) after this many of its trials in a row lost their worker or node: a lost
trial does not count against the budget, so a cluster that loses every trial would otherwise start them forever."""


def work(study: optuna.Study, objective: Callable[[Trial], list[float]], *, budget: int, grace_period: float,
         deadline: float | None = None, on_trial: Callable[[], None] | None = None, poll: float = 2.0) -> None:
    """Run trials until the study has `budget` finished ones (or time.time() passes `deadline`). Several
    processes may run this on one storage; a trial is started only while finished + running < budget, and a
    trial two workers started at once beyond the budget is not run (state PRUNED, user attr `surplus`)."""

    own = own_folder(study)
    lost: list[str] = []  # this worker's trials lost in a row (their reasons)

    def guarded(trial: Trial) -> list[float]:
        why = surplus(study, trial, budget=budget)
        if why is not None:
            trial.set_user_attr("surplus", why)
            raise optuna.TrialPruned(why)
        try:
            values = objective(trial)
        except TrialLost as e:
            lost.append(str(e))
            raise
        except BaseException:
            lost.clear()
            raise
        lost.clear()
        return values

    while True:
        fail_stale_trials(study, grace_period=grace_period)
        done, running = _counts(study)
        if done >= budget or (deadline is not None and time.time() >= deadline):
            return
        if done + running >= budget:  # the rest is being run by other workers; wait in case one fails
            time.sleep(poll)
            continue
        study.optimize(guarded, n_trials=1, catch=(TrialLost,))
        if len(lost) >= MAX_LOST_IN_A_ROW:
            raise UserError(f"{len(lost)} trials in a row lost their worker or node, the last {lost[-1]}; the "
                            "executor cannot run trials (on Ray: check the cluster with `ray status`); fix it and "
                            "run the same command again to resume")
        prune_checkpoints(study, own=own)
        if on_trial is not None:
            on_trial()


def _worker_main(cfg: Config, budget: int, deadline: float | None,
                 trial_fn: str | TrialFn, estimate_fn: str | Callable | None, pessimistic: dict[str, float] | None,
                 index: int, device: str | None) -> None:
    """Entry of a local worker process (multiprocessing "spawn")."""
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    exit_when_orphaned(os.getppid())
    logging.basicConfig(level=logging.WARNING, format=f"distilbo worker {index}: %(levelname)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = create_or_load_study(cfg, seed=cfg.run.seed + index, estimate=optional_fn(estimate_fn))
    objective = make_objective(cfg, trial_fn=trial_fn, estimate_fn=estimate_fn, pessimistic=pessimistic)
    if index > 0:
        # SQLite cannot hand a queued trial (the baseline) to exactly one of several processes that ask at once
        # (no SELECT ... FOR UPDATE): both would run it. So worker i starts once i queued trials are taken.
        def queued() -> int:
            return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

        target, until = max(0, queued() - index), time.time() + 120
        while queued() > target and time.time() < until:
            time.sleep(0.2)
    with sampler_threads(cfg):
        work(study, objective, budget=budget, grace_period=cfg.search.grace_period, deadline=deadline)


@contextlib.contextmanager
def sampler_threads(cfg: Config) -> Iterator[None]:
    """While the search runs, its own process's torch threads (the gp and botorch samplers fit and optimize in it,
    for seconds to minutes a trial) are the worker's `[run] num_threads`, like its trials, so a suggestion takes
    no more cores than the trial it waits for; restored after (run_search is a library call too). Unset, torch
    takes every core: two workers, or two studies side by side, each fitting on both cores of a 2-core machine
    starved the other's running trial (benchmarks/README.md, issue 14 on real trials). Only the model-based
    samplers use torch; tpe, random and nsga2 studies never load it here."""
    if cfg.search.sampler not in ("gp", "botorch") or cfg.run.num_threads <= 0:
        yield
        return
    import torch  # lazy: tpe, random and nsga2 searches never load torch in the search process

    before = torch.get_num_threads()
    torch.set_num_threads(cfg.run.num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _devices(cfg: Config, workers: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES per worker: one GPU each (round robin) when several are visible, else untouched."""
    if workers < 2 or cfg.run.device not in ("auto", "cuda"):
        return [None] * workers
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [d.strip() for d in visible.split(",") if d.strip()]
    else:
        try:
            import torch  # lazy: only with several workers on a CUDA device

            ids = [str(i) for i in range(torch.cuda.device_count())]
        except Exception:  # noqa: BLE001
            ids = []
    if len(ids) < 2:
        return [None] * workers
    return [ids[i % len(ids)] for i in range(workers)]


def run_workers(study: optuna.Study, cfg: Config, *, budget: int, workers: int, deadline: float | None,
                trial_fn: str | TrialFn, estimate_fn: str | Callable | None, pessimistic: dict[str, float] | None,
                on_trial: Callable[[], None]) -> optuna.Study:
    """Run the worker loop until the budget is spent: here (one worker), in `workers` local processes, or in
    `workers` threads whose trials run as Ray tasks. `on_trial()` is called after each trial and about once a
    second while workers run (the console's event lines)."""
    s = cfg.search
    if cfg.run.executor == "ray":  # each trial's child in a Ray task; `workers` threads of the loop (search._ray)
        if callable(trial_fn):
            raise UserError("executor 'ray' runs a trial function given by its dotted path ('module:function'); a "
                            "Python callable runs only with [run] executor = \"local\"")
        objective = make_objective(cfg, trial_fn=trial_fn, estimate_fn=estimate_fn, pessimistic=pessimistic,
                                   execute=RayExecutor(cfg, run_child=run_child))
        with sampler_threads(cfg):
            run_in_threads(study, workers, lambda: work(study, objective, budget=budget, grace_period=s.grace_period,
                                                        deadline=deadline, on_trial=on_trial), tick=on_trial)
        return study
    if workers == 1:
        objective = make_objective(cfg, trial_fn=trial_fn, estimate_fn=estimate_fn, pessimistic=pessimistic)
        with sampler_threads(cfg):
            work(study, objective, budget=budget, grace_period=s.grace_period, deadline=deadline,
                 on_trial=on_trial)
        return study
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_main, name=f"distilbo-worker-{i}",
                         args=(cfg, budget, deadline, trial_fn, estimate_fn, pessimistic, i, dev))
             for i, dev in enumerate(_devices(cfg, workers))]
    try:
        for p in procs:
            p.start()
        while any(p.is_alive() for p in procs):
            for p in procs:
                p.join(timeout=1.0 / len(procs))
            on_trial()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join()
        fail_stale_trials(study, grace_period=s.grace_period)  # trials of workers that were stopped
    for p in procs:
        if p.exitcode:
            log.warning("%s exited with code %s (see the log lines above)", p.name, p.exitcode)
    on_trial()
    return study
