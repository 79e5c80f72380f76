"""The search's console output on stderr: one line per event, and live lines with the running trials' progress
and the study's ETA.

    shown = Progress(study, cfg, budget=20, enabled=True, workers=2)
    shown.update(); shown.start()      # the start line, then the live lines from a thread
    ...                                # shown.update() after each trial prints its line
    shown.stop()

Each trial's child writes `progress.json` in its folder (`distilbo.progress`); `Progress` shows the running trials'
phase, epoch, step, loss and ETA (`trial_eta`), and the study's ETA (`study_eta`), under the event lines.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from distilbo import progress
from distilbo.config import Config
from distilbo.search._outcome import INTERRUPTED, is_finished, is_number
from distilbo.search._records import records
from distilbo.search._storage import Storage

log = logging.getLogger(__name__)


class Progress:
    """The search's console output, on stderr.

    Events, one line each: the start, then every finished trial (its metrics, or its failure and the path of its
    log.txt). Live lines: the study (trials done, running, failed, elapsed, ETA, front, best) and one line per
    running trial read from its `progress.json` (`distilbo.progress`: phase, epoch, step/total, loss, the trial's
    ETA). The study's ETA comes from the durations of its finished trials and the progress of the running ones.
    `start()` runs a thread that redraws the live lines in place about once a second on a terminal, or prints
    them every `interval` s (default 30) elsewhere (a log file); `stop()` ends it."""

    def __init__(self, study: optuna.Study, cfg: Config, *, budget: int, enabled: bool, workers: int = 1,
                 stream: Any = None, interval: float | None = None) -> None:
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
                events = [f"study '{self.study.study_name}' in {Storage.of(self.cfg).label}"
                          + (f", resuming at {done} finished" if done else "")]
            else:
                events = [describe(finished[n], self.cfg) for n in sorted(set(finished) - self.seen)]
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
                lines.append(("  " if self.tty else "distilbo search: ") + running_line(t.number, states[t.number],
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


def running_line(number: int, state: dict | None, now: float, started: float | None) -> str:
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


def describe(t: optuna.trial.FrozenTrial, cfg: Config) -> str:
    ua = t.user_attrs
    if t.state == TrialState.FAIL:
        return f"trial {t.number} FAIL: {ua.get('failure') or INTERRUPTED}{_log_hint(t)}"
    if ua.get("skipped"):
        return f"trial {t.number} skipped: {ua['skipped']}"
    if "stopped_at_rung" in ua:
        k = ua["stopped_at_rung"]
        m = (ua.get(f"rung_{k}") or {}).get("metrics") or {}
        first = cfg.search.objectives[0]["metric"]
        return f"trial {t.number} stopped at rung {k}" + (f" ({first} {m[first]:.4g})" if is_number(m.get(first)) else "")
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
