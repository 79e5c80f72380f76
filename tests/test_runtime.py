"""The serving runtime inside the search (issue 15, `[search] runtime`): a trial is scored and timed as it will be
served, records what fp32 PyTorch scored and the difference, and `distilbo export` writes the very file scored.

References: a plain onnxruntime session on the trial's int8 file, scored by the official SQuAD 2.0 rules
(`evaluate_logits`) in the test; the trial's own fp32 curve row; torch.autocast by hand for bf16.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _tiny import tiny_bert, tiny_config, tokenizer
from conftest import DEV_JSON
from distilbo.config import ConfigError, load_config
from distilbo.data.squad import build_features, load_examples
from distilbo.errors import UserError


@pytest.fixture(scope="module")
def int8_trial(tmp_path_factory):
    from distilbo.distill.trial import run_trial

    tmp = tmp_path_factory.mktemp("int8")
    cfg = load_config(tiny_config(tmp, extra='\n[search]\nruntime = "onnx-int8"\n'))
    out = tmp / "trial"
    return cfg, out, run_trial(cfg, out, progress=False)


def test_onnx_int8_trial_records_int8_accuracy_and_latency(int8_trial):
    import onnxruntime as ort

    from distilbo.evaluate import evaluate_logits

    cfg, out, metrics = int8_trial
    assert metrics["runtime"] == "onnx-int8"
    int8_file = out / "model" / "model-int8.onnx"
    assert int8_file.is_file() and (out / "model" / "model.onnx").is_file()
    # independent recount: a fresh onnxruntime session on the trial's int8 file, batch 1, every dev window
    d = cfg.data
    examples = load_examples(cfg.path(d.dev_file), max_samples=d.max_eval_samples)
    feats = build_features(examples, tokenizer(), max_seq_length=d.max_seq_length, doc_stride=d.doc_stride,
                           max_query_length=d.max_query_length)
    session = ort.InferenceSession(str(int8_file), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    start = np.zeros(feats.input_ids.shape, np.float32)
    end = np.zeros_like(start)
    for i in range(len(feats)):
        n = int(feats.lengths[i])
        feed = {"input_ids": feats.input_ids[i:i + 1, :n].astype(np.int64),
                "attention_mask": np.ones((1, n), np.int64)}
        if "token_type_ids" in names:
            feed["token_type_ids"] = feats.token_type_ids[i:i + 1, :n].astype(np.int64)
        s, e = session.run(["start_logits", "end_logits"], feed)
        start[i, :n], end[i, :n] = s[0], e[0]
    ref = evaluate_logits(examples, feats, start, end, version_2_with_negative=d.version_2_with_negative,
                          n_best_size=d.n_best_size, max_answer_length=d.max_answer_length,
                          null_score_diff_threshold=d.null_score_diff_threshold)
    for key in ("exact", "f1", "HasAns_forced_f1"):
        assert metrics[key] == pytest.approx(ref.metrics[key], abs=1e-6), key
    assert json.loads((out / "predictions.json").read_text()) == ref.answers  # the int8 model's answers
    # the fp32 PyTorch scores are the final dev row of the trial's own curve, and the loss is their difference
    rows = [json.loads(x) for x in (out / "curves.jsonl").read_text().splitlines()]
    last = [r for r in rows if "exact" in r][-1]
    for key in ("exact", "f1", "HasAns_forced_f1"):
        assert metrics[f"fp32_{key}"] == pytest.approx(last[key])
        assert metrics[f"quantization_loss_{key}"] == pytest.approx(last[key] - metrics[key])
    assert metrics["latency_ms"] > 0 and metrics["fp32_latency_ms"] > 0
    assert metrics["latency_ms"] != metrics["fp32_latency_ms"]  # timed again, in onnxruntime


def test_export_of_an_int8_trial_writes_the_file_it_was_scored_with(int8_trial, tmp_path):
    from distilbo.export import export_trial_dir

    cfg, out, _ = int8_trial
    dst = export_trial_dir(out, tmp_path / "exp", cfg=cfg, quantize="int8")
    assert (dst / "model-int8.onnx").read_bytes() == (out / "model" / "model-int8.onnx").read_bytes()
    q = json.loads((dst / "quantized_metrics.json").read_text())
    assert q["int8"]["exact"] == pytest.approx(json.loads((out / "metrics.json").read_text())["exact"], abs=1e-6)
    # without --quantize the trial's runtime files still come along with the Hugging Face folder
    plain = export_trial_dir(out, tmp_path / "plain", cfg=cfg)
    assert (plain / "model-int8.onnx").is_file() and (plain / "config.json").is_file()


def test_bf16_runtime_serves_the_autocast_model(tmp_path):
    from distilbo.evaluate import load_qa_model
    from distilbo.serve import serve

    model = load_qa_model(str(tiny_bert(tmp_path / "m", qa=True, seed=5)))
    feats = build_features(load_examples(str(DEV_JSON), max_samples=6), tokenizer(), max_seq_length=96,
                           doc_stride=32, max_query_length=24)
    served = serve(model, "pytorch-bf16", folder=tmp_path / "f", example=feats)
    start, _ = served.logits(feats, batch_size=len(feats))
    n = int(feats.lengths[0])
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = model(input_ids=torch.as_tensor(feats.input_ids[:1, :n], dtype=torch.long),
                    token_type_ids=torch.as_tensor(feats.token_type_ids[:1, :n], dtype=torch.long)).start_logits
    fp32, _ = serve(model, "pytorch", folder=tmp_path / "f", example=feats).logits(feats, batch_size=len(feats))
    np.testing.assert_allclose(start[0, :n], ref[0].float().numpy(), atol=0.1)
    assert not np.array_equal(start[0, :n], fp32[0, :n])  # bf16, not fp32 under another name
    assert served.latency(feats, batch_size=2, repeats=2)["runtime"] == "pytorch-bf16"


def test_shape_latency_is_cached_per_runtime(tmp_path):
    from distilbo.serve import shape_latency_ms
    from distilbo.models.student import StudentSpec, random_student
    from transformers import AutoConfig

    init_config = AutoConfig.from_pretrained(tiny_bert(tmp_path / "t", qa=True))
    spec = StudentSpec(n_layers=1, n_heads=2, dim=32, hidden_dim=64, architecture="bert")
    built = []

    def build():
        built.append(1)
        return random_student(spec, init_config)

    kw = dict(key={"shape": 1}, lengths=[20, 12], vocab_size=init_config.vocab_size, repeats=3, cache_dir=tmp_path / "c")
    a = shape_latency_ms(build, **kw)
    b = shape_latency_ms(build, runtime="onnx-int8", **kw)
    shape_latency_ms(build, runtime="onnx-int8", **kw)
    assert len(built) == 2 and a["latency_ms"] > 0 and b["latency_ms"] > 0  # one timing per runtime, then cached


def test_unknown_runtime_and_missing_extra_are_one_line_errors(tmp_path, monkeypatch):
    import importlib.util

    from distilbo.serve import require_runtime

    with pytest.raises(ConfigError, match=r"runtime.*pytorch, pytorch-bf16, onnx or onnx-int8"):
        load_config(tiny_config(tmp_path, extra='\n[search]\nruntime = "tensorrt"\n'))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(UserError) as e:
        require_runtime("onnx-int8")
    assert "\n" not in str(e.value) and "[search] runtime = 'onnx-int8' needs onnxruntime" in str(e.value)
    assert "pip install 'distilbo[export]'" in str(e.value)
    require_runtime("pytorch-bf16")  # needs nothing extra
