"""Latency known before training (issue 15): a random-weight model of the trial's shape predicts the trained
student's latency; a `latency_ms` max constraint skips an over-budget trial without training it.

The prediction is valid because the random-weight model is the seeded student's computation (same class, config,
parameter shapes), checked here with no clock; how close the timings are is a speed figure in benchmarks/
(latency_prediction.py), not a test (issue 32: no timed assertion in the suite).
"""

from __future__ import annotations

import pytest
import torch

from _tiny import tiny_bert, tiny_config, tokenizer
from conftest import DEV_JSON
from distilbo.config import load_config
from distilbo.data.squad import build_features, load_examples
from distilbo.serve import shape_latency_ms
from distilbo.models.student import StudentSpec, build_student, random_student


@pytest.mark.slow
@pytest.mark.parametrize("layers, dim, ffn", [(1, 384, 1536), (3, 192, 768), (2, 384, 512)])
def test_the_random_model_of_a_shape_is_the_trained_students_computation(tmp_path, layers, dim, ffn):
    """What makes the prediction valid, with no clock: the random-weight model timed before training has the
    seeded student's class, config, parameter names and shapes, and maps the same dev windows to logits of the
    same shape. (How close the two timings are, 15% on an idle machine, is a speed figure:
    benchmarks/latency_prediction.py, results in benchmarks/README.md.)"""
    from transformers import AutoConfig

    folder = tiny_bert(tmp_path / "t", qa=True, hidden=384, layers=3, heads=12)
    init_config = AutoConfig.from_pretrained(folder)
    spec = StudentSpec(n_layers=layers, n_heads=12, dim=dim, hidden_dim=ffn, architecture="bert")
    student = build_student(spec, str(folder))
    twin = random_student(spec, init_config)
    assert type(twin) is type(student)
    drop = {"_name_or_path", "name_or_path", "transformers_version", "architectures", "torch_dtype", "dtype"}
    assert ({k: v for k, v in twin.config.to_dict().items() if k not in drop}
            == {k: v for k, v in student.config.to_dict().items() if k not in drop})
    assert ({k: tuple(v.shape) for k, v in twin.state_dict().items()}
            == {k: tuple(v.shape) for k, v in student.state_dict().items()})
    feats = build_features(load_examples(str(DEV_JSON), max_samples=8), tokenizer(), max_seq_length=256,
                           doc_stride=128, max_query_length=64)
    ids = torch.as_tensor(feats.input_ids[:4]).long()
    mask = (torch.arange(ids.shape[1])[None, :] < torch.as_tensor(feats.lengths[:4])[:, None]).long()
    batch = {"input_ids": ids, "attention_mask": mask}
    with torch.no_grad():
        a, b = twin.eval()(**batch), student.eval()(**batch)
    assert a.start_logits.shape == b.start_logits.shape == batch["input_ids"].shape


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


def test_latency_max_constraint_skips_an_over_budget_trial_without_training_it(tmp_path, monkeypatch):
    """Size open, latency capped: the deepest students break the budget before training and are recorded
    infeasible (never run), and the sampler's constraint for them is positive (infeasible).

    The real estimate times a random model (a positive latency); for the search itself the timing is replaced by
    10 ms per layer, so which trials break the 45 ms budget does not depend on how busy the machine is."""
    from distilbo.distill import trial as trial_module
    from distilbo.search.runner import run_search
    from distilbo.search.study import create_or_load_study, records

    extra = """
[search]
sampler = "random"
n_startup_trials = 1
baseline = false
objectives = [{ metric = "HasAns_forced_f1", direction = "maximize" }, { metric = "latency_ms", direction = "minimize" }]
constraints = [{ metric = "latency_ms", max = 45.0 }]
[search.space]
n_layers = { type = "int", low = 1, high = 8 }
"""
    path = tiny_config(tmp_path, extra=extra)
    cfg = load_config(path)
    real = trial_module.estimate_metrics(cfg.with_overrides({"n_layers": 1}))
    assert real["latency_ms"] > 0 and real["latency_predicted_ms"] == real["latency_ms"]
    monkeypatch.setattr(trial_module, "predicted_latency",
                        lambda cfg, spec, init_config: {"latency_ms": 10.0 * spec.n_layers, "spread": 0.0})
    ran: list[int] = []

    def trial_fn(tcfg, trial_dir):
        ran.append(tcfg.student.n_layers)
        return {"HasAns_forced_f1": 10.0 + tcfg.student.n_layers, "latency_ms": 0.1, "num_parameters": 1.0}

    study = create_or_load_study(cfg)
    for n in range(1, 9):  # every depth once: 1-4 fit the budget, 5-8 do not
        study.enqueue_trial({"n_layers": n})
    study = run_search(cfg, n_trials=8, trial_fn=trial_fn, progress=False)
    recs = records(study, curves=False)
    skipped = [r for r in recs if r["skipped"]]
    assert sorted(r["params"]["n_layers"] for r in skipped) == [5, 6, 7, 8]
    assert all("latency_ms" in r["skipped"] and "> max" in r["skipped"] for r in skipped)
    assert sorted(ran) == sorted(r["params"]["n_layers"] for r in recs if not r["skipped"])
    assert all(n <= 4 for n in ran)
    for t in study.trials:
        if t.user_attrs.get("skipped"):
            assert max(t.constraints.values()) > 0  # what the GP's constraint model sees: infeasible
