"""Confirm a study's picks: retrain its frontier trials and its baseline with more seeds, scored on dev and on the
held-out test split, in parallel workers like trials, resumable.

    runs = confirm(cfg, seeds=3, workers=2)     # what `distilbo confirm` (and a search with confirm_seeds) runs
    runs = confirmation_runs(study)             # every confirmation run recorded so far

A search selects on one noisy draw per configuration, so the frontier keeps the lucky ones (the winner's curse).
Each feasible frontier trial and the baseline (which hold every scenario pick) is trained again with the seeds
`s + 1 ... s + k` (`s` its own seed), everything else as the trial ran, by `distilbo.distill.trial:run_trial_with_test`
in a child process (`_launch.run_child`: time and memory limits, a crash is a failed run, not a dead command).

Records: one study user attribute per run, `confirm:<trial>:<seed>` = {trial, seed, state ("running", "ok",
"failed"), metrics, failure, worker, heartbeat, started, finished, run_dir}, in the study's own storage (SQLite,
PostgreSQL or journal), so a confirmation is seen by `report` and `export` wherever the study is opened, and linked
to its trial by number. A rerun skips the runs that succeeded, waits for none, and redoes failed runs and running
ones whose worker is gone (pid dead on this host, or no heartbeat for `grace_period` s elsewhere): kill it at any
point and run it again. Run folders: `<study folder>/confirm/<trial>-seed<seed>/` (weights deleted after scoring
unless `[search] keep = "all"`).
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import optuna

from distilbo.config import parse_bytes, parse_space
from distilbo.errors import UserError
from distilbo.search._folders import study_dir
from distilbo.search._launch import run_child
from distilbo.search._liveness import worker_gone, worker_identity
from distilbo.search._outcome import TrialFailure, jsonable
from distilbo.search._records import records
from distilbo.search.study import load_study

if TYPE_CHECKING:
    from distilbo.config import Config

log = logging.getLogger(__name__)

CONFIRM_TRIAL_FN = "distilbo.distill.trial:run_trial_with_test"
PREFIX = "confirm:"
"""Study user attribute prefix of a confirmation run: `confirm:<trial>:<seed>`."""


def run_key(trial: int, seed: int) -> str:
    return f"{PREFIX}{trial}:{seed}"


def confirmation_runs(study: optuna.Study) -> list[dict[str, Any]]:
    """Every confirmation run recorded in the study, by trial then seed."""
    runs = [dict(v) for k, v in study.user_attrs.items() if k.startswith(PREFIX) and isinstance(v, dict)]
    return sorted(runs, key=lambda r: (r.get("trial", -1), r.get("seed", -1)))


def targets(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trials a confirmation retrains: the feasible frontier trials and the baseline, by number."""
    return [r for r in recs if r["status"] == "ok" and ((r["on_front"] and r["feasible"]) or r["is_baseline"])]


def _alive(run: dict[str, Any], *, grace_period: float, now: float) -> bool:
    """Whether a "running" record's worker may still be at it (the rule `fail_stale_trials` uses for trials)."""
    beat = run.get("heartbeat")
    return worker_gone(run.get("worker"), beat if isinstance(beat, (int, float)) else 0.0,  # none: long gone
                       grace_period=grace_period, now=now) is None


def _taken(run: dict[str, Any] | None, *, grace_period: float, now: float) -> bool:
    """Whether a confirmation run needs no worker: it is done, or another worker is still at it."""
    state = (run or {}).get("state")
    return state == "ok" or (state == "running" and _alive(run, grace_period=grace_period, now=now))


def trial_config(cfg: "Config", rec: dict[str, Any], seed: int) -> "Config":
    """The config the trial ran with (fixed space values + its sampled params), with another seed."""
    fixed = {p.name: p.value for p in parse_space(cfg.search.space, where=cfg.source) if p.kind == "fixed"}
    return cfg.with_overrides({**fixed, **rec["params"], "seed": seed}, origin=f"confirmation of trial {rec['number']}")


def _plan(cfg: "Config", study: optuna.Study, seeds: int, trials: list[int] | None) -> list[tuple[dict, int]]:
    recs = records(study, curves=False)
    chosen = targets(recs)
    if trials is not None:
        by_number = {r["number"]: r for r in recs}
        bad = [t for t in trials if t not in by_number or by_number[t]["status"] != "ok"]
        if bad:
            raise UserError(f"--trial {bad[0]}: study '{cfg.run.study}' has no finished trial {bad[0]}; "
                            "see `distilbo status`")
        chosen = [by_number[t] for t in trials]
    plan = []
    for rec in chosen:
        own = int(rec["params"].get("seed", cfg.run.seed))
        plan += [(rec, own + i) for i in range(1, seeds + 1)]
    return plan


def confirm(cfg: "Config", *, seeds: int | None = None, workers: int | None = None, trials: list[int] | None = None,
            trial_fn: str = CONFIRM_TRIAL_FN, progress: bool = True) -> list[dict[str, Any]]:
    """Run the missing confirmation runs of the config's study (`seeds` more seeds per target, default
    `[report] confirm_seeds`; `workers` in parallel, default `[search] workers`; `trials` instead of the frontier
    and baseline); returns every confirmation run of the study afterwards."""
    seeds = cfg.report.confirm_seeds if seeds is None else seeds
    workers = cfg.search.workers if workers is None else workers
    if seeds < 1:
        raise UserError("confirm: --seeds must be >= 1 (or set confirm_seeds in [report])")
    if workers < 1:
        raise UserError("confirm: --workers must be >= 1")
    study = load_study(cfg)
    folder = study_dir(cfg, study) / "confirm"
    plan = _plan(cfg, study, seeds, trials)
    now = time.time()
    done = {(r["trial"], r["seed"]): r for r in confirmation_runs(study)}
    todo = [(rec, seed) for rec, seed in plan
            if not _taken(done.get((rec["number"], seed)), grace_period=cfg.search.grace_period, now=now)]
    say = _Say(total=len(plan), todo=len(todo), enabled=progress)
    say.start(len({r["number"] for r, _ in plan}), seeds, workers)
    s = cfg.search
    memory_limit = parse_bytes(s.trial_memory_limit) if s.trial_memory_limit else None
    lock = threading.Lock()

    def one(item: tuple[dict, int]) -> None:
        rec, seed = item
        key, number = run_key(rec["number"], seed), rec["number"]
        run_dir = folder / f"{number:04d}-seed{seed}"
        entry: dict[str, Any] = {"trial": number, "seed": seed, "state": "running", "worker": worker_identity(),
                                 "heartbeat": time.time(), "started": time.time(), "run_dir": str(run_dir)}
        with lock:
            now = study.user_attrs.get(key) or {}  # another `distilbo confirm` may have done or taken it since
            if _taken(now, grace_period=s.grace_period, now=time.time()):
                say.skip(number, seed, now["state"])
                return
            study.set_user_attr(key, entry)
        say.begin(number, seed)

        def beat() -> None:
            with lock:
                study.set_user_attr(key, {**entry, "heartbeat": time.time()})

        t0 = time.time()
        try:
            tcfg = trial_config(cfg, rec, seed)
            metrics = run_child(tcfg, run_dir, trial_fn=trial_fn, timeout=s.trial_timeout, memory_limit=memory_limit,
                                heartbeat=beat, heartbeat_interval=s.heartbeat_interval)
            result = {**entry, "state": "ok", "metrics": jsonable(metrics), "finished": time.time()}
        except TrialFailure as e:
            result = {**entry, "state": "failed", "failure": str(e), "finished": time.time()}
        except Exception as e:  # noqa: BLE001  (a bad setting or a storage hiccup: this run failed, not the rest)
            result = {**entry, "state": "failed", "failure": f"{type(e).__name__}: {e}".splitlines()[0],
                      "finished": time.time()}
        if s.keep != "all":
            shutil.rmtree(run_dir / "model", ignore_errors=True)
        with lock:
            study.set_user_attr(key, result)
        say.end(number, seed, result, time.time() - t0, cfg)

    if todo:
        with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
            list(pool.map(one, todo))
    say.finish()
    return confirmation_runs(study)


class _Say:
    """One stderr line per started and finished run, with the runs left and an ETA from the finished ones."""

    def __init__(self, *, total: int, todo: int, enabled: bool) -> None:
        self.total, self.todo, self.enabled = total, todo, enabled
        self.finished, self.seconds, self.t0 = 0, 0.0, time.time()
        self.lock = threading.Lock()

    def _print(self, text: str) -> None:
        if self.enabled:
            print(f"confirm: {text}", file=sys.stderr, flush=True)

    def start(self, n_trials: int, seeds: int, workers: int) -> None:
        self._print(f"{n_trials} trials x {seeds} seeds = {self.total} runs; {self.total - self.todo} already done, "
                    f"{self.todo} to run on {workers} worker(s)")

    def skip(self, trial: int, seed: int, state: str) -> None:
        with self.lock:
            self.todo -= 1
        self._print(f"trial {trial} seed {seed}: {'done' if state == 'ok' else 'running'} elsewhere, skipped")

    def begin(self, trial: int, seed: int) -> None:
        self._print(f"trial {trial} seed {seed}: started")

    def end(self, trial: int, seed: int, result: dict[str, Any], seconds: float, cfg: "Config") -> None:
        with self.lock:
            self.finished += 1
            self.seconds += seconds
            left = self.todo - self.finished
            elapsed = time.time() - self.t0
            eta = f", ETA {elapsed / self.finished * left / 60:.0f} min" if left else ""
        if result["state"] == "ok":
            m = result["metrics"]
            shown = [o["metric"] for o in cfg.search.objectives][:1] + ["calibrated_f1", "test_calibrated_f1"]
            what = ", ".join(f"{k} {m[k]:.4g}" for k in shown if isinstance(m.get(k), (int, float)))
        else:
            what = f"FAILED: {result['failure']}"
        self._print(f"trial {trial} seed {seed}: {what} ({seconds / 60:.1f} min); {self.finished}/{self.todo} "
                    f"done{eta}")

    def finish(self) -> None:
        if self.todo:
            self._print(f"finished {self.finished} runs in {(time.time() - self.t0) / 60:.1f} min")


__all__ = ["confirm", "confirmation_runs", "targets", "trial_config", "run_key", "CONFIRM_TRIAL_FN"]
