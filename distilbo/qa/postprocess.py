"""From start/end logits of all windows to one answer per question, with a no-answer probability. numpy, no I/O.

    preds = postprocess(examples, features, start_logits, end_logits)   # -> Predictions
    scores = evaluate_examples(examples, preds.answers, preds.na_probs)  # distilbo.qa.squad_v2

Rules (the usual BERT/Hugging Face ones):
- per window, candidate starts are the `n_best_size` highest start logits among the window's context tokens
  (offsets != -1, column < length), candidate ends likewise; question, special and padding tokens never compete
  (Hugging Face takes its top-k over all columns and drops non-context pairs afterwards; taking it over context
  tokens only can find a better span, never a worse one, and makes padding columns truly ignored);
- a pair is valid when end >= start and end - start + 1 <= max_answer_length; its score is
  start_logit + end_logit and its text is context[offsets[start][0]:offsets[end][1]];
- the best span of a question is the best valid pair over all its windows (ties: first window, lowest start,
  then lowest end); its null score is the minimum over its windows of start_logits[w, 0] + end_logits[w, 0]
  (the CLS token at column 0);
- `answers[q]` is "" when version_2_with_negative and null - best > null_score_diff_threshold, or when no valid
  span exists; otherwise the best span's text. With version_2_with_negative=False (SQuAD 1.1) the answer is ""
  only when the question has no valid span at all;
- `na_probs[q]` = sigmoid(null - best), 1.0 without a valid span: monotone in the null margin, so the
  best-threshold search of the official SQuAD 2.0 script works on it;
- `forced[q]` is the best span's text with the null answer disabled ("" only without a valid span), for
  HasAns_forced_exact / HasAns_forced_f1;
- `margins[q]` = null - best (+inf without a valid span), the score `distilbo.qa.calibrate` sets a threshold on.

Shape glossary:
    N  windows (features), one question may have several
    L  columns of the logits (<= the features' padded length); columns >= features.lengths[w] are ignored
    K  candidates per side per window, min(n_best_size, L)
    Q  questions (examples)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from distilbo.data.types import Example, Features

_CHUNK = 2048
"""Windows scored at once; bounds the (chunk, K, K) score array."""


@dataclass
class Predictions:
    """One answer per question id."""

    answers: dict[str, str] = field(default_factory=dict)
    """qid -> answer text, "" for no answer."""
    na_probs: dict[str, float] = field(default_factory=dict)
    """qid -> probability of no answer, sigmoid(null score - best span score)."""
    forced: dict[str, str] = field(default_factory=dict)
    """qid -> best span text with the null answer disabled ("" only when no valid span exists)."""
    margins: dict[str, float] = field(default_factory=dict)
    """qid -> null score - best span score (+inf without a valid span): "" is answered when this is > the
    threshold (`distilbo.qa.calibrate` finds the best one)."""


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def best_spans(
    offsets: np.ndarray,
    lengths: np.ndarray,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    *,
    n_best_size: int,
    max_answer_length: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best valid span of each window: (score (N,) float64, -inf if none; start (N,) int; end (N,) int).

    offsets (N, >=L, 2), lengths (N,), start_logits/end_logits (N, L).
    """
    n, width = start_logits.shape
    k = min(n_best_size, width)
    score_out = np.full(n, -np.inf)
    start_out = np.zeros(n, dtype=np.int64)
    end_out = np.zeros(n, dtype=np.int64)
    cols = np.arange(width)
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        valid = (offsets[lo:hi, :width, 0] >= 0) & (cols[None, :] < lengths[lo:hi, None])  # (n, L)
        s = np.where(valid, start_logits[lo:hi].astype(np.float64), -np.inf)  # (n, L)
        e = np.where(valid, end_logits[lo:hi].astype(np.float64), -np.inf)  # (n, L)
        # top-K columns of each window, then back in column order so ties go to the lowest index
        si = np.sort(np.argpartition(-s, k - 1, axis=1)[:, :k], axis=1)  # (n, K)
        ei = np.sort(np.argpartition(-e, k - 1, axis=1)[:, :k], axis=1)  # (n, K)
        s_ok = np.take_along_axis(valid, si, axis=1)  # (n, K)
        e_ok = np.take_along_axis(valid, ei, axis=1)  # (n, K)
        span_len = ei[:, None, :] - si[:, :, None] + 1  # (n, K, K)
        ok = s_ok[:, :, None] & e_ok[:, None, :] & (span_len >= 1) & (span_len <= max_answer_length)
        scores = np.take_along_axis(s, si, axis=1)[:, :, None] + np.take_along_axis(e, ei, axis=1)[:, None, :]
        scores = np.where(ok, scores, -np.inf).reshape(hi - lo, k * k)  # (n, K*K)
        flat = np.argmax(scores, axis=1)  # first maximum: lowest start, then lowest end
        rows = np.arange(hi - lo)
        score_out[lo:hi] = scores[rows, flat]
        start_out[lo:hi] = si[rows, flat // k]
        end_out[lo:hi] = ei[rows, flat % k]
    return score_out, start_out, end_out


def postprocess(
    examples: list[Example],
    features: Features,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    *,
    n_best_size: int = 20,
    max_answer_length: int = 30,
    null_score_diff_threshold: float = 0.0,
    version_2_with_negative: bool = True,
) -> Predictions:
    """One answer, no-answer probability and forced answer per example from the logits of all windows.

    start_logits, end_logits: (N, L) floats in the row order of `features`; L may be shorter than the features'
    padded length (batches cut to their longest row), never longer.
    """
    start_logits = np.asarray(start_logits)
    end_logits = np.asarray(end_logits)
    n = len(features)
    if start_logits.ndim != 2 or start_logits.shape != end_logits.shape or start_logits.shape[0] != n:
        raise ValueError(
            f"postprocess: start/end logits must both be (N={n}, L), got {start_logits.shape} and {end_logits.shape}"
        )
    if start_logits.shape[1] > features.offsets.shape[1]:
        raise ValueError(f"postprocess: logits have {start_logits.shape[1]} columns, features only {features.offsets.shape[1]}")
    if n_best_size < 1 or max_answer_length < 1:
        raise ValueError("postprocess: n_best_size and max_answer_length must be >= 1")

    span_score, span_start, span_end = best_spans(
        features.offsets, features.lengths, start_logits, end_logits,
        n_best_size=n_best_size, max_answer_length=max_answer_length,
    )  # fmt: skip
    null_score = start_logits[:, 0].astype(np.float64) + end_logits[:, 0].astype(np.float64)  # (N,)

    q = len(examples)
    best = np.full(q, -np.inf)  # (Q,) best span score over the question's windows
    best_window = np.full(q, -1, dtype=np.int64)  # (Q,)
    null = np.full(q, np.inf)  # (Q,) min null score over the question's windows
    for w, ex_i in enumerate(features.example_index.tolist()):
        if span_score[w] > best[ex_i]:
            best[ex_i] = span_score[w]
            best_window[ex_i] = w
        if null_score[w] < null[ex_i]:
            null[ex_i] = null_score[w]

    preds = Predictions()
    for i, ex in enumerate(examples):
        w = int(best_window[i])
        if w < 0:  # no window, or no valid span in any window
            preds.answers[ex.id] = preds.forced[ex.id] = ""
            preds.na_probs[ex.id] = 1.0
            preds.margins[ex.id] = math.inf
            continue
        off = features.offsets[w]
        text = ex.context[int(off[span_start[w], 0]) : int(off[span_end[w], 1])]
        margin = float(null[i] - best[i])  # null score minus best span score
        preds.forced[ex.id] = text
        preds.margins[ex.id] = margin
        preds.na_probs[ex.id] = _sigmoid(margin)
        no_answer = version_2_with_negative and margin > null_score_diff_threshold
        preds.answers[ex.id] = "" if no_answer else text
    return preds
