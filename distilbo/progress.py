"""Live progress of a running trial: a small `progress.json` in its folder, written by the trial, read by the search.

    from distilbo import progress
    progress.configure(trial_dir / "progress.json")   # the trial's child process does this (search/_child.py)
    progress.phase("teacher logits")                  # loading, teacher logits, training, evaluating, saving, ...
    progress.update(epoch=1.5, step=120, loss=2.31)   # throttled: at most one write per `min_interval` s
    state = progress.read(trial_dir)                  # the search (search/_console.py `Progress`): dict or None

The file holds one JSON object: `phase`, `started` / `phase_started` / `updated` (time.time()), and while training
`epoch`, `epochs`, `step`, `total_steps`, `loss` (smoothed), `eta_s` (training time left when `updated` was
written) and `eval_s` (how long the last dev evaluation took). Writes are atomic (temp file + rename), phase
changes are written at once, and a write that fails is ignored: progress never fails a trial. Unless a process
called `configure`, every call is a no-op, so the training loop calls it unconditionally.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

from distilbo._io import write_atomic

FILE = "progress.json"
log = logging.getLogger(__name__)


class Reporter:
    """Writes the progress state of one trial to `path`."""

    def __init__(self, path: str | Path, *, min_interval: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self.path, self.min_interval, self.clock = Path(path), min_interval, clock
        now = clock()
        self.state: dict[str, Any] = {"phase": "loading", "started": now, "phase_started": now, "updated": now}
        self._written = float("-inf")
        self._write()

    def phase(self, name: str, **fields: Any) -> None:
        """Enter phase `name` (written at once) with optional fields."""
        if name == self.state["phase"] and not fields:
            return
        if name != self.state["phase"]:
            log.info("phase: %s", name)
            self.state["phase_started"] = self.clock()
        self.state.update(fields, phase=name)
        self._write()

    def update(self, **fields: Any) -> None:
        """Update fields; written when `min_interval` s passed since the last write."""
        if "loss" in fields and fields["loss"] is not None:  # the batch loss is noisy: an exponential average
            old = self.state.get("loss")
            fields["loss"] = fields["loss"] if old is None else 0.9 * old + 0.1 * fields["loss"]
        self.state.update(fields)
        if self.clock() - self._written >= self.min_interval:
            self._write()

    def _write(self) -> None:
        now = self.clock()
        self.state["updated"] = now
        try:
            write_atomic(self.path, json.dumps(self.state, default=float))
            self._written = now
        except (OSError, TypeError, ValueError):
            pass


_current: Reporter | None = None


def configure(path: str | Path | None, *, min_interval: float = 1.0) -> Reporter | None:
    """Report this process's progress to `path` from now on (None: stop reporting)."""
    global _current
    _current = None if path is None else Reporter(path, min_interval=min_interval)
    return _current


def phase(name: str, **fields: Any) -> None:
    if _current is not None:
        _current.phase(name, **fields)


def update(**fields: Any) -> None:
    if _current is not None:
        _current.update(**fields)


def read(where: str | Path) -> dict[str, Any] | None:
    """The state in `where` (a trial folder or the file itself); None when there is none yet or it is unreadable."""
    path = Path(where)
    if path.name != FILE:
        path = path / FILE
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("phase"), str) else None


__all__ = ["FILE", "Reporter", "configure", "phase", "update", "read"]
