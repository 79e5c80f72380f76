"""SQuAD loading, validation errors, windowed features and their cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import DEV_JSON, TEACHER
from distilbo.cli import main
from distilbo.data import squad
from distilbo.data.squad import build_features, load_examples
from distilbo.errors import DataError

CTX = "The Normans were in Normandy. They gave their name to Normandy, a region in France."


def squad_doc(qas, context=CTX):
    return {"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}]}


GOOD_QA = {"id": "q1", "question": "Where?", "answers": [{"text": "Normandy", "answer_start": 20}], "is_impossible": False}


def test_real_files_load_with_the_counts_their_readme_gives():
    dev = load_examples(str(DEV_JSON))
    assert len(dev) == 1016
    assert sum(e.is_impossible for e in dev) == 518
    assert load_examples(str(DEV_JSON), max_samples=7)[-1].id == dev[6].id


# each case: (document or raw text, words the one-line message must contain)
BAD = [
    ("", ["empty file"]),
    ("{not json", ["malformed JSON", "line 1"]),
    ({"version": "v2.0"}, ["missing field 'data'"]),
    ({"data": {}}, ["'data'", "list"]),
    ({"data": [{"title": "T"}]}, ["article 0", "paragraphs"]),
    ({"data": [{"title": "T", "paragraphs": [{"qas": []}]}]}, ["paragraph 0", "context"]),
    (squad_doc([{"question": "Q?", "answers": []}]), ["question 0", "'id'"]),
    (squad_doc([{"id": "q1", "answers": []}]), ["question q1", "'question'"]),
    (squad_doc([{"id": "q1", "question": "Q?"}]), ["question q1", "'answers'"]),
    (squad_doc([{**GOOD_QA, "answers": [{"text": "Normandy", "answer_start": 3}]}]), ["question q1", "answer_start", "3"]),
    (squad_doc([{**GOOD_QA, "answers": [{"text": "Normandy"}]}]), ["question q1", "answer_start"]),
    (squad_doc([{**GOOD_QA, "answers": [{"answer_start": 20}]}]), ["question q1", "'text'"]),
    (squad_doc([GOOD_QA, {**GOOD_QA}]), ["question q1", "duplicate id"]),
    (squad_doc([{**GOOD_QA, "is_impossible": True}]), ["question q1", "is_impossible"]),
    (squad_doc([{**GOOD_QA, "answers": [], "is_impossible": False}]), ["question q1", "answers", "empty"]),
    ({"data": []}, ["no questions"]),
]


@pytest.mark.parametrize("doc,words", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_data_gives_one_line_error_naming_the_place(tmp_path, capsys, doc, words):
    f = tmp_path / "bad.json"
    f.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    code = main(["evaluate", "--data", str(f), "--model", str(TEACHER)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("distilbo: error: ") and "Traceback" not in err
    assert str(f) in err
    for w in words:
        assert w in err, (w, err)


def test_missing_file_and_v1_mode_on_unanswerable(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_examples(str(tmp_path / "nope.json"))
    with pytest.raises(DataError, match="SQuAD 1.1 mode"):
        load_examples(str(DEV_JSON), version_2_with_negative=False)


def test_saved_hf_dataset_in_squad_v2_schema_gives_the_same_examples(tmp_path):
    datasets = pytest.importorskip("datasets")
    ref = load_examples(str(DEV_JSON), max_samples=40)
    rows = {"id": [e.id for e in ref], "title": [e.title for e in ref], "context": [e.context for e in ref],
            "question": [e.question for e in ref],
            "answers": [{"text": [a["text"] for a in e.answers], "answer_start": [a["answer_start"] for a in e.answers]}
                        for e in ref]}
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "ds"))
    got = load_examples(str(tmp_path / "ds"))
    assert [(e.id, e.question, e.context, e.answers, e.is_impossible) for e in got] == \
           [(e.id, e.question, e.context, e.answers, e.is_impossible) for e in ref]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TEACHER))


def test_labels_point_at_the_gold_answer_tokens(tokenizer, tmp_path):
    examples = load_examples(str(DEV_JSON), max_samples=300)
    f = build_features(examples, tokenizer, max_seq_length=128, doc_stride=48, max_query_length=24, cache_dir=None)
    assert len(f) > len(examples)  # long contexts were split into several windows
    labelled = 0
    for i in range(len(f)):
        ex = examples[f.example_index[i]]
        s, e = f.start_positions[i], f.end_positions[i]
        assert f.lengths[i] <= 128 and f.input_ids[i, 0] == tokenizer.cls_token_id
        if s == 0:
            assert e == 0
            if ex.answers:  # answer outside this window: it must really not fit in the window's context span
                ctx = np.nonzero(f.offsets[i, :, 0] >= 0)[0]
                a0 = ex.answers[0]["answer_start"]
                assert f.offsets[i, ctx[0], 0] > a0 or f.offsets[i, ctx[-1], 1] < a0 + len(ex.answers[0]["text"])
            continue
        labelled += 1
        text = ex.context[f.offsets[i, s, 0]:f.offsets[i, e, 1]]
        gold = ex.answers[0]["text"]
        # the span covers the gold answer and adds at most part of one word on each side
        assert gold.lower() in text.lower() and len(text) - len(gold) <= 12, (text, gold)
        # query truncation: at most 24 question tokens between [CLS] and the first [SEP]
        assert list(f.token_type_ids[i, :26]).index(1) <= 26
    assert labelled > 100


def test_feature_cache_is_reused_and_keyed_by_every_setting(tokenizer, tmp_path, monkeypatch):
    examples = load_examples(str(DEV_JSON), max_samples=50)
    kw = dict(max_seq_length=128, doc_stride=48, max_query_length=24, cache_dir=tmp_path / "c")
    first = build_features(examples, tokenizer, **kw)
    calls = []
    real = squad._tokenize
    monkeypatch.setattr(squad, "_tokenize", lambda *a: calls.append(a) or real(*a))
    again = build_features(examples, tokenizer, **kw)
    assert calls == [] and np.array_equal(first.input_ids, again.input_ids)
    for change in ({"doc_stride": 32}, {"max_seq_length": 96}, {"max_query_length": 16}):
        build_features(examples, tokenizer, **{**kw, **change})
    build_features(examples[:49], tokenizer, **kw)
    assert len(calls) == 4


def test_damaged_feature_cache_is_detected_and_rebuilt(tokenizer, tmp_path, monkeypatch):
    examples = load_examples(str(DEV_JSON), max_samples=30)
    kw = dict(max_seq_length=128, doc_stride=48, max_query_length=24, cache_dir=tmp_path / "c")
    ref = build_features(examples, tokenizer, **kw)
    entry = next((tmp_path / "c").glob("features-*"))
    victim = entry / "input_ids.npy"
    victim.write_bytes(victim.read_bytes()[:-100])  # truncated
    calls = []
    real = squad._tokenize
    monkeypatch.setattr(squad, "_tokenize", lambda *a: calls.append(1) or real(*a))
    got = build_features(examples, tokenizer, **kw)
    assert calls == [1] and np.array_equal(got.input_ids, ref.input_ids)
    # same size, flipped bytes: caught by the checksum
    data = bytearray(victim.read_bytes())
    data[-5] ^= 0xFF
    victim.write_bytes(bytes(data))
    got = build_features(examples, tokenizer, **kw)
    assert calls == [1, 1] and np.array_equal(got.input_ids, ref.input_ids)
