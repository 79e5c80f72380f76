"""Shared by the benchmark scripts: the machine a run was measured on, and a results JSON that several processes
(other seeds) update together without losing each other's runs.

    info = machine(packages=("optuna", "botorch"), watch=("../distilbo/search", "peer.py"))
    update_json(path, lambda data: data["runs"].setdefault("random", {}).setdefault("0", run))
"""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import platform
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load_json(path: Path) -> dict[str, Any]:
    """The results so far, or an empty `{"runs": {}}`."""
    return json.loads(path.read_text()) if path.is_file() else {"runs": {}}


def update_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Under a lock per results file: re-read it (another process may have added runs), apply `change` to it in
    place, and replace the file atomically (a kill mid-write leaves the previous file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = Path(tempfile.gettempdir()) / f"distilbo-bench-{zlib.crc32(str(path.resolve()).encode())}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load_json(path)
        change(data)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=HERE, check=False).stdout.strip()
    except OSError:
        return ""


def machine(*, packages: Iterable[str] = ("optuna",), watch: Iterable[str] = ("../distilbo/search",)) -> dict[str, Any]:
    """Platform, cores, load average now, Python and `packages` versions, and the commit (`+dirty` when files
    under `watch`, relative to benchmarks/, have uncommitted changes)."""
    dirty = _run(["git", "status", "--porcelain", "--", *watch])
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            **{name: importlib.import_module(name).__version__ for name in packages},
            "commit": _run(["git", "rev-parse", "--short", "HEAD"]) + ("+dirty" if dirty else "")}


def study_config(*, study: str, seed: int, run_dir: Path) -> Any:
    """A default distilbo Config whose study (named `study`, seeded with `seed`) lives in `run_dir/study.db`;
    each benchmark then sets its search space, objectives and sampler."""
    from distilbo.config import Config

    cfg = Config()
    cfg.run.out = str(run_dir)
    cfg.run.study = study
    cfg.run.seed = seed
    cfg.run.storage = f"sqlite:///{run_dir / 'study.db'}"
    return cfg
