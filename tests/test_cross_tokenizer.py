"""Cross-tokenizer soft targets (distilbo.distill.cross_tokenizer) against a hand computation on hand-made windows.

Context "ab cd ef" (characters 0-7). The teacher splits it ab | cd | e | f, the student a | b | cd | ef, in a
first window holding the whole context and a second holding only "cd ef".

Run: python -m pytest tests/test_cross_tokenizer.py -q
"""

from __future__ import annotations

import numpy as np
import pytest

from distilbo.data.types import Features
from distilbo.distill.cross_tokenizer import EPS, best_teacher_windows, map_teacher_logits


def features(rows: list[list[tuple[int, int]]], example_index: list[int], width: int = 8) -> Features:
    """Windows from their token offsets ((-1, -1) = [CLS], question or [SEP]); ids and labels do not matter."""
    n = len(rows)
    offsets = np.full((n, width, 2), -1, dtype=np.int32)
    for i, r in enumerate(rows):
        offsets[i, :len(r)] = r
    return Features(input_ids=np.ones((n, width), np.int32), token_type_ids=np.zeros((n, width), np.int8),
                    lengths=np.array([len(r) for r in rows], np.int32), offsets=offsets,
                    example_index=np.array(example_index, np.int32), start_positions=np.zeros(n, np.int32),
                    end_positions=np.zeros(n, np.int32))


Q = (-1, -1)  # a non-context token
TEACHER = features([[Q, Q, Q, (0, 2), (3, 5), (6, 7), (7, 8), Q]], [0])       # [CLS] q [SEP] ab cd e f [SEP]
STUDENT = features([[Q, Q, Q, (0, 1), (1, 2), (3, 5), (6, 8), Q],               # [CLS] q q [SEP] a b cd ef [SEP]
                    [Q, Q, Q, (3, 5), (6, 8), Q]], [0, 0])                       # [CLS] q q [SEP] cd ef [SEP]


def softmax(x, T):
    e = np.exp(np.asarray(x, np.float64) / T)
    return e / e.sum()


@pytest.mark.parametrize("T", [1.0, 2.5])
def test_mapped_targets_match_a_hand_computation(T):
    ts = np.array([[2.0, -1.0, 0.5, 1.0, 3.0, 0.0, -0.5, 0.2]], np.float32)
    te = np.array([[1.0, 0.0, -2.0, 0.3, 2.0, -1.0, 1.5, 0.1]], np.float32)
    ps, pe = softmax(ts[0], T), softmax(te[0], T)  # teacher probabilities over its 8 real tokens
    # by hand, window 0. Starts: ab(0)->a, cd(3)->cd, e(6)->ef, f(7)->ef; nothing starts in b.
    want_s0 = [ps[0] + ps[1] + ps[2] + ps[7], 0, 0, ps[3], 0, ps[4], ps[5] + ps[6], 0]
    # ends: ab(2)->b, cd(5)->cd, e(7)->ef, f(8)->ef; nothing ends in a.
    want_e0 = [pe[0] + pe[1] + pe[2] + pe[7], 0, 0, 0, pe[3], pe[4], pe[5] + pe[6], 0]
    # window 1 holds only "cd ef": the teacher's "ab" mass goes to [CLS] with its own null and question mass
    want_s1 = [ps[0] + ps[1] + ps[2] + ps[7] + ps[3], 0, 0, ps[4], ps[5] + ps[6], 0]
    want_e1 = [pe[0] + pe[1] + pe[2] + pe[7] + pe[3], 0, 0, pe[4], pe[5] + pe[6], 0]
    got_s, got_e = map_teacher_logits(ts, te, TEACHER, STUDENT, temperature=T)
    for w, (want_s, want_e) in enumerate([(want_s0, want_e0), (want_s1, want_e1)]):
        n = int(STUDENT.lengths[w])
        # what the loss sees: softmax(logits / T) over the row's real tokens
        q_s, q_e = softmax(got_s[w, :n], T), softmax(got_e[w, :n], T)
        assert q_s == pytest.approx(np.array(want_s[:n]), abs=n * EPS)
        assert q_e == pytest.approx(np.array(want_e[:n]), abs=n * EPS)
        assert not got_s[w, n:].any() and not got_e[w, n:].any()  # 0 beyond the row, like cached logits
    # spelled out once, at T = 1: the student's "ef" start is the teacher's e and f starts together
    if T == 1.0:
        assert softmax(got_s[0, :8], 1.0)[6] == pytest.approx(ps[5] + ps[6], abs=1e-7)


def test_each_student_window_reads_the_teacher_window_it_overlaps_most():
    teacher = features([[Q, (0, 2), (3, 5), Q], [Q, (3, 5), (6, 8), Q], [Q, (0, 3), Q]], [0, 0, 1])
    student = features([[Q, (0, 1), (1, 2), Q], [Q, (6, 8), Q], [Q, (0, 2), Q], [Q, (0, 1), Q]], [0, 0, 1, 2])
    assert best_teacher_windows(teacher, student).tolist() == [0, 1, 2, -1]
    s, e = map_teacher_logits(np.zeros((3, 8), np.float32), np.zeros((3, 8), np.float32), teacher, student,
                              temperature=1.0)
    assert softmax(s[3, :3], 1.0) == pytest.approx([1.0, 0.0, 0.0], abs=3 * EPS)  # no teacher window: all [CLS]


def test_a_trial_across_tokenizers_distills_on_mapped_targets(tmp_path):
    """A WordPiece BERT teacher, a byte-level BPE RoBERTa student init: the trial runs (no error), its soft loss is
    finite and the loss falls; alpha_cos > 0 stays a one-line error (hidden states do not line up)."""
    import json

    from _families import family_config_file, tiny_family
    from distilbo.config import load_config
    from distilbo.distill.trial import check_inputs, run_trial
    from distilbo.errors import UserError

    init = tiny_family(tmp_path / "roberta-init", "roberta", seed=4)
    cfg = load_config(family_config_file(tmp_path, "bert"), {"student_init": str(init), "alpha_ce": "0.7",
                                                              "temperature": "2"})
    check_inputs(cfg)
    metrics = run_trial(cfg, tmp_path / "trial", progress=False)
    assert metrics["cross_tokenizer"] and metrics["teacher_logits_cached"]
    rows = [json.loads(line) for line in (tmp_path / "trial" / "curves.jsonl").read_text().splitlines()]
    soft = [r["soft"] for r in rows if "soft" in r]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert soft and all(np.isfinite(soft)) and max(soft) > 0
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses
    saved = json.loads((tmp_path / "trial" / "model" / "config.json").read_text())
    assert saved["model_type"] == "roberta"  # the student keeps its init's family and tokenizer
    with pytest.raises(UserError, match="alpha_cos = 0.5: the hidden-state term needs") as e:
        check_inputs(cfg.with_overrides({"alpha_cos": 0.5}))
    assert "\n" not in str(e.value)
