"""Quiet windows: a latency measurement asks the trials training on the same machine to pause between optimizer steps
while it times, so the time a sampler sees for a shape is the shape's, not a running trial's (issue 33: "latency
measured where it cannot be disturbed by a running trial"). Two local workers on two cores otherwise time one trial's
shape while the other trial trains beside it.

    with quiet_window(root) as quiet:       # the measurer: serve.shape_latency_ms, a trial timing its own model
        times = time_it()                   # quiet is True when every registered trainer had paused
    with trainer(root):                     # a training loop, for as long as it trains
        for batch in batches:
            pause_if_asked(root)            # between steps: waits while a live request is open

The files live in `<root>/quiet/` (root: the cache folder, one per machine): `request-HOST-PID` (a measurement wants
quiet), `trainer-HOST-PID` (a loop that pauses when asked), `paused-HOST-PID` (it has paused). A file whose process is
gone is removed when next seen, and one from another host (a shared cache folder) ignored: a killed measurer never
stalls training and a killed trainer never stalls a measurement. A trainer busy outside its steps (dev scoring, a
rung decision) cannot pause; the measurer waits for it at most `wait_s` and then times anyway, saying so (quiet =
False).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

WAIT_S = 300.0
"""How long a measurer waits for the trainers to pause (a dev scoring of a 6-layer student on one core takes ~2 min)."""
MAX_PAUSE_S = 900.0
"""The longest a trainer pauses for one request (a measurer that hangs does not stop training for good)."""


def _me() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _live(folder: Path, kind: str) -> set[str]:
    """HOST-PID of the `kind-HOST-PID` files in `folder` whose process runs on this host, this one excluded."""
    host, me, found = socket.gethostname(), _me(), set()
    try:
        names = os.listdir(folder)
    except OSError:  # no such folder (nobody asked yet), or not a folder at all
        return found
    for name in names:
        if not name.startswith(kind + "-"):
            continue
        who = name[len(kind) + 1:]
        h, _, pid = who.rpartition("-")
        if h != host or not pid.isdigit() or who == me:
            continue
        if _alive(int(pid)):
            found.add(who)
        else:  # left by a killed process: removed, so a later process with the same pid is not taken for it
            (folder / name).unlink(missing_ok=True)
    return found


def _folder(root: Path | str) -> Path:
    return Path(root) / "quiet"


@contextmanager
def quiet_window(root: Path | str, *, wait_s: float = WAIT_S, poll_s: float = 0.05) -> Iterator[bool]:
    """Ask the trainers registered under `root` to pause; yields True once all have paused (False if some had not
    within `wait_s`: the measurement goes on, disturbed); the request is withdrawn on exit."""
    folder = _folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    request = folder / f"request-{_me()}"
    request.touch()
    try:
        deadline = time.monotonic() + wait_s
        while True:
            busy = _live(folder, "trainer") - _live(folder, "paused")
            if not busy:
                quiet = True
                break
            if time.monotonic() >= deadline:
                log.info("latency timed beside %d training process(es) that did not pause within %.0f s: %s",
                         len(busy), wait_s, ", ".join(sorted(busy)))
                quiet = False
                break
            time.sleep(poll_s)
        yield quiet
    finally:
        request.unlink(missing_ok=True)


@contextmanager
def trainer(root: Path | str) -> Iterator[None]:
    """Register this process as one that pauses when a measurement asks (for the `with` block)."""
    folder = _folder(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        mark = folder / f"trainer-{_me()}"
        mark.touch()
    except OSError:  # a read-only cache: nobody can ask, nothing to register
        yield
        return
    try:
        yield
    finally:
        mark.unlink(missing_ok=True)
        (folder / f"paused-{_me()}").unlink(missing_ok=True)


def pause_if_asked(root: Path | str, *, poll_s: float = 0.05, max_s: float = MAX_PAUSE_S) -> float:
    """Between two training steps: while another live process on this host has a request open, wait (marked paused).
    Returns the seconds paused (0.0 when nobody asked: one directory listing)."""
    folder = _folder(root)
    if not _live(folder, "request"):
        return 0.0
    start = time.monotonic()
    mark = folder / f"paused-{_me()}"
    mark.touch()
    try:
        while _live(folder, "request") and time.monotonic() - start < max_s:
            time.sleep(poll_s)
    finally:
        mark.unlink(missing_ok=True)
    return time.monotonic() - start


__all__ = ["quiet_window", "trainer", "pause_if_asked", "WAIT_S", "MAX_PAUSE_S"]
