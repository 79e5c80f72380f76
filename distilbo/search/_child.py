"""The process one search trial runs in: `python -m distilbo.search._child TRIAL_DIR/spec.json`.

`distilbo.search.runner.run_child` writes the spec and starts this in a new session (its own process group, so a
time limit kills the trial and everything it started). The spec holds the trial's config, the dotted path of the
trial function (`module:function`, called as `fn(cfg, trial_dir) -> dict`), the CPU memory limit and the parent's
`sys.path`. On success the returned metrics go to `trial_dir/metrics.json` (written atomically); on an exception
`trial_dir/error.txt` gets a one-line reason (first line) and the traceback, and the exit code is 3. The process
exits on its own when its parent dies, so a killed search leaves no trial running.

Kept light on purpose (no torch): the trial function imports what it needs.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

EXIT_ERROR = 3
OOM_HINTS = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to map segment",
             "std::bad_alloc")


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A Config as JSON-ready nested dicts (`source` made absolute so relative paths resolve the same)."""
    d = dataclasses.asdict(cfg)
    if d["source"] != "<defaults>":
        d["source"] = str(Path(d["source"]).resolve())
    return d


def config_from_dict(d: dict[str, Any]) -> Any:
    """Inverse of `config_to_dict` (no re-validation: the parent validated it)."""
    import typing

    from distilbo.config import SECTIONS, Config

    hints = typing.get_type_hints(Config)
    return Config(**{sec: hints[sec](**d[sec]) for sec in SECTIONS}, source=d.get("source", "<defaults>"))


def import_dotted(path: str) -> Callable[..., Any]:
    """`package.module:function` -> the function (ImportError/AttributeError when it does not exist)."""
    module, _, name = path.partition(":")
    if not name:
        raise ValueError(f"trial function {path!r}: write it as package.module:function")
    return getattr(importlib.import_module(module), name)


def failure_reason(exc: BaseException) -> str:
    """One line: "out of memory: TYPE: message" for OOMs (CPU MemoryError, CUDA OOM, ENOMEM), else "TYPE: message"."""
    name = type(exc).__name__
    msg = " ".join(str(exc).split())
    text = f"{name}: {msg}" if msg else name
    oom = (isinstance(exc, MemoryError) or name == "OutOfMemoryError" or getattr(exc, "errno", None) == errno.ENOMEM
           or any(h in msg.lower() for h in OOM_HINTS))
    return (f"out of memory: {text}" if oom else text)[:300]


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1, default=lambda v: float(v) if hasattr(v, "__float__") else str(v)))
    os.replace(tmp, path)


def _exit_when_orphaned(parent: int) -> None:
    """Watchdog thread: the parent (the search worker) died -> exit at once instead of training for nobody."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(EXIT_ERROR)

    threading.Thread(target=watch, name="distilbo-orphan-watch", daemon=True).start()


def _limit_memory(limit: int | None) -> None:
    if not limit:
        return
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    trial_dir = Path(spec["trial_dir"])
    _exit_when_orphaned(spec["parent_pid"])
    for p in reversed(spec.get("sys_path", [])):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        _limit_memory(spec.get("memory_limit"))
        fn = import_dotted(spec["trial_fn"])
        metrics = fn(config_from_dict(spec["config"]), trial_dir)
        write_json_atomic(trial_dir / "metrics.json", metrics)
        return 0
    except BaseException as e:  # noqa: BLE001  (MemoryError, SystemExit, KeyboardInterrupt: all a failed trial)
        reason = failure_reason(e)
        try:
            tb = "".join(traceback.format_exception(e))
        except MemoryError:
            tb = ""
        tmp = trial_dir / ".error.txt.tmp"
        tmp.write_text(f"{reason}\n\n{tb}")
        os.replace(tmp, trial_dir / "error.txt")
        print(tb, file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    code = main(sys.argv[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # do not wait for threads the trial left running
