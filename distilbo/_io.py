"""Small file helpers every layer uses (standard library only, so the lean trial child can import it too)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write `obj` as JSON to `path` through a temporary file and a rename: a reader never sees half a file.
    numpy scalars and other number-likes become floats, anything else unknown its str()."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=1, default=lambda v: float(v) if hasattr(v, "__float__") else str(v)))
    os.replace(tmp, path)
