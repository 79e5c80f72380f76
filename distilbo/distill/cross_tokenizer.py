"""Soft targets across tokenizers: the teacher's start/end distributions carried to the student's tokens through
character offsets, so the soft loss is defined on the student's own windows. Pure numpy, no I/O.

    ts, te = map_teacher_logits(t_start, t_end, teacher_feats, student_feats, temperature=T)
    distill(student, student_feats, teacher_start=ts, teacher_end=te, ...)   # softmax(ts / T) is the mapped target

Used when the teacher and the student init tokenize differently (a RoBERTa teacher and a MiniLM student, say):
the teacher reads the examples through its own tokenizer and windows (its logits cached as usual), and each
student window w of question k gets its targets from the teacher window of the same question whose context
characters overlap w's the most (the first such on a tie):

    p = softmax(teacher window logits / T)                    over the teacher window's real tokens
    start:  p_start[j] -> the student context token u with a_u <= start_char(j) < b_u
    end:    p_end[j]   -> the student context token u with a_u < end_char(j) <= b_u
    the rest -> the student's [CLS] (position 0): the teacher's [CLS] (its null answer) and question tokens, and any
             teacher token whose character falls outside w's context tokens (an answer beyond the window, which
             SQuAD labels with [CLS] as well)

(a_u, b_u = the student token's character span, whitespace trimmed). The mapped probabilities q are handed to the
loss as logits T * log(max(q, eps)), so softmax(logits / T) = q up to eps per token: the loss itself is unchanged.

What is lost, against a teacher that reads the student's own tokens: a teacher boundary inside a student token
moves to that token (several teacher tokens in one student token add up, so the target is coarser where the
student splits less finely); the teacher's judgement on text its window does not hold (a student window reaching
further than the chosen teacher window sees [CLS] mass instead); and the mapping is of the marginal start and end
distributions, as the loss is anyway. Mapping happens at the trial's temperature, after the teacher's softmax.

Shape glossary:
    Nt, Lt  teacher windows and their padded length      Ns, Ls  student windows and their padded length
"""

from __future__ import annotations

import numpy as np

from distilbo.data.types import Features

EPS = 1e-8
"""Floor on a mapped probability before its log (a target of exactly 0 would be log 0 = -inf)."""


def _softmax(x: np.ndarray, temperature: float) -> np.ndarray:
    z = x.astype(np.float64) / temperature
    z = np.exp(z - z.max())
    return z / z.sum()


def _context_span(offsets: np.ndarray, length: int) -> tuple[np.ndarray, int, int]:
    """Indices of a window's context tokens (offsets >= 0 within its length) and their character span [c0, c1)."""
    ctx = np.flatnonzero(offsets[:length, 0] >= 0)
    if len(ctx) == 0:
        return ctx, 0, 0
    return ctx, int(offsets[ctx, 0].min()), int(offsets[ctx, 1].max())


def best_teacher_windows(teacher: Features, student: Features) -> np.ndarray:
    """(Ns,) the teacher window each student window takes its targets from: same question, most context characters
    in common (first on a tie); -1 when the teacher has no window of that question."""
    by_example: dict[int, list[int]] = {}
    for v, k in enumerate(teacher.example_index.tolist()):
        by_example.setdefault(int(k), []).append(v)
    spans = [_context_span(teacher.offsets[v], int(teacher.lengths[v]))[1:] for v in range(len(teacher))]
    out = np.full(len(student), -1, dtype=np.int64)
    for w in range(len(student)):
        _, c0, c1 = _context_span(student.offsets[w], int(student.lengths[w]))
        best, best_overlap = -1, -1
        for v in by_example.get(int(student.example_index[w]), []):
            overlap = max(0, min(c1, spans[v][1]) - max(c0, spans[v][0]))
            if overlap > best_overlap:
                best, best_overlap = v, overlap
        out[w] = best
    return out


def map_window(t_start: np.ndarray, t_end: np.ndarray, t_offsets: np.ndarray, t_length: int,
               s_offsets: np.ndarray, s_length: int, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """One student window's mapped start and end probabilities (Ls,), from one teacher window's logits (Lt,)
    (see the module doc); each sums to 1 over the student window's first s_length positions."""
    p_start = _softmax(t_start[:t_length], temperature)
    p_end = _softmax(t_end[:t_length], temperature)
    q_start = np.zeros(len(s_offsets), dtype=np.float64)
    q_end = np.zeros(len(s_offsets), dtype=np.float64)
    s_ctx, _, _ = _context_span(s_offsets, s_length)
    a, b = s_offsets[s_ctx, 0], s_offsets[s_ctx, 1]  # ascending: context tokens run through the text in order
    t_ctx = np.flatnonzero(t_offsets[:t_length, 0] >= 0)
    starts, ends = t_offsets[t_ctx, 0], t_offsets[t_ctx, 1]
    if len(s_ctx):
        u = np.searchsorted(a, starts, side="right") - 1  # last student token starting at or before the char
        ok = (u >= 0) & (starts < b[np.clip(u, 0, None)])
        np.add.at(q_start, s_ctx[u[ok]], p_start[t_ctx[ok]])
        u = np.searchsorted(b, ends, side="left")  # first student token ending at or after the char
        ok = (u < len(b)) & (ends > a[np.clip(u, 0, len(b) - 1)])
        np.add.at(q_end, s_ctx[u[ok]], p_end[t_ctx[ok]])
    q_start[0] += 1.0 - q_start.sum()  # [CLS]: the null answer, question tokens, text outside the window
    q_end[0] += 1.0 - q_end.sum()
    return q_start, q_end


def map_teacher_logits(t_start: np.ndarray, t_end: np.ndarray, teacher: Features, student: Features, *,
                       temperature: float, eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """(Ns, Ls) float32 start and end "logits" T * log(max(q, eps)) of the mapped targets q on the student's
    windows (0 beyond each row's length, like cached teacher logits); t_start / t_end (Nt, Lt) are the teacher's
    logits on its own windows `teacher`. A student window whose question the teacher has no window of gets all
    its mass on [CLS]."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    source = best_teacher_windows(teacher, student)
    n, width = student.input_ids.shape
    out_s = np.zeros((n, width), dtype=np.float32)
    out_e = np.zeros((n, width), dtype=np.float32)
    for w in range(n):
        length = int(student.lengths[w])
        v = int(source[w])
        if v < 0:
            q_s = q_e = np.eye(1, width, 0)[0]
        else:
            q_s, q_e = map_window(np.asarray(t_start[v], np.float32), np.asarray(t_end[v], np.float32),
                                  teacher.offsets[v], int(teacher.lengths[v]), student.offsets[w], length,
                                  temperature)
        out_s[w, :length] = temperature * np.log(np.maximum(q_s[:length], eps))
        out_e[w, :length] = temperature * np.log(np.maximum(q_e[:length], eps))
    return out_s, out_e


__all__ = ["map_teacher_logits", "map_window", "best_teacher_windows", "EPS"]
