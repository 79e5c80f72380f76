"""SQuAD scoring by the official rules: SQuAD 2.0 (`evaluate`) and SQuAD 1.1 (`evaluate_v1`). Pure Python, no I/O.

Reproduces the official scripts of Rajpurkar et al. (`evaluate-v2.0.py`, `evaluate-v1.1.py`) number for number,
with the same keys in the same order, so results are comparable with published SQuAD numbers:

    from distilbo.qa.squad_v2 import evaluate, evaluate_examples
    scores = evaluate(json.load(open("dev.json")), preds, na_probs)   # {"exact", "f1", "total", "HasAns_exact", ...}
    scores = evaluate_examples(examples, preds, na_probs)            # the same numbers from `Example` lists

Official rules kept on purpose (they decide the numbers):
- answers are compared after `normalize_answer` (lower case, drop ASCII punctuation, drop the words a/an/the,
  collapse whitespace); F1 is over whitespace tokens of the normalized text;
- per question the score is the max over its gold answers; gold answers that normalize to "" are dropped, and a
  question without gold answers (unanswerable) has [""] as its only gold answer;
- a question counts as HasAns when its `answers` list is non-empty (before that dropping);
- `na_prob_thresh`: a question whose no-answer probability is > the threshold is scored as if answered "";
- with no-answer probabilities, `best_exact`/`best_f1` are the scores at the best threshold over the sorted
  probabilities, and `best_*_thresh` that threshold (the official `find_best_thresh`, quirks included: an
  unanswerable question counts as wrongly answered there when its raw prediction is a non-empty string).

Where the official scripts crash or print, this module raises `distilbo.errors.UserError` instead:
- SQuAD 2.0, a question without a prediction: the official script prints "Missing prediction for <id>", skips the
  question, then fails with a KeyError when it builds the HasAns/NoAns breakdown; here: UserError naming the id.
- SQuAD 2.0, a predicted question without a no-answer probability: KeyError there; UserError here.
- SQuAD 1.1, a question without gold answers: `max()` of nothing there; UserError here.
SQuAD 1.1 scores a missing prediction 0 and keeps it in the total (it prints "Unanswered question ..."); so does
`evaluate_v1`, silently.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Iterable, Mapping

from distilbo.data.types import Example
from distilbo.errors import UserError

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(s: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (official, both versions)."""
    text = s.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def get_tokens(s: str) -> list[str]:
    """Tokens of the normalized answer; [] for ""."""
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(a_gold: str, a_pred: str) -> int:
    """1 if the normalized answers are equal, else 0."""
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold: str, a_pred: str) -> float:
    """SQuAD 2.0 token F1; if either side has no tokens, 1 when both have none, else 0."""
    gold_toks = get_tokens(a_gold)
    pred_toks = get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def gold_answers(answer_texts: Iterable[str]) -> list[str]:
    """The gold answers that count: those not normalizing to ""; [""] if none is left (unanswerable)."""
    golds = [a for a in answer_texts if normalize_answer(a)]
    return golds or [""]


def score_question(answer_texts: Iterable[str], pred: str) -> tuple[int, float]:
    """(exact, f1) of one prediction: the max over the question's gold answers (SQuAD 2.0 rules)."""
    golds = gold_answers(answer_texts)
    return max(compute_exact(a, pred) for a in golds), max(compute_f1(a, pred) for a in golds)


def _questions(dataset: list[dict] | dict) -> list[tuple[str, list[str]]]:
    """(qid, raw gold answer texts) per question in file order, from the official `data` list or the whole JSON."""
    if isinstance(dataset, dict):
        if "data" not in dataset:
            raise UserError("SQuAD data: the JSON object has no 'data' list; pass the official SQuAD JSON or its 'data'")
        dataset = dataset["data"]
    return [
        (qa["id"], [a["text"] for a in qa["answers"]])
        for article in dataset
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]


def raw_scores(questions: Mapping[str, list[str]], preds: Mapping[str, str]) -> tuple[dict[str, int], dict[str, float]]:
    """Per-question (exact, f1) before any no-answer threshold: qid -> score, for every question.

    `questions` maps qid -> raw gold texts (empty list = unanswerable). A missing prediction is a UserError.
    """
    missing = [qid for qid in questions if qid not in preds]
    if missing:
        raise UserError(
            f"predictions: {len(missing)} of {len(questions)} questions have no prediction (first: {missing[0]!r}); "
            'the official SQuAD 2.0 script fails on this: predict every question, "" for no answer'
        )
    exact: dict[str, int] = {}
    f1: dict[str, float] = {}
    for qid, texts in questions.items():
        pred = preds[qid]
        if not isinstance(pred, str):
            raise UserError(f"predictions: the prediction for {qid!r} is {type(pred).__name__}, not a string")
        exact[qid], f1[qid] = score_question(texts, pred)
    return exact, f1


def apply_no_ans_threshold(
    scores: Mapping[str, float], na_probs: Mapping[str, float], qid_to_has_ans: Mapping[str, bool], na_prob_thresh: float
) -> dict[str, float]:
    """Scores after answering "" wherever the no-answer probability is > `na_prob_thresh` (official)."""
    return {
        qid: float(not qid_to_has_ans[qid]) if na_probs[qid] > na_prob_thresh else s for qid, s in scores.items()
    }


def find_best_thresh(
    preds: Mapping[str, str],
    scores: Mapping[str, float],
    na_probs: Mapping[str, float],
    qid_to_has_ans: Mapping[str, bool],
) -> tuple[float, float]:
    """(best score in %, its threshold) over thresholds at the sorted no-answer probabilities (official).

    Starts from answering "" everywhere, then un-blanks questions in increasing probability order (stable sort
    in `na_probs`' own order); probabilities of qids not in `scores` are skipped.
    """
    cur_score = sum(1 for qid in qid_to_has_ans if not qid_to_has_ans[qid])
    best_score = cur_score
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores:
            continue
        if qid_to_has_ans[qid]:
            diff = scores[qid]
        else:
            diff = -1 if preds[qid] else 0
        cur_score += diff
        if cur_score > best_score:
            best_score = cur_score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def _eval_dict(exact: Mapping[str, float], f1: Mapping[str, float], qids: list[str] | None = None) -> dict:
    if not qids:
        total = len(exact)
        return {"exact": 100.0 * sum(exact.values()) / total, "f1": 100.0 * sum(f1.values()) / total, "total": total}
    total = len(qids)
    return {
        "exact": 100.0 * sum(exact[k] for k in qids) / total,
        "f1": 100.0 * sum(f1[k] for k in qids) / total,
        "total": total,
    }


def _evaluate_questions(
    questions: Mapping[str, list[str]],
    preds: Mapping[str, str],
    na_probs: Mapping[str, float] | None,
    na_prob_thresh: float,
) -> dict:
    if not questions:
        raise UserError("SQuAD data: no questions to score")
    exact_raw, f1_raw = raw_scores(questions, preds)
    probs = na_probs if na_probs is not None else {k: 0.0 for k in preds}
    lacking = [qid for qid in questions if qid not in probs]
    if lacking:
        raise UserError(
            f"no-answer probabilities: {len(lacking)} questions have none (first: {lacking[0]!r}); "
            "give one per predicted question"
        )
    qid_to_has_ans = {qid: bool(texts) for qid, texts in questions.items()}
    has_ans = [k for k, v in qid_to_has_ans.items() if v]
    no_ans = [k for k, v in qid_to_has_ans.items() if not v]
    exact_thr = apply_no_ans_threshold(exact_raw, probs, qid_to_has_ans, na_prob_thresh)
    f1_thr = apply_no_ans_threshold(f1_raw, probs, qid_to_has_ans, na_prob_thresh)
    out = collections.OrderedDict(_eval_dict(exact_thr, f1_thr))
    if has_ans:
        out.update((f"HasAns_{k}", v) for k, v in _eval_dict(exact_thr, f1_thr, has_ans).items())
    if no_ans:
        out.update((f"NoAns_{k}", v) for k, v in _eval_dict(exact_thr, f1_thr, no_ans).items())
    if na_probs is not None:
        out["best_exact"], out["best_exact_thresh"] = find_best_thresh(preds, exact_raw, probs, qid_to_has_ans)
        out["best_f1"], out["best_f1_thresh"] = find_best_thresh(preds, f1_raw, probs, qid_to_has_ans)
    return out


def evaluate(
    dataset: list[dict] | dict,
    preds: dict[str, str],
    na_probs: dict[str, float] | None = None,
    *,
    na_prob_thresh: float = 1.0,
) -> dict:
    """Official SQuAD 2.0 scores of `preds` (qid -> answer text, "" for no answer) on `dataset`.

    `dataset` is the official JSON's `data` list or the whole JSON dict. Returns an OrderedDict with the official
    keys in order: exact, f1, total, HasAns_exact, HasAns_f1, HasAns_total, NoAns_exact, NoAns_f1, NoAns_total
    (a breakdown is left out when it has no questions), and with `na_probs` (qid -> probability of no answer)
    also best_exact, best_exact_thresh, best_f1, best_f1_thresh. Scores are percentages.
    """
    return _evaluate_questions(dict(_questions(dataset)), preds, na_probs, na_prob_thresh)


def evaluate_examples(
    examples: list[Example],
    preds: dict[str, str],
    na_probs: dict[str, float] | None = None,
    *,
    na_prob_thresh: float = 1.0,
) -> dict:
    """`evaluate` on `Example` lists (gold texts from `ex.answers`); same numbers as on the source JSON."""
    questions = {ex.id: [a["text"] for a in ex.answers] for ex in examples}
    return _evaluate_questions(questions, preds, na_probs, na_prob_thresh)


def _f1_v1(prediction: str, ground_truth: str) -> float:
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = collections.Counter(prediction_tokens) & collections.Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def evaluate_v1(dataset: list[dict] | dict, preds: dict[str, str]) -> dict:
    """Official SQuAD 1.1 scores: {"exact_match", "f1"} in %, max over gold answers (all of them, none dropped).

    Differs from SQuAD 2.0 scoring: an empty prediction or gold gets F1 0, and a question without a prediction
    scores 0 but stays in the total. Every question needs at least one gold answer.
    """
    exact_match = f1 = 0.0
    total = 0
    for qid, texts in _questions(dataset):
        total += 1
        if qid not in preds:
            continue
        if not texts:
            raise UserError(
                f"SQuAD data: question {qid!r} has no gold answers; SQuAD 1.1 scoring needs answerable questions, "
                "use evaluate() (SQuAD 2.0) for unanswerable ones"
            )
        pred = preds[qid]
        exact_match += max(normalize_answer(pred) == normalize_answer(t) for t in texts)
        f1 += max(_f1_v1(pred, t) for t in texts)
    if total == 0:
        raise UserError("SQuAD data: no questions to score")
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}
