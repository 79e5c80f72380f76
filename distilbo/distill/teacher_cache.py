"""Teacher start/end logits on the training features, computed once and cached on disk (fp16, memory-mapped).

The teacher is frozen and in eval mode, so its logits on a feature never change: every trial of a study reads
them from the cache instead of running the teacher. The key covers the teacher's weights and config and the exact
token ids of the features, so a different teacher, tokenizer, data set or feature setting gets its own entry.
Concurrent workers build an entry once (a file lock) and share it.

    start, end = teacher_logits(teacher, features, teacher_key=model_fingerprint(path), cache_dir=dir, device=dev)

Shape glossary:  N features;  L max_seq_length
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from distilbo._cache import cached_arrays, content_key, files_digest
from distilbo.data.types import Features


def model_fingerprint(location: str) -> str:
    """Content hash of a local model folder's config and weights (or the hub id itself)."""
    p = Path(location)
    if not p.is_dir():
        return content_key("hub", location)
    return files_digest(*(f for f in sorted(p.glob("*.safetensors")) + [p / "config.json"] if f.is_file()))


def features_fingerprint(features: Features) -> str:
    h = hashlib.blake2b(digest_size=16)
    for arr in (features.input_ids, features.token_type_ids, features.lengths):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def teacher_logits(teacher: Any, features: Features, *, teacher_key: str, cache_dir: str | Path | None,
                   device: torch.device, batch_size: int = 64, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) fp16 start and end logits of the teacher (memory-mapped when cached); 0 beyond each row's length.

    `teacher` may be a loaded model or a zero-argument callable returning one (loaded only on a cache miss)."""
    from distilbo.evaluate import model_logits

    def build() -> dict[str, np.ndarray]:
        model = teacher() if callable(teacher) and not isinstance(teacher, torch.nn.Module) else teacher
        model.to(device)
        s, e = model_logits(model, features, batch_size=batch_size, device=device, progress=progress)
        return {"start": s.astype(np.float16), "end": e.astype(np.float16)}

    key = content_key(1, teacher_key, features_fingerprint(features))
    n, length = features.input_ids.shape
    arrays = cached_arrays("teacher-logits", key, build, cache_dir=cache_dir,
                           expect={"start": (n, length), "end": (n, length)})
    return arrays["start"], arrays["end"]
