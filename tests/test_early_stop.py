"""Early stopping at rungs (issue 14): the ranking against plain recounts, and stopped trials in a real study:
recorded as stopped, never on the frontier, no checkpoint, counted in the budget, seen by the samplers at a
predicted final value (never the rung value), rung
results shared between workers, and a kill + resume that keeps them."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

import _search_trials as st
import _waits as waits
from distilbo.search import records, run_search, status_table
from distilbo.search._rungs import continues, crowding_distance, front_ranks, priority, violations
from distilbo.search.early_stop import report_rung

TESTS = str(Path(__file__).resolve().parent)


# ---------------------------------------------------------------------------------------------- the ranking
def _dominates(a, b) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def test_front_ranks_match_a_recount_by_peeling():
    rng = np.random.default_rng(0)
    for _ in range(20):
        pts = rng.integers(0, 5, size=(12, 2)).astype(float)  # ties and duplicates included
        left, expected, rank = set(range(12)), {}, 0
        while left:
            front = {i for i in left if not any(_dominates(pts[j], pts[i]) for j in left if j != i)}
            expected.update({i: rank for i in front})
            left -= front
            rank += 1
        assert list(front_ranks(pts)) == [expected[i] for i in range(12)]


def test_crowding_distance_by_hand():
    # one front of 4 points on a line: ends inf; inner (gap in x / range x) + (gap in y / range y)
    pts = np.array([[0.0, 6.0], [1.0, 3.0], [3.0, 1.0], [6.0, 0.0]])
    d = crowding_distance(pts)
    assert np.isinf(d[0]) and np.isinf(d[3])
    assert d[1] == pytest.approx((3 - 0) / 6 + (6 - 1) / 6)
    assert d[2] == pytest.approx((6 - 1) / 6 + (3 - 0) / 6)
    assert np.isinf(crowding_distance(pts[:2])).all()


def test_a_trial_goes_on_when_it_is_in_the_best_third_by_pareto_rank():
    # size (min) and -accuracy (min): 0..2 on the front, 3 dominated by 1, 4 and 5 dominated by everything
    pts = np.array([[1.0, -30.0], [2.0, -50.0], [3.0, -60.0], [2.5, -40.0], [9.0, -10.0], [8.0, -5.0]])
    order = list(priority(pts))
    assert set(order[:3]) == {0, 1, 2} and order[3] == 3
    kept = [i for i in range(6) if continues(pts, index=i, eta=3, min_peers=3)]
    assert len(kept) == math.ceil(6 / 3) and set(kept) <= {0, 1, 2}
    assert 0 in kept and 2 in kept  # the front's ends (smallest, most accurate) before its middle
    # a small, inaccurate student on the front goes on where a bigger dominated one stops
    assert continues(pts, index=0, eta=3, min_peers=3) and not continues(pts, index=3, eta=3, min_peers=3)
    # too few peers yet: everyone goes on
    assert all(continues(pts[:2], index=i, eta=3, min_peers=3) for i in range(2))
    with pytest.raises(ValueError):
        continues(pts, index=0, eta=1.0, min_peers=1)


def test_students_that_meet_the_threshold_at_a_rung_rank_first():
    """A real decision (benchmarks/es_cpu.sh, 2026-12-04, rung at 0.34, eta 3, threshold HasAns_forced_f1 >= 20):
    six students at the rung as (params, rung score), trial 5 deciding last. By the objectives alone the front is
    {2, 5, 1} and the best ceil(6 / 3) = 2 are its ends, trial 2 (6.27M at 6.6, far below the threshold) and
    trial 1, so trial 5 (8.54M at 24.9; without rungs it finished at 33.1, on the frontier) stopped. Only 1 and 5
    meet the threshold: ranked first, both go on; the others follow by their shortfall, recounted by hand."""
    rows = [{"num_parameters": 17.24e6, "f1": 9.1}, {"num_parameters": 21.12e6, "f1": 43.3},
            {"num_parameters": 6.27e6, "f1": 6.6}, {"num_parameters": 10.63e6, "f1": 7.1},
            {"num_parameters": 11.38e6, "f1": 13.2}, {"num_parameters": 8.54e6, "f1": 24.9}]
    pts = np.array([[-r["f1"], r["num_parameters"]] for r in rows])
    assert not continues(pts, index=5, eta=3, min_peers=3)  # what the run decided, objectives only
    v = violations(rows, [{"metric": "f1", "min": 20.0}])
    assert list(v) == pytest.approx([(20 - 9.1) / 20, 0, (20 - 6.6) / 20, (20 - 7.1) / 20, (20 - 13.2) / 20, 0])
    assert continues(pts, index=5, eta=3, min_peers=3, violation=v)
    assert list(priority(pts, v)) == [1, 5, 4, 0, 3, 2]  # both ends of the feasible front, then least shortfall
    # nothing meets the threshold: least shortfall first; no threshold given: the plain ranking
    assert list(priority(pts[[0, 2, 3, 4]], v[[0, 2, 3, 4]])) == [3, 0, 2, 1]
    assert list(priority(pts, np.zeros(6))) == list(priority(pts))
    # a maximum (size budget) adds its relative excess; a metric the row lacks counts nothing
    both = violations([{"f1": 10.0, "num_parameters": 12e6}, {"f1": 30.0}],
                      [{"metric": "f1", "min": 20.0}, {"metric": "num_parameters", "max": 10e6}])
    assert list(both) == pytest.approx([0.5 + 0.2, 0.0])


def test_report_rung_outside_a_search_always_goes_on(tmp_path, monkeypatch):
    monkeypatch.delenv("DISTILBO_RUNG_PARENT", raising=False)
    assert report_rung(tmp_path, 0, {"exact": 1.0}) is True
    assert not list(tmp_path.iterdir())  # nothing written: nobody would answer


# ---------------------------------------------------------------------------------------------- in a study
def _one_size_config(out, **search):
    """The synthetic space with the size fixed (n_layers 3 x n_heads 4): the rung ranking is then by exact alone,
    so a plain sort recounts every decision."""
    cfg = st.make_config(out, sampler="random", **search)
    cfg.search.space = {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True}}
    return cfg.with_overrides({})


def test_stopped_trials_are_recorded_counted_and_never_on_the_front(tmp_path):
    cfg = _one_size_config(tmp_path / "run", rungs=[0.5], rung_eta=2.0, rung_min_peers=2)
    study = run_search(cfg, n_trials=10, trial_fn="_search_trials:with_rungs", estimate_fn="_search_trials:estimate",
                       progress=False)
    recs = records(study)
    assert sum(r["state"] == "COMPLETE" or r["status"] == "stopped" for r in recs) == 10  # the budget, stopped included
    stopped = [r for r in recs if r["status"] == "stopped"]
    assert stopped, "nothing was stopped"
    at_rung = []  # (number, rung exact) of every trial that reached the rung, in decision order (one worker)
    for r in sorted(recs, key=lambda r: r["number"]):
        rung = r["rungs"][0]
        lr = r["params"]["learning_rate"]
        final = st.synthetic_metrics(3, 4, lr)["exact"]
        assert rung["metrics"]["exact"] == pytest.approx(final - 5.0)
        at_rung.append(rung["metrics"]["exact"])
        n = len(at_rung)
        better = sum(v > at_rung[-1] for v in at_rung[:-1])
        expected = n < 2 or better < math.ceil(n / 2)  # the recount: in the best half of those at the rung
        assert rung["continued"] is expected, (r["number"], at_rung)
        assert rung["peers"] == n - 1
        if expected:
            assert r["status"] == "ok" and r["metrics"]["exact"] == pytest.approx(final)
            assert (Path(r["trial_dir"]) / "model").exists() or not r["on_front"]
        else:
            t = study.trials[r["number"]]
            assert t.state == TrialState.PRUNED and t.values is None and r["stopped_at_rung"] == 0
            assert "exact" not in r["metrics"]  # the partial value is never a final one
            assert not r["on_front"] and not (Path(r["trial_dir"]) / "model").exists()
    # stored as PRUNED, never COMPLETE: no reader of the study takes a stopped trial for a finished one
    seen = {t.number for t in study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,), use_cache=False)}
    assert seen.isdisjoint({r["number"] for r in stopped})
    table = status_table(recs, width=200)
    assert "stopped at rung 0 (exact" in table and f"{len(stopped)} stopped early" in table
    # the report: trials.csv says which rung, the page counts them and labels their rows
    import csv

    from distilbo.report.command import report

    paths = report(cfg)
    rows = {int(r["number"]): r for r in csv.DictReader(open(paths["csv"]))}
    assert {n for n, r in rows.items() if r["stopped_at_rung"] == "0"} == {r["number"] for r in stopped}
    page = Path(paths["html"]).read_text()
    assert f"<b>{len(stopped)}</b> stopped early" in page and page.count(">stopped at rung 0</td>") == len(stopped)



def test_feasible_first_rungs_in_a_study_follow_the_threshold(tmp_path):
    """`rung_feasible_first = true` in a real study (the full synthetic space, sizes differ): recounted per
    decision from the rung scores alone, without the library's ordering. With k = ceil(n / eta) places, a trial
    below the threshold stops whenever k others at the rung meet it, and one that meets it goes on whenever at
    most k do; at least one decision must differ from the objectives-only ranking (else the test proves nothing)."""
    threshold = 65.0  # on the rung's exact (the final exact - 5)
    cfg = st.make_config(tmp_path / "run", sampler="random", rungs=[0.5], rung_eta=3.0, rung_min_peers=3,
                         rung_feasible_first=True, constraints=[{"metric": "exact", "min": threshold}])
    study = run_search(cfg, n_trials=18, trial_fn="_search_trials:with_rungs", estimate_fn="_search_trials:estimate",
                       progress=False)
    rows, checked, differs = [], 0, 0
    for r in sorted(records(study), key=lambda r: r["number"]):
        rung = r["rungs"][0]
        rows.append(rung["metrics"])
        n, k = len(rows), math.ceil(len(rows) / 3.0)
        feasible = [m["exact"] >= threshold for m in rows]
        assert rung["peers"] == n - 1
        if n >= 3:  # min_peers trials at the rung, it included
            if not feasible[-1] and sum(feasible[:-1]) >= k:
                assert rung["continued"] is False, (r["number"], rows)
                checked += 1
            if feasible[-1] and sum(feasible) <= k:
                assert rung["continued"] is True, (r["number"], rows)
                checked += 1
            pts = np.array([[-m["exact"], m["num_parameters"]] for m in rows])
            differs += continues(pts, index=n - 1, eta=3.0, min_peers=3) != rung["continued"]
        else:
            assert rung["continued"] is True
    assert checked >= 4 and differs >= 1, (checked, differs, rows)


def test_samplers_see_stopped_trials_with_a_predicted_final_value_not_the_rung_value(tmp_path):
    """`with_rungs` reports exact - 5 at rung 0.5, so every trial that went on gained exactly 5: the prediction
    (rung + median gain) recovers each stopped trial's true final exact (recomputed from its params), which its
    rung value (5 below) is not. The gp sampler's view and the botorch sampler's fitted data both hold it."""
    from distilbo.search._botorch import QmcThenBoTorch
    from distilbo.search.study import QmcThenGp, make_sampler

    cfg = st.make_config(tmp_path / "run", sampler="botorch", rungs=[0.5], rung_eta=2.0, rung_min_peers=2)
    study = run_search(cfg, n_trials=9, trial_fn="_search_trials:with_rungs", estimate_fn="_search_trials:estimate",
                       progress=False)
    stopped = [t for t in study.trials if t.state == TrialState.PRUNED]
    finished = [t for t in study.trials if t.state == TrialState.COMPLETE and "rung_0" in t.user_attrs]
    assert stopped and len(finished) >= 3, (len(stopped), len(finished))

    def true_exact(t):  # type: ignore[no-untyped-def]
        p = {**{"n_layers": 3, "n_heads": 4}, **t.params}
        return st.synthetic_metrics(p["n_layers"], p["n_heads"], p["learning_rate"])["exact"]

    for built in (make_sampler(cfg, estimate=st.estimate), make_sampler(cfg.with_overrides({"sampler": "gp"}))):
        inner = built._inner
        assert isinstance(inner, (QmcThenBoTorch, QmcThenGp))
        view = inner._view(study)
        complete = {t.number: t for t in view._get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
        for t in stopped:
            seen = complete[t.number]  # a stopped trial is in what the sampler models ...
            exact, size = seen.values
            assert exact == pytest.approx(true_exact(t))  # ... at its predicted final value
            assert exact == pytest.approx(t.user_attrs["rung_0"]["metrics"]["exact"] + 5.0)
            assert size == t.user_attrs["metrics"]["num_parameters"]
            assert seen.constraints["failed"] == -1.0
        assert all(t.state == TrialState.PRUNED for t in stopped)  # nothing was written back
    # the botorch sampler fitted its exact-model on them: the last suggestion's data has one row per ran trial
    p = study.sampler._inner.last_problem
    ran_ok = [t for t in study.trials if t.state == TrialState.COMPLETE and not t.user_attrs.get("failure")
              and not t.user_attrs.get("skipped")]
    assert p is not None and p.X_ok.shape[0] >= len(ran_ok)
    fitted = sorted(round(v, 6) for v in p.Y_ok[:, 0].tolist())
    assert any(round(true_exact(t), 6) in fitted for t in stopped if t.number < len(study.trials) - 1)


def test_progress_counts_stopped_trials_as_done(tmp_path, capsys):
    cfg = _one_size_config(tmp_path / "run", rungs=[0.5], rung_eta=2.0, rung_min_peers=2)
    study = run_search(cfg, n_trials=8, trial_fn=st.with_rungs, estimate_fn=st.estimate, progress=True)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("distilbo search:")]
    stopped = [t.number for t in study.trials if "stopped_at_rung" in t.user_attrs]
    assert stopped  # in-process trial functions get the same rung decisions
    for n in stopped:
        assert any(f"| trial {n} stopped at rung 0 (exact " in ln for ln in lines), n
    assert "8/8 done (0 failed)" in lines[-1] and "ETA 0:00:00" in lines[-1]


def test_two_workers_see_each_others_rung_results(tmp_path):
    cfg = _one_size_config(tmp_path / "run", rungs=[0.3, 0.6], rung_eta=3.0, rung_min_peers=1)
    study = run_search(cfg, n_trials=8, workers=2, trial_fn="_search_trials:with_rungs",
                       estimate_fn="_search_trials:estimate", progress=False)
    trials = study.get_trials(deepcopy=False)
    pid = {t.number: t.user_attrs["worker"]["pid"] for t in trials if "worker" in t.user_attrs}
    assert len(set(pid.values())) == 2
    crossed = 0
    for t in trials:
        for k in (0, 1):
            rung = t.user_attrs.get(f"rung_{k}")
            if rung is None:
                continue
            others = [u for u in trials if u.number != t.number and f"rung_{k}" in u.user_attrs
                      and pid.get(u.number) != pid.get(t.number)]
            crossed += bool(others) and rung["peers"] > 0
    assert crossed > 0
    assert sum(t.state == TrialState.COMPLETE or "stopped_at_rung" in t.user_attrs for t in trials) == 8


DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import _search_trials as st
from test_early_stop import _one_size_config
from distilbo.search import run_search
cfg = _one_size_config({out!r}, rungs=[0.5], rung_eta=2.0, rung_min_peers=2)
run_search(cfg, n_trials=8, trial_fn="_search_trials:with_rungs", estimate_fn="_search_trials:estimate", progress=False)
"""


@pytest.mark.faults
def test_a_stopped_trial_survives_a_kill_and_resume(tmp_path):
    out = tmp_path / "run"
    cfg = _one_size_config(out, rungs=[0.5], rung_eta=2.0, rung_min_peers=2)
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER.format(tests=TESTS, out=str(out))))
    env = {**os.environ, "SYNTH_RUNG_SLEEP": "0.5"}

    def load():
        from distilbo.search.study import open_storage

        return optuna.load_study(study_name=cfg.run.study, storage=open_storage(cfg))

    def stopped_while_another_runs(trials):
        stopped = [t for t in trials if t.state == TrialState.PRUNED]
        if stopped and any(t.state == TrialState.RUNNING for t in trials):
            return {t.number: dict(t.user_attrs) for t in stopped}
        return None

    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    before = st.kill_when(proc, load, stopped_while_another_runs, timeout=120, not_yet=(Exception,))
    assert before is not None, "never saw a stopped trial while another ran"
    waits.run([sys.executable, str(script)], check=True, watch=[out], env={**env, "SYNTH_RUNG_SLEEP": "0"})
    study = load()
    for n, attrs in before.items():
        t = study.trials[n]
        assert t.state == TrialState.PRUNED and t.user_attrs["stopped_at_rung"] == attrs["stopped_at_rung"]
        assert t.user_attrs["rung_0"] == attrs["rung_0"]
    recs = records(study)
    assert sum(r["state"] == "COMPLETE" or r["status"] == "stopped" for r in recs) == 8
    assert any(r["status"] == "interrupted" for r in recs)
    assert not any(r["on_front"] and r["status"] != "ok" for r in recs)


def test_rungs_setting_is_checked():
    from distilbo.config import load_config
    from distilbo.errors import ConfigError

    cfg = load_config(None)
    assert cfg.with_overrides({"rungs": "[0.34, 0.67]"}).search.rungs == [0.34, 0.67]
    for bad in ("[0.67, 0.34]", "[0, 0.5]", "[1.0]", "[0.5, 0.5]"):
        with pytest.raises(ConfigError, match="rungs"):
            cfg.with_overrides({"rungs": bad})
    with pytest.raises(ConfigError, match="rung_eta"):
        cfg.with_overrides({"rung_eta": "1"})



# ---------------------------------------------------------------------------------------------- the real trial
def test_a_real_trial_scores_its_rung_like_the_epoch_and_stops_when_told(tmp_path):
    """Tiny real models: the rung at half of 2 epochs comes right after epoch 1, so its scores (rung path, first
    `rung_questions` = all 16 dev questions) equal that epoch's dev row (the per-epoch path); told to stop, the trial
    raises StoppedAtRung there and writes no model and no metrics."""
    import json

    from _tiny import tiny_config
    from distilbo.config import load_config
    from distilbo.distill.trial import run_trial
    from distilbo.search.early_stop import StoppedAtRung, answering

    cfg = load_config(tiny_config(tmp_path)).with_overrides({"rungs": "[0.5]", "rung_questions": "16"})
    asked = []
    with answering(lambda k, m: asked.append((k, m)) or True):
        run_trial(cfg, tmp_path / "on", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "on" / "curves.jsonl").read_text().splitlines()]
    rung = next(r for r in rows if "rung" in r)
    epoch1 = next(r for r in rows if r.get("epoch") == 1.0 and "exact" in r and "rung" not in r)
    assert rung["rung_questions"] == 16 and rung["fraction"] == 0.5
    for k in ("exact", "f1", "HasAns_forced_f1"):
        assert rung[k] == pytest.approx(epoch1[k], abs=1e-9)
    [(k, reported)] = asked
    assert k == 0 and reported["exact"] == rung["exact"] and reported["num_parameters"] > 0

    with answering(lambda k, m: False), pytest.raises(StoppedAtRung) as e:
        run_trial(cfg, tmp_path / "off", progress=False)
    assert e.value.rung == 0
    assert not (tmp_path / "off" / "model").exists() and not (tmp_path / "off" / "metrics.json").exists()
    assert any("rung" in json.loads(line) for line in (tmp_path / "off" / "curves.jsonl").read_text().splitlines())
