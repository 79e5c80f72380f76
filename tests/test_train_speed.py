"""The training loop's speed switches change speed only: length buckets never cut a window (tokens recounted),
fused AdamW updates like the plain one, and the compiled student trains like the eager one within bf16 rounding.

    PYTHONPATH=$PWD python -m pytest -q tests/test_train_speed.py
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _tiny import tiny_config, tokenizer
from conftest import TRAIN_JSON
from distilbo.config import load_config
from distilbo.data.batches import batch_order, bucket_width, to_batch
from distilbo.data.squad import build_features, load_examples
from distilbo.distill import teacher_cache
from distilbo.distill.train import distill
from distilbo.distill.trial import student_spec
from distilbo.errors import UserError
from distilbo.evaluate import load_qa_model
from distilbo.models.student import build_student

BUCKETS = [32, 64, 80]
"""Buckets for the tiny config's 96-token windows: the longest rows (81-96 tokens) fit none, so they pad to
their own length."""


def _features():
    return build_features(load_examples(str(TRAIN_JSON), max_samples=16), tokenizer(), max_seq_length=96,
                          doc_stride=32, max_query_length=24)


def _train(tmp_path, sets: dict, *, feats, epochs: str = "1"):
    """(result, weights before, student after) of one tiny distillation with dropout off, so two runs differ only
    by `sets`."""
    cfg = load_config(tiny_config(tmp_path), {"num_train_epochs": epochs, "dropout": "0", "attention_dropout": "0",
                                              "qa_dropout": "0", "precision": "fp32", **sets})
    teacher = load_qa_model(cfg.path(cfg.models.teacher))
    ts, te = teacher_cache.teacher_logits(teacher, feats, teacher_key="k", cache_dir=None, device=torch.device("cpu"))
    spec, _ = student_spec(cfg)
    student = build_student(spec, cfg.path(cfg.models.student_init))
    before = {k: v.detach().clone() for k, v in student.state_dict().items()}
    result = distill(student, feats, cfg=cfg, device=torch.device("cpu"), teacher_start=ts.astype(np.float32),
                     teacher_end=te.astype(np.float32), progress=False)
    return result, before, student


def test_bucket_width_is_the_smallest_bucket_that_holds_the_row_and_never_less():
    assert bucket_width(50, [64, 128, 256], stored=256) == 64
    assert bucket_width(64, [64, 128, 256], stored=256) == 64
    assert bucket_width(65, [64, 128, 256], stored=256) == 128
    assert bucket_width(200, [64, 128], stored=256) == 200  # longer than every bucket: its own length
    assert bucket_width(50, [64, 512], stored=96) == 64
    assert bucket_width(90, [512], stored=96) == 96  # never wider than the stored arrays
    assert bucket_width(50, [], stored=256) == 50  # no buckets: dynamic padding
    for longest in range(1, 97):
        assert longest <= bucket_width(longest, BUCKETS, stored=96) <= 96


def test_bucketed_batches_keep_every_token_of_every_window():
    """Recount: the real tokens of each bucketed batch are exactly the windows' stored tokens, none cut."""
    feats = _features()
    rng = np.random.default_rng(0)
    seen = 0
    for idx in batch_order(feats.lengths, batch_size=5, shuffle=True, group_by_length=True, rng=rng):
        width = bucket_width(int(feats.lengths[idx].max()), BUCKETS, stored=feats.input_ids.shape[1])
        b = to_batch(feats, idx, device=torch.device("cpu"), token_types=True, pad_to=width)
        assert b["input_ids"].shape[1] == width
        assert b["attention_mask"].sum(1).tolist() == feats.lengths[idx].tolist()
        for row, i in enumerate(idx):
            n = int(feats.lengths[i])
            assert b["input_ids"][row, :n].tolist() == feats.input_ids[i, :n].tolist()
            assert b["token_type_ids"][row, :n].tolist() == feats.token_type_ids[i, :n].tolist()
        seen += len(idx)
    assert seen == len(feats)
    assert any(int(feats.lengths[i]) > BUCKETS[-1] for i in range(len(feats)))  # the no-bucket case is exercised
    with pytest.raises(ValueError, match="cut"):
        to_batch(feats, np.array([int(np.argmax(feats.lengths))]), device=torch.device("cpu"), token_types=True,
                 pad_to=int(feats.lengths.max()) - 1)


def test_buckets_leave_the_loss_unchanged(tmp_path):
    """Padding is masked out of attention and loss, so bucketed batches train like dynamically padded ones."""
    feats = _features()
    a, _, _ = _train(tmp_path / "a", {}, feats=feats)
    b, _, _ = _train(tmp_path / "b", {"length_buckets": str(BUCKETS)}, feats=feats)
    loss_a = [r["loss"] for r in a.curves if "loss" in r]
    assert len(loss_a) >= 3
    assert loss_a == pytest.approx([r["loss"] for r in b.curves if "loss" in r], rel=1e-4)


def test_fused_adamw_updates_like_the_plain_one(tmp_path):
    feats = _features()
    a, start, sa = _train(tmp_path / "a", {"fused_optimizer": "false", "weight_decay": "0.01"}, feats=feats)
    b, _, sb = _train(tmp_path / "b", {"fused_optimizer": "true", "weight_decay": "0.01"}, feats=feats)
    assert a.steps == b.steps >= 3
    assert [r["loss"] for r in a.curves if "loss" in r] == pytest.approx([r["loss"] for r in b.curves if "loss" in r],
                                                                          rel=1e-5)
    moved = 0.0
    for (name, pa), pb in zip(sa.state_dict().items(), sb.state_dict().values()):
        if name == "qa_outputs.bias":
            # a logit shift shared by every position: softmax-minus-target sums to 0 over positions, so its
            # gradient is 0 in exact arithmetic and Adam's m / sqrt(v) turns the rounding into whole steps of either
            # sign (it moved 1.7e-4 apart on an AMD EPYC): noise, not an update to compare
            continue
        # within 5% of one Adam step (lr 1e-3): where a gradient is near 0, m / sqrt(v) amplifies rounding
        torch.testing.assert_close(pa, pb, rtol=0, atol=5e-5, msg=lambda m: f"{name}: {m}")
        moved = max(moved, float((pa.float() - start[name].float()).abs().max()))
    assert moved > 2e-3  # several steps' worth: the weights did move


@pytest.mark.slow
def test_compiled_student_trains_like_the_eager_one_within_bf16(tmp_path):
    """torch.compile (Inductor) + buckets under bf16 autocast against eager with dynamic padding: same losses up to
    bf16 rounding (8 mantissa bits: ~0.4% per op), step by step."""
    feats = _features()
    a, _, _ = _train(tmp_path / "a", {"precision": "bf16"}, feats=feats)
    b, _, _ = _train(tmp_path / "b", {"precision": "bf16", "torch_compile": "true", "length_buckets": str(BUCKETS)},
                  feats=feats)
    loss_a, loss_b = [r["loss"] for r in a.curves if "loss" in r], [r["loss"] for r in b.curves if "loss" in r]
    assert len(loss_a) == len(loss_b) >= 3
    assert loss_b == pytest.approx(loss_a, rel=3e-2)


def test_bad_length_buckets_name_the_field(tmp_path):
    with pytest.raises(UserError, match="length_buckets"):
        load_config(tiny_config(tmp_path), {"length_buckets": "[128, 64]"})


def test_bf16_weights_train_like_fp32_and_hand_back_fp32_masters(tmp_path):
    """bf16 weights + fp32 masters: the losses follow the fp32 run within bf16 rounding, dev scoring in the middle
    of training sees fp32 weights, and the student comes back in fp32."""
    feats = _features()
    seen: list[torch.dtype] = []

    a, _, _ = _train(tmp_path / "a", {}, feats=feats)
    cfg = load_config(tiny_config(tmp_path / "b"), {"num_train_epochs": "1", "dropout": "0", "attention_dropout": "0",
                                                    "qa_dropout": "0", "precision": "fp32", "bf16_weights": "true",
                                                    "eval_steps": "2"})
    teacher = load_qa_model(cfg.path(cfg.models.teacher))
    ts, te = teacher_cache.teacher_logits(teacher, feats, teacher_key="k", cache_dir=None, device=torch.device("cpu"))
    student = build_student(student_spec(cfg)[0], cfg.path(cfg.models.student_init))
    b = distill(student, feats, cfg=cfg, device=torch.device("cpu"), teacher_start=ts.astype(np.float32),
                teacher_end=te.astype(np.float32), progress=False,
                dev_eval=lambda m: seen.append(next(m.parameters()).dtype) or {"exact": 0.0})
    loss_a, loss_b = [r["loss"] for r in a.curves if "loss" in r], [r["loss"] for r in b.curves if "loss" in r]
    assert len(loss_a) == len(loss_b) >= 3
    assert loss_b == pytest.approx(loss_a, rel=3e-2)
    assert len(seen) >= 2 and set(seen) == {torch.float32}
    assert {p.dtype for p in student.parameters()} == {torch.float32}
