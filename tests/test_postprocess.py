"""Tests for distilbo.qa.postprocess: hand-made windows whose answers are known by hand, and a brute-force
reference (plain loops over all (start, end) pairs) on random logits.

Run: python -m pytest tests/test_postprocess.py -q
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from distilbo.data.types import Example, Features
from distilbo.qa.postprocess import Predictions, postprocess

NEG = -10.0  # a logit that never wins

#          0   4   8   12 15  19
CONTEXT = "the cat sat on the mat"
WORDS = [(0, 3), (4, 7), (8, 11), (12, 14), (15, 18), (19, 22)]  # the cat sat on the mat


def make_features(windows: list[tuple[int, int, list[tuple[int, int]]]], width: int) -> Features:
    """windows: (example index, question tokens, context token offsets) -> [CLS] q.. [SEP] ctx.. [SEP] [PAD].."""
    n = len(windows)
    offsets = np.full((n, width, 2), -1, dtype=np.int32)
    lengths = np.zeros(n, dtype=np.int32)
    for w, (_, q_len, ctx) in enumerate(windows):
        first = 1 + q_len + 1
        offsets[w, first : first + len(ctx)] = np.reshape(ctx, (-1, 2))
        lengths[w] = first + len(ctx) + 1
        assert lengths[w] <= width
    zeros = np.zeros(n, dtype=np.int32)
    return Features(
        input_ids=np.zeros((n, width), dtype=np.int32),
        token_type_ids=np.zeros((n, width), dtype=np.int8),
        lengths=lengths,
        offsets=offsets,
        example_index=np.array([w[0] for w in windows], dtype=np.int32),
        start_positions=zeros,
        end_positions=zeros,
    )


def two_windows() -> tuple[list[Example], Features, np.ndarray, np.ndarray]:
    """One question, two windows (L = 10, question of 2 tokens, context from column 4):
    window 0 columns 4..7 = the cat sat on, column 9 is padding;
    window 1 columns 4..7 = sat on the mat, column 9 is padding."""
    ex = Example(id="q", title="t", context=CONTEXT, question="where?")
    feats = make_features([(0, 2, WORDS[0:4]), (0, 2, WORDS[2:6])], width=10)
    start = np.full((2, 10), NEG, dtype=np.float32)
    end = np.full((2, 10), NEG, dtype=np.float32)
    return [ex], feats, start, end


def test_span_chosen_across_two_windows():
    examples, feats, start, end = two_windows()
    start[0, 5], end[0, 5] = 2.0, 2.0  # window 0: "cat", score 4
    start[1, 6], end[1, 7] = 3.0, 2.5  # window 1: "the mat", score 5.5
    start[:, 0], end[:, 0] = 1.0, 1.0  # null 2
    preds = postprocess(examples, feats, start, end)
    assert preds == Predictions(answers={"q": "the mat"}, na_probs={"q": pytest.approx(1 / (1 + math.exp(3.5)))}, forced={"q": "the mat"},
                             margins={"q": pytest.approx(-3.5)})
    start[0, 5] = 4.0  # now window 0's "cat" scores 6 > 5.5
    assert postprocess(examples, feats, start, end).answers == {"q": "cat"}


def test_null_wins_only_by_more_than_the_threshold():
    examples, feats, start, end = two_windows()
    start[1, 4], end[1, 5] = 1.0, 1.0  # "sat on", score 2
    start[0, 0], end[0, 0] = 2.0, 2.0  # null of window 0: 4
    start[1, 0], end[1, 0] = 1.5, 1.5  # null of window 1: 3 -> the question's null is the min, 3; margin 1
    for threshold, want in [(0.0, ""), (0.99, ""), (1.0, "sat on"), (1.5, "sat on")]:
        preds = postprocess(examples, feats, start, end, null_score_diff_threshold=threshold)
        assert preds.answers == {"q": want}, threshold
        assert preds.forced == {"q": "sat on"}
        assert preds.na_probs["q"] == pytest.approx(1 / (1 + math.exp(-1.0)))
    # SQuAD 1.1 mode never answers "" while a span exists, however much the null wins
    start[:, 0] = end[:, 0] = 100.0
    assert postprocess(examples, feats, start, end, version_2_with_negative=False).answers == {"q": "sat on"}
    assert postprocess(examples, feats, start, end).answers == {"q": ""}


def test_max_answer_length():
    examples, feats, start, end = two_windows()
    start[0, 4], end[0, 7] = 5.0, 5.0  # "the cat sat on": 4 tokens, score 10
    start[0, 5], end[0, 6] = 2.5, 3.0  # also "the cat sat" 8, "cat sat on" 7.5, "cat sat" 5.5
    assert postprocess(examples, feats, start, end, max_answer_length=4).answers == {"q": "the cat sat on"}
    assert postprocess(examples, feats, start, end, max_answer_length=3).answers == {"q": "the cat sat"}
    assert postprocess(examples, feats, start, end, max_answer_length=2).answers == {"q": "cat sat"}
    # end before start is never valid: the best start is after the best end
    start[:], end[:] = NEG, NEG
    start[0, 7], end[0, 4] = 9.0, 9.0
    start[0, 5], end[0, 6] = 1.0, 1.0
    assert postprocess(examples, feats, start, end).answers == {"q": "cat sat"}


def test_tokens_outside_the_context_are_never_chosen():
    examples, feats, start, end = two_windows()
    start[1, 7], end[1, 7] = 0.5, 0.5  # "mat", score 1
    start[:, 1:4] = end[:, 1:4] = 50.0  # question tokens and the first [SEP]
    start[:, 8] = end[:, 8] = 50.0  # the last [SEP]
    start[:, 9] = end[:, 9] = 1e6  # padding column beyond the length
    feats.offsets[:, 9] = (0, 22)  # even if the padding column had offsets, it is beyond the length
    preds = postprocess(examples, feats, start, end, n_best_size=1)
    assert preds.answers == {"q": "mat"} and preds.forced == {"q": "mat"}
    # NaN/inf in ignored columns do not leak either
    start[:, 9], end[:, 9] = np.nan, np.inf
    assert postprocess(examples, feats, start, end, n_best_size=1).answers == {"q": "mat"}


def test_na_probs_monotone_in_null_margin():
    examples, feats, start, end = two_windows()
    start[0, 5], end[0, 6] = 1.0, 2.0  # best span score 3
    probs = []
    for cls in np.linspace(-5, 5, 21):
        start[:, 0] = end[:, 0] = cls  # null = 2 cls, margin = 2 cls - 3
        p = postprocess(examples, feats, start, end).na_probs["q"]
        assert p == pytest.approx(1 / (1 + math.exp(-(2 * cls - 3))))
        probs.append(p)
    assert all(a < b for a, b in zip(probs, probs[1:]))


def test_no_valid_span_and_no_window():
    examples = [
        Example(id="a", title="t", context=CONTEXT, question="?"),
        Example(id="b", title="t", context=CONTEXT, question="?"),  # no window at all
        Example(id="c", title="t", context=CONTEXT, question="?"),
    ]
    feats = make_features([(0, 3, []), (2, 2, WORDS[:2])], width=8)  # window 0 has no context token
    start = np.zeros((2, 8), dtype=np.float32)
    end = np.zeros((2, 8), dtype=np.float32)
    start[1, 4], end[1, 5] = 1.0, 1.0
    for v2 in (True, False):
        preds = postprocess(examples, feats, start, end, version_2_with_negative=v2)
        assert preds.answers == {"a": "", "b": "", "c": "the cat"}  # c: null 0 - span 2 < 0 -> answer
        assert preds.forced == {"a": "", "b": "", "c": "the cat"}
        assert preds.na_probs["a"] == preds.na_probs["b"] == 1.0


def test_shape_errors():
    examples, feats, start, end = two_windows()
    with pytest.raises(ValueError):
        postprocess(examples, feats, start[:1], end[:1])
    with pytest.raises(ValueError):
        postprocess(examples, feats, start, end[:, :5])
    with pytest.raises(ValueError):
        postprocess(examples, feats, np.zeros((2, 11)), np.zeros((2, 11)))


# ---------------------------------------------------------------- brute force on random logits


def brute_force(examples, feats, start, end, *, n_best_size, max_answer_length, threshold, v2) -> Predictions:
    """Plain loops: per window the n_best context columns per side, every (start, end) pair among them."""
    out = Predictions()
    for i, ex in enumerate(examples):
        best_score, best_text, null = -math.inf, None, math.inf
        for w in range(len(feats)):
            if feats.example_index[w] != i:
                continue
            null = min(null, float(start[w, 0]) + float(end[w, 0]))
            ctx = [c for c in range(start.shape[1]) if c < feats.lengths[w] and feats.offsets[w, c, 0] != -1]
            starts = sorted(ctx, key=lambda c: -start[w, c])[:n_best_size]
            ends = sorted(ctx, key=lambda c: -end[w, c])[:n_best_size]
            for s in sorted(starts):
                for e in sorted(ends):
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    score = float(start[w, s]) + float(end[w, e])
                    if score > best_score:
                        best_score = score
                        best_text = ex.context[feats.offsets[w, s, 0] : feats.offsets[w, e, 1]]
        if best_text is None:
            out.answers[ex.id], out.forced[ex.id], out.na_probs[ex.id] = "", "", 1.0
            continue
        margin = null - best_score
        out.forced[ex.id] = best_text
        out.na_probs[ex.id] = 1 / (1 + math.exp(-margin))
        out.answers[ex.id] = "" if v2 and margin > threshold else best_text
    return out


def random_case(rng: np.random.Generator, width: int = 16, n_examples: int = 12):
    examples, windows = [], []
    for i in range(n_examples):
        words = ["w%d" % rng.integers(100) for _ in range(rng.integers(1, 25))]
        spans, pos = [], 0
        for word in words:
            spans.append((pos, pos + len(word)))
            pos += len(word) + 1
        examples.append(Example(id=f"q{i}", title="t", context=" ".join(words), question="?"))
        q_len = int(rng.integers(1, 5))
        room = int(rng.integers(1, width - q_len - 3 + 1))  # context tokens per window, leaves padding
        stride = max(1, room // 2)
        first = 0
        while True:
            windows.append((i, q_len, spans[first : first + room]))
            if first + room >= len(spans):
                break
            first += stride
    order = rng.permutation(len(windows))  # windows of a question need not be adjacent
    feats = make_features([windows[j] for j in order], width)
    start = rng.normal(size=(len(feats), width)).astype(np.float32) * 3
    end = rng.normal(size=(len(feats), width)).astype(np.float32) * 3
    pad = np.arange(width)[None, :] >= feats.lengths[:, None]
    start[pad], end[pad] = 1e4, 1e4  # garbage beyond the length
    return examples, feats, start, end


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_best_size,max_answer_length", [(3, 30), (5, 4), (64, 30), (64, 2)])
def test_matches_brute_force_on_random_logits(seed, n_best_size, max_answer_length):
    rng = np.random.default_rng(seed)
    examples, feats, start, end = random_case(rng)
    for threshold, v2 in [(0.0, True), (1.5, True), (0.0, False)]:
        kw = dict(n_best_size=n_best_size, max_answer_length=max_answer_length)
        got = postprocess(examples, feats, start, end, null_score_diff_threshold=threshold, version_2_with_negative=v2, **kw)
        want = brute_force(examples, feats, start, end, threshold=threshold, v2=v2, **kw)
        assert got.answers == want.answers
        assert got.forced == want.forced
        assert got.na_probs == pytest.approx(want.na_probs, rel=1e-12, abs=0)
        assert sum(a == "" for a in got.answers.values()) < len(examples) or not v2  # not trivially all null


def test_float16_logits_and_chunking(monkeypatch):
    import distilbo.qa.postprocess as pp

    rng = np.random.default_rng(7)
    examples, feats, start, end = random_case(rng, n_examples=40)
    want = postprocess(examples, feats, start, end)
    monkeypatch.setattr(pp, "_CHUNK", 5)  # many chunks give the same result
    assert postprocess(examples, feats, start, end) == want
    start16, end16 = start.astype(np.float16), end.astype(np.float16)
    got = postprocess(examples, feats, start16, end16)
    ref = brute_force(examples, feats, start16, end16, n_best_size=20, max_answer_length=30, threshold=0.0, v2=True)
    assert got.answers == ref.answers and got.forced == ref.forced
