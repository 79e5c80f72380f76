"""On-disk cache of named numpy arrays, keyed by a content hash, safe for concurrent workers.

A cache entry is a folder `<cache_dir>/<kind>-<key>/` holding one `.npy` file per array and a `manifest.json`
with each file's shape, dtype, byte size and BLAKE2 checksum. Entries are built in a temporary folder and
renamed into place (atomic on one filesystem), so a reader never sees half an entry and two workers building
the same entry at once both end up using one complete copy. A damaged entry (truncated file, wrong size, bad
checksum, a manifest that disagrees with its files or lacks an array the caller expects, arrays of another shape than
the caller expects) is detected on load, removed and rebuilt, never silently used. The temporary folder of a builder
that was killed (or hit a full disk) is removed by the next builder of that entry.

    arrays = cached_arrays("features", key, build=lambda: {"input_ids": ...}, cache_dir=dir)
    arrays = cached_arrays("logits", key, build, cache_dir=dir, expect={"start": (n, None), "end": (n, None)})
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from distilbo.config import Config

import numpy as np

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def default_cache_dir() -> Path:
    return Path(os.environ.get("DISTILBO_CACHE") or Path.home() / ".cache" / "distilbo")


def content_key(*parts: object) -> str:
    """A short stable hash of the given parts (strings, numbers, bytes, JSON-able objects)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def files_digest(*paths: Path) -> str:
    """Content hash of the files, in order (blake2b-128 over their bytes, read in 4 MB chunks)."""
    h = hashlib.blake2b(digest_size=16)
    for path in paths:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


def cache_dir(cfg: Config) -> Path:
    """The config's cache folder (`[run] cache_dir`), else `default_cache_dir()`."""
    return Path(cfg.path(cfg.run.cache_dir)) if cfg.run.cache_dir else default_cache_dir()


Expect = dict[str, tuple[int | None, ...] | None]
"""Array name -> shape it must have (None: any length on that axis; None for the whole shape: any shape)."""


def _load(entry: Path, *, mmap: bool, expect: Expect | None = None) -> dict[str, np.ndarray] | None:
    """The entry's arrays, or None if it is missing or damaged (then it is removed)."""
    manifest_path = entry / MANIFEST
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        missing = sorted(set(expect or {}) - set(manifest["arrays"]))
        if missing:
            raise ValueError(f"the manifest lacks {', '.join(missing)}")
        arrays = {}
        for name, meta in manifest["arrays"].items():
            f = entry / f"{name}.npy"
            if f.stat().st_size != meta["bytes"] or files_digest(f) != meta["blake2b"]:
                raise ValueError(f"{f.name}: size or checksum mismatch")
            arr = np.load(f, mmap_mode="r" if mmap else None)
            if list(arr.shape) != meta["shape"] or str(arr.dtype) != meta["dtype"]:
                raise ValueError(f"{f.name}: shape or dtype mismatch")
            want = (expect or {}).get(name)
            if want is not None and (len(want) != arr.ndim
                                     or any(w is not None and w != d for w, d in zip(want, arr.shape))):
                raise ValueError(f"{f.name}: shape {tuple(arr.shape)}, expected {want}")
            arrays[name] = arr
        return arrays
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        log.warning("cache entry %s is damaged (%s); rebuilding it", entry, e)
        shutil.rmtree(entry, ignore_errors=True)
        return None


def cached_arrays(kind: str, key: str, build: Callable[[], dict[str, np.ndarray]], *, cache_dir: Path | str | None,
                  mmap: bool = True, expect: Expect | None = None) -> dict[str, np.ndarray]:
    """Load the entry `kind-key`, or build it with `build()`, store it and return it.

    `expect`: the arrays (and shapes) an entry must hold to be used; otherwise it counts as damaged and is rebuilt.
    With `cache_dir=None` nothing is stored (build every time)."""
    if cache_dir is None:
        return build()
    root = Path(cache_dir)
    entry = root / f"{kind}-{key}"
    got = _load(entry, mmap=mmap, expect=expect)
    if got is not None:
        return got
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / f".{kind}-{key}.lock", "a+")
    except OSError:
        lock = None
    try:
        if lock is not None:  # one worker builds; the others wait and then load its entry
            fcntl.flock(lock, fcntl.LOCK_EX)
            got = _load(entry, mmap=mmap, expect=expect)
            if got is not None:
                return got
            for stale in root.glob(f".{kind}-{key}-*"):  # left by a builder killed mid-write (we hold its lock)
                shutil.rmtree(stale, ignore_errors=True)
        return _build_and_store(entry, build, mmap=mmap, expect=expect)
    finally:
        if lock is not None:
            lock.close()


def _build_and_store(entry: Path, build: Callable[[], dict[str, np.ndarray]], *, mmap: bool,
                     expect: Expect | None = None) -> dict[str, np.ndarray]:
    root, kind_key = entry.parent, entry.name
    arrays = build()
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{kind_key}-", dir=root))
        manifest = {"entry": kind_key, "arrays": {}}
        for name, arr in arrays.items():
            f = tmp / f"{name}.npy"
            np.save(f, np.ascontiguousarray(arr))
            manifest["arrays"][name] = {"shape": list(arr.shape), "dtype": str(arr.dtype),
                                        "bytes": f.stat().st_size, "blake2b": files_digest(f)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        try:
            os.rename(tmp, entry)
        except OSError:  # another worker finished first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:  # read-only or full disk: the run goes on without a cache
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        log.warning("could not write cache entry %s (%s); continuing without caching", entry, e)
        return arrays
    got = _load(entry, mmap=mmap, expect=expect)
    return got if got is not None else arrays
