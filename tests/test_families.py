"""Every supported teacher family (BERT, RoBERTa, XLM-RoBERTa, ELECTRA, DeBERTa-v2/v3, ALBERT, DistilBERT) end to end
with tiny random models and tokenizers of the family's own type trained in the test (tests/_families.py):

* a full-shape student seeded from the teacher reproduces the teacher's logits on real windows;
* answer offsets map back to the gold answer text for every tokenizer type (WordPiece, byte-level BPE, Unigram);
* a 2-layer student distills a few steps with a falling loss, exports, reloads with plain
  AutoModelForQuestionAnswering and its ONNX file scores like PyTorch;
* features a family cannot have are one-line UserErrors (vocabulary trimming of BPE / SentencePiece tokenizers,
  factorized tables outside BERT, a student of another family).

Run: python -m pytest tests/test_families.py -q
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from _families import FAMILY_NAMES, TOKENIZER_TYPE, family_config_file, family_tokenizer, tiny_family
from conftest import DEV_JSON, TRAIN_JSON
from distilbo.config import Config, load_config
from distilbo.data.squad import build_features, load_examples
from distilbo.errors import UserError
from distilbo.evaluate import load_qa_model, load_tokenizer, model_logits
from distilbo.models.student import FAMILIES, StudentSpec, init_shape, resolve_architecture, seed_student
from distilbo.qa.postprocess import postprocess

LENGTHS = dict(max_seq_length=96, doc_stride=32, max_query_length=24)
STUDENT_CLASS = {"bert": "BertForQuestionAnswering", "roberta": "RobertaForQuestionAnswering",
                 "xlm-roberta": "XLMRobertaForQuestionAnswering", "electra": "ElectraForQuestionAnswering",
                 "deberta-v2": "DebertaV2ForQuestionAnswering", "albert": "AlbertForQuestionAnswering",
                 "distilbert": "DistilBertForQuestionAnswering"}


def _max_diff(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], lengths: np.ndarray) -> float:
    real = np.arange(a[0].shape[1])[None, :] < lengths[:, None]
    return max(float(np.abs(a[0] - b[0])[real].max()), float(np.abs(a[1] - b[1])[real].max()))


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_full_shape_student_reproduces_its_teacher(tmp_path, family):
    teacher_dir = tiny_family(tmp_path / "teacher", family, seed=3)
    teacher, tok = load_qa_model(str(teacher_dir)), load_tokenizer(str(teacher_dir))
    shape = init_shape(teacher.config)
    arch = resolve_architecture("auto", teacher.config)
    assert arch == family
    spec = StudentSpec(**shape, architecture=arch)
    student, seeding = seed_student(spec, str(teacher_dir))
    assert type(student).__name__ == STUDENT_CLASS[family] and seeding["fresh_tensors"] == []
    feats = build_features(load_examples(str(DEV_JSON), max_samples=6), tok, cache_dir=None, **LENGTHS)
    diff = _max_diff(model_logits(teacher, feats, batch_size=4), model_logits(student, feats, batch_size=4),
                     feats.lengths)
    assert diff <= 1e-4, f"{family}: full-shape student differs from its teacher by {diff:.3g}"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_answer_offsets_map_back_to_the_gold_text(family):
    """Windows labelled by their offsets, read back through postprocess (one-hot logits on the labels), give
    the gold answer: the same characters, or the gold text inside whole tokens when the answer splits a token."""
    tok = family_tokenizer(family)
    examples = [e for e in load_examples(str(TRAIN_JSON), max_samples=60) if e.answers]
    feats = build_features(examples, tok, cache_dir=None, **LENGTHS)
    start = np.zeros(feats.input_ids.shape, np.float32)
    end = np.zeros(feats.input_ids.shape, np.float32)
    rows = np.arange(len(feats))
    start[rows, feats.start_positions] = 10.0
    end[rows, feats.end_positions] = 10.0
    preds = postprocess(examples, feats, start, end, n_best_size=5, max_answer_length=30)
    labelled = {int(feats.example_index[i]) for i in rows if feats.start_positions[i] > 0}
    assert len(labelled) >= 0.8 * len(examples), f"{family}: few answers land in a window"
    exact = 0
    for k in labelled:
        gold, got = examples[k].answers[0]["text"], preds.forced[examples[k].id]
        assert gold in got and got == got.strip(), f"{family} ({TOKENIZER_TYPE[family]}): {gold!r} -> {got!r}"
        assert len(got) - len(gold) <= 12, f"{family}: {gold!r} -> {got!r} is too long"
        exact += got == gold
    assert exact >= 0.9 * len(labelled), f"{family}: only {exact} of {len(labelled)} answers read back exactly"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_two_layer_student_distills_exports_and_serves_in_onnx(tmp_path, family):
    pytest.importorskip("onnxscript")
    from transformers import AutoModelForQuestionAnswering

    from distilbo.distill.trial import run_trial
    from distilbo.export import export_trial_dir, onnx_logits, onnx_session

    cfg = load_config(family_config_file(tmp_path, family))
    metrics = run_trial(cfg, tmp_path / "trial", progress=False)
    assert metrics["n_layers"] == 2 and metrics["teacher_logits_cached"]
    losses = [r["loss"] for r in map(json.loads, (tmp_path / "trial" / "curves.jsonl").read_text().splitlines())
              if "loss" in r]
    assert len(losses) >= 6 and np.mean(losses[-3:]) < np.mean(losses[:3]), f"{family}: loss {losses}"

    out = export_trial_dir(tmp_path / "trial", tmp_path / "export", cfg=cfg, onnx=True)
    reloaded = AutoModelForQuestionAnswering.from_pretrained(str(out)).eval()
    assert type(reloaded).__name__ == STUDENT_CLASS[family] and reloaded.config.num_hidden_layers == 2 or \
        family == "distilbert" and reloaded.config.n_layers == 2
    tok = load_tokenizer(str(out))
    feats = build_features(load_examples(str(DEV_JSON), max_samples=5), tok, cache_dir=None, **LENGTHS)
    torch_logits = model_logits(reloaded, feats, batch_size=4)
    session = onnx_session(out / "model.onnx")
    takes_types = family in ("bert", "electra", "albert")  # RoBERTa / XLM-R / DeBERTa-v3 have one type or none
    assert ("token_type_ids" in [i.name for i in session.get_inputs()]) == takes_types
    assert _max_diff(torch_logits, onnx_logits(session, feats, batch_size=4), feats.lengths) < 1e-4
    readme = (out / "README.md").read_text()
    assert f"{'An' if FAMILIES[family][0] in 'AEIOU' else 'A'} {FAMILIES[family]} question-answering student" in readme
    assert f"`{STUDENT_CLASS[family]}`" in readme
    assert ('token_type_ids=enc["token_type_ids"]' in readme) == takes_types


@pytest.mark.parametrize("family", ["roberta", "xlm-roberta", "albert", "deberta-v2"])
def test_vocabulary_trimming_of_a_non_wordpiece_tokenizer_is_a_one_line_error(tmp_path, family):
    from distilbo.distill.trial import check_inputs

    cfg = load_config(family_config_file(tmp_path, family), {"vocab_size": "300"})
    with pytest.raises(UserError, match=r"vocab_size.*WordPiece") as e:
        check_inputs(cfg)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("family", ["roberta", "electra", "deberta-v2", "albert"])
def test_features_a_family_cannot_have_are_one_line_errors(tmp_path, family):
    from distilbo.distill.trial import student_spec

    cfg = load_config(family_config_file(tmp_path, family), {"embedding_size": "8"})
    with pytest.raises(UserError, match="embedding_size = 8 < dim needs .*factorized tables are built for BERT"):
        student_spec(cfg)
    for other in ("bert", "distilbert"):
        cfg = load_config(family_config_file(tmp_path, family), {"student_architecture": other})
        with pytest.raises(UserError, match=re.escape(f"seeds only a {FAMILIES[family]} student")):
            student_spec(cfg)


SEARCH = """
[search]
sampler = "tpe"
n_trials = 3
n_startup_trials = 2
objectives = [{ metric = "f1", direction = "maximize" }, { metric = "num_parameters", direction = "minimize" }]

[search.space]
n_layers = { type = "int", low = 1, high = 3 }
n_heads = { type = "int", low = 1, high = 4 }
learning_rate = { type = "float", low = 1e-4, high = 1e-2, log = true }
"""


def test_short_search_with_a_roberta_teacher_writes_its_report(tmp_path):
    """A real search (3 trials, child processes) with a byte-level BPE RoBERTa teacher built here, then its report."""
    from distilbo.report.command import report
    from distilbo.search import records, run_search

    cfg = load_config(family_config_file(tmp_path, "roberta", extra=SEARCH, train_samples=8, eval_samples=4),
                      {"num_train_epochs": "1", "n_heads": "4"})
    recs = records(run_search(cfg, progress=False))
    assert len(recs) == 3 and all(r["status"] == "ok" for r in recs), [r.get("failure") for r in recs]
    for r in recs:  # each trial's student is a RoBERTa of its sampled depth, its size the closed-form estimate
        folder = tmp_path / "run" / "tiny-roberta" / "trials" / f"{r['number']:04d}"
        config = json.loads((folder / "trial_config.json").read_text())
        assert r["metrics"]["n_layers"] == config["n_layers"]
        if (folder / "model").is_dir():
            saved = json.loads((folder / "model" / "config.json").read_text())
            assert saved["model_type"] == "roberta" and saved["num_hidden_layers"] == config["n_layers"]
    paths = report(cfg)
    html = paths["html"].read_text()
    assert paths["html"].is_file() and "tiny-roberta" in html and paths["csv"].read_text().count("\n") >= 4
