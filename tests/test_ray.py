"""The Ray executor (issue 32, `distilbo.search._ray`) on a real Ray cluster started here, on this machine
(`ray.cluster_utils.Cluster`): a head node with no CPUs (the driver's) and two worker nodes of one CPU each, so at
most one trial per node. (Bound to 127.0.0.1 only, Ray 2.60's driver still dialed the machine's address and hung.)

  * two trials at once complete the budget, on both nodes, each result the trial function's own (recount);
  * a node killed while its trial runs leaves that trial FAIL with the reason, and the search completes the budget
    with another trial in its place;
  * with early stopping on, the study (states, rung decisions, values) equals a local-process run of the same
    seeded search: rung decisions are made across nodes without a shared trial folder protocol.

Synthetic trial functions (tests/_search_trials.py) by dotted path, as a user's would be. Marked `ray`; skipped
when ray is not installed (`pip install 'distilbo[ray]'`).

Run: python -m pytest tests/test_ray.py -q
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

import _search_trials as st
from distilbo.search import records, run_search
from distilbo.search.study import load_study

pytestmark = [pytest.mark.ray, pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                                  reason="ray is not installed (pip install 'distilbo[ray]')")]


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    c = None
    for attempt in range(3):  # Ray gives a raylet a fixed 30 s to register: a busy machine may need another go
        try:
            c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
            for _ in range(2):
                c.add_node(num_cpus=1)
            c.wait_for_nodes(timeout=600)
            break
        except Exception:  # noqa: BLE001  ("The current node timed out during startup")
            if c is not None:
                c.shutdown()
            c = None
            if attempt == 2:
                raise
    ray.init(address=c.address, log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()


def _ray_cfg(out: Path, **search):
    return st.make_config(out, sampler="random", **search).with_overrides({"executor": "ray"})


def _nodes(study) -> list[str]:
    return [json.loads((Path(t.user_attrs["trial_dir"]) / "ray.json").read_text())["node"]
            for t in study.trials if t.state == TrialState.COMPLETE]


def test_two_trials_at_once_complete_the_budget_on_both_nodes(cluster, tmp_path):
    cfg = _ray_cfg(tmp_path / "run")
    study = run_search(cfg, n_trials=4, workers=2, trial_fn="_search_trials:slow", estimate_fn=None, progress=False)
    recs = records(study)
    assert [r["state"] for r in recs] == ["COMPLETE"] * 4
    for r in recs:  # every value is the trial function's own
        p = r["params"]
        want = st.synthetic_metrics(p["n_layers"], p["n_heads"], p["learning_rate"])
        assert r["values"] == pytest.approx([want["exact"], want["num_parameters"]])
        assert (Path(r["trial_dir"]) / "metrics.json").is_file() and (Path(r["trial_dir"]) / "log.txt").is_file()
    spans = sorted((t.datetime_start, t.datetime_complete) for t in study.trials)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), "no two trials ran at the same time"
    assert len(set(_nodes(study))) == 2


def test_early_stopping_on_ray_equals_the_local_run(cluster, tmp_path):
    def search(out: Path, executor: str):
        cfg = st.make_config(out, sampler="random", rungs=[0.5], rung_eta=2.0, rung_min_peers=2)
        cfg.search.space = {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True}}
        cfg = cfg.with_overrides({"executor": executor})
        return run_search(cfg, n_trials=7, trial_fn="_search_trials:with_rungs", estimate_fn="_search_trials:estimate",
                          progress=False)

    # 7 trials, one at a time: with this seed trials 0-5 go on at the rung and trial 6 is the first it stops
    # (the local run shows it; the ray run must make the same decisions from the same study)
    local, remote = search(tmp_path / "local", "local"), search(tmp_path / "ray", "ray")

    def seen(study):
        return [(t.number, t.state, t.params, t.values, t.user_attrs.get("stopped_at_rung"),
                 (t.user_attrs.get("rung_0") or {}).get("continued")) for t in study.trials]

    assert seen(remote) == seen(local)
    assert any(t.state == TrialState.PRUNED for t in remote.trials), "no trial was stopped at the rung"
    assert all(not (Path(t.user_attrs["trial_dir"]) / "model").exists()
               for t in remote.trials if t.state == TrialState.PRUNED)


def test_a_node_killed_mid_trial_fails_that_trial_and_the_search_completes(cluster, tmp_path):
    """Kill the node of a running trial (SIGKILL, no grace): that trial FAIL with the reason; the other node takes
    over and the budget completes; a rerun has nothing left to do."""
    cfg = _ray_cfg(tmp_path / "run")
    errors: list[BaseException] = []

    def driver() -> None:
        try:
            run_search(cfg, n_trials=3, workers=2, trial_fn="_search_trials:held", estimate_fn=None, progress=False)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    thread = threading.Thread(target=driver, daemon=True)
    thread.start()
    home = tmp_path / "run" / "distilbo"
    started: list[Path] = []
    while not started:  # the event: a trial has started on a node
        assert thread.is_alive(), errors
        started = sorted(home.glob("trials/*/started"))
        time.sleep(0.1)
    victim_id = started[0].read_text()
    victim = next(n for n in cluster.list_all_nodes() if n.node_id == victim_id)
    cluster.remove_node(victim, allow_graceful=False)
    lost = int(started[0].parent.name)
    while load_study(cfg).trials[lost].state == TrialState.RUNNING:  # the event: the driver saw the loss
        assert thread.is_alive(), errors
        time.sleep(0.2)
    (home / "release").touch()
    thread.join()
    assert not errors, errors
    cluster.add_node(num_cpus=1)  # for any test after this one

    recs = records(load_study(cfg))
    assert recs[lost]["state"] == "FAIL"
    assert recs[lost]["failure"].startswith("lost its Ray worker or node (")
    assert sum(r["state"] == "COMPLETE" for r in recs) == 3
    assert victim_id not in _nodes(load_study(cfg))
    study = run_search(cfg, n_trials=3, workers=2, trial_fn="_search_trials:held", estimate_fn=None, progress=False)
    assert len(study.trials) == len(recs)  # the rerun started nothing: the budget is complete
