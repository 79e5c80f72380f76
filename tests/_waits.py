"""Waiting for a subprocess by events, not by the clock (issue 32: a suite that passes on a busy machine).

A test that awaits a subprocess (a search it killed and reruns, a driver) waits until the process ENDS, however long
that takes on a loaded machine. It fails only when the process makes no progress at all for `STALL` seconds: no
CPU time used by it or its children and no change to the files it was told to watch (a hang, a deadlock), and
then it says so and kills the process. No test asserts how long something took.

    r = run([sys.executable, script], watch=[out], check=True)   # like subprocess.run, without timeout=
    out, err = communicate(proc, watch=[out])                     # like Popen.communicate
    wait_until(lambda: marker.exists(), proc)                     # an event inside a running process
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import psutil

STALL = 600.0
"""Seconds without any sign of progress (CPU time, watched files) after which a subprocess counts as hung."""


def _files(paths: Iterable[Path | str]) -> tuple:
    out = []
    for p in map(Path, paths):
        found = p.rglob("*") if p.is_dir() else [p]
        for f in found:
            try:
                s = f.stat()
            except OSError:
                continue
            out.append((str(f), s.st_size, s.st_mtime_ns))
    return tuple(sorted(out))


def progress(proc: subprocess.Popen, watch: Iterable[Path | str] = ()) -> tuple:
    """A value that changes whenever `proc` (or a child of it) used CPU time or a watched file changed."""
    try:
        p = psutil.Process(proc.pid)
        cpu = 0.0
        for q in (p, *p.children(recursive=True)):
            try:
                t = q.cpu_times()
                cpu += t.user + t.system
            except psutil.Error:
                pass
    except psutil.Error:
        cpu = -1.0
    return cpu, _files(watch)


class _Watchdog:
    def __init__(self, proc: subprocess.Popen, watch: Iterable[Path | str], stall: float) -> None:
        self.proc, self.watch, self.stall = proc, list(watch), stall
        self.last: tuple | None = None
        self.since = time.monotonic()

    def stalled(self) -> bool:
        now = progress(self.proc, self.watch)
        if now != self.last:
            self.last, self.since = now, time.monotonic()
            return False
        return time.monotonic() - self.since > self.stall

    def fail(self, err: Any = "") -> None:
        tail = err.decode(errors="replace") if isinstance(err, bytes) else str(err or "")
        raise AssertionError(f"{self.proc.args!r}: no progress (CPU time, files {self.watch}) for {self.stall:g} s; "
                             f"killed as hung. stderr tail: {tail[-1500:]}")


def communicate(proc: subprocess.Popen, *, watch: Iterable[Path | str] = (), stall: float = STALL) -> tuple[Any, Any]:
    """`proc.communicate()` that returns when the process ends; AssertionError (process killed) only when it made
    no progress for `stall` s."""
    dog = _Watchdog(proc, watch, stall)
    while True:
        try:
            return proc.communicate(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
        if dog.stalled():
            proc.kill()
            _, err = proc.communicate()
            dog.fail(err)


def run(args: list[str], *, watch: Iterable[Path | str] = (), stall: float = STALL, check: bool = False,
        capture_output: bool = False, text: bool = False, **popen: Any) -> subprocess.CompletedProcess:
    """`subprocess.run(args, ...)` without a time limit: it waits for the end (see `communicate`)."""
    if capture_output:
        popen.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc = subprocess.Popen(args, text=text, **popen)
    out, err = communicate(proc, watch=watch, stall=stall)
    done = subprocess.CompletedProcess(args, proc.returncode, out, err)
    if check:
        done.check_returncode()
    return done


def wait_until(event: Callable[[], Any], proc: subprocess.Popen, *, watch: Iterable[Path | str] = (),
               stall: float = STALL, poll: float = 0.05) -> Any:
    """Poll `event()` until it returns something true (returned) while `proc` runs; AssertionError when `proc`
    ends first or makes no progress for `stall` s."""
    dog = _Watchdog(proc, watch, stall)
    while True:
        got = event()
        if got:
            return got
        assert proc.poll() is None, f"{proc.args!r} exited ({proc.returncode}) before the awaited event"
        if dog.stalled():
            dog.fail()
        time.sleep(poll)
