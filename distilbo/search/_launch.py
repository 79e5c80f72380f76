"""One trial's child process on this machine (the local executor; `search._ray` runs this same function inside a
Ray task): `python -m distilbo.search._child TRIAL_DIR/spec.json` in its own process group.

    metrics = run_child(cfg, trial_dir, trial_fn="mypkg.trials:fn", timeout=600, memory_limit=4 << 30)

The child runs with the CPU memory limit `[search] trial_memory_limit` (RLIMIT_AS) and the time limit
`trial_timeout` (the whole group is killed). Whatever the child does (raise, run out of memory, be killed, exit),
`run_child` raises `TrialFailure` with a one-line reason, or `StoppedAtRung` when the search stopped it at a rung
(the rung reports are answered while it runs, `early_stop.answer_reports`). A run folder that cannot be written is
`RunFolderError`: no trial can run, the search stops.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from distilbo._io import write_json_atomic
from distilbo.errors import UserError
from distilbo.search import early_stop
from distilbo.search._child import EXIT_ERROR, config_to_dict
from distilbo.search._outcome import TrialFailure

if TYPE_CHECKING:
    from distilbo.config import Config

log = logging.getLogger(__name__)

CHILD_MODULE = "distilbo.search._child"
"""What the child runs (`python -m`): a dynamic link the layering test follows."""
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
        proc = subprocess.Popen([sys.executable, "-m", CHILD_MODULE, str(spec_path)], stdin=subprocess.DEVNULL,
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
