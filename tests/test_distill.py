"""One distillation trial end to end on tiny models and real questions; the teacher-logit cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _tiny import tiny_bert, tiny_config, tokenizer
from conftest import TRAIN_JSON
from distilbo.config import load_config
from distilbo.data.squad import build_features, load_examples
from distilbo.distill import teacher_cache
from distilbo.distill.trial import check_tokenizers, estimate_metrics, run_trial
from distilbo.errors import UserError
from distilbo.evaluate import load_qa_model


def test_cached_teacher_logits_equal_a_fresh_teacher_forward(tmp_path):
    folder = tiny_bert(tmp_path / "t", qa=True, seed=3)
    teacher = load_qa_model(str(folder))
    feats = build_features(load_examples(str(TRAIN_JSON), max_samples=20), tokenizer(), max_seq_length=96,
                           doc_stride=32, max_query_length=24)
    key = teacher_cache.model_fingerprint(str(folder))
    s1, e1 = teacher_cache.teacher_logits(teacher, feats, teacher_key=key, cache_dir=tmp_path / "c",
                                          device=torch.device("cpu"), batch_size=7)
    assert isinstance(s1, np.memmap) and s1.dtype == np.float16
    # independent reference: the teacher on each feature alone, unpadded
    with torch.inference_mode():
        for i in range(len(feats)):
            n = int(feats.lengths[i])
            out = teacher(input_ids=torch.as_tensor(feats.input_ids[i:i + 1, :n], dtype=torch.long),
                          token_type_ids=torch.as_tensor(feats.token_type_ids[i:i + 1, :n], dtype=torch.long))
            np.testing.assert_allclose(s1[i, :n], out.start_logits[0].numpy(), atol=2e-3, rtol=2e-3)
            np.testing.assert_allclose(e1[i, :n], out.end_logits[0].numpy(), atol=2e-3, rtol=2e-3)
            assert not s1[i, n:].any()
    # second call: served from the cache, no teacher needed
    s2, _ = teacher_cache.teacher_logits(lambda: pytest.fail("teacher loaded on a cache hit"), feats, teacher_key=key,
                                         cache_dir=tmp_path / "c", device=torch.device("cpu"))
    assert np.array_equal(s1, s2)
    # a different teacher gets its own entry
    other = tiny_bert(tmp_path / "t2", qa=True, seed=4)
    assert teacher_cache.model_fingerprint(str(other)) != key


def test_damaged_teacher_cache_is_rebuilt(tmp_path):
    folder = tiny_bert(tmp_path / "t", qa=True, seed=3)
    feats = build_features(load_examples(str(TRAIN_JSON), max_samples=10), tokenizer(), max_seq_length=96,
                           doc_stride=32, max_query_length=24)
    key = teacher_cache.model_fingerprint(str(folder))
    kw = dict(teacher_key=key, cache_dir=tmp_path / "c", device=torch.device("cpu"))
    ref, _ = teacher_cache.teacher_logits(load_qa_model(str(folder)), feats, **kw)
    ref = np.array(ref)
    entry = next((tmp_path / "c").glob("teacher-logits-*"))
    (entry / "start.npy").write_bytes((entry / "start.npy").read_bytes()[:200])
    loads = []
    got, _ = teacher_cache.teacher_logits(lambda: loads.append(1) or load_qa_model(str(folder)), feats, **kw)
    assert loads == [1] and np.array_equal(np.array(got), ref)


def test_tokenizer_check():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = tokenizer()
    assert check_tokenizers(tok, tokenizer(), teacher="t", student="s") is True
    # same vocabulary, different normalization (cased): the teacher must run in the loop
    cased = tokenizer()
    cased.backend_tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False)
    assert check_tokenizers(tok, cased, teacher="t", student="s") is False
    # another vocabulary: an error, since span logits cannot be compared position by position
    small = Tokenizer(models.WordPiece({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4}, unk_token="[UNK]"))
    small.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    with pytest.raises(UserError, match="tokenizer mismatch"):
        check_tokenizers(tok, PreTrainedTokenizerFast(tokenizer_object=small), teacher="t", student="s")


def test_tiny_trial_end_to_end_lowers_the_loss_and_writes_every_file(tmp_path):
    cfg = load_config(tiny_config(tmp_path, train_samples=24))
    out = tmp_path / "trial"
    metrics = run_trial(cfg, out, progress=False)
    for name in ("metrics.json", "curves.jsonl", "predictions.json", "na_probs.json", "trial_config.json",
                 "model/config.json", "model/model.safetensors", "model/tokenizer.json"):
        assert (out / name).is_file(), name
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["exact"] == metrics["exact"] and on_disk["num_parameters"] == metrics["num_parameters"]
    for key in ("exact", "f1", "HasAns_exact", "NoAns_exact", "best_exact", "HasAns_forced_exact", "HasAns_forced_f1",
                "num_parameters", "num_non_embedding_parameters", "latency_ms", "peak_memory_mb", "train_seconds",
                "train_features_per_second"):
        assert key in metrics, key
    # the measured size equals the closed form known before training
    assert metrics["num_parameters"] == estimate_metrics(cfg)["num_parameters"]
    rows = [json.loads(line) for line in (out / "curves.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert len(losses) >= 6 and np.mean(losses[-3:]) < np.mean(losses[:3])
    # one dev row per epoch (the tiny config trains 2), the last one the final model's scores
    evals = [r for r in rows if "exact" in r]
    assert [r["epoch"] for r in evals] == [1.0, 2.0]
    assert evals[-1]["exact"] == metrics["exact"] and evals[-1]["HasAns_forced_f1"] == metrics["HasAns_forced_f1"]
    preds = json.loads((out / "predictions.json").read_text())
    assert len(preds) == 16
    # the saved student is a stock DistilBERT QA model
    assert json.loads((out / "model/config.json").read_text())["architectures"] == ["DistilBertForQuestionAnswering"]


def test_teacher_in_the_loop_fallback_gives_the_same_soft_targets(tmp_path):
    """Running the teacher in the loop (no cache) must train exactly like the cached path (fp16 aside)."""
    from distilbo.distill.train import distill
    from distilbo.distill.trial import student_spec
    from distilbo.models.student import build_student

    cfg = load_config(tiny_config(tmp_path), {"num_train_epochs": "1", "alpha_ce": "1.0", "dropout": "0",
                                              "attention_dropout": "0", "qa_dropout": "0", "precision": "fp32"})
    teacher = load_qa_model(cfg.path(cfg.models.teacher))
    feats = build_features(load_examples(str(TRAIN_JSON), max_samples=16), tokenizer(), max_seq_length=96,
                           doc_stride=32, max_query_length=24)
    ts, te = teacher_cache.teacher_logits(teacher, feats, teacher_key="k", cache_dir=None, device=torch.device("cpu"))
    spec, _ = student_spec(cfg)
    a = distill(build_student(spec, cfg.path(cfg.models.student_init)), feats, cfg=cfg, device=torch.device("cpu"),
                teacher_start=ts.astype(np.float32), teacher_end=te.astype(np.float32), progress=False)
    b = distill(build_student(spec, cfg.path(cfg.models.student_init)), feats, cfg=cfg, device=torch.device("cpu"),
                teacher_model=teacher, progress=False)
    assert [r["soft"] for r in a.curves] == pytest.approx([r["soft"] for r in b.curves], rel=1e-4, abs=1e-6)


def _squad_file(path, examples) -> str:
    """A SQuAD JSON file of `examples` (one article per title, one paragraph per question)."""
    arts: dict[str, list] = {}
    for e in examples:
        arts.setdefault(e.title, []).append({"context": e.context, "qas": [
            {"id": e.id, "question": e.question, "answers": e.answers, "is_impossible": not e.answers}]})
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": t, "paragraphs": p} for t, p in arts.items()]}))
    return str(path)


def test_the_test_split_is_scored_at_the_dev_threshold_and_changes_nothing_else(tmp_path):
    """`run_trial_with_test`: the held-out split is scored with the threshold set on dev (recounted from the saved
    model), and scrambling its labels changes no other number of the trial (the threshold included)."""
    from conftest import DEV_JSON
    from distilbo.distill.trial import run_trial_with_test
    from distilbo.evaluate import model_logits
    from distilbo.qa.calibrate import apply_threshold
    from distilbo.qa.postprocess import postprocess
    from distilbo.qa.squad_v2 import evaluate_examples

    held = [e for e in load_examples(str(DEV_JSON)) if e.title == "Imperialism"][:30]
    real = _squad_file(tmp_path / "test.json", held)
    # scrambled labels: every answerable question made unanswerable, every unanswerable one answered by the
    # paragraph's first word
    scrambled = _squad_file(tmp_path / "scrambled.json", [
        type(e)(**{**e.__dict__, "answers": [] if e.answers else [{"text": e.context.split()[0], "answer_start": 0}]})
        for e in held])
    cfg = load_config(tiny_config(tmp_path, train_samples=24))
    a = run_trial_with_test(cfg.with_overrides({"test_file": real}), tmp_path / "a", progress=False)
    b = run_trial_with_test(cfg.with_overrides({"test_file": scrambled}), tmp_path / "b", progress=False)
    timings = ("seconds", "_ms", "_per_second", "_mb", "_ms_max", "_ms_min", "_ms_median")
    scores = [k for k, v in a.items() if isinstance(v, float) and not k.startswith("test_")
              and not k.endswith(timings) and "latency" not in k]
    assert "null_threshold" in scores and "calibrated_f1" in scores
    assert {k: a[k] for k in scores} == {k: b[k] for k in scores}
    assert a["test_total"] == b["test_total"] == 30 and a["test_calibrated_f1"] != b["test_calibrated_f1"]
    # recount: the saved student's answers on the test questions at the dev threshold
    model = load_qa_model(str(tmp_path / "a" / "model"))
    from distilbo.evaluate import load_tokenizer

    feats = build_features(held, load_tokenizer(str(tmp_path / "a" / "model")), max_seq_length=96, doc_stride=32,
                           max_query_length=24, cache_dir=None)
    start, end = model_logits(model, feats, batch_size=16)
    p = postprocess(held, feats, start, end)
    recount = evaluate_examples(held, apply_threshold(p.forced, p.margins, a["null_threshold"]))
    assert a["test_calibrated_f1"] == pytest.approx(recount["f1"]) and a["test_calibrated_exact"] == pytest.approx(recount["exact"])
    assert a["hardware"] and a["train_precision"] in ("bf16", "fp32") and a["seed"] == cfg.run.seed


def test_a_calibration_split_sets_the_shipped_threshold_and_dev_is_scored_at_it(tmp_path):
    """`[data] calibration_file`: the trial's null_threshold is the best-F1 margin on the calibration questions
    (recomputed here from the saved student), the model ships it, and the dev scores are the official ones at it;
    dev's own best-F1 threshold stays on record as dev_null_threshold."""
    from conftest import DEV_JSON
    from distilbo.evaluate import NULL_THRESHOLD_KEY, load_tokenizer, model_logits
    from distilbo.data.splits import dev_examples
    from distilbo.qa.calibrate import apply_threshold, calibrate
    from distilbo.qa.postprocess import postprocess
    from distilbo.qa.squad_v2 import evaluate_examples

    calib = [e for e in load_examples(str(DEV_JSON)) if e.title == "Imperialism"][:40]
    cfg = load_config(tiny_config(tmp_path, train_samples=24)).with_overrides(
        {"calibration_file": _squad_file(tmp_path / "calibration.json", calib)})
    m = run_trial(cfg, tmp_path / "t", progress=False)
    model, tok = load_qa_model(str(tmp_path / "t" / "model")), load_tokenizer(str(tmp_path / "t" / "model"))

    def preds(examples):
        feats = build_features(examples, tok, max_seq_length=96, doc_stride=32, max_query_length=24, cache_dir=None)
        return postprocess(examples, feats, *model_logits(model, feats, batch_size=16))

    on_cal, dev = preds(calib), dev_examples(cfg)
    on_dev = preds(dev)
    assert m["calibration_questions"] == 40
    assert m["null_threshold"] == pytest.approx(calibrate(calib, on_cal.forced, on_cal.margins).threshold, abs=1e-4)
    assert m["dev_null_threshold"] == pytest.approx(calibrate(dev, on_dev.forced, on_dev.margins).threshold, abs=1e-4)
    recount = evaluate_examples(dev, apply_threshold(on_dev.forced, on_dev.margins, m["null_threshold"]))
    assert m["calibrated_f1"] == pytest.approx(recount["f1"]) and m["calibrated_exact"] == pytest.approx(recount["exact"])
    assert getattr(model.config, NULL_THRESHOLD_KEY) == pytest.approx(m["null_threshold"])


def test_a_calibration_split_that_shares_a_paragraph_is_refused_in_one_line(tmp_path):
    from distilbo.distill.trial import check_inputs
    from distilbo.errors import DataError

    cfg = load_config(tiny_config(tmp_path, train_samples=24))
    overlap = _squad_file(tmp_path / "calibration.json", load_examples(str(TRAIN_JSON))[:5])
    with pytest.raises(DataError) as err:
        check_inputs(cfg.with_overrides({"calibration_file": overlap}))
    msg = str(err.value)
    assert "calibration_file" in msg and "the training questions" in msg and "\n" not in msg
