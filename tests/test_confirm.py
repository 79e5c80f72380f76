"""Confirmation runs (`distilbo confirm`, `distilbo.search.confirm`) and the confirmed report (`report.confirmed`):
runs land as their own records linked to their trial, survive a kill and resume, move the scenario picks to the
confirmed means, and the test split never changes a choice.

Run: python -m pytest tests/test_confirm.py -q        (synthetic trial functions in tests/_search_trials.py)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

import _search_trials as st
from distilbo.errors import UserError
from distilbo.report.command import report, scenarios_of
from distilbo.report.confirmed import confirmed_marks, confirmed_records, summarize
from distilbo.search import run_search
from distilbo.search.confirm import confirm, confirmation_runs, targets
from distilbo.search.study import load_study, records

optuna.logging.set_verbosity(optuna.logging.WARNING)
TESTS = str(Path(__file__).resolve().parent)
NOISY = "_search_trials:noisy"


def _study(out: Path, n_trials: int = 6):
    cfg = st.make_config(out, sampler="random")
    run_search(cfg, n_trials=n_trials, trial_fn=NOISY, estimate_fn=None, progress=False)
    return cfg


def test_runs_land_as_their_own_records_linked_to_the_trial(tmp_path):
    cfg = _study(tmp_path)
    study = load_study(cfg)
    before = [(t.number, t.values, dict(t.user_attrs)) for t in study.trials]
    chosen = targets(records(study, curves=False))
    assert any(r["is_baseline"] for r in chosen) and len(chosen) >= 2
    runs = confirm(cfg, seeds=2, workers=2, trial_fn=NOISY, progress=False)
    # one record per (target, seed), each the trial's own settings with the next seeds, linked by number
    assert sorted((r["trial"], r["seed"]) for r in runs) == sorted((r["number"], s) for r in chosen for s in (1, 2))
    by_number = {r["number"]: r for r in chosen}
    for run in runs:
        rec = by_number[run["trial"]]
        smooth = st.synthetic_metrics(rec["params"]["n_layers"], rec["params"]["n_heads"],
                                      rec["params"]["learning_rate"])["exact"]
        assert run["state"] == "ok"
        assert run["metrics"]["exact"] == pytest.approx(smooth + st.noise(run["seed"], rec["params"]["n_layers"]))
        assert run["metrics"]["test_exact"] == pytest.approx(run["metrics"]["exact"] - 10.0)
        assert Path(run["run_dir"]).is_dir()
    # the trials themselves are untouched: same numbers, values and attributes, no new trial
    study = load_study(cfg)
    assert [(t.number, t.values, dict(t.user_attrs)) for t in study.trials] == before
    # the confirmed means are the recount of the draws: the search's own plus the two runs
    crecs = {r["number"]: r for r in confirmed_records(records(study, curves=False), runs) if r["confirmed"]}
    for number, rec in crecs.items():
        draws = [by_number[number]["metrics"]["exact"]] + [r["metrics"]["exact"] for r in runs if r["trial"] == number]
        assert rec["metrics"]["exact"] == pytest.approx(sum(draws) / 3)
        assert rec["confirmed"]["stats"]["exact"]["sd"] == pytest.approx(summarize(draws)["sd"])
        assert rec["confirmed"]["stats"]["test_exact"]["n"] == 2  # the search never scores the test split
    # a rerun has nothing left to do
    again = confirm(cfg, seeds=2, workers=2, trial_fn=NOISY, progress=False)
    assert [(r["trial"], r["seed"], r["finished"]) for r in again] == [(r["trial"], r["seed"], r["finished"]) for r in runs]


def _record(number: int, size: float, exact: float, *, baseline: bool = False) -> dict:
    return {"number": number, "state": "COMPLETE", "status": "ok", "params": {}, "failure": None,
            "is_baseline": baseline, "feasible": True, "on_front": True,
            "metrics": {"exact": exact, "num_parameters": size}}


def _run(trial: int, seed: int, exact: float, test: float) -> dict:
    return {"trial": trial, "seed": seed, "state": "ok", "metrics": {"exact": exact, "test_exact": test}}


def test_a_lucky_draw_confirmed_lower_changes_the_scenario_pick_and_the_test_split_never_does():
    cfg = st.make_config("unused")
    recs = [_record(0, 10e6, 50.0, baseline=True), _record(1, 6e6, 60.0), _record(2, 5e6, 58.0)]
    # by the single draws, the best smaller model is trial 1 (60 > 58)
    rows, confirmed, _ = scenarios_of(cfg, recs, [])
    assert not confirmed
    pick = {r["scenario"]: r["trial"] for r in rows}
    assert pick["minimize size, maximize performance"] == 1
    # confirmed: trial 1 was lucky (60 -> 50, 51), trial 2 holds (58 -> 58, 59)
    runs = [_run(0, 1, 50.0, 40.0), _run(0, 2, 51.0, 41.0), _run(1, 1, 50.0, 45.0), _run(1, 2, 51.0, 44.0),
            _run(2, 1, 58.0, 30.0), _run(2, 2, 59.0, 31.0)]
    rows, confirmed, marks = scenarios_of(cfg, recs, runs)
    pick = {r["scenario"]: r for r in rows}
    assert pick["minimize size, maximize performance"]["trial"] == 2
    row = pick["minimize size, maximize performance"]
    assert row["value"] == pytest.approx((58 + 58 + 59) / 3) and row["n_seeds"] == 3
    assert row["value_sd"] == pytest.approx(summarize([58, 58, 59])["sd"])
    assert row["test_value"] == pytest.approx(30.5) and row["test_n"] == 2
    # trial 2 (5M, 58.3) now dominates trial 1 (6M, 53.7) and the baseline (10M, 50.3)
    assert marks == {0: "falls off the front", 1: "falls off the front", 2: "confirmed on the front"}
    # scrambled test labels (any test values at all): the same picks
    for scramble in ([-100.0] * 6, [99.0, 0.0, 99.0, 0.0, 99.0, 0.0], [7.0, 3.0, 5.0, 1.0, 2.0, 9.0]):
        shuffled = [dict(r, metrics={**r["metrics"], "test_exact": v}) for r, v in zip(runs, scramble)]
        again, _, marks_again = scenarios_of(cfg, recs, shuffled)
        assert [r["trial"] for r in again] == [r["trial"] for r in rows] and marks_again == marks


def test_a_confirmed_mean_under_the_threshold_is_marked(tmp_path):
    recs = [_record(0, 10e6, 55.0, baseline=True), _record(1, 5e6, 52.0)]
    runs = [_run(1, 1, 45.0, 0.0), _run(1, 2, 46.0, 0.0), _run(0, 1, 55.0, 0.0)]
    crecs = confirmed_records(recs, runs)
    marks = confirmed_marks(crecs, [{"metric": "exact", "direction": "maximize"},
                                    {"metric": "num_parameters", "direction": "minimize"}],
                            [{"metric": "exact", "min": 50.0}])
    assert marks == {0: "confirmed on the front", 1: "falls under a constraint"}


def test_confirmation_survives_a_kill_and_resumes(tmp_path):
    cfg = _study(tmp_path / "run", n_trials=4)
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {TESTS!r})
        import _search_trials as st
        from distilbo.search.confirm import confirm
        confirm(st.make_config({str(tmp_path / 'run')!r}, sampler="random"), seeds=2, workers=1,
                trial_fn={NOISY!r}, progress=False)
    """))
    env = {**os.environ, "SYNTH_SLEEP": "2"}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, start_new_session=True)
    seen = None
    deadline = time.monotonic() + 300  # generous on a busy machine; the loop ends as soon as it sees the state
    try:
        while seen is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            runs = confirmation_runs(load_study(cfg))
            done = [r for r in runs if r["state"] == "ok"]
            running = [r for r in runs if r["state"] == "running"]
            if done and running:
                seen = ({(r["trial"], r["seed"]): r["finished"] for r in done}, (running[0]["trial"], running[0]["seed"]))
                os.killpg(proc.pid, signal.SIGKILL)  # the driver and its trial child
    finally:
        proc.kill()
        proc.wait()
    assert seen is not None, "never saw a finished and a running confirmation run together"
    finished_before, interrupted = seen
    runs = {(r["trial"], r["seed"]): r for r in confirmation_runs(load_study(cfg))}
    assert runs[interrupted]["state"] == "running"  # what the kill left behind
    after = confirm(cfg, seeds=2, workers=1, trial_fn=NOISY, progress=False)
    n_targets = len(targets(records(load_study(cfg), curves=False)))
    assert len(after) == 2 * n_targets and all(r["state"] == "ok" for r in after)
    for key, finished in finished_before.items():  # done runs are not redone
        assert next(r for r in after if (r["trial"], r["seed"]) == key)["finished"] == finished


def test_a_failed_run_is_recorded_and_the_others_go_on(tmp_path):
    cfg = _study(tmp_path, n_trials=4)
    runs = confirm(cfg, seeds=1, workers=1, trial_fn="_search_trials:region_fails_all", progress=False)
    assert runs and all(r["state"] == "failed" and "synthetic" in r["failure"] for r in runs)
    runs = confirm(cfg, seeds=1, workers=1, trial_fn=NOISY, progress=False)  # a rerun retries them
    assert all(r["state"] == "ok" for r in runs)


def test_bad_requests_are_one_line_errors(tmp_path):
    cfg = _study(tmp_path, n_trials=3)
    with pytest.raises(UserError, match="--seeds"):
        confirm(cfg, seeds=0, trial_fn=NOISY)
    with pytest.raises(UserError, match="--trial 99"):
        confirm(cfg, seeds=1, trials=[99], trial_fn=NOISY)


def test_the_report_shows_confirmed_values(tmp_path):
    cfg = _study(tmp_path)
    confirm(cfg, seeds=2, workers=2, trial_fn=NOISY, progress=False)
    paths = report(cfg)
    doc = json.loads(paths["json"].read_text())
    crecs = {r["number"]: r for r in confirmed_records(records(load_study(cfg), curves=False),
                                                       confirmation_runs(load_study(cfg))) if r["confirmed"]}
    assert {c["number"] for c in doc["confirmed"]} == set(crecs)
    for c in doc["confirmed"]:
        assert c["stats"]["exact"]["mean"] == pytest.approx(crecs[c["number"]]["metrics"]["exact"])
        assert c["stats"]["exact"]["n"] == 3 and c["mark"]
    scen = {r["scenario"]: r for r in doc["scenarios"]}
    assert scen["baseline"]["n_seeds"] == 3 and "test_value" in scen["baseline"]
    page = paths["html"].read_text()
    assert 'id="confirmed-table"' in page and "±" in page
    assert page.count('class="conf-pt"') == len(crecs)  # a diamond with its sd bar per confirmed trial in the chart
