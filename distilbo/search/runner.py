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
a rung, `search.early_stop`) of the whole study, so a rerun only completes what is missing. A trial interrupted by a killed search is set to FAIL ("worker died") at
the next start. Trial folders: `<run folder>/<study folder>/trials/NNNN/` (`study.study_dir`: each study has its
own; spec.json, log.txt, metrics.json or error.txt, plus what the trial writes). Progress goes to stderr, one line per event.

Live progress: each trial's child writes `progress.json` in its folder (`distilbo.progress`); `_Progress`
shows the running trials' phase, epoch, step, loss and ETA, and the study's ETA, under the event lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import optuna
from optuna.trial import Trial, TrialState

from distilbo._secrets import mask_secrets
from distilbo.errors import UserError
from distilbo._io import write_json_atomic
from distilbo.config import parse_space
from distilbo.search import early_stop
from distilbo.search._ray import RayExecutor, run_in_threads
from distilbo.search._child import EXIT_ERROR, _exit_when_orphaned, config_to_dict, failure_reason, import_dotted
from distilbo.search.space import baseline_params, sample
from distilbo.search.stored import remember_config
from distilbo.search.study import (INTERRUPTED, TrialFailure, TrialLost, _is_number, _marker, _mask_in, claim_trial, create_or_load_study,
                                   fail_stale_trials, is_finished, mask_url, record_failure, record_stopped,
                                   record_success, records, study_dir, violated)

if TYPE_CHECKING:
    from distilbo.config import Config

log = logging.getLogger(__name__)

DEFAULT_TRIAL_FN = "distilbo.distill.trial:run_trial"
DEFAULT_ESTIMATE_FN = "distilbo.distill.trial:estimate_metrics"
DEFAULT_CHECK_FN = "distilbo.distill.trial:check_inputs"
TrialFn = Callable[["Config", Path], dict]
Decider = Callable[[int, dict], bool]
RESERVE_BYTES = 1 << 20
"""Free space the run folder must have before a search starts (`check_run_folder`)."""


class RunFolderError(UserError):
    """The run folder cannot be written (read-only, full disk): the search stops; no trial can run."""


def check_run_folder(run_dir: Path, *, reserve: int = RESERVE_BYTES) -> None:
    """UserError unless `run_dir` can be created and `reserve` bytes written there: a read-only or full disk
    is reported before the study is touched, not as one failed trial after another."""
    probe = Path(run_dir) / f".distilbo-write-probe-{os.getpid()}"
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(bytes(reserve))
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise RunFolderError(f"run folder {run_dir}: cannot write ({e.strerror or e}); free disk space (a search "
                             f"needs at least {reserve >> 20} MB), fix its permissions or pick another folder "
                             "with --set out=DIR") from None
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------- one child
def run_child(cfg: "Config", trial_dir: Path, *, trial_fn: str, timeout: float | None = None,
              memory_limit: int | None = None, heartbeat: Callable[[], None] | None = None,
              heartbeat_interval: float = 60.0, on_rung: Decider | None = None) -> dict[str, Any]:
    """Run `trial_fn(cfg, trial_dir)` in a child process; its metrics, or TrialFailure with a one-line reason,
    or StoppedAtRung when `on_rung(rung, metrics) -> bool` (asked for each rung report, `search.early_stop`)
    stopped it.

    `timeout` s: the child's process group is killed ("timeout after N s"). `memory_limit` bytes: RLIMIT_AS of
    the child (MemoryError -> "out of memory: ..."). `heartbeat()` is called every `heartbeat_interval` s while
    the child runs. The child's stdout/stderr go to trial_dir/log.txt."""
    trial_dir = Path(trial_dir)
    spec_path = trial_dir / "spec.json"
    try:
        trial_dir.mkdir(parents=True, exist_ok=True)
        for name in ("metrics.json", "error.txt", "progress.json", "stopped.json"):
            (trial_dir / name).unlink(missing_ok=True)
        for old in trial_dir.glob("rung-*.json"):  # a rerun of the trial asks its rungs again
            old.unlink()
        write_json_atomic(spec_path, {"trial_fn": trial_fn, "trial_dir": str(trial_dir.resolve()),
                                      "memory_limit": memory_limit, "parent_pid": os.getpid(),
                                      "sys_path": [p for p in sys.path if p], "config": config_to_dict(cfg)})
        out = open(trial_dir / "log.txt", "ab")
    except OSError as e:
        raise RunFolderError(f"trial folder {trial_dir}: cannot write ({e.strerror or e}); free disk space or fix "
                             "the run folder's permissions, then rerun to resume") from None
    start = time.monotonic()
    with out:
        env = {**os.environ, **({early_stop.ENV: "1"} if on_rung is not None else {})}
        proc = subprocess.Popen([sys.executable, "-m", "distilbo.search._child", str(spec_path)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        rc = _wait(proc, deadline=None if timeout is None else start + timeout, heartbeat=heartbeat,
                   interval=heartbeat_interval,
                   poll=None if on_rung is None else lambda: early_stop.answer_reports(trial_dir, on_rung))
    finally:
        _kill_group(proc)  # on timeout or interrupt the child; after a clean exit, anything it left behind
    if rc is None:
        raise TrialFailure(f"timeout after {timeout:g} s")
    if rc == early_stop.EXIT_STOPPED:
        try:
            raise early_stop.StoppedAtRung(int(json.loads((trial_dir / "stopped.json").read_text())["rung"]))
        except (OSError, ValueError, KeyError):
            raise TrialFailure("the trial stopped at a rung without writing stopped.json") from None
    if rc == 0:
        try:
            return json.loads((trial_dir / "metrics.json").read_text())
        except FileNotFoundError:
            raise TrialFailure("the trial exited without writing metrics.json") from None
        except ValueError:
            raise TrialFailure("the trial wrote a metrics.json that is not valid JSON") from None
    error = trial_dir / "error.txt"
    if rc == EXIT_ERROR and error.is_file():
        raise TrialFailure(error.read_text(errors="replace").split("\n", 1)[0])
    if rc < 0:
        sig = signal.Signals(-rc).name if -rc in signal.valid_signals() else f"signal {-rc}"
        if -rc == signal.SIGKILL:
            raise TrialFailure("killed (out of memory?) by SIGKILL")
        raise TrialFailure(f"crashed ({sig})" if sig in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGILL") else f"killed by {sig}")
    tail = _last_line(trial_dir / "log.txt")
    raise TrialFailure(f"exited with code {rc}" + (f": {tail}" if tail else ""))


def _wait(proc: subprocess.Popen, *, deadline: float | None, heartbeat: Callable[[], None] | None,
          interval: float, poll: Callable[[], None] | None = None, poll_interval: float = 0.5) -> int | None:
    """The child's exit code, or None when `deadline` (monotonic) passed first. `poll()` runs every
    `poll_interval` s while the child runs (rung reports)."""
    next_beat = time.monotonic() + interval
    while True:
        now = time.monotonic()
        until = min(next_beat, deadline) if deadline is not None else next_beat
        if poll is not None:
            until = min(until, now + poll_interval)
        try:
            return proc.wait(timeout=max(0.01, until - now))
        except subprocess.TimeoutExpired:
            pass
        if poll is not None:
            poll()
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return None
        if now >= next_beat:
            next_beat = now + interval
            if heartbeat is not None:
                try:
                    heartbeat()
                except Exception as e:  # noqa: BLE001  (a storage hiccup must not kill the trial)
                    log.warning("heartbeat not recorded: %s", e)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 2000))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


# ---------------------------------------------------------------------------------------------- objective
def _optional_fn(path: str | Callable | None) -> Callable | None:
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
    `pessimistic` overrides the values recorded for failed trials (see `study.pessimistic_metrics`).

    `execute` is the executor seam: a function with `run_child`'s signature that runs the string `trial_fn`'s child
    somewhere (default `run_child`, this machine; `search._ray.RayExecutor`, a Ray cluster); it may raise
    `TrialLost` when the place it ran on was lost."""
    from distilbo.config import parse_bytes

    params = parse_space(cfg.search.space, where=cfg.source)
    estimate = _optional_fn(estimate_fn)
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


# ---------------------------------------------------------------------------------------------- the loop
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


def work(study: optuna.Study, objective: Callable[[Trial], list[float]], *, budget: int, grace_period: float,
         deadline: float | None = None, on_trial: Callable[[], None] | None = None, poll: float = 2.0) -> None:
    """Run trials until the study has `budget` finished ones (or time.time() passes `deadline`). Several
    processes may run this on one storage; a trial is started only while finished + running < budget, and a
    trial two workers started at once beyond the budget is not run (state PRUNED, user attr `surplus`)."""

    own = _own_folder(study)

    def guarded(trial: Trial) -> list[float]:
        why = surplus(study, trial, budget=budget)
        if why is not None:
            trial.set_user_attr("surplus", why)
            raise optuna.TrialPruned(why)
        return objective(trial)

    while True:
        fail_stale_trials(study, grace_period=grace_period)
        done, running = _counts(study)
        if done >= budget or (deadline is not None and time.time() >= deadline):
            return
        if done + running >= budget:  # the rest is being run by other workers; wait in case one fails
            time.sleep(poll)
            continue
        study.optimize(guarded, n_trials=1, catch=(TrialLost,))
        prune_checkpoints(study, own=own)
        if on_trial is not None:
            on_trial()


def _own_folder(study: optuna.Study) -> str | None:
    """The uid of the study's own folder (user attr `folder_uid`, also in the folder's marker file), or None for
    a study made before per-study folders."""
    uid = study.user_attrs.get("folder_uid")
    return uid if isinstance(uid, str) and uid else None


def prune_checkpoints(study: optuna.Study, *, own: str | None = "auto") -> list[int]:
    """Disk budget (`[search] keep = "frontier"`): delete the model/ folder of every finished trial that is neither
    the baseline nor on the Pareto front (the feasible front; the unconstrained one while nothing is feasible).
    Returns the trial numbers pruned now. `keep = "all"` keeps everything.

    Only the study's own trial folders are touched: `<study folder>/trials/NNNN` with NNNN the trial's number and
    the study folder's marker carrying the study's uid `own` (default: its user attr `folder_uid`). A trial folder
    recorded elsewhere (a study made before per-study folders, whose `trials/NNNN` another study may have reused)
    is kept."""
    import shutil

    attrs = study.user_attrs
    if attrs.get("keep", "frontier") != "frontier":
        return []
    own = _own_folder(study) if own == "auto" else own
    if own is None:
        return []
    recs = records(study, curves=False)
    keep = {r["number"] for r in recs if r["on_front"] or r["is_baseline"] or r["status"] in ("running", "waiting")}
    pruned = []
    owners: dict[Path, str | None] = {}

    def mine(folder: Path, number: int) -> bool:
        if folder.name != f"{number:04d}" or folder.parent.name != "trials":
            return False
        home = folder.parent.parent
        if home not in owners:
            owners[home] = (_marker(home) or {}).get("uid")
        return owners[home] == own

    for r in recs:
        folder = Path(r["trial_dir"]) if r.get("trial_dir") else None
        model = folder / "model" if folder is not None and mine(folder, r["number"]) else None
        if r["number"] not in keep and model is not None and model.is_dir():
            shutil.rmtree(model, ignore_errors=True)
            pruned.append(r["number"])
    return pruned


def _worker_main(cfg: "Config", budget: int, deadline: float | None,
                 trial_fn: str | TrialFn, estimate_fn: str | Callable | None, pessimistic: dict[str, float] | None,
                 index: int, device: str | None) -> None:
    """Entry of a local worker process (multiprocessing "spawn")."""
    if device is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    _exit_when_orphaned(os.getppid())
    logging.basicConfig(level=logging.WARNING, format=f"distilbo worker {index}: %(levelname)s: %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = create_or_load_study(cfg, seed=cfg.run.seed + index, estimate=_optional_fn(estimate_fn))
    objective = make_objective(cfg, trial_fn=trial_fn, estimate_fn=estimate_fn, pessimistic=pessimistic)
    if index > 0:
        # SQLite cannot hand a queued trial (the baseline) to exactly one of several processes that ask at once
        # (no SELECT ... FOR UPDATE): both would run it. So worker i starts once i queued trials are taken.
        def queued() -> int:
            return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

        target, until = max(0, queued() - index), time.time() + 120
        while queued() > target and time.time() < until:
            time.sleep(0.2)
    with _sampler_threads(cfg):
        work(study, objective, budget=budget, grace_period=cfg.search.grace_period, deadline=deadline)


@contextlib.contextmanager
def _sampler_threads(cfg: "Config") -> Iterator[None]:
    """While the search runs, its own process's torch threads (the gp and botorch samplers fit and optimize in it,
    for seconds to minutes a trial) are the worker's `[run] num_threads`, like its trials, so a suggestion takes
    no more cores than the trial it waits for; restored after (run_search is a library call too). Unset, torch
    takes every core: two workers, or two studies side by side, each fitting on both cores of a 2-core machine
    starved the other's running trial (benchmarks/README.md, issue 14 on real trials). Only the model-based
    samplers use torch; tpe, random and nsga2 studies never load it here."""
    if cfg.search.sampler not in ("gp", "botorch") or cfg.run.num_threads <= 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(cfg.run.num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _devices(cfg: "Config", workers: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES per worker: one GPU each (round robin) when several are visible, else untouched."""
    if workers < 2 or cfg.run.device not in ("auto", "cuda"):
        return [None] * workers
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [d.strip() for d in visible.split(",") if d.strip()]
    else:
        try:
            import torch

            ids = [str(i) for i in range(torch.cuda.device_count())]
        except Exception:  # noqa: BLE001
            ids = []
    if len(ids) < 2:
        return [None] * workers
    return [ids[i % len(ids)] for i in range(workers)]


class _Progress:
    """The search's console output, on stderr.

    Events, one line each: the start, then every finished trial (its metrics, or its failure and the path of its
    log.txt). Live lines: the study (trials done, running, failed, elapsed, ETA, front, best) and one line per
    running trial read from its `progress.json` (`distilbo.progress`: phase, epoch, step/total, loss, the trial's
    ETA). The study's ETA comes from the durations of its finished trials and the progress of the running ones.
    `start()` runs a thread that redraws the live lines in place about once a second on a terminal, or prints
    them every `interval` s (default 30) elsewhere (a log file); `stop()` ends it."""

    def __init__(self, study: optuna.Study, cfg: "Config", *, budget: int, enabled: bool, workers: int = 1,
                 stream: Any = None, interval: float | None = None) -> None:
        import threading

        self.study, self.cfg, self.budget, self.enabled, self.workers = study, cfg, budget, enabled, workers
        self.stream = sys.stderr if stream is None else stream
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False
        self.interval = interval if interval is not None else 1.0 if self.tty else 30.0
        self.t0 = time.time()
        self.seen: set[int] | None = None
        self.done0 = 0
        self.last = ""
        self.front_best = ""
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = 0  # live lines on the terminal below the cursor's line
        self._next_print = self.t0 + self.interval
        self._trials: list[optuna.trial.FrozenTrial] = []
        self._trials_at = float("-inf")
        self._filter: logging.Filter | None = None

    # ------------------------------------------------------------------ events
    def update(self) -> None:
        """Print the lines of new events (the first call: the study's start line)."""
        if not self.enabled:
            return
        with self._lock:
            trials = self._fetch(max_age=0.0)
            finished = {t.number: t for t in trials if t.state == TrialState.FAIL or is_finished(t)}
            done, running, failed = _tally(trials)
            if self.seen is None:
                self.seen, self.done0 = set(finished), done
                events = [f"study '{self.study.study_name}' in {mask_url(self.cfg.storage_url)}"
                          + (f", resuming at {done} finished" if done else "")]
            else:
                events = [_describe(finished[n], self.cfg) for n in sorted(set(finished) - self.seen)]
                self.seen |= set(finished)
            key = f"{done}/{self.budget} done ({failed} failed), {running} running"
            if not events and key == self.last:
                return
            self.last = key
            ok = [t for t in finished.values() if t.state == TrialState.COMPLETE and not t.user_attrs.get("failure")
                  and not t.user_attrs.get("skipped") and all(v <= 0 for v in t.constraints.values())]
            first = self.cfg.search.objectives[0]
            best = ""
            if ok:
                pick = max if first["direction"] == "maximize" else min
                best = f", best {first['metric']} {pick(t.values[0] for t in ok):.4g}"
            front = sum(r["on_front"] for r in records(self.study, curves=False)) if done else 0
            self.front_best = f", front {front}{best}"
            status = self._summary(trials, time.time())
            self._clear()
            for event in events or [""]:
                print(f"distilbo search: {status}" + (f" | {event}" if event else ""), file=self.stream, flush=True)
            if self.tty and self._thread is not None:
                self._draw(self.live_lines(trials, time.time()))

    # ------------------------------------------------------------------ live lines
    def live_lines(self, trials: list[optuna.trial.FrozenTrial], now: float) -> list[str]:
        """The study's line, then one line per running trial."""
        states = {t.number: _trial_progress(t) for t in trials if t.state == TrialState.RUNNING}
        lines = [f"distilbo search: {self._summary(trials, now, states)}"]
        for t in trials:
            if t.state == TrialState.RUNNING:
                start = t.datetime_start.timestamp() if t.datetime_start else None
                lines.append(("  " if self.tty else "distilbo search: ") + _running_line(t.number, states[t.number],
                                                                                        now, start))
        return lines

    def tick(self, now: float | None = None) -> None:
        """Redraw the live lines (terminal), or print them when `interval` s passed since the last time."""
        if not self.enabled:
            return
        with self._lock:
            now = time.time() if now is None else now
            if not self.tty and now < self._next_print:
                return
            trials = self._fetch(max_age=5.0)
            lines = self.live_lines(trials, now)
            if self.tty:
                self._clear()
                self._draw(lines)
            elif len(lines) > 1:  # nothing to say while no trial runs: the event lines said it
                self._next_print = now + self.interval
                for line in lines:
                    print(line, file=self.stream, flush=True)

    def start(self) -> None:
        """Show the live lines from a background thread until `stop()`."""
        import threading

        if not self.enabled or self._thread is not None:
            return
        if self.tty:  # a log record printed while the lines are drawn would be overwritten: clear them first
            progress = self

            class _ClearFirst(logging.Filter):
                def filter(self, record: logging.LogRecord) -> bool:
                    with progress._lock:
                        progress._clear()
                    return True

            self._filter = _ClearFirst()
            for h in logging.getLogger().handlers:
                h.addFilter(self._filter)
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name="distilbo-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopped.set()
        thread.join(timeout=10)
        with self._lock:
            self._clear()
        if self._filter is not None:
            for h in logging.getLogger().handlers:
                h.removeFilter(self._filter)
            self._filter = None

    def _run(self) -> None:
        while not self._stopped.wait(min(self.interval, 1.0)):
            try:
                self.tick()
            except Exception as e:  # noqa: BLE001  (a storage hiccup must not end the progress display)
                log.debug("progress not shown: %s", e)

    # ------------------------------------------------------------------ helpers
    def _fetch(self, *, max_age: float) -> list[optuna.trial.FrozenTrial]:
        now = time.monotonic()
        if now - self._trials_at > max_age:
            self._trials, self._trials_at = self.study.get_trials(deepcopy=False), now
        return self._trials

    def _summary(self, trials: list[optuna.trial.FrozenTrial], now: float,
                 states: dict[int, dict | None] | None = None) -> str:
        done, running, failed = _tally(trials)
        if states is None:
            states = {t.number: _trial_progress(t) for t in trials if t.state == TrialState.RUNNING}
        eta = study_eta(trials, budget=self.budget, workers=self.workers, now=now, states=states)
        return (f"{done}/{self.budget} done ({failed} failed), {running} running, elapsed {_hms(now - self.t0)}, "
                f"ETA {'?' if eta is None else _hms(eta)}{self.front_best}")

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}A\r\x1b[J")
            self.stream.flush()
            self._drawn = 0

    def _draw(self, lines: list[str]) -> None:
        import shutil

        width = max(20, shutil.get_terminal_size().columns - 1)  # a wrapped line would break the redraw
        self.stream.write("".join(line[:width] + "\n" for line in lines))
        self.stream.flush()
        self._drawn = len(lines)


def _tally(trials: list[optuna.trial.FrozenTrial]) -> tuple[int, int, int]:
    """(finished, running, failed) trials."""
    done = sum(is_finished(t) for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    failed = sum(t.state == TrialState.FAIL or (t.state == TrialState.COMPLETE and bool(t.user_attrs.get("failure")))
                 for t in trials)
    return done, running, failed


def _trial_progress(t: optuna.trial.FrozenTrial) -> dict | None:
    """The running trial's progress.json, unless there is none or it is older than the trial (a previous run)."""
    from distilbo import progress

    where = t.user_attrs.get("trial_dir")
    state = progress.read(where) if where else None
    if state is None:
        return None
    started = t.datetime_start.timestamp() if t.datetime_start else None
    if started is not None and isinstance(state.get("started"), (int, float)) and state["started"] < started - 5:
        return None
    return state


def trial_eta(state: dict | None, now: float) -> float | None:
    """Seconds left of a running trial by its progress state (training time left plus a final evaluation as long
    as the last one), or None when it cannot tell yet."""
    if not state or not isinstance(state.get("eta_s"), (int, float)):
        return None
    phase, eta = state["phase"], float(state["eta_s"])
    eval_s = float(state["eval_s"]) if isinstance(state.get("eval_s"), (int, float)) else 0.0
    updated = state.get("updated", now)
    since = state.get("phase_started", updated)
    if phase == "training":
        return max(0.0, eta - (now - updated)) + eval_s
    if phase == "evaluating":
        return eta + max(0.0, eval_s - (now - since))
    return None


def study_eta(trials: list[optuna.trial.FrozenTrial], *, budget: int, workers: int, now: float,
              states: dict[int, dict | None]) -> float | None:
    """Seconds until the study has `budget` finished trials: the time left of each running trial (by its progress,
    else the mean duration of the finished trials minus its elapsed time), plus the mean duration for each trial
    not started yet, spread over max(workers, running) lanes. None while nothing tells a trial's duration."""
    done = [t for t in trials if is_finished(t)]
    if len(done) >= budget:
        return 0.0
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done
                 if t.datetime_complete and t.datetime_start]
    running = [t for t in trials if t.state == TrialState.RUNNING]
    left, guesses = [], []
    for t in running:
        elapsed = now - t.datetime_start.timestamp() if t.datetime_start else 0.0
        eta = trial_eta(states.get(t.number), now)
        if eta is not None:
            guesses.append(elapsed + eta)
        left.append((elapsed, eta))
    mean = (sum(durations) / len(durations) if durations else sum(guesses) / len(guesses) if guesses else None)
    rest: list[float] = []
    for elapsed, eta in left:
        if eta is None:
            if mean is None:
                return None
            eta = max(0.0, mean - elapsed)
        rest.append(eta)
    todo = max(0, budget - len(done) - len(running))
    if todo and mean is None:
        return None
    lanes = max(1, workers, len(running))
    return max(max(rest, default=0.0), (sum(rest) + todo * (mean or 0.0)) / lanes)


def _running_line(number: int, state: dict | None, now: float, started: float | None) -> str:
    """`trial 5: training, epoch 1.25/2, step 120/400, loss 2.310, ETA 0:03:10`."""
    elapsed = f"running for {_hms(now - started)}" if started else "running"
    if state is None:
        return f"trial {number}: starting, {elapsed}"
    phase = state["phase"]
    parts = [f"trial {number}: {phase}"]
    if phase in ("training", "evaluating") and isinstance(state.get("total_steps"), int):
        if isinstance(state.get("epoch"), (int, float)) and isinstance(state.get("epochs"), (int, float)):
            parts.append(f"epoch {state['epoch']:.2f}/{state['epochs']:g}")
        parts.append(f"step {state.get('step', 0)}/{state['total_steps']}")
        if isinstance(state.get("loss"), (int, float)):
            parts.append(f"loss {state['loss']:.3f}")
    elif isinstance(state.get("phase_started"), (int, float)):
        parts.append(f"for {_hms(now - state['phase_started'])}")
    eta = trial_eta(state, now)
    parts.append(f"ETA {_hms(eta)}" if eta is not None else elapsed)
    return ", ".join(parts)


def _describe(t: optuna.trial.FrozenTrial, cfg: "Config") -> str:
    ua = t.user_attrs
    if t.state == TrialState.FAIL:
        return f"trial {t.number} FAIL: {ua.get('failure') or INTERRUPTED}{_log_hint(t)}"
    if ua.get("skipped"):
        return f"trial {t.number} skipped: {ua['skipped']}"
    if "stopped_at_rung" in ua:
        k = ua["stopped_at_rung"]
        m = (ua.get(f"rung_{k}") or {}).get("metrics") or {}
        first = cfg.search.objectives[0]["metric"]
        return f"trial {t.number} stopped at rung {k}" + (f" ({first} {m[first]:.4g})" if _is_number(m.get(first)) else "")
    if ua.get("failure"):
        return f"trial {t.number} failed: {ua['failure']}{_log_hint(t)}"
    m = ua.get("metrics", {})
    shown = dict.fromkeys([o["metric"] for o in cfg.search.objectives] + ["exact", "f1", "latency_ms"])
    return f"trial {t.number}{' (baseline)' if ua.get('is_baseline') else ''}: " + ", ".join(
        f"{k} {m[k]:.4g}" for k in shown if isinstance(m.get(k), (int, float)))


def _log_hint(t: optuna.trial.FrozenTrial) -> str:
    """` (log: .../trials/0003/log.txt)` when the failed trial has a log (it ran in a child process)."""
    where = t.user_attrs.get("trial_dir")
    path = Path(where) / "log.txt" if where else None
    return f" (log: {path})" if path is not None and path.is_file() else ""


def _hms(seconds: float) -> str:
    s = int(max(0, seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def run_search(cfg: "Config", *, n_trials: int | None = None, timeout: float | None = None,
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
    url = cfg.storage_url  # for error messages; every study open reads it from cfg
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
        reason = _mask_in(mask_secrets(" ".join(str(getattr(cause, "orig", None) or cause).split())[:200]), url)
        raise UserError(f"storage {mask_url(url)}: a write failed ({reason}); check free disk space, "
                        "that the database is writable and its server is up, then rerun to resume") from None
    finally:
        optuna.logging.set_verbosity(verbosity)


def _storage_failure(e: BaseException) -> BaseException | None:
    """The database error (SQLAlchemy OperationalError: disk full, read-only, server gone) behind `e`, or None.

    Optuna wraps it in StorageInternalError, and when even marking the trial FAIL fails, in an AssertionError
    raised while handling it; the chain of causes and contexts leads back to it."""
    from sqlalchemy.exc import OperationalError

    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OperationalError):
            return e
        e = e.__cause__ or e.__context__
    return None


def _search(cfg: "Config", *, budget: int, workers: int, deadline: float | None,
            trial_fn: str | TrialFn, estimate_fn: str | Callable | None, pessimistic: dict[str, float] | None,
            progress: bool) -> optuna.Study:
    study = create_or_load_study(cfg, estimate=_optional_fn(estimate_fn))
    remember_config(study, cfg)  # so status/report/export open it from --storage alone (search.stored)
    ensure_baseline(study, cfg, budget=budget)
    shown = _Progress(study, cfg, budget=budget, enabled=progress, workers=workers)
    shown.update()
    shown.start()  # the live lines of the running trials
    try:
        return _run_workers(study, cfg, budget=budget, workers=workers, deadline=deadline,
                            trial_fn=trial_fn, estimate_fn=estimate_fn, pessimistic=pessimistic, shown=shown)
    finally:
        shown.stop()


def _run_workers(study: optuna.Study, cfg: "Config", *, budget: int, workers: int,
                 deadline: float | None, trial_fn: str | TrialFn, estimate_fn: str | Callable | None,
                 pessimistic: dict[str, float] | None, shown: _Progress) -> optuna.Study:
    s = cfg.search
    if cfg.run.executor == "ray":  # each trial's child in a Ray task; `workers` threads of the loop (search._ray)
        if callable(trial_fn):
            raise UserError("executor 'ray' runs a trial function given by its dotted path ('module:function'); a "
                            "Python callable runs only with [run] executor = \"local\"")
        objective = make_objective(cfg, trial_fn=trial_fn, estimate_fn=estimate_fn, pessimistic=pessimistic,
                                   execute=RayExecutor(cfg, run_child=run_child))
        with _sampler_threads(cfg):
            run_in_threads(study, workers, lambda: work(study, objective, budget=budget, grace_period=s.grace_period,
                                                        deadline=deadline, on_trial=shown.update), tick=shown.update)
        return study
    if workers == 1:
        objective = make_objective(cfg, trial_fn=trial_fn, estimate_fn=estimate_fn, pessimistic=pessimistic)
        with _sampler_threads(cfg):
            work(study, objective, budget=budget, grace_period=s.grace_period, deadline=deadline,
                 on_trial=shown.update)
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
            shown.update()
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
    shown.update()
    return study

