"""The no-answer threshold a trial records and an export ships (`distilbo.qa.calibrate`): against a hand computation
and against the official script's `find_best_thresh` on the same predictions.

Run: python -m pytest tests/test_calibrate.py -q
"""

from __future__ import annotations

import math

import pytest

from distilbo.data.types import Example
from distilbo.qa.calibrate import apply_threshold, calibrate, rate_threshold
from distilbo.qa.squad_v2 import find_best_thresh, raw_scores


def _ex(qid: str, gold: str | None) -> Example:
    answers = [{"text": gold, "answer_start": 0}] if gold else []
    return Example(id=qid, title="t", context="c", question="q?", answers=answers, is_impossible=not gold)


# Five questions, their best spans and null margins (null score - best span score). By hand, answering in
# increasing margin order from "no answer" everywhere (2 of 5 right: q2 and q5 are unanswerable):
#   q1 (-2.0)  "Paris" = gold            +1        -> 3
#   q2 (-1.0)  unanswerable, "London"    -1        -> 2
#   q3 ( 0.5)  "Seine" vs "the river Seine": F1 2/3 -> 2.667
#   q4 ( 1.5)  "1066" = gold             +1        -> 3.667   <- best: threshold 1.5, F1 73.33
#   q5 ( 3.0)  unanswerable, "x"         -1        -> 2.667
EXAMPLES = [_ex("q1", "Paris"), _ex("q2", None), _ex("q3", "the river Seine"), _ex("q4", "1066"), _ex("q5", None)]
FORCED = {"q1": "Paris", "q2": "London", "q3": "Seine", "q4": "1066", "q5": "x"}
MARGINS = {"q1": -2.0, "q2": -1.0, "q3": 0.5, "q4": 1.5, "q5": 3.0}


def test_threshold_is_the_hand_computed_best_f1_one():
    cal = calibrate(EXAMPLES, FORCED, MARGINS)
    assert cal.threshold == 1.5
    assert cal.f1 == pytest.approx(100 * (1 + 0 + 2 / 3 + 1 + 1) / 5)  # q2 wrong, q5 right (abstains)
    assert cal.exact == pytest.approx(100 * 3 / 5)  # q1, q4 exact; q5 abstains; q3 is not exact
    assert cal.answered == pytest.approx(80.0)
    assert apply_threshold(FORCED, MARGINS, cal.threshold) == {**FORCED, "q5": ""}


def test_threshold_is_the_official_rule_in_score_units():
    """The official find_best_thresh on the best spans with na_prob = sigmoid(margin): same F1, and its threshold
    is sigmoid of ours."""
    has_ans = {e.id: bool(e.answers) for e in EXAMPLES}
    _, f1 = raw_scores({e.id: [a["text"] for a in e.answers] for e in EXAMPLES}, FORCED)
    na_probs = {q: 1 / (1 + math.exp(-m)) for q, m in MARGINS.items()}
    best_f1, thresh = find_best_thresh(FORCED, f1, na_probs, has_ans)
    cal = calibrate(EXAMPLES, FORCED, MARGINS)
    assert cal.f1 == pytest.approx(best_f1)
    assert 1 / (1 + math.exp(-cal.threshold)) == pytest.approx(thresh)


def test_abstaining_everywhere_and_ties():
    # all spans wrong: answering nothing is best, and the threshold sits below every margin
    wrong = {**FORCED, "q1": "Rome", "q3": "Thames", "q4": "1492"}
    cal = calibrate(EXAMPLES, wrong, MARGINS)
    assert cal.answered == 0.0 and cal.f1 == pytest.approx(40.0)
    assert all(m > cal.threshold for m in MARGINS.values())
    # a right and a wrong answer with the same margin are answered together: +1 - 1 never beats "no answer"
    tied = {"q1": 0.0, "q2": 0.0, "q3": 9.0, "q4": 9.0, "q5": 9.0}
    only = [EXAMPLES[0], EXAMPLES[1]]
    cal = calibrate(only, FORCED, tied)
    assert cal.answered == 0.0 and cal.f1 == pytest.approx(50.0) and cal.threshold < 0.0
    # without q4's span (margin inf: never answered) q3's 2/3 no longer pays for q2: the best stops at q1
    no_span = {**MARGINS, "q4": math.inf}
    cal = calibrate(EXAMPLES, FORCED, no_span)
    assert cal.threshold == -2.0 and cal.f1 == pytest.approx(60.0)
    assert apply_threshold(FORCED, no_span, 1e9)["q4"] == ""


def test_rate_threshold_answers_the_asked_share_counted_by_hand():
    margins = {"a": 3.0, "b": -1.0, "c": 0.5, "d": 7.0, "e": math.inf}
    # 2 of 5 answered: the two smallest margins, -1.0 and 0.5 -> the threshold is 0.5
    assert rate_threshold(margins, 0.4) == 0.5
    assert sum(m <= rate_threshold(margins, 0.4) for m in margins.values()) == 2
    assert rate_threshold(margins, 0.0) == -2.0  # none: 1.0 below the smallest
    assert rate_threshold(margins, 1.0) == 7.0  # every finite margin; the question without a span never answers
    assert rate_threshold({"a": 1.0, "b": 1.0, "c": 2.0}, 0.34) == 1.0  # ties are answered together (2 of 3)
    with pytest.raises(ValueError):
        rate_threshold(margins, 1.5)


def test_resampling_to_an_unanswerable_share_keeps_the_scarce_kind_and_counts_right():
    from distilbo.data.splits import resample_unanswerable

    ex = [Example(id=str(i), title="t", context="c", question="q",
                  answers=[] if i % 10 == 0 else [{"text": "c", "answer_start": 0}]) for i in range(100)]
    half = resample_unanswerable(ex, 0.5)
    assert sum(not e.answers for e in half) == 10 and sum(bool(e.answers) for e in half) == 10  # 10 of each
    assert [int(e.id) for e in half] == sorted(int(e.id) for e in half)  # file order kept
    assert [e.id for e in half] == [e.id for e in resample_unanswerable(ex, 0.5)]  # seeded
    few_answers = resample_unanswerable([Example(**{**e.__dict__, "answers": [] if e.answers else e.answers or
                                                    [{"text": "c", "answer_start": 0}]}) for e in ex], 0.8)
    assert sum(bool(e.answers) for e in few_answers) == 10 and sum(not e.answers for e in few_answers) == 40
