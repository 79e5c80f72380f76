"""Students seeded from the teacher (issue 10): exact reproduction at full shape, layer rules, the transfer set.

References are independent of the code under test: the teacher's own forward pass, weights compared tensor by
tensor with the teacher's state dict, a hand-written masked cross-entropy, hand-written layer tables.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from _tiny import tiny_bert, tiny_config, tokenizer
from conftest import DEV_JSON, REPO, SHARED, TEACHER
from distilbo.config import load_config
from distilbo.data.squad import build_features, load_examples
from distilbo.distill import teacher_cache
from distilbo.distill.losses import distillation_loss
from distilbo.distill.trial import load_transfer, student_spec
from distilbo.evaluate import load_qa_model
from distilbo.models.student import StudentSpec, build_student, layer_sources, seed_student

UNLABELED = SHARED / "data" / "squad2" / "unlabeled.json"


def _windows(n: int = 12):
    return build_features(load_examples(str(DEV_JSON), max_samples=n), tokenizer(), max_seq_length=96, doc_stride=32,
                          max_query_length=24)


def _logits(model, feats):
    with torch.inference_mode():
        out = model(input_ids=torch.as_tensor(feats.input_ids, dtype=torch.long),
                    attention_mask=torch.as_tensor(np.arange(feats.input_ids.shape[1])[None, :] < feats.lengths[:, None]).long(),
                    token_type_ids=torch.as_tensor(feats.token_type_ids, dtype=torch.long))
    return out.start_logits, out.end_logits


# ---------------------------------------------------------------------------------------------- full shape
def test_full_shape_teacher_seeded_student_reproduces_the_teacher(tmp_path):
    """`student_init = "teacher"`, architecture auto, the teacher's own shape: the student IS the teacher."""
    cfg = load_config(tiny_config(tmp_path), {"student_init": "teacher", "student_architecture": "auto",
                                              "n_layers": "2", "n_heads": "2", "dim": "32", "hidden_dim": "64"})
    assert cfg.student_init_path == cfg.path(cfg.models.teacher)
    spec, _ = student_spec(cfg)
    assert spec.architecture == "bert"
    student, seeding = seed_student(spec, cfg.student_init_path)
    assert seeding["fresh_parameters"] == 0  # QA head and token types included
    teacher = load_qa_model(cfg.path(cfg.models.teacher))
    feats = _windows()
    (ts, te), (ss, se) = _logits(teacher, feats), _logits(student.eval(), feats)
    assert float((ts - ss).abs().max()) <= 1e-4 and float((te - se).abs().max()) <= 1e-4


@pytest.mark.slow
def test_full_shape_student_of_the_shared_teacher_reproduces_it():
    """The CPU config's architecture on the real shared teacher: max |logit difference| <= 1e-4."""
    cfg = load_config(REPO / "configs" / "cpu-squad2.toml", {"n_layers": "6", "dim": "384", "hidden_dim": "1536", "n_heads": "12"})
    spec, _ = student_spec(cfg)
    student = build_student(spec, cfg.student_init_path).eval()
    teacher = load_qa_model(str(TEACHER))
    feats = _windows(6)
    (ts, te), (ss, se) = _logits(teacher, feats), _logits(student, feats)
    assert float((ts - ss).abs().max()) <= 1e-4 and float((te - se).abs().max()) <= 1e-4


def test_distilbert_student_of_a_bert_teacher_differs_only_through_segment_b(tmp_path):
    """DistilBERT cannot represent segment B: with token type 0 folded, segment-A-only input is exact."""
    folder = tiny_bert(tmp_path / "t", qa=True, seed=5)
    spec = StudentSpec(n_layers=2, n_heads=2, dim=32, hidden_dim=64, architecture="distilbert")
    student = build_student(spec, str(folder)).eval()
    teacher = load_qa_model(str(folder))
    feats = _windows(4)
    ids = torch.as_tensor(feats.input_ids, dtype=torch.long)
    mask = torch.as_tensor(np.arange(ids.shape[1])[None, :] < feats.lengths[:, None]).long()
    with torch.inference_mode():
        ref = teacher(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).start_logits
        got = student(input_ids=ids, attention_mask=mask).start_logits
        real = teacher(input_ids=ids, attention_mask=mask,
                       token_type_ids=torch.as_tensor(feats.token_type_ids, dtype=torch.long)).start_logits
    assert float((ref - got).abs().max()) <= 1e-4
    assert float((real - got).abs().max()) > 1e-3


# ---------------------------------------------------------------------------------------------- layer rules
@pytest.mark.parametrize("rule, n, want", [
    ("even", 3, [0, 2, 4]), ("even", 4, [0, 2, 3, 5]), ("even", 2, [0, 3]),
    ("stride", 3, [0, 2, 4]), ("stride", 4, [0, 1, 3, 4]), ("stride", 5, [0, 1, 2, 3, 4]),
    ("bottom", 3, [0, 1, 2]), ("bottom", 1, [0]),
    ("top", 3, [3, 4, 5]), ("top", 1, [5]),
    ("ends", 3, [0, 2, 5]), ("ends", 2, [0, 5]), ("ends", 4, [0, 2, 3, 5]), ("ends", 1, [5]),
    ("top", 6, [0, 1, 2, 3, 4, 5]), ("bottom", 8, [0, 1, 2, 2, 3, 4, 5, 5]),
])
def test_layer_rules_by_hand(rule, n, want):
    assert layer_sources(6, n, rule) == want


@pytest.mark.parametrize("rule", ["even", "stride", "bottom", "top", "ends"])
def test_k_layer_student_holds_the_layers_the_rule_names(tmp_path, rule):
    """Every weight of student layer i equals the teacher's layer `layer_sources(...)[i]` (BERT names)."""
    from safetensors.torch import load_file

    folder = tiny_bert(tmp_path / "t", qa=True, seed=6, layers=6)
    spec = StudentSpec(n_layers=3, n_heads=2, dim=32, hidden_dim=64, architecture="bert", layer_selection=rule)
    student, seeding = seed_student(spec, str(folder))
    src = load_file(str(folder / "model.safetensors"))
    sd = student.state_dict()
    names = [k.split("encoder.layer.0.", 1)[1] for k in src if k.startswith("bert.encoder.layer.0.")]
    assert names and seeding["layer_sources"] == layer_sources(6, 3, rule)
    for i, l in enumerate(layer_sources(6, 3, rule)):
        for name in names:
            assert torch.equal(sd[f"bert.encoder.layer.{i}.{name}"], src[f"bert.encoder.layer.{l}.{name}"]), (rule, i, name)
    assert torch.equal(sd["qa_outputs.weight"], src["qa_outputs.weight"])


# ---------------------------------------------------------------------------------------------- transfer set
def test_transfer_rows_get_the_soft_loss_only():
    """Against a hand-written reference: hard CE over the labeled rows only, soft KL over every row."""
    g = torch.Generator().manual_seed(0)
    B, S, T = 6, 10, 2.0
    ss, se, ts, te = (torch.randn(B, S, generator=g) for _ in range(4))
    sp, ep = torch.randint(0, S, (B,), generator=g), torch.randint(0, S, (B,), generator=g)
    labeled = torch.tensor([True, False, True, False, False, True])
    got = distillation_loss(ss, se, teacher_start=ts, teacher_end=te, start_positions=sp, end_positions=ep,
                            attention_mask=None, alpha_ce=0.7, alpha_squad=0.3, temperature=T, labeled=labeled)

    def ce(logits, pos):  # mean over labeled rows of -log softmax at the label
        rows = [-torch.log_softmax(logits[i], -1)[pos[i]] for i in range(B) if labeled[i]]
        return torch.stack(rows).mean()

    def kl(s, t):
        p = torch.softmax(t / T, -1)
        return (p * (torch.log(p) - torch.log_softmax(s / T, -1))).sum(-1).mean() * T * T

    hard = (ce(ss, sp) + ce(se, ep)) / 2
    soft = (kl(ss, ts) + kl(se, te)) / 2
    assert float(got["hard"]) == pytest.approx(float(hard), rel=1e-5)
    assert float(got["soft"]) == pytest.approx(float(soft), rel=1e-5)
    assert float(got["loss"]) == pytest.approx(float(0.7 * soft + 0.3 * hard), rel=1e-5)
    # a batch of transfer rows only: no hard term at all, and labels do not matter
    none = distillation_loss(ss, se, teacher_start=ts, teacher_end=te, start_positions=sp * 0 + 3, end_positions=ep,
                             attention_mask=None, alpha_ce=0.7, alpha_squad=0.3, temperature=T,
                             labeled=torch.zeros(B, dtype=torch.bool))
    assert float(none["hard"]) == 0.0 and float(none["loss"]) == pytest.approx(float(0.7 * soft), rel=1e-5)


def test_transfer_set_is_read_without_labels_and_its_cached_logits_equal_a_fresh_teacher(tmp_path):
    cfg = load_config(tiny_config(tmp_path), {"transfer_file": str(UNLABELED), "max_transfer_samples": "10"})
    feats = load_transfer(cfg, tokenizer())
    assert len(feats) >= 10 and not feats.start_positions.any() and not feats.end_positions.any()
    teacher = load_qa_model(cfg.path(cfg.models.teacher))
    s, e = teacher_cache.teacher_logits(teacher, feats, teacher_key=teacher_cache.model_fingerprint(cfg.models.teacher),
                                        cache_dir=tmp_path / "c", device=torch.device("cpu"))
    fs, fe = _logits(teacher, feats)
    for i in range(len(feats)):
        n = int(feats.lengths[i])
        np.testing.assert_allclose(s[i, :n], fs[i, :n].numpy(), atol=2e-3, rtol=2e-3)
        np.testing.assert_allclose(e[i, :n], fe[i, :n].numpy(), atol=2e-3, rtol=2e-3)


def test_trial_with_a_transfer_set_trains_on_both_and_records_it(tmp_path):
    from distilbo.distill.trial import run_trial

    cfg = load_config(tiny_config(tmp_path), {"transfer_file": str(UNLABELED), "max_transfer_samples": "12",
                                              "num_train_epochs": "1", "alpha_ce": "0.5", "eval_steps": "2"})
    m = run_trial(cfg, tmp_path / "trial", progress=False)
    assert m["num_transfer_features"] >= 12 and m["num_train_features"] > 0
    rows = [json.loads(x) for x in (tmp_path / "trial" / "curves.jsonl").read_text().splitlines()]
    losses = [r for r in rows if "loss" in r]
    n_steps = -(-(m["num_train_features"] + m["num_transfer_features"]) // 8)
    assert losses[-1]["step"] == n_steps == m["train_steps"]  # an epoch covers both sets
    dev = [r for r in rows if "HasAns_forced_f1" in r]
    assert [r["step"] for r in dev] == [s for s in range(2, n_steps, 2)] + [n_steps]  # every eval_steps, then final
    assert dev[-1]["HasAns_forced_f1"] == pytest.approx(m["HasAns_forced_f1"])


def test_label_less_file_as_train_file_is_one_line_exit_2(tmp_path):
    cfg = tiny_config(tmp_path)
    r = subprocess.run([sys.executable, "-m", "distilbo.cli", "distill", "--config", str(cfg), "--out",
                        str(tmp_path / "x"), "--set", f"train_file={UNLABELED}"], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "transfer_file" in lines[0] and "unlabeled.json" in lines[0] and "answers" in lines[0]
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_hidden_state_term_runs_the_teacher_in_the_loop_and_is_recorded(tmp_path):
    """alpha_cos > 0: the cached logits still serve the soft term and the teacher runs beside them for its hidden
    states. Reference: the teacher itself. A full-shape teacher-seeded student (no dropout, fp32) is the teacher,
    so the first batch's hidden term (logged before any update) is 0; with one of its two layers it is not. A
    student narrower than the teacher is refused with the fix named."""
    from distilbo.distill.trial import run_trial

    def first_hidden(n_layers: int, out: str) -> tuple[float, list[dict]]:
        cfg = load_config(tiny_config(tmp_path), {
            "alpha_cos": "1.0", "alpha_ce": "0.5", "num_train_epochs": "1", "logging_steps": "1",
            "student_init": "teacher", "student_architecture": "auto", "n_layers": str(n_layers), "precision": "fp32",
            "dropout": "0", "attention_dropout": "0", "qa_dropout": "0"})
        m = run_trial(cfg, tmp_path / out, progress=False)
        rows = [json.loads(x) for x in (tmp_path / out / "curves.jsonl").read_text().splitlines()]
        losses = [r for r in rows if "loss" in r]
        assert m["train_steps"] == len(losses) and all(-1e-6 <= r["hidden"] <= 2 for r in losses)
        return losses[0]["hidden"], losses

    full, rows = first_hidden(2, "full")
    assert full == pytest.approx(0.0, abs=1e-6)
    assert max(r["hidden"] for r in rows) > 0  # and it moves once the student trains
    half, _ = first_hidden(1, "half")
    assert half > 1e-5  # a random tiny teacher's layers point alike: small, yet ~1e4 x the full shape's
    narrow = load_config(tiny_config(tmp_path), {"alpha_cos": "1.0", "alpha_ce": "0.5", "dim": "16",
                                                 "student_init": "teacher"})
    with pytest.raises(ValueError, match="alpha_cos needs the student's width"):
        run_trial(narrow, tmp_path / "narrow", progress=False)
