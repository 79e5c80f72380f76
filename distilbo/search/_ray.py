"""The Ray executor (`[run] executor = "ray"`, `distilbo search --ray ADDRESS`): each trial a Ray task on a cluster.

    study = run_search(cfg.with_overrides({"executor": "ray", "ray_address": "auto"}), workers=8)

What stays as with local processes: the study on its storage is the one source of truth, read and written only by
this (driver) process; the search's `[search] workers` threads each run the worker loop (`_loop.work`), so running
trials are pending points for the samplers and the budget is shared exactly as with local workers. Only the step
"run this trial's child process" moves: `RayExecutor` has the signature of `_launch.run_child` and runs run_child
itself inside a Ray task on whichever node has the trial's resources (`[run] trial_cpus`, `trial_gpus`, and
`[search] trial_memory_limit` as the task's `memory`), so the child keeps its process group, time limit, memory
limit and failure classification.

Without a shared filesystem:
  * rung decisions: the child writes `rung-K.json` on its node as always; the task hands the report to a small
    relay actor on the driver's node, the driver decides (`early_stop.decide` on the study) and the task reads the
    answer back from the relay. So rungs decide across nodes.
  * logs and live progress: the task sends the trial's `progress.json` and the tail of its `log.txt` through the
    relay every `PROGRESS_EVERY` s; the driver writes them into its own trial folder, where `distilbo search`'s
    live lines read them. At the end the task returns the trial folder's small files (metrics.json, error.txt,
    log.txt, curves.jsonl, ...; not model/), written into the driver's trial folder too. The checkpoint (model/)
    stays on the node that ran the trial unless `[run] out` is a shared folder (README, "Running on a Ray
    cluster").
  * a lost node or worker (the task dies with Ray's NodeDiedError, WorkerCrashedError, ...) is not the trial's
    doing: `_outcome.TrialLost` leaves that trial FAIL with the reason in its `failure` user attr, it does not count
    toward the budget, and the search (or a rerun) runs another trial in its place.

Ray is an optional extra (`pip install 'distilbo[ray]'`): it is imported inside the functions here, and this module
is imported only when the executor is "ray".
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from optuna.trial import TrialState

from distilbo._io import write_atomic
from distilbo.errors import UserError
from distilbo.search._child import config_from_dict, config_to_dict
from distilbo.search.early_stop import StoppedAtRung
from distilbo.search._outcome import TrialFailure, TrialLost

if TYPE_CHECKING:
    from distilbo.config import Config

log = logging.getLogger(__name__)

PROGRESS_EVERY = 2.0
"""Seconds between two progress messages of a running trial (progress.json, log tail) to the driver."""
RETURNED_FILES_MAX = 4 << 20
"""Bytes of a trial folder's small files returned to the driver at the end (larger files stay on the node)."""
LOG_TAIL = 20_000
"""Characters of log.txt sent with each progress message."""
NODE_ENV = "DISTILBO_RAY_NODE"
"""Set in a trial child's environment: the id of the Ray node it runs on."""


def _ray() -> Any:
    try:
        import ray  # lazy: the optional `ray` extra (so are the other `import ray` below)
    except ImportError:
        raise UserError("executor 'ray' needs Ray: pip install 'distilbo[ray]' (or use [run] executor = \"local\")") \
            from None
    return ray


def connect(cfg: "Config") -> None:
    """Join the cluster `[run] ray_address` (unset: $RAY_ADDRESS, else start Ray on this machine) unless this
    process is connected already; UserError when it cannot."""
    ray = _ray()
    if ray.is_initialized():
        return
    try:
        ray.init(address=cfg.run.ray_address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as e:  # noqa: BLE001  (no cluster there, wrong address, version mismatch: the user's to fix)
        raise UserError(f"ray_address {cfg.run.ray_address or '(unset)'}: cannot join the Ray cluster "
                        f"({type(e).__name__}: {' '.join(str(e).split())[:200]}); start one (`ray start --head`) "
                        "or pass its address with --ray HOST:6379") from None


# ---------------------------------------------------------------------------------------------- the relay
class _Relay:
    """Messages between running trial tasks and the driver, keyed by trial folder: progress (task -> driver), rung
    reports (task -> driver) and rung answers (driver -> task). A Ray actor on the driver's node."""

    def __init__(self) -> None:
        self.inbox: dict[str, list[dict[str, Any]]] = {}
        self.answers: dict[tuple[str, int], bool] = {}

    def put(self, key: str, message: dict[str, Any]) -> None:
        self.inbox.setdefault(key, []).append(message)

    def take(self, key: str) -> list[dict[str, Any]]:
        return self.inbox.pop(key, [])

    def answer(self, key: str, rung: int, go_on: bool) -> None:
        self.answers[(key, rung)] = bool(go_on)

    def answer_of(self, key: str, rung: int) -> bool | None:
        return self.answers.get((key, rung))

    def forget(self, key: str) -> None:
        self.inbox.pop(key, None)
        for k in [k for k in self.answers if k[0] == key]:
            del self.answers[k]


# ---------------------------------------------------------------------------------------------- the task
def _small_files(folder: Path) -> dict[str, bytes]:
    """The trial folder's files, model/ left out, smallest first, up to RETURNED_FILES_MAX bytes in all."""
    files, total = {}, 0
    found = [p for p in folder.rglob("*") if p.is_file() and "model" not in p.relative_to(folder).parts[:1]]
    for p in sorted(found, key=lambda p: p.stat().st_size):
        size = p.stat().st_size
        if total + size > RETURNED_FILES_MAX:
            break
        try:
            files[str(p.relative_to(folder))] = p.read_bytes()
        except OSError:
            continue
        total += size
    return files


def _read(path: Path, tail: int | None = None) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return text[-tail:] if tail else text


def _trial_task(payload: dict[str, Any], relay: Any, run_child: Callable[..., dict]) -> dict[str, Any]:
    """Body of the Ray task: `run_child` (`_launch.run_child`, passed by reference) on this node; rung reports and
    progress through `relay`."""
    import ray

    for p in reversed(payload["sys_path"]):  # the driver's import path, where it exists here (trial functions)
        if p not in sys.path and os.path.isdir(p):
            sys.path.insert(0, p)
    node = ray.get_runtime_context().get_node_id()
    os.environ[NODE_ENV] = node
    key = payload["key"]
    trial_dir = Path(payload["trial_dir"])
    try:
        trial_dir.mkdir(parents=True, exist_ok=True)
    except OSError:  # the driver's run folder does not exist here: a scratch folder of this node
        trial_dir = Path(tempfile.gettempdir()) / "distilbo-ray" / key.strip("/").replace("/", "_")
        trial_dir.mkdir(parents=True, exist_ok=True)

    def progress() -> None:
        relay.put.remote(key, {"kind": "progress", "progress": _read(trial_dir / "progress.json"),
                               "log": _read(trial_dir / "log.txt", LOG_TAIL)})

    def ask(rung: int, metrics: dict[str, Any]) -> bool:
        relay.put.remote(key, {"kind": "rung", "rung": rung, "metrics": metrics})
        while True:
            go_on = ray.get(relay.answer_of.remote(key, rung))
            if go_on is not None:
                return go_on
            time.sleep(0.2)

    out: dict[str, Any] = {"node": node, "host": socket.gethostname(), "trial_dir": str(trial_dir)}
    try:
        out["metrics"] = run_child(config_from_dict(payload["config"]), trial_dir, trial_fn=payload["trial_fn"],
                                   timeout=payload["timeout"], memory_limit=payload["memory_limit"],
                                   heartbeat=progress, heartbeat_interval=PROGRESS_EVERY,
                                   on_rung=ask if payload["rungs"] else None)
        out["status"] = "ok"
    except TrialFailure as e:
        out.update(status="failed", reason=str(e))
    except StoppedAtRung as e:
        out.update(status="stopped", rung=e.rung)
    out["files"] = _small_files(trial_dir)
    return out


# ---------------------------------------------------------------------------------------------- the driver side
class RayExecutor:
    """`_launch.run_child` with the child on a Ray node (see the module docstring). One per search; thread-safe."""

    def __init__(self, cfg: "Config", *, run_child: Callable[..., dict]) -> None:
        ray = _ray()
        self._run_child = run_child
        connect(cfg)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # the relay lives on the driver's node (hard affinity: with soft affinity Ray may place it on a worker node,
        # and losing that node then lost every later trial); recreated if it dies all the same (`_relay_lost`)
        here = ray.get_runtime_context().get_node_id()
        self._new_relay = lambda: ray.remote(num_cpus=0)(_Relay).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False)).remote()
        self._relay = self._new_relay()
        self._relay_lock = threading.Lock()
        run = cfg.run
        cpus = run.trial_cpus or (run.num_threads if run.num_threads > 0 else 1)
        self._options: dict[str, Any] = {"num_cpus": cpus, "num_gpus": run.trial_gpus, "max_retries": 0,
                                         "scheduling_strategy": "SPREAD"}  # trials over the nodes, not piled on one
        self._task = ray.remote(_trial_task)
        self._lost = (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                      ray.exceptions.LocalRayletDiedError, ray.exceptions.ObjectLostError,
                      ray.exceptions.RayActorError, ray.exceptions.TaskCancelledError,
                      ray.exceptions.OutOfMemoryError)

    def __call__(self, cfg: "Config", trial_dir: Path, *, trial_fn: str, timeout: float | None = None,
                 memory_limit: int | None = None, heartbeat: Callable[[], None] | None = None,
                 heartbeat_interval: float = 60.0, on_rung: Callable[[int, dict], bool] | None = None) -> dict:
        import ray

        trial_dir = Path(trial_dir)
        key = str(trial_dir.resolve())
        payload = {"key": key, "trial_dir": key, "config": config_to_dict(cfg), "trial_fn": trial_fn,
                   "timeout": timeout, "memory_limit": memory_limit, "rungs": on_rung is not None,
                   "sys_path": [p for p in sys.path if p]}
        options = dict(self._options, **({"memory": memory_limit} if memory_limit else {}))
        ref = self._task.options(**options).remote(payload, self._relay, self._run_child)
        next_beat = time.monotonic() + heartbeat_interval
        try:
            while True:
                done, _ = ray.wait([ref], timeout=0.5)
                self._pump(key, trial_dir, on_rung)
                if done:
                    break
                if heartbeat is not None and time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + heartbeat_interval
                    try:
                        heartbeat()
                    except Exception as e:  # noqa: BLE001  (a storage hiccup must not kill the trial)
                        log.warning("heartbeat not recorded: %s", e)
            out = ray.get(ref)
        except self._lost as e:
            self._relay_lost(e)
            raise TrialLost(f"lost its Ray worker or node ({type(e).__name__}: "
                            f"{' '.join(str(e).split())[:200]}); not counted, another trial takes its place") from None
        except ray.exceptions.RayTaskError as e:  # the task itself raised (e.g. distilbo missing on the node)
            raise TrialFailure(f"Ray task error: {' '.join(str(e.cause if e.cause else e).split())[:300]}") from None
        except BaseException:
            ray.cancel(ref, force=True)
            raise
        finally:
            try:
                self._relay.forget.remote(key)
            except self._lost:
                pass
        self._write_back(trial_dir, out)
        if out["status"] == "stopped":
            raise StoppedAtRung(int(out["rung"]))
        if out["status"] == "failed":
            raise TrialFailure(out["reason"])
        return out["metrics"]

    def _relay_lost(self, e: BaseException) -> None:
        """A new relay when `e` says the relay actor died (the trials running now lose theirs; later ones do not)."""
        with self._relay_lock:
            if self._relay._actor_id.hex() not in str(e):  # another trial's loss, or a new relay already
                return
            log.warning("the Ray relay actor died (%s); starting a new one", type(e).__name__)
            self._relay = self._new_relay()

    def _pump(self, key: str, trial_dir: Path, on_rung: Callable[[int, dict], bool] | None) -> None:
        """Handle the messages of one running trial: progress into the driver's trial folder, rung reports
        decided here (the study) and answered through the relay."""
        import ray

        for msg in ray.get(self._relay.take.remote(key)):
            if msg["kind"] == "progress":
                self._write(trial_dir / "progress.json", msg.get("progress"))
                self._write(trial_dir / "log.txt", msg.get("log"))
            elif msg["kind"] == "rung" and on_rung is not None:
                go_on = on_rung(int(msg["rung"]), dict(msg["metrics"]))
                ray.get(self._relay.answer.remote(key, int(msg["rung"]), go_on))

    @staticmethod
    def _write(path: Path, text: str | bytes | None) -> None:
        if text is None:
            return
        data = text.encode("utf-8") if isinstance(text, str) else text
        try:
            if path.is_file() and path.read_bytes() == data:
                return  # the same file (a shared folder): nothing to do
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
        except OSError as e:
            log.warning("%s: not written (%s)", path, e.strerror or e)

    def _write_back(self, trial_dir: Path, out: dict[str, Any]) -> None:
        for name, data in (out.get("files") or {}).items():
            self._write(trial_dir / name, data)
        self._write(trial_dir / "ray.json", json.dumps({k: out.get(k) for k in ("node", "host", "trial_dir")}))


# ---------------------------------------------------------------------------------------------- the workers
def run_in_threads(study: Any, workers: int, loop: Callable[[], None], *, tick: Callable[[], None]) -> None:
    """Run `loop()` (the worker loop, `_loop.work`) in `workers` threads and wait for them, calling `tick()` about
    once a second; the first error of a thread is raised here. As with local workers, thread i > 0 starts once i
    queued trials (the baseline) are taken: one queued trial must not go to two workers."""
    errors: list[BaseException] = []

    def queued() -> int:
        return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))

    def run(index: int) -> None:
        try:
            if index > 0:
                target, until = max(0, queued() - index), time.time() + 120
                while queued() > target and time.time() < until:
                    time.sleep(0.2)
            loop()
        except BaseException as e:  # noqa: BLE001  (raised in the search's thread below)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,), name=f"distilbo-ray-worker-{i}", daemon=True)
               for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(timeout=1.0)
            tick()
    if errors:
        raise errors[0]
