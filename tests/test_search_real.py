"""A real search: tiny teacher, tiny students distilled on a few real SQuAD questions, GP sampler, 8 trials."""

from __future__ import annotations

import pytest

from _tiny import tiny_config
from distilbo.config import load_config

SPACE = """
[search]
sampler = "gp"
n_trials = 8
n_startup_trials = 3
objectives = [{ metric = "f1", direction = "maximize" }, { metric = "num_parameters", direction = "minimize" }]
constraints = [{ metric = "f1", min = 0.5 }]

[search.space]
n_layers = { type = "int", low = 1, high = 3 }
n_heads = { type = "int", low = 1, high = 4 }
dim = { type = "int", low = 16, high = 32, step = 16 }
learning_rate = { type = "float", low = 1e-4, high = 1e-2, log = true }
alpha_ce = { type = "float", low = 0.0, high = 1.0 }
temperature = { type = "int", low = 1, high = 4 }
"""


@pytest.mark.slow
def test_real_gp_search_of_eight_trials(tmp_path):
    from distilbo.pareto import pareto_front
    from distilbo.search import records, run_search

    cfg = load_config(tiny_config(tmp_path, extra=SPACE.replace("[search]", "[search]", 1), train_samples=16,
                                  eval_samples=12), {"num_train_epochs": "1", "latency_repeats": "2"})
    study = run_search(cfg, progress=False)
    recs = records(study)
    assert len(recs) == 8
    assert recs[0]["is_baseline"] and recs[0]["params"]["n_layers"] == 2  # the config's [student] values
    for r in recs:
        assert r["state"] in ("COMPLETE", "FAIL")
        if r["status"] != "ok":
            assert r["failure"], r
        else:
            assert {"exact", "f1", "num_parameters", "latency_ms"} <= set(r["metrics"])
    ok = [r for r in recs if r["status"] == "ok"]
    assert len(ok) >= 6
    # brute force: feasible trials that no other feasible trial dominates (higher-or-equal f1, smaller-or-equal size)
    feasible = [r for r in ok if r["metrics"]["f1"] >= 0.5]

    def dominated(a, b):
        return (b["metrics"]["f1"] >= a["metrics"]["f1"] and b["metrics"]["num_parameters"] <= a["metrics"]["num_parameters"]
                and (b["metrics"]["f1"] > a["metrics"]["f1"] or b["metrics"]["num_parameters"] < a["metrics"]["num_parameters"]))

    brute = {a["number"] for a in feasible if not any(dominated(a, b) for b in feasible)}
    assert {r["number"] for r in recs if r["on_front"]} == brute
    assert {r["number"] for r in pareto_front(recs, cfg.search.objectives, cfg.search.constraints)} == brute
    assert brute, "the Pareto front is empty"
    # every trial has its own folder with metrics and curves; dominated checkpoints were pruned
    for r in ok:
        assert (tmp_path / "run" / "tiny" / "trials" / f"{r['number']:04d}" / "metrics.json").is_file()
        has_model = (tmp_path / "run" / "tiny" / "trials" / f"{r['number']:04d}" / "model").is_dir()
        assert has_model == (r["number"] in brute or r["is_baseline"] or not brute)
