"""Is a trial's worker still alive? Who runs a trial (user attrs `worker`, `heartbeat`), and trials left RUNNING by
a dead worker set to FAIL with `failure` = "worker died ..." (`fail_stale_trials`).

A local worker is dead when its pid is gone (or reused: another start time); a remote one when its `heartbeat` is
older than `grace_period` s. Journal storage has no Optuna heartbeat, so this is what resumes it.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from typing import Any

import optuna
import psutil
from optuna.trial import FrozenTrial, Trial, TrialState

from distilbo.search._outcome import INTERRUPTED

log = logging.getLogger(__name__)


def process_start(pid: int) -> float | None:
    """Start time of a running process, or None when there is none (zombies count as gone)."""
    try:
        p = psutil.Process(pid)
        return None if p.status() == psutil.STATUS_ZOMBIE else p.create_time()
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        return math.nan  # someone else's process: alive, start unknown


def worker_identity() -> dict[str, Any]:
    """{"host", "pid", "pid_start"}: enough to tell later whether this process is still alive."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": process_start(os.getpid())}


def claim_trial(trial: Trial) -> None:
    """Record which process runs the trial (user attrs `worker`, `heartbeat`)."""
    trial.set_user_attr("worker", worker_identity())
    trial.set_user_attr("heartbeat", time.time())


def worker_gone(owner: Any, last_beat: float | None, *, grace_period: float, now: float) -> str | None:
    """Why the worker `owner` ({"host", "pid", "pid_start"}, `worker_identity`) is gone, or None while it may still
    be at its work: on this host by its pid (and the pid's start time, against pid reuse), elsewhere by its last
    heartbeat (`last_beat`, epoch seconds) older than `grace_period` s. Used for trials and confirmation runs."""
    if isinstance(owner, dict) and owner.get("host") == socket.gethostname():
        pid, started = owner.get("pid"), owner.get("pid_start")
        if pid == os.getpid():
            return None  # this very process runs it
        alive = process_start(int(pid)) if isinstance(pid, int) else None
        if alive is None or (started is not None and not math.isnan(alive) and abs(alive - started) > 1.0):
            return f"worker died (pid {pid} on {owner['host']})"
        return None
    if last_beat is not None and now - last_beat > grace_period:
        return f"worker died (no heartbeat for {now - last_beat:.0f} s)"
    return None


def _stale_reason(t: FrozenTrial, *, grace_period: float, now: float) -> str | None:
    """Why RUNNING trial `t` is abandoned, or None while its worker may still be at it."""
    last = t.user_attrs.get("heartbeat")
    if not isinstance(last, (int, float)):
        last = t.datetime_start.timestamp() if t.datetime_start else None
    gone = worker_gone(t.user_attrs.get("worker"), last, grace_period=grace_period, now=now)
    return None if gone is None else f"{gone}; {INTERRUPTED}"


def fail_stale_trials(study: optuna.Study, *, grace_period: float) -> list[int]:
    """Set RUNNING trials whose worker is dead to FAIL with a `failure` reason; returns their numbers.

    A local worker is dead when its pid is gone (or reused: other start time); a remote one when its `heartbeat`
    is older than `grace_period` s. Journal storage has no Optuna heartbeat, so this is what resumes it."""
    now, failed = time.time(), []
    storage = study._storage  # noqa: SLF001  (Optuna's own fail_stale_trials works the same way)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        reason = _stale_reason(t, grace_period=grace_period, now=now)
        if reason is None:
            continue
        try:
            storage.set_trial_user_attr(t._trial_id, "failure", reason)  # noqa: SLF001
            if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):  # noqa: SLF001
                failed.append(t.number)
                log.warning("trial %d: %s", t.number, reason)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another process finished or failed it meanwhile
    return failed
