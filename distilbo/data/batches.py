"""Batches of features as tensors, dynamically padded to the longest row of each batch.

    for idx in batch_order(feats.lengths, batch_size=8, shuffle=True, group_by_length=True, rng=rng):
        batch = to_batch(feats, idx, device=device, token_types=True)
        # or padded up to a few fixed widths (fewer shapes for torch.compile):
        width = bucket_width(int(feats.lengths[idx].max()), [64, 128, 192, 256], stored=feats.input_ids.shape[1])
        batch = to_batch(feats, idx, device=device, token_types=True, pad_to=width)

Shape glossary:
    N  features;  B  rows in a batch;  S  longest row of the batch (<= L = max_seq_length)
"""

from __future__ import annotations

import numpy as np
import torch

from distilbo.data.types import Features


def batch_order(lengths: np.ndarray, *, batch_size: int, shuffle: bool, group_by_length: bool,
                rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """Row indices per batch. Length grouping sorts within shuffled mega-batches of 50 batches, so batches have
    similar lengths (little padding) while the order stays random."""
    n = len(lengths)
    idx = rng.permutation(n) if shuffle else np.arange(n)
    if group_by_length:
        mega = batch_size * 50
        idx = np.concatenate([c[np.argsort(-lengths[c], kind="stable")] for c in np.array_split(idx, max(1, -(-n // mega)))]) if n else idx
    batches = [idx[i:i + batch_size] for i in range(0, n, batch_size)]
    if shuffle and group_by_length:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def bucket_width(longest: int, buckets: list[int] | tuple[int, ...], *, stored: int) -> int:
    """The width a batch whose longest row has `longest` tokens is padded to: the smallest bucket that holds it, or
    its own length when no bucket does (so a window is never cut), never more than the `stored` width of the
    feature arrays. No buckets: the longest row itself (dynamic padding)."""
    fits = [b for b in buckets if b >= longest]
    return min(min(fits) if fits else longest, stored) if buckets else longest


def to_batch(features: Features, idx: np.ndarray, *, device: torch.device, token_types: bool,
             pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """input_ids / attention_mask (/ token_type_ids) / labels / context (bool: the context tokens) for rows `idx`, cut to the batch's longest row
    (or padded to `pad_to`: the standard fixed-length path, or a length bucket; never below the longest row)."""
    longest = int(features.lengths[idx].max())
    width = pad_to or longest
    if width < longest:
        raise ValueError(f"pad_to={pad_to} would cut a window of {longest} tokens")
    ids = torch.from_numpy(np.asarray(features.input_ids[idx, :width], dtype=np.int64))
    mask = (torch.arange(width)[None, :] < torch.from_numpy(np.asarray(features.lengths[idx]))[:, None]).long()
    out = {"input_ids": ids, "attention_mask": mask,
           "context": torch.from_numpy(np.asarray(features.offsets[idx, :width, 0]) >= 0),
           "start_positions": torch.from_numpy(np.asarray(features.start_positions[idx], dtype=np.int64)),
           "end_positions": torch.from_numpy(np.asarray(features.end_positions[idx], dtype=np.int64))}
    if token_types:
        out["token_type_ids"] = torch.from_numpy(np.asarray(features.token_type_ids[idx, :width], dtype=np.int64))
    return {k: v.to(device, non_blocking=True) for k, v in out.items()}


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The keys a QA model's forward takes (labels left out, so the model does not compute its own loss)."""
    return {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
