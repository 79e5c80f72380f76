"""Small file helpers every layer uses (standard library only, so the lean trial child can import it too)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: bytes | str, *, fsync: bool = False) -> None:
    """Write `data` (str: UTF-8) to `path` through `.NAME.PID.tmp` beside it and a rename: a reader never sees half
    a file, and a killed writer leaves only that temporary file (its pid in the name, so a later writer can tell
    an orphan: `report.html._remove_stale_tmp`). `fsync`: flush to disk before the rename. The temporary file
    is removed when the write fails (OSError propagates)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, obj: Any) -> None:
    """`obj` as JSON, written with `write_atomic`. numpy scalars and other number-likes become floats, anything
    else unknown its str()."""
    write_atomic(path, json.dumps(obj, indent=1, default=lambda v: float(v) if hasattr(v, "__float__") else str(v)))
