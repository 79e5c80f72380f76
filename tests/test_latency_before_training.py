"""Latency known before training (issue 15): a random-weight model of the trial's shape predicts the trained
student's latency; a `latency_ms` max constraint skips an over-budget trial without training it.

The reference for the prediction is `measure.latency_ms` of the real seeded student on real dev windows, the
measurement a trial makes after training; the two are timed side by side, interleaved, in this process.
"""

from __future__ import annotations

import pytest
import torch

from _tiny import tiny_bert, tiny_config, tokenizer
from conftest import DEV_JSON
from distilbo.config import load_config
from distilbo.data.squad import build_features, load_examples
from distilbo.measure import latency_ms
from distilbo.serve import shape_latency_ms
from distilbo.models.student import StudentSpec, build_student, random_student


@pytest.mark.slow
@pytest.mark.parametrize("layers, dim, ffn", [(1, 384, 1536), (3, 192, 768), (2, 384, 512)])
def test_predicted_latency_agrees_with_the_trained_students_within_15_percent(tmp_path, layers, dim, ffn):
    from transformers import AutoConfig

    folder = tiny_bert(tmp_path / "t", qa=True, hidden=384, layers=3, heads=12)
    init_config = AutoConfig.from_pretrained(folder)
    spec = StudentSpec(n_layers=layers, n_heads=12, dim=dim, hidden_dim=ffn, architecture="bert")
    student = build_student(spec, str(folder))
    feats = build_features(load_examples(str(DEV_JSON), max_samples=8), tokenizer(), max_seq_length=256,
                           doc_stride=128, max_query_length=64)
    predicted, measured = [], []
    for _ in range(5):  # interleaved, best of five: the machine may be shared
        predicted.append(shape_latency_ms(lambda: random_student(spec, init_config), key=None,
                                          lengths=list(feats.lengths[:4]), vocab_size=init_config.vocab_size, repeats=15,
                                          cache_dir=None)["latency_ms"])
        measured.append(latency_ms(student, feats, batch_size=4, repeats=15)["latency_ms"])
    p, m = min(predicted), min(measured)
    assert abs(p - m) / m <= 0.15, (p, m, predicted, measured)


def test_shape_latency_is_cached_per_shape_and_machine(tmp_path):
    calls = []

    def build():
        calls.append(1)
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Embedding(50, 8))

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = build()

        def forward(self, input_ids, attention_mask=None, token_type_ids=None):
            return self.m(input_ids)

    kw = dict(lengths=[5, 3], vocab_size=50, repeats=3, cache_dir=tmp_path / "c")
    a = shape_latency_ms(Wrap, key={"n": 1}, **kw)
    b = shape_latency_ms(Wrap, key={"n": 1}, **kw)
    assert a == b and len(calls) == 1  # the second call is served from the cache
    shape_latency_ms(Wrap, key={"n": 2}, **kw)
    assert len(calls) == 2  # another shape is timed again
    assert a["batch_ms_min"] <= a["batch_ms_median"] <= a["batch_ms_max"] and a["spread"] >= 0
    assert a["latency_ms"] == pytest.approx(a["batch_ms_median"] / 2)


def test_latency_max_constraint_skips_an_over_budget_trial_without_training_it(tmp_path):
    """Size open, latency capped: the deepest students break the budget before training and are recorded
    infeasible (never run), and the sampler's constraint for them is positive (infeasible)."""
    from distilbo.distill.trial import estimate_metrics
    from distilbo.search.runner import run_search
    from distilbo.search.study import records

    extra = """
[search]
sampler = "random"
n_startup_trials = 1
baseline = false
objectives = [{ metric = "HasAns_forced_f1", direction = "maximize" }, { metric = "latency_ms", direction = "minimize" }]
constraints = [{ metric = "latency_ms", max = LIMIT }]
[search.space]
n_layers = { type = "int", low = 1, high = 8 }
"""
    path = tiny_config(tmp_path, extra=extra.replace("LIMIT", "1e9"))
    cfg = load_config(path)
    est = {n: estimate_metrics(cfg.with_overrides({"n_layers": n}))["latency_ms"] for n in (1, 8)}
    assert est[8] > est[1] > 0
    limit = (est[1] + est[8]) / 2
    path.write_text(path.read_text().replace("1e9", repr(limit)))
    cfg = load_config(path)
    ran: list[int] = []

    def trial_fn(tcfg, trial_dir):
        ran.append(tcfg.student.n_layers)
        return {"HasAns_forced_f1": 10.0 + tcfg.student.n_layers, "latency_ms": 0.1, "num_parameters": 1.0}

    study = run_search(cfg, n_trials=8, trial_fn=trial_fn, progress=False)
    recs = records(study, curves=False)
    skipped = [r for r in recs if r["skipped"]]
    assert skipped and all("latency_ms" in r["skipped"] and "> max" in r["skipped"] for r in skipped)
    assert all(r["params"]["n_layers"] not in ran or r["skipped"] is None for r in recs)
    for t in study.trials:
        if t.user_attrs.get("skipped"):
            assert max(t.constraints.values()) > 0  # what the GP's constraint model sees: infeasible
