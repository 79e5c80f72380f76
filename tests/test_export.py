"""Tests of distilbo/export.py: the exported folder loads and answers without distilbo, ONNX and int8 files
reproduce / re-score the model, `answer` matches evaluation, the study lookup, and the one-line errors.

    python -m pytest tests/test_export.py -q            # tiny random models, real tokenizer and dev questions
    python -m pytest tests/test_export.py -q -m slow    # also the real-teacher smoke test

The references are independent of the code under test: evaluation answers come from `evaluate.model_logits` +
`qa.postprocess` on features built here; ONNX logits are fed window by window with onnxruntime directly; the
model card's snippet runs in a fresh interpreter that has never imported distilbo.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import DEV_JSON, TEACHER
from distilbo.config import Config
from distilbo.data.squad import build_features, load_examples
from distilbo.errors import UserError
from distilbo.evaluate import evaluate_logits, evaluate_model, model_logits
from distilbo.export import ExportCheckError, answer, export, export_trial_dir, verify_onnx
from distilbo.qa.calibrate import apply_threshold
from distilbo.qa.postprocess import postprocess

pytestmark = pytest.mark.skipif(not (TEACHER.is_dir() and DEV_JSON.is_file()), reason="shared teacher/data missing")

N_QUESTIONS = 20
LENGTHS = {"max_seq_length": 128, "doc_stride": 64, "max_query_length": 64}  # several windows per question
PASSWORD = "hunter2-secret"


# ----------------------------------------------------------------------------------------------- fixtures
def tiny_model(vocab_size: int, *, seed: int = 0, bert: bool = False) -> torch.nn.Module:
    from transformers import BertConfig, BertForQuestionAnswering, DistilBertConfig, DistilBertForQuestionAnswering

    torch.manual_seed(seed)
    if bert:
        return BertForQuestionAnswering(BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                                                   num_attention_heads=2, intermediate_size=64)).eval()
    return DistilBertForQuestionAnswering(DistilBertConfig(vocab_size=vocab_size, dim=32, n_layers=2, n_heads=2,
                                                           hidden_dim=64)).eval()


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TEACHER))  # the tokenizer only


@pytest.fixture(scope="module")
def examples():
    return load_examples(str(DEV_JSON), max_samples=N_QUESTIONS)


@pytest.fixture(scope="module")
def null_threshold(model, tokenizer, examples) -> float:
    """A null_score_diff_threshold in the widest gap between middle null margins, so about half the questions get "" (a
    random model alone nearly always prefers some span over [CLS])."""
    feats = build_features(examples, tokenizer, cache_dir=None, **LENGTHS)
    start, end = model_logits(model, feats, batch_size=8)
    p = np.array(list(postprocess(examples, feats, start, end).na_probs.values()))
    margins = np.sort(np.log(p / (1 - p)))  # null score - best span score
    lo, hi = len(margins) // 4, 3 * len(margins) // 4
    k = lo + int(np.argmax(np.diff(margins[lo:hi + 1])))  # the widest gap in the middle half
    assert margins[k + 1] - margins[k] > 1e-4  # far above float noise, so no answer flips on rounding
    return float((margins[k] + margins[k + 1]) / 2)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory, null_threshold) -> Config:
    cache = tmp_path_factory.mktemp("cache")
    return Config().with_overrides({
        "dev_file": str(DEV_JSON), "max_eval_samples": N_QUESTIONS, **LENGTHS, "cache_dir": str(cache),
        "teacher": str(TEACHER), "student_init": str(TEACHER), "latency_repeats": 3,
        "null_score_diff_threshold": null_threshold,
        "storage": f"postgresql://bob:{PASSWORD}@db.example/distilbo"})


def make_trial_dir(path: Path, model: torch.nn.Module, tokenizer, cfg: Config, metrics: dict) -> Path:
    """A trial folder as `distill.trial.run_trial` writes it (the parts export reads)."""
    model.save_pretrained(path / "model")
    tokenizer.save_pretrained(path / "model")
    (path / "trial_config.json").write_text(json.dumps(cfg.flat()))
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_model(len(tokenizer))


@pytest.fixture(scope="module")
def reference(model, tokenizer, examples, null_threshold):
    """What distilbo's evaluation answers with the tiny model: features, logits, Predictions, metrics."""
    feats = build_features(examples, tokenizer, cache_dir=None, **LENGTHS)
    ev = evaluate_model(model, examples, feats, batch_size=8, null_score_diff_threshold=null_threshold)
    start, end = model_logits(model, feats, batch_size=8)
    preds = postprocess(examples, feats, start, end, n_best_size=20, max_answer_length=30,
                        null_score_diff_threshold=null_threshold, version_2_with_negative=True)
    assert preds.answers == ev.answers
    return {"features": feats, "start": start, "end": end, "preds": preds, "metrics": ev.metrics}


@pytest.fixture(scope="module")
def trial_dir(tmp_path_factory, model, tokenizer, cfg, reference):
    return make_trial_dir(tmp_path_factory.mktemp("trial"), model, tokenizer, cfg, reference["metrics"])


@pytest.fixture(scope="module")
def exported(tmp_path_factory, trial_dir, cfg) -> Path:
    out = tmp_path_factory.mktemp("exports") / "tiny-student"
    assert export_trial_dir(trial_dir, out, cfg=cfg, onnx=True, quantize="int8") == out
    return out


def card_snippet(readme: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


# ----------------------------------------------------------------------------------------------- the folder
def test_reference_is_not_trivial(reference, examples):
    """The comparisons below mean something only if the tiny model gives both real spans and null answers
    and several questions have more than one window."""
    answers = reference["preds"].answers
    assert 3 <= sum(a != "" for a in answers.values()) <= N_QUESTIONS - 3
    assert all(reference["preds"].forced[e.id] for e in examples)
    windows = np.bincount(reference["features"].example_index, minlength=N_QUESTIONS)
    assert (windows > 1).sum() >= 5


def test_export_folder_and_card(exported, trial_dir, reference, cfg):
    names = {p.name for p in exported.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md", "export.json", "metrics.json",
            "trial_config.json", "model.onnx", "model-int8.onnx", "quantized_metrics.json"} <= names
    assert (exported / "model.safetensors").read_bytes() == (trial_dir / "model" / "model.safetensors").read_bytes()
    readme = (exported / "README.md").read_text()
    front = readme.split("---\n")[1]
    assert "library_name: transformers\n" in front and "pipeline_tag: question-answering\n" in front
    assert "datasets:\n- squad_v2\n" in front and "- distillation\n" in front
    exact = reference["metrics"]["exact"]
    assert f"| Exact match (SQuAD 2.0) | {exact:.4g} |" in readme
    assert "| `learning_rate` | 5e-05 |" in readme and "| `n_layers` | default |" in readme
    # models are named by what a reader can find: the folder's name and its own recorded dev scores, not a path
    assert f"teacher: `{TEACHER.name}` (a local model folder; its own dev scores: exact " in readme
    assert f"`{TEACHER}`" not in readme and "../" not in readme
    location = json.loads((exported / "export.json").read_text())["models"]["teacher"]["location"]
    assert Path(location).resolve() == TEACHER.resolve()  # the same folder, however ../shared is reached
    assert "distilbo answer --model" in readme
    q = json.loads((exported / "quantized_metrics.json").read_text())
    assert f"| int8 | `model-int8.onnx` | {q['int8']['file_mb']:.1f} | {q['int8']['exact']:.2f} |" in readme
    diff = json.loads((exported / "export.json").read_text())["onnx"]["max_abs_diff"]
    assert f"to within {diff:.2g}" in readme and diff < 1e-4


def test_no_password_anywhere(exported, trial_dir):
    assert PASSWORD in (trial_dir / "trial_config.json").read_text()  # the secret is in the input ...
    for p in exported.iterdir():  # ... and in no exported file
        assert PASSWORD.encode() not in p.read_bytes(), p.name
    assert "bob:***@db.example" in (exported / "trial_config.json").read_text()


def test_card_snippet_in_fresh_interpreter_matches_evaluation(exported, examples, reference, tmp_path):
    """The card's code, run where only transformers + torch are imported, answers like distilbo's evaluation:
    same text with the null rule, same best span without it."""
    snippet = card_snippet((exported / "README.md").read_text())
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps([[e.id, e.question, e.context] for e in examples]))
    script = f"""
import json, sys
import torch
torch.set_num_threads(1)
namespace = {{}}
exec(compile({snippet!r}, "README.md", "exec"), namespace)
out = {{}}
for qid, question, context in json.load(open({str(questions)!r})):
    text, best, null = namespace["answer"](question, context)
    out[qid] = {{"answer": text, "best": best, "null": null}}
assert "distilbo" not in sys.modules, "the snippet must not need distilbo"
print("RESULT " + json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    preds = reference["preds"]
    # the snippet applies the threshold the export ships in config.json: the trial's best-F1 one on dev
    shipped = json.loads((exported / "config.json").read_text())["null_score_diff_threshold"]
    assert shipped == reference["metrics"]["null_threshold"]
    assert {q: r["answer"] for q, r in got.items()} == apply_threshold(preds.forced, preds.margins, shipped)
    for e in examples:  # the span with the null answer disabled = the text the snippet found
        r = got[e.id]
        forced_text = r["answer"] if r["answer"] else preds.forced[e.id]
        assert forced_text == preds.forced[e.id]
        margin = r["null"] - r["best"]
        assert 1 / (1 + np.exp(-margin)) == pytest.approx(preds.na_probs[e.id], abs=1e-5)


# ----------------------------------------------------------------------------------------------- ONNX / int8
def _ort_window_logits(path: Path, feats, *, token_types: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) logits from onnxruntime, one window at a time cut to its length: independent of export.py."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    n, width = feats.input_ids.shape
    start, end = np.zeros((n, width), np.float32), np.zeros((n, width), np.float32)
    for w in range(n):
        k = int(feats.lengths[w])
        feed = {"input_ids": feats.input_ids[w:w + 1, :k].astype(np.int64),
                "attention_mask": np.ones((1, k), np.int64)}
        if token_types:
            feed["token_type_ids"] = feats.token_type_ids[w:w + 1, :k].astype(np.int64)
        s, e = sess.run(["start_logits", "end_logits"], feed)
        start[w, :k], end[w, :k] = s[0], e[0]
    return start, end


def test_onnx_matches_pytorch_logits_and_answers(exported, reference, examples, null_threshold):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(exported / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input_ids", "attention_mask"]
    assert [o.name for o in sess.get_outputs()] == ["start_logits", "end_logits"]
    assert all(isinstance(d, str) for i in sess.get_inputs() for d in i.shape)  # dynamic batch and sequence
    feats = reference["features"]
    start, end = _ort_window_logits(exported / "model.onnx", feats)
    real = np.arange(feats.input_ids.shape[1])[None, :] < feats.lengths[:, None]
    assert np.abs(start - reference["start"])[real].max() < 1e-4
    assert np.abs(end - reference["end"])[real].max() < 1e-4
    # a padded batch of all windows at once (another shape) as well
    ids = feats.input_ids.astype(np.int64)
    mask = real.astype(np.int64)
    s, e = sess.run(None, {"input_ids": ids, "attention_mask": mask})
    assert np.abs(s - reference["start"])[real].max() < 1e-4
    preds = postprocess(examples, feats, start, end, null_score_diff_threshold=null_threshold)
    assert preds.answers == reference["preds"].answers and preds.forced == reference["preds"].forced


def test_int8_loads_runs_and_its_metrics_recount(exported, reference, examples, null_threshold):
    import onnx

    ops = {n.op_type for n in onnx.load(str(exported / "model-int8.onnx")).graph.node}
    assert ops & {"DynamicQuantizeLinear", "MatMulInteger", "DynamicQuantizeMatMul"}, ops
    q = json.loads((exported / "quantized_metrics.json").read_text())
    assert q["questions"] == N_QUESTIONS and q["max_seq_length"] == LENGTHS["max_seq_length"]
    assert q["int8"]["file_mb"] < 0.5 * q["fp32"]["file_mb"]
    assert q["int8"]["latency_ms"] > 0 and q["fp32"]["latency_ms"] > 0
    feats = reference["features"]
    start, end = _ort_window_logits(exported / "model-int8.onnx", feats)
    assert np.isfinite(start).all() and np.abs(start - reference["start"]).max() > 0  # really another model
    recount = evaluate_logits(examples, feats, start, end, null_score_diff_threshold=null_threshold).metrics
    assert q["int8"]["exact"] == pytest.approx(recount["exact"])
    assert q["int8"]["f1"] == pytest.approx(recount["f1"])
    assert q["fp32"]["exact"] == pytest.approx(reference["metrics"]["exact"])  # fp32 ONNX = PyTorch
    assert q["exact_change_pts"] == pytest.approx(q["int8"]["exact"] - q["fp32"]["exact"])


def test_bert_onnx_has_token_type_ids_and_matches(tmp_path, tokenizer, cfg):
    """A BERT student without dev data: the check uses the built-in questions; token_type_ids is an input."""
    bert = tiny_model(len(tokenizer), seed=1, bert=True)
    td = make_trial_dir(tmp_path / "trial", bert, tokenizer, cfg, {"exact": 1.0})
    out = export_trial_dir(td, tmp_path / "out", onnx=True)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
    ex = [e for e in load_examples(str(DEV_JSON), max_samples=5)]
    feats = build_features(ex, tokenizer, cache_dir=None, **LENGTHS)
    start, end = _ort_window_logits(out / "model.onnx", feats, token_types=True)
    ref_s, ref_e = model_logits(bert, feats, batch_size=4)
    real = np.arange(feats.input_ids.shape[1])[None, :] < feats.lengths[:, None]
    assert max(np.abs(start - ref_s)[real].max(), np.abs(end - ref_e)[real].max()) < 1e-4
    info = json.loads((out / "export.json").read_text())["onnx"]
    assert info["check_data"] == "built-in sample questions" and info["check_windows"] > info["check_questions"]
    readme = (out / "README.md").read_text()
    assert 'token_type_ids=enc["token_type_ids"]' in card_snippet(readme) and "- bert\n" in readme


def test_verify_onnx_rejects_a_wrong_file(exported, tokenizer, reference, tmp_path):
    wrong = tmp_path / "model.onnx"
    wrong.write_bytes((exported / "model.onnx").read_bytes())
    other = tiny_model(len(tokenizer), seed=7)  # same shape, other weights
    feats = reference["features"].subset(np.arange(6))
    with pytest.raises(ExportCheckError, match="differ from PyTorch"):
        verify_onnx(other, wrong, feats)
    assert not wrong.exists()


# ----------------------------------------------------------------------------------------------- answer()
def test_answer_equals_evaluation(exported, examples, reference, null_threshold):
    preds = reference["preds"]
    windows = np.bincount(reference["features"].example_index, minlength=N_QUESTIONS)
    picks = [next(i for i, e in enumerate(examples) if preds.answers[e.id] and windows[i] > 1),
             next(i for i, e in enumerate(examples) if not preds.answers[e.id])]
    for i in picks:
        e = examples[i]
        got = answer(model=str(exported), question=e.question, context=e.context, **LENGTHS,
                     null_score_diff_threshold=null_threshold)
        assert got["answer"] == preds.answers[e.id]
        assert got["best_span"] == preds.forced[e.id] == e.context[got["start"]:got["end"]]
        assert got["no_answer_probability"] == pytest.approx(preds.na_probs[e.id])


@pytest.mark.slow
def test_answer_with_real_teacher():
    """The shared teacher answers a dev question it gets right (found by evaluating it here) the same way."""
    from distilbo.evaluate import load_qa_model, load_tokenizer
    from distilbo.qa.squad_v2 import compute_exact

    teacher, tok = load_qa_model(str(TEACHER)), load_tokenizer(str(TEACHER))
    exs = [e for e in load_examples(str(DEV_JSON), max_samples=80) if e.answers]
    feats = build_features(exs, tok, max_seq_length=256, doc_stride=128, cache_dir=None)
    ev = evaluate_model(teacher, exs, feats, batch_size=16)
    right = [e for e in exs if ev.answers[e.id] and max(compute_exact(a["text"], ev.answers[e.id]) for a in e.answers)]
    assert right, "the teacher gets ~40% of answerable questions right; none of 80 is implausible"
    e = right[0]
    got = answer(model=str(TEACHER), question=e.question, context=e.context, max_seq_length=256, doc_stride=128)
    assert got["answer"] == ev.answers[e.id]
    assert any(compute_exact(a["text"], got["answer"]) for a in e.answers)
    assert got["no_answer_probability"] < 0.5 and got["score"] is not None


# ----------------------------------------------------------------------------------------------- errors
def test_trial_without_model_says_keep_all(tmp_path):
    (tmp_path / "trial").mkdir()
    (tmp_path / "trial" / "metrics.json").write_text("{}")
    with pytest.raises(UserError, match=r"no saved model.*--set keep=all") as e:
        export_trial_dir(tmp_path / "trial", tmp_path / "out")
    assert "\n" not in str(e.value)


def test_out_folder_rules(trial_dir, tmp_path, cfg):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not an earlier distilbo export"):
        export_trial_dir(trial_dir, foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    with pytest.raises(UserError, match="not an earlier distilbo export"):
        export_trial_dir(trial_dir, foreign, force=True)  # --force replaces only an earlier export
    assert (foreign / "notes.txt").read_text() == "mine"
    out = export_trial_dir(trial_dir, tmp_path / "again")
    (out / "stale.txt").write_text("x")
    with pytest.raises(UserError, match="holds an earlier export; pass --force") as e:
        export_trial_dir(trial_dir, out)  # never overwritten silently
    assert "\n" not in str(e.value) and (out / "stale.txt").is_file()
    export_trial_dir(trial_dir, out, force=True)  # an earlier export is replaced whole
    assert not (out / "stale.txt").exists() and (out / "model.safetensors").is_file()
    with pytest.raises(UserError, match="dev_file"):
        export_trial_dir(trial_dir, tmp_path / "q", quantize="int8")
    with pytest.raises(UserError, match="only 'int8'"):
        export_trial_dir(trial_dir, tmp_path / "q", cfg=cfg, quantize="int4")
    assert not (tmp_path / "q").exists()


# ----------------------------------------------------------------------------------------------- study lookup
@pytest.fixture
def study_cfg(tmp_path, trial_dir):
    """A study with a baseline and three more trials; trial 3 (dominated) has no model folder."""
    import shutil

    from distilbo.search.study import create_or_load_study, record_success

    from distilbo.search.study import study_dir

    cfg = Config().with_overrides({"out": str(tmp_path / "run"), "study": "export-test", "sampler": "random"})
    study = create_or_load_study(cfg)
    warnings.filterwarnings("ignore", "Heartbeat of storage")  # ask/tell without optimize: harmless here
    plan = [(60.0, 1000, True), (59.8, 500, False), (62.0, 1005, False), (55.0, 2000, False)]
    for number, (exact, size, base) in enumerate(plan):
        t = study.ask()
        d = study_dir(cfg, study) / "trials" / f"{number:04d}"
        d.mkdir(parents=True)
        if number != 3:
            shutil.copytree(trial_dir / "model", d / "model")
        (d / "trial_config.json").write_text(json.dumps(cfg.flat()))
        (d / "metrics.json").write_text(json.dumps({"exact": exact, "num_parameters": size}))
        t.set_user_attr("trial_dir", str(d))
        t.set_user_attr("is_baseline", base)
        study.tell(t, record_success(t, cfg, {"exact": exact, "num_parameters": size, "f1": exact}))
    return cfg


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
@pytest.mark.parametrize("scenario, number", [("baseline", 0), ("retain-size", 2), ("minimize-size", 1),
                                              ("retain-performance", 1)])
def test_export_by_scenario(study_cfg, tmp_path, scenario, number):
    out = export(study_cfg, trial=None, scenario=scenario, out=str(tmp_path / scenario))
    prov = json.loads((out / "export.json").read_text())["provenance"]
    assert prov["trial"] == number and prov["study"] == "export-test" and prov["sampler"] == "random"
    readme = (out / "README.md").read_text()
    assert f"trial {number} of the study `export-test`" in readme
    # the front is {1, 0, 2} by size (500, 1000, 1005); trial 3 (55 EM, 2000) is dominated
    assert prov["on_front"] and prov["front_size"] == 3 and prov["front_rank"] == {1: 1, 0: 2, 2: 3}[number]
    rank = {1: "1st", 0: "2nd", 2: "3rd"}[number]
    assert f"on the Pareto front, {rank} of 3 front trials by num_parameters, smallest first" in readme


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_export_by_number_and_errors(study_cfg, tmp_path):
    out = export(study_cfg, trial=2, scenario=None, out=str(tmp_path / "t2"))
    assert json.loads((out / "export.json").read_text())["provenance"]["front_rank"] == 3
    with pytest.raises(UserError, match=r"0003/model: the trial has no saved model.*keep=all"):
        export(study_cfg, trial=3, scenario=None, out=str(tmp_path / "t3"))
    with pytest.raises(UserError, match="no such trial"):
        export(study_cfg, trial=99, scenario=None, out=str(tmp_path / "t99"))
    with pytest.raises(UserError, match="unknown; use one of baseline, retain-size"):
        export(study_cfg, trial=None, scenario="fastest", out=str(tmp_path / "x"))
    missing = study_cfg.with_overrides({"out": str(tmp_path / "nowhere")})
    with pytest.raises(UserError, match="no study at"):
        export(missing, trial=0, scenario=None, out=str(tmp_path / "x"))
    assert not (tmp_path / "nowhere").exists()


# ----------------------------------------------------------------------------------------------- no-answer threshold
def test_export_ships_the_threshold_and_answer_applies_it(exported, examples, reference, tmp_path):
    """The export keeps the trial's best-F1 threshold in config.json; `answer` answers the span when the null score
    wins by less than it and abstains when it wins by more (`--null-threshold` overrides it)."""
    import shutil

    shipped = json.loads((exported / "config.json").read_text())["null_score_diff_threshold"]
    assert shipped == reference["metrics"]["null_threshold"]
    info = json.loads((exported / "export.json").read_text())
    assert info["null_threshold"] == {"value": shipped, "source": "best F1 on the trial's dev questions"}
    preds = reference["preds"]
    e = next(e for e in examples if preds.forced[e.id] and np.isfinite(preds.margins[e.id]))
    margin = preds.margins[e.id]
    folder = tmp_path / "copy"
    shutil.copytree(exported, folder)

    def ask(config_threshold: float, **override) -> dict:
        cfg_json = json.loads((folder / "config.json").read_text())
        cfg_json["null_score_diff_threshold"] = config_threshold
        (folder / "config.json").write_text(json.dumps(cfg_json))
        return answer(model=str(folder), question=e.question, context=e.context, **LENGTHS, **override)

    above, below = ask(margin + 0.05), ask(margin - 0.05)  # the null score wins by less / by more than the threshold
    assert above["answer"] == preds.forced[e.id] and above["null_threshold"] == pytest.approx(margin + 0.05)
    assert below["answer"] == "" and below["best_span"] == preds.forced[e.id]
    assert above["null_margin"] == pytest.approx(margin, abs=1e-4)
    assert ask(margin - 0.05, null_score_diff_threshold=margin + 0.05)["answer"] == preds.forced[e.id]


def test_export_scores_the_test_split_beside_dev(trial_dir, cfg, tmp_path, tokenizer, model, reference):
    """With [data] test_file the export scores the held-out split at the shipped threshold (recounted here) and the
    card shows dev and test side by side."""
    from distilbo.data.splits import test_examples

    tcfg = cfg.with_overrides({"test_file": str(DEV_JSON), "test_articles": ["Imperialism"]})
    out = export_trial_dir(trial_dir, tmp_path / "with-test", cfg=tcfg)
    got = json.loads((out / "test_metrics.json").read_text())
    shipped = reference["metrics"]["null_threshold"]
    exs = test_examples(tcfg)
    assert got["questions"] == len(exs) == 364 and got["threshold"] == shipped
    feats = build_features(exs, tokenizer, cache_dir=None, **LENGTHS)
    start, end = model_logits(model, feats, batch_size=16)
    preds = postprocess(exs, feats, start, end)
    from distilbo.qa.squad_v2 import evaluate_examples

    recount = evaluate_examples(exs, apply_threshold(preds.forced, preds.margins, shipped))
    assert got["metrics"]["calibrated_f1"] == pytest.approx(recount["f1"])
    assert got["metrics"]["calibrated_exact"] == pytest.approx(recount["exact"])
    card = (out / "README.md").read_text()
    assert "| metric | dev | test |" in card and "Imperialism" in card
