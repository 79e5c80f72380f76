"""The no-answer threshold a SQuAD 2.0 model ships with: the null-score margin that maximizes F1 on dev. Pure Python.

    preds = postprocess(examples, features, start, end)                   # distilbo.qa.postprocess
    cal = calibrate(examples, preds.forced, preds.margins)                 # Calibration(threshold, f1, exact, ...)
    answers = apply_threshold(preds.forced, preds.margins, cal.threshold)  # what the shipped model answers

A question's margin is its null score minus its best span score (`postprocess`); it is answered with its best span
when margin <= threshold and abstains ("") when margin > threshold: run_qa's `null_score_diff_threshold` rule, so
the threshold is in the model's own score units and can be stored beside the weights.

The rule is the official SQuAD 2.0 script's `find_best_thresh` (start from "no answer" everywhere, answer questions
in increasing order of their no-answer score, keep the best F1 seen), run

- on the margins themselves, not on sigmoid(margin): the probability saturates to 1.0 in float64 for margins above
  ~37, which would tie questions the margins still order;
- with every question's best span as its raw prediction: the official script run on predictions that already
  abstain at threshold 0 can never answer a question the threshold-0 prediction left blank, so its `best_f1`
  searches only thresholds <= 0;
- answering tied margins together (a threshold cannot split them), where the official sweep may report a score
  between two tied questions that no threshold reproduces.

The threshold is the margin of the last question answered, as the official `best_f1_thresh` is that question's
no-answer probability: on margins without ties, sigmoid(threshold) equals the official threshold. When answering
nothing is best, the threshold sits 1.0 below the smallest margin (every dev question abstains).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from distilbo.data.types import Example
from distilbo.qa.squad_v2 import score_question


@dataclass(frozen=True)
class Calibration:
    """The best-F1 no-answer threshold on a set of questions and the scores it gives there."""

    threshold: float
    """Null-score margin (null - best span) at or below which a question is answered."""
    f1: float
    """F1 in % with that threshold (the official best_f1 of the best spans)."""
    exact: float
    """Exact match in % with the same threshold (not re-optimized for exact match)."""
    answered: float
    """Share of questions answered with a span, in %."""


def apply_threshold(forced: Mapping[str, str], margins: Mapping[str, float], threshold: float) -> dict[str, str]:
    """qid -> the best span when its margin <= threshold, else "" (no answer)."""
    return {qid: (text if margins[qid] <= threshold else "") for qid, text in forced.items()}


def calibrate(examples: list[Example], forced: Mapping[str, str], margins: Mapping[str, float]) -> Calibration:
    """The threshold on `margins` (qid -> null - best span score; +inf without a valid span) that maximizes F1
    of answering `forced` (qid -> best span text) on `examples` (SQuAD 2.0 gold: `answers == []` is unanswerable)."""
    if not examples:
        raise ValueError("calibrate: no questions")
    n = len(examples)
    f1_if_answered, exact_if_answered, f1_if_blank, exact_if_blank = {}, {}, {}, {}
    for ex in examples:
        golds = [a["text"] for a in ex.answers]
        exact_if_answered[ex.id], f1_if_answered[ex.id] = score_question(golds, forced[ex.id])
        exact_if_blank[ex.id], f1_if_blank[ex.id] = score_question(golds, "")
    f1 = sum(f1_if_blank.values())
    exact = sum(exact_if_blank.values())
    finite = sorted((margins[ex.id], i, ex.id) for i, ex in enumerate(examples) if math.isfinite(margins[ex.id]))
    best_f1, best_exact, best_answered = f1, exact, 0
    best_thresh = (finite[0][0] - 1.0) if finite else 0.0
    i = 0
    while i < len(finite):
        margin = finite[i][0]
        while i < len(finite) and finite[i][0] == margin:  # tied margins are answered together
            qid = finite[i][2]
            f1 += f1_if_answered[qid] - f1_if_blank[qid]
            exact += exact_if_answered[qid] - exact_if_blank[qid]
            i += 1
        if f1 > best_f1:
            best_f1, best_exact, best_answered, best_thresh = f1, exact, i, margin
    return Calibration(threshold=float(best_thresh), f1=100.0 * best_f1 / n, exact=100.0 * best_exact / n,
                       answered=100.0 * best_answered / n)


def rate_threshold(margins: Mapping[str, float], rate: float) -> float:
    """The threshold at which a share `rate` (0-1) of these questions is answered: the margin of the k-th smallest,
    k = round(rate * questions) (ties with it are answered too, so the share can come out higher); 1.0 below the
    smallest margin when k is 0. A student given its teacher's answer rate on the same dev questions keeps the
    teacher's operating point whatever the offset of its own margins."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate_threshold: rate {rate} is not in [0, 1]")
    finite = sorted(m for m in margins.values() if math.isfinite(m))
    k = min(len(finite), round(rate * len(margins)))
    if k > 0:
        return float(finite[k - 1])
    return float(finite[0] - 1.0) if finite else 0.0


__all__ = ["Calibration", "calibrate", "apply_threshold", "rate_threshold"]
