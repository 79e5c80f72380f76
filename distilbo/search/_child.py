"""The process one search trial runs in: `python -m distilbo.search._child TRIAL_DIR/spec.json`.

`distilbo.search._launch.run_child` writes the spec and starts this in a new session (its own process group, so a
time limit kills the trial and everything it started). The spec holds the trial's config, the dotted path of the
trial function (`module:function`, called as `fn(cfg, trial_dir) -> dict`), the CPU memory limit and the parent's
`sys.path`. On success the returned metrics go to `trial_dir/metrics.json` (written atomically); on an exception
`trial_dir/error.txt` gets a one-line reason (first line) and the traceback, and the exit code is 3. The process
exits on its own when its parent dies, so a killed search leaves no trial running.

Its stdout/stderr are the trial's `log.txt`, kept readable (`_setup_logging`): log records with a time stamp,
each kind of Python warning once, no progress bars (tqdm, Hugging Face) and no transformers load reports; the
live progress goes to `trial_dir/progress.json` instead (`distilbo.progress`), which the search shows.

Kept light on purpose (no torch): the trial function imports what it needs.
"""

from __future__ import annotations

import dataclasses
import errno
import importlib
import json
import logging
import os
import sys
import resource
import threading
import time
import traceback
import typing
import warnings
from pathlib import Path
from typing import Any, Callable

from distilbo import progress
from distilbo._io import write_atomic, write_json_atomic
from distilbo.config import SECTIONS, Config
from distilbo.distill.rung_report import EXIT_STOPPED, StoppedAtRung

EXIT_ERROR = 3
OOM_HINTS = ("out of memory", "not enough memory", "can't allocate memory", "cannot allocate memory",
             "failed to map segment", "std::bad_alloc", "defaultcpuallocator")
"""Lower-case pieces of the messages that mean out of memory: CUDA ("CUDA out of memory"), PyTorch's CPU allocator
("DefaultCPUAllocator: not enough memory" / "can't allocate memory"), the C library (ENOMEM), C++ (bad_alloc)."""


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A Config as JSON-ready nested dicts (`source` made absolute so relative paths resolve the same)."""
    d = dataclasses.asdict(cfg)
    if d["source"] != "<defaults>":
        d["source"] = str(Path(d["source"]).resolve())
    return d


def config_from_dict(d: dict[str, Any]) -> Any:
    """Inverse of `config_to_dict` (no re-validation: the parent validated it)."""
    hints = typing.get_type_hints(Config)
    return Config(**{sec: hints[sec](**d[sec]) for sec in SECTIONS}, source=d.get("source", "<defaults>"))


def import_dotted(path: str) -> Callable[..., Any]:
    """`package.module:function` -> the function (ImportError/AttributeError when it does not exist)."""
    module, _, name = path.partition(":")
    if not name:
        raise ValueError(f"trial function {path!r}: write it as package.module:function")
    return getattr(importlib.import_module(module), name)


def is_oom(exc: BaseException) -> bool:
    """True when `exc` means the device or process ran out of memory: MemoryError, torch's OutOfMemoryError (CUDA),
    an OSError with errno ENOMEM, or a RuntimeError/OSError whose message has one of `OOM_HINTS` (the CPU allocator
    raises a plain RuntimeError). The one classifier of the search (`failure_reason`);
    no torch import, so the child process stays light."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    if isinstance(exc, (RuntimeError, OSError)):
        msg = str(exc).lower()
        return any(h in msg for h in OOM_HINTS)
    return False


def failure_reason(exc: BaseException) -> str:
    """One line: "out of memory: TYPE: message" for OOMs (`is_oom`), else "TYPE: message"."""
    name = type(exc).__name__
    msg = " ".join(str(exc).split())
    text = f"{name}: {msg}" if msg else name
    return (f"out of memory: {text}" if is_oom(exc) else text)[:300]


def exit_when_orphaned(parent: int) -> None:
    """Watchdog thread: the parent (the search worker) died -> exit at once instead of training for nobody."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(EXIT_ERROR)

    threading.Thread(target=watch, name="distilbo-orphan-watch", daemon=True).start()


def _limit_memory(limit: int | None) -> None:
    if not limit:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def _setup_logging() -> None:
    """log.txt stays readable: library progress bars off when it is not a terminal (the progress file replaces
    them), transformers only logs errors (no multi-line load reports), log records get a time stamp, and each
    kind of Python warning (category and place it is raised) is logged once."""
    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("distilbo").setLevel(logging.INFO)
    warnings.showwarning = _log_warning_once


_warned: set[tuple[str, str, int]] = set()


def _log_warning_once(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    key = (category.__name__, filename, lineno)
    if key in _warned:
        return
    _warned.add(key)
    text = " ".join(str(message).split())[:500]
    logging.getLogger("py.warnings").warning("%s: %s (%s:%d; logged once)", category.__name__, text,
                                             filename, lineno)


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    trial_dir = Path(spec["trial_dir"])
    _setup_logging()
    progress.configure(trial_dir / progress.FILE)
    exit_when_orphaned(spec["parent_pid"])
    for p in reversed(spec.get("sys_path", [])):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        _limit_memory(spec.get("memory_limit"))
        fn = import_dotted(spec["trial_fn"])
        metrics = fn(config_from_dict(spec["config"]), trial_dir)
        write_json_atomic(trial_dir / "metrics.json", metrics)
        return 0
    except StoppedAtRung as e:  # the search stopped it early (distill.rung_report, search.early_stop): not a failure
        write_json_atomic(trial_dir / "stopped.json", {"rung": e.rung})
        return EXIT_STOPPED
    except BaseException as e:  # noqa: BLE001  (MemoryError, SystemExit, KeyboardInterrupt: all a failed trial)
        reason = failure_reason(e)
        try:
            tb = "".join(traceback.format_exception(e))
        except MemoryError:
            tb = ""
        write_atomic(trial_dir / "error.txt", f"{reason}\n\n{tb}")
        print(tb, file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    code = main(sys.argv[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # do not wait for threads the trial left running
