"""Tests for distilbo.qa.squad_v2: the official SQuAD 2.0 / 1.1 scoring rules.

References used, independent of distilbo's code:
- hand-computed values on tiny cases (F1 of "the cat sat" vs "a cat", a 4-question dataset with thresholds);
- the numbers printed by the official scripts (`evaluate-v2.0.py`, `evaluate-v1.1.py` by Rajpurkar et al.) on the
  real `../shared/data/squad2/dev.json` with the hand-made predictions built by `_scenario()` below, recorded as
  constants (OFFICIAL_V2, OFFICIAL_V1). The official scripts are not kept in this repository; to re-run them
  as a subprocess and compare key by key, point DISTILBO_SQUAD_EVAL_V2 / DISTILBO_SQUAD_EVAL_V1 at local copies:

    DISTILBO_SQUAD_EVAL_V2=/path/evaluate-v2.0.py DISTILBO_SQUAD_EVAL_V1=/path/evaluate-v1.1.py \
        python -m pytest tests/test_squad_v2.py -q

Run: python -m pytest tests/test_squad_v2.py -q
"""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from distilbo.data.types import Example
from distilbo.errors import UserError
from distilbo.qa.squad_v2 import (
    compute_exact,
    compute_f1,
    evaluate,
    evaluate_examples,
    evaluate_v1,
    find_best_thresh,
    get_tokens,
    normalize_answer,
    score_question,
)

DEV = Path(__file__).parents[1].parent / "shared/data/squad2/dev.json"
needs_dev = pytest.mark.skipif(not DEV.exists(), reason=f"{DEV} not found (shared data)")

V2_KEYS = ["exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact", "NoAns_f1", "NoAns_total"]
BEST_KEYS = ["best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"]


def assert_same_scores(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=1e-9, rel=0), k


# ---------------------------------------------------------------- hand-computed


def test_normalize_answer_by_hand():
    assert normalize_answer("The  Cat, sat!") == "cat sat"
    assert normalize_answer("  An\tapple\n") == "apple"
    assert normalize_answer("anthem theory") == "anthem theory"  # articles only as whole words
    assert normalize_answer("a-cat") == "acat"  # punctuation goes before articles
    assert normalize_answer("CAFÉ") == "café"  # unicode lower-casing
    assert normalize_answer("“cat”") == "“cat”"  # curly quotes are not ASCII punctuation
    assert normalize_answer("a—b") == "—b"  # the em dash is not punctuation, but is a word boundary
    assert normalize_answer("new\u00a0york") == "new york"  # str.split() splits on no-break space
    assert normalize_answer("the") == ""
    assert get_tokens("") == [] and get_tokens("The Cat") == ["cat"]


def test_f1_by_hand():
    # gold tokens [cat, sat], pred tokens [cat]: P = 1, R = 1/2, F1 = 2 * 1/2 / (3/2) = 2/3
    assert compute_f1("the cat sat", "a cat") == pytest.approx(2 / 3)
    # gold [a1, b, b], pred [b, b, c, d]: common 2, P = 2/4, R = 2/3, F1 = 2 * (1/2)(2/3) / (7/6) = 4/7
    assert compute_f1("a1 b b", "b b c d") == pytest.approx(4 / 7)
    assert compute_f1("cat", "dog") == 0
    assert compute_f1("", "") == 1 and compute_f1("", "cat") == 0 and compute_f1("cat", "") == 0
    assert compute_f1("the", "") == 1  # gold normalizing to nothing agrees with no answer
    assert compute_exact("The Cat.", "cat") == 1 and compute_exact("cat", "cats") == 0


def test_score_question_max_over_golds_and_unanswerable():
    golds = ["Paris", "in Paris", "the city of Paris"]
    assert score_question(golds, "City of Paris!") == (1, 1.0)  # only the 3rd gold matches exactly
    exact, f1 = score_question(golds, "city")  # best F1 vs the 3rd: P = 1, R = 1/3 -> 1/2
    assert exact == 0 and f1 == pytest.approx(0.5)
    assert score_question([], "") == (1, 1) and score_question([], "Paris") == (0, 0)
    assert score_question(["the"], "") == (1, 1)  # golds normalizing to "" are dropped -> [""]
    assert score_question(["the", "cat"], "") == (0, 0)  # ... even next to real golds: "" is wrong here


TINY = {
    "version": "v2.0",
    "data": [
        {
            "title": "t",
            "paragraphs": [
                {
                    "context": "irrelevant",
                    "qas": [
                        {"id": "q1", "answers": [{"text": "the cat sat", "answer_start": 0}]},
                        {"id": "q2", "answers": [{"text": t, "answer_start": 0} for t in ("Paris", "in Paris", "city of Paris")]},
                        {"id": "q3", "answers": []},
                        {"id": "q4", "answers": []},
                    ],
                }
            ],
        }
    ],
}
TINY_PREDS = {"q1": "a cat", "q2": "City of Paris.", "q3": "", "q4": "London"}
TINY_NA = {"q1": 0.6, "q2": 0.1, "q3": 0.9, "q4": 0.8}


def test_tiny_dataset_by_hand():
    # per question (exact, f1): q1 (0, 2/3), q2 (1, 1), q3 (1, 1), q4 (0, 0)
    want = {
        "exact": 50.0, "f1": 100 * (2 / 3 + 2) / 4, "total": 4,
        "HasAns_exact": 50.0, "HasAns_f1": 100 * (2 / 3 + 1) / 2, "HasAns_total": 2,
        "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2,
    }  # fmt: skip
    assert_same_scores(evaluate(TINY, TINY_PREDS), want)
    assert_same_scores(evaluate(TINY["data"], TINY_PREDS), want)  # the `data` list works too
    # best thresholds: start from all "" = 2 right (q3, q4); add in na order q2 (+1 -> 3, at 0.1),
    # q1 (+0 exact / +2/3 f1, at 0.6), q4 ("London" on NoAns: -1), q3 ("" on NoAns: 0)
    best = {"best_exact": 75.0, "best_exact_thresh": 0.1, "best_f1": 100 * (3 + 2 / 3) / 4, "best_f1_thresh": 0.6}
    assert_same_scores(evaluate(TINY, TINY_PREDS, TINY_NA), want | best)
    # threshold 0.7: q3 (0.9) and q4 (0.8) are answered "" -> both right; q1, q2 unchanged
    thr = want | {"exact": 75.0, "f1": 100 * (2 / 3 + 3) / 4, "NoAns_exact": 100.0, "NoAns_f1": 100.0}
    assert_same_scores(evaluate(TINY, TINY_PREDS, TINY_NA, na_prob_thresh=0.7), thr | best)


def test_best_thresh_counts_nonempty_raw_prediction_on_noans_as_wrong():
    # official quirk: " " scores exact 1 on an unanswerable question, but find_best_thresh counts it -1
    qid_to_has_ans = {"q": False}
    assert find_best_thresh({"q": " "}, {"q": 1}, {"q": 0.2}, qid_to_has_ans) == (100.0, 0.0)
    assert evaluate({"data": [{"paragraphs": [{"qas": [{"id": "q", "answers": []}]}]}]}, {"q": " "}, {"q": 0.2}) == {
        "exact": 100.0, "f1": 100.0, "total": 1, "NoAns_exact": 100.0, "NoAns_f1": 100.0, "NoAns_total": 1,
        "best_exact": 100.0, "best_exact_thresh": 0.0, "best_f1": 100.0, "best_f1_thresh": 0.0,
    }  # fmt: skip


def test_missing_prediction_is_a_user_error():
    # the official script prints "Missing prediction for q3" and then fails with KeyError('q3')
    preds = {k: v for k, v in TINY_PREDS.items() if k != "q3"}
    with pytest.raises(UserError, match="q3"):
        evaluate(TINY, preds)
    with pytest.raises(UserError, match="q2"):
        evaluate(TINY, TINY_PREDS, {k: v for k, v in TINY_NA.items() if k != "q2"})
    with pytest.raises(UserError, match="string"):
        evaluate(TINY, TINY_PREDS | {"q1": None})


def test_extra_predictions_are_ignored():
    assert evaluate(TINY, TINY_PREDS | {"other": "x"}, TINY_NA | {"other": 0.0}) == evaluate(TINY, TINY_PREDS, TINY_NA)


def test_v1_by_hand():
    data = copy.deepcopy(TINY)
    data["data"][0]["paragraphs"][0]["qas"][2:] = [{"id": "q5", "answers": [{"text": "the", "answer_start": 0}]}]
    # q1 (0, 2/3), q2 (1, 1), q5 "" vs "the": exact (both normalize to "") but v1 F1 0; then q2 missing -> 0
    got = evaluate_v1(data, {"q1": "a cat", "q2": "City of Paris.", "q5": ""})
    assert got == pytest.approx({"exact_match": 100 * 2 / 3, "f1": 100 * (2 / 3 + 1) / 3})
    got = evaluate_v1(data, {"q1": "a cat", "q5": ""})
    assert got == pytest.approx({"exact_match": 100 * 1 / 3, "f1": 100 * (2 / 3) / 3})
    with pytest.raises(UserError, match="q3"):
        evaluate_v1(TINY, TINY_PREDS)


# ---------------------------------------------------------------- real dev set vs the official scripts


def _scenario() -> tuple[dict, dict[str, str], dict[str, float], dict[str, float]]:
    """dev.json with hand-made predictions and two no-answer probability sets (one with many ties)."""
    data = json.loads(DEV.read_text())
    qas = [qa for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]]
    preds: dict[str, str] = {}
    n_has = n_no = 0
    for qa in qas:
        golds = [a["text"] for a in qa["answers"]]
        if golds:
            g = golds[0]
            n_has += 1
            distinct = list(dict.fromkeys(normalize_answer(t) for t in golds))
            if len(distinct) >= 3 and n_has % 2 == 0:  # match only the 3rd distinct gold answer
                preds[qa["id"]] = next(t for t in golds if normalize_answer(t) == distinct[2])
                continue
            variants = [
                g, g.upper(), f"({g}).", "The " + g, "  " + g.replace(" ", " \t\n ") + " \n",  # right
                "\u201c" + g + "\u201d", g.replace(" ", "\u00a0"), g.split()[0] + " zebra",  # unicode, partial
                "", "zzz qqq", g + " \u2014 " + g, "an " + g.lower() + "!",  # empty, wrong, doubled, article
            ]  # fmt: skip
            preds[qa["id"]] = variants[n_has % len(variants)]
        else:
            plausible = (qa.get("plausible_answers") or [{"text": "something"}])[0]["text"]
            preds[qa["id"]] = ["", plausible, " ", "the", ""][n_no % 5]
            n_no += 1
    rng = random.Random(1234)
    na_a = {}
    for qa in qas:
        base = 0.35 if qa["answers"] else 0.65
        na_a[qa["id"]] = min(1.0, max(0.0, base + 0.6 * (rng.random() - 0.5)))
    na_b = {k: round(v, 1) for k, v in na_a.items()}
    return data, preds, na_a, na_b


# Printed by the official evaluate-v2.0.py on _scenario():
#   python evaluate-v2.0.py dev.json preds.json [--na-prob-file na.json] [--na-prob-thresh T]
OFFICIAL_V2 = {
    "no_na": {
        "exact": 70.2755905511811, "f1": 74.90724274344247, "total": 1016,
        "HasAns_exact": 60.24096385542169, "HasAns_f1": 69.69027836814776, "HasAns_total": 498,
        "NoAns_exact": 79.92277992277992, "NoAns_f1": 79.92277992277992, "NoAns_total": 518,
    },
    "na_a": {
        "exact": 70.2755905511811, "f1": 74.90724274344247, "total": 1016,
        "HasAns_exact": 60.24096385542169, "HasAns_f1": 69.69027836814776, "HasAns_total": 498,
        "NoAns_exact": 79.92277992277992, "NoAns_f1": 79.92277992277992, "NoAns_total": 518,
        "best_exact": 67.2244094488189, "best_exact_thresh": 0.42957657984304015,
        "best_f1": 71.21693922875018, "best_f1_thresh": 0.6086804166799558,
    },
    "na_b_thresh_0.3": {
        "exact": 65.64960629921259, "f1": 67.59688392316343, "total": 1016,
        "HasAns_exact": 29.919678714859437, "HasAns_f1": 33.89243788340173, "HasAns_total": 498,
        "NoAns_exact": 100.0, "NoAns_f1": 100.0, "NoAns_total": 518,
        "best_exact": 67.2244094488189, "best_exact_thresh": 0.5,
        "best_f1": 71.36393565682823, "best_f1_thresh": 0.6,
    },
}  # fmt: skip
# Printed by the official evaluate-v1.1.py on the answerable questions of _scenario() (every 50th unanswered).
OFFICIAL_V1 = {"exact_match": 59.23694779116466, "f1": 68.45199188889744}

CASES = [("no_na", None, 1.0), ("na_a", "na_a", 1.0), ("na_b_thresh_0.3", "na_b", 0.3)]


def _v1_data(data: dict) -> tuple[dict, list[str]]:
    d1 = copy.deepcopy(data)
    d1["version"] = "1.1"
    for article in d1["data"]:
        for p in article["paragraphs"]:
            p["qas"] = [qa for qa in p["qas"] if qa["answers"]]
    ids = [qa["id"] for a in d1["data"] for p in a["paragraphs"] for qa in p["qas"]]
    return d1, ids[::50]


@needs_dev
def test_scenario_covers_the_cases():
    data, preds, na_a, _ = _scenario()
    qas = {qa["id"]: qa for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]}
    scores = {qid: score_question([a["text"] for a in qas[qid]["answers"]], p) for qid, p in preds.items()}
    has = [q for q in qas if qas[q]["answers"]]
    no = [q for q in qas if not qas[q]["answers"]]
    assert sum(preds[q] == "" for q in has) > 10 and sum(preds[q] == "" for q in no) > 10
    assert sum(preds[q] not in ("", " ", "the") for q in no) > 10  # answered unanswerable questions
    third_only = [
        q for q in has
        if scores[q][0] == 1 and not compute_exact(qas[q]["answers"][0]["text"], preds[q])
        and not compute_exact(qas[q]["answers"][1]["text"], preds[q])
    ]  # fmt: skip
    assert len(third_only) > 10
    assert sum(0 < scores[q][1] < 1 for q in has) > 10 and sum(scores[q][1] == 0 for q in has) > 10
    assert len(na_a) == len(qas)


@needs_dev
@pytest.mark.parametrize("name,na_name,thresh", CASES)
def test_dev_matches_official_v2_numbers(name, na_name, thresh):
    data, preds, na_a, na_b = _scenario()
    na = {"na_a": na_a, "na_b": na_b}.get(na_name)
    got = evaluate(data, preds, na, na_prob_thresh=thresh)
    assert list(got) == V2_KEYS + (BEST_KEYS if na else [])
    assert_same_scores(got, OFFICIAL_V2[name])
    examples = [
        Example(id=qa["id"], title=a["title"], context=p["context"], question=qa["question"], answers=qa["answers"])
        for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]
    ]  # fmt: skip
    assert evaluate_examples(examples, preds, na, na_prob_thresh=thresh) == got


@needs_dev
def test_dev_matches_official_v1_numbers():
    data, preds, _, _ = _scenario()
    d1, unanswered = _v1_data(data)
    got = evaluate_v1(d1, {k: v for k, v in preds.items() if k not in unanswered})
    assert list(got) == ["exact_match", "f1"]
    assert_same_scores(got, OFFICIAL_V1)


def _official(env: str) -> Path:
    path = os.environ.get(env)
    if not path:
        pytest.skip(f"set {env} to a copy of the official script to compare against it as a subprocess")
    return Path(path)


@needs_dev
@pytest.mark.parametrize("name,na_name,thresh", CASES)
def test_dev_against_official_v2_subprocess(name, na_name, thresh, tmp_path):
    script = _official("DISTILBO_SQUAD_EVAL_V2")
    data, preds, na_a, na_b = _scenario()
    na = {"na_a": na_a, "na_b": na_b}.get(na_name)
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    cmd = [sys.executable, str(script), str(DEV), str(tmp_path / "preds.json"), "--na-prob-thresh", str(thresh)]
    if na is not None:
        (tmp_path / "na.json").write_text(json.dumps(na))
        cmd += ["--na-prob-file", str(tmp_path / "na.json")]
    official = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    assert_same_scores(evaluate(data, preds, na, na_prob_thresh=thresh), official)
    assert_same_scores(official, OFFICIAL_V2[name])  # the recorded constants are what the script prints


@needs_dev
def test_dev_against_official_v2_subprocess_missing_prediction(tmp_path):
    script = _official("DISTILBO_SQUAD_EVAL_V2")
    data, preds, _, _ = _scenario()
    gone = next(iter(preds))
    del preds[gone]
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    run = subprocess.run([sys.executable, str(script), str(DEV), str(tmp_path / "preds.json")], capture_output=True, text=True)
    assert run.returncode != 0 and f"Missing prediction for {gone}" in run.stdout and "KeyError" in run.stderr
    with pytest.raises(UserError, match=gone):
        evaluate(data, preds)


@needs_dev
def test_dev_against_official_v1_subprocess(tmp_path):
    script = _official("DISTILBO_SQUAD_EVAL_V1")
    data, preds, _, _ = _scenario()
    d1, unanswered = _v1_data(data)
    preds = {k: v for k, v in preds.items() if k not in unanswered}
    (tmp_path / "data.json").write_text(json.dumps(d1))
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    run = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "data.json"), str(tmp_path / "preds.json")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert run.stderr.count("Unanswered question") == len(unanswered)
    official = json.loads(run.stdout)
    assert_same_scores(evaluate_v1(d1, preds), official)
    assert_same_scores(official, OFFICIAL_V1)
