"""The search: study storage and resume, failures recorded as data the sampler learns from, trials in child
processes (raise, timeout, memory limit, hard exits), a killed search resumed, records and the Pareto front.

Run: python -m pytest tests/test_search.py -q        (synthetic trial functions in tests/_search_trials.py)
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

import _search_trials as st
import _waits as waits
from distilbo.errors import ConfigError, UserError
from distilbo.search import (create_or_load_study, fail_stale_trials, make_objective, mask_url, front_records,
                             records, run_search, status, status_table)
from distilbo.search.runner import ensure_baseline
from distilbo.config import parse_space
from distilbo.search.space import distributions, sample
from distilbo.search.study import make_sampler, open_storage

torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)
TESTS = str(Path(__file__).resolve().parent)


def brute_force_front(recs: list[dict], cfg) -> set[int]:
    """Numbers of the successful trials meeting every config constraint that no other such trial dominates."""
    signs = [-1.0 if o["direction"] == "maximize" else 1.0 for o in cfg.search.objectives]

    def meets(r: dict) -> bool:
        m = r["metrics"]
        return all(("min" not in c or m[c["metric"]] >= c["min"]) and ("max" not in c or m[c["metric"]] <= c["max"])
                   for c in cfg.search.constraints)

    pool = [r for r in recs if r["state"] == "COMPLETE" and r["failure"] is None and r["skipped"] is None and meets(r)]
    pts = {r["number"]: [s * r["metrics"][o["metric"]] for s, o in zip(signs, cfg.search.objectives)] for r in pool}
    return {n for n, p in pts.items()
            if not any(all(a <= b for a, b in zip(q, p)) and any(a < b for a, b in zip(q, p)) for q in pts.values())}


# ---------------------------------------------------------------------------------------------- storage, names
def test_mask_url_hides_passwords():
    assert mask_url("postgresql://bob:hunter2@db.example:5432/optuna") == "postgresql://bob:***@db.example:5432/optuna"
    assert mask_url("postgresql://bob:p@ss/w@host/db?sslmode=require") == "postgresql://bob:***@host/db?sslmode=require"
    assert mask_url("postgresql://host/db?user=bob&password=hunter2&x=1") == "postgresql://host/db?user=bob&password=***&x=1"
    for plain in ("sqlite:////tmp/a@b/study.db", "sqlite:///study.db", "postgresql://bob@host/db", "runs/x/study.log"):
        assert mask_url(plain) == plain


def test_unreachable_storage_is_a_user_error_without_the_password(tmp_path):
    cfg = st.make_config(tmp_path)
    with pytest.raises(UserError) as e:
        open_storage(cfg, "postgresql://bob:hunter2@127.0.0.1:9/optuna")
    assert "hunter2" not in str(e.value) and "bob:***@127.0.0.1:9" in str(e.value)


def test_study_with_other_objectives_is_a_user_error(tmp_path):
    cfg = st.make_config(tmp_path)
    study = create_or_load_study(cfg)
    assert study.metric_names == ["exact", "num_parameters"]
    assert create_or_load_study(cfg).metric_names == ["exact", "num_parameters"]  # resume: same objectives ok
    other = st.make_config(tmp_path, objectives=[{"metric": "exact", "direction": "maximize"},
                                                 {"metric": "latency_ms", "direction": "minimize"}])
    with pytest.raises(UserError, match="--study"):
        create_or_load_study(other)
    flipped = st.make_config(tmp_path, objectives=[{"metric": "exact", "direction": "minimize"},
                                                   {"metric": "num_parameters", "direction": "minimize"}])
    with pytest.raises(UserError, match="exact \\(maximize\\)"):
        create_or_load_study(flipped)
    looser = st.make_config(tmp_path, constraints=[{"metric": "exact", "min": 10.0}])
    with pytest.raises(UserError, match="constraints"):
        create_or_load_study(looser)


def test_status_without_a_study_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="distilbo search"):
        status(st.make_config(tmp_path))


def test_baseline_needs_a_value_for_every_searched_parameter(tmp_path):
    cfg = st.make_config(tmp_path).with_overrides({"n_layers": None})
    study = create_or_load_study(cfg)
    with pytest.raises(ConfigError, match="n_layers"):
        ensure_baseline(study, cfg, budget=3)


# ---------------------------------------------------------------------------------------------- end to end
def test_gp_study_end_to_end_in_child_processes(tmp_path):
    """8 GP trials through real child processes and a real SQLite file: baseline first, every trial finished or
    failed with a reason, records consistent, the Pareto front equal to a brute-force recount."""
    cfg = st.make_config(tmp_path / "run")
    study = run_search(cfg, n_trials=8, trial_fn="_search_trials:region_fails", estimate_fn="_search_trials:estimate",
                       progress=False)
    assert (tmp_path / "run" / "study.db").is_file()
    recs = records(study)
    assert len(recs) == 8 and all(r["state"] == "COMPLETE" for r in recs)
    assert recs[0]["is_baseline"] and recs[0]["params"] == {"n_layers": 3, "n_heads": 4, "learning_rate": 5e-5}
    assert not any(r["is_baseline"] for r in recs[1:])
    for r in recs:
        p = r["params"]
        expected = st.synthetic_metrics(p["n_layers"], p["n_heads"], p["learning_rate"])
        if p["n_layers"] * p["n_heads"] > st.FAIL_PRODUCT:
            assert r["status"] == "failed" and r["failure"].startswith("out of memory: MemoryError: synthetic")
            assert not r["feasible"] and r["values"][0] == 0.0
            assert r["values"][1] == expected["num_parameters"]  # known from the estimate before training
        else:
            assert r["status"] == "ok" and r["failure"] is None
            assert r["values"] == pytest.approx([expected["exact"], expected["num_parameters"]])
            assert r["feasible"] == (expected["exact"] >= 50.0)
            assert (Path(r["trial_dir"]) / "metrics.json").is_file() and len(r["curves"]) == 2
    assert {"ok", "failed"} <= {r["status"] for r in recs}  # both paths exercised
    front = {r["number"] for r in front_records(study)}
    assert front and front == brute_force_front(recs, cfg)
    table = status_table(recs)
    assert table.splitlines()[1].startswith("0*")
    assert status(cfg).splitlines()[0] == table.splitlines()[0]


def test_declared_space_is_what_suggest_registers():
    """`space.distributions` (what start-up trials are drawn from before any trial registered its own) repeats
    `space.suggest`'s switch over kinds; Optuna's record of what a sampled trial registered is the reference."""
    params = parse_space({"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
                          "dropout": {"type": "float", "low": 0.0, "high": 0.3, "step": 0.05},
                          "dim": {"type": "int", "low": 192, "high": 384, "step": 64},
                          "batch_size": {"type": "int", "low": 8, "high": 128, "log": True},
                          "layer_selection": {"type": "categorical", "choices": ["even", "bottom"]},
                          "warmup_ratio": 0.1}, where="test")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    values = sample(trial, params)
    assert values["warmup_ratio"] == 0.1
    assert distributions(params) == study.trials[0].distributions
    assert list(distributions(params)) == ["learning_rate", "dropout", "dim", "batch_size", "layer_selection"]


@pytest.mark.slow
def test_failure_feedback_steers_the_sampler_away(tmp_path):
    """With failures recorded as infeasible pessimistic results, the GP proposes far fewer trials in the failing
    region than when failed trials are just dropped (Optuna FAIL, which samplers ignore)."""
    cfg = st.make_config(tmp_path, constraints=[])
    params = parse_space(cfg.search.space, where="test")
    n_trials, startup = 20, cfg.search.n_startup_trials

    def in_region(t) -> bool:
        return t.params["n_layers"] * t.params["n_heads"] > st.FAIL_PRODUCT

    def plain(trial):  # failures raise -> FAIL, ignored by the sampler
        m = st.region_fails(cfg.with_overrides(sample(trial, params)), None)
        return m["exact"], m["num_parameters"]

    rates = {"feedback": [], "ignored": []}
    for seed in range(4):
        for mode in rates:
            study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(cfg, seed=seed))
            if mode == "feedback":
                study.optimize(make_objective(cfg, trial_fn=st.region_fails, estimate_fn=None), n_trials=n_trials)
                assert all(t.state == TrialState.COMPLETE for t in study.trials)
            else:
                study.optimize(plain, n_trials=n_trials, catch=(MemoryError,))
            late = study.trials[startup:]
            rates[mode].append(sum(in_region(t) for t in late) / len(late))
    feedback, ignored = (sum(v) / len(v) for v in rates.values())
    assert ignored > 0.3, rates
    assert feedback < 0.25 * ignored, rates  # measured here: about 0.09 vs 0.71


def test_estimate_over_budget_skips_the_trial(tmp_path):
    """A num_parameters max constraint that the estimate already breaks: recorded infeasible, never run."""
    cfg = st.make_config(tmp_path, sampler="random", constraints=[{"metric": "num_parameters", "max": 4e6}])
    ran = []

    def trial_fn(c, d):
        ran.append((c.student.n_layers, c.student.n_heads))
        return st.smooth(c, d)

    study = run_search(cfg, n_trials=10, trial_fn=trial_fn, estimate_fn=st.estimate, progress=False)
    recs = records(study)
    assert len(recs) == 10
    for r in recs:
        size = st.estimate(cfg.with_overrides(r["params"]))["num_parameters"]
        assert (r["skipped"] is not None) == (size > 4e6)
        assert r["feasible"] == (size <= 4e6) and r["failure"] is None
    assert sorted(ran) == sorted((r["params"]["n_layers"], r["params"]["n_heads"]) for r in recs if not r["skipped"])
    skipped = [r for r in recs if r["skipped"]]
    assert ran and skipped and all("> max 4e+06" in r["skipped"] and r["status"] == "skipped" for r in skipped)


def test_budget_counts_the_whole_study_and_the_baseline_runs_once(tmp_path):
    cfg = st.make_config(tmp_path, sampler="random")
    study = run_search(cfg, n_trials=3, trial_fn=st.smooth, estimate_fn=None, progress=False)
    assert len(study.trials) == 3
    study = run_search(cfg, n_trials=3, trial_fn=st.smooth, estimate_fn=None, progress=False)
    assert len(study.trials) == 3  # nothing left to do
    study = run_search(cfg, n_trials=5, trial_fn=st.smooth, estimate_fn=None, progress=False)
    recs = records(study)
    assert [r["state"] for r in recs] == ["COMPLETE"] * 5
    assert [r["is_baseline"] for r in recs] == [True, False, False, False, False]


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random"])
def test_other_samplers_learn_from_recorded_failures_too(tmp_path, sampler):
    """Every sampler gets the same data: failures COMPLETE with `failed` = +1, successes -1."""
    cfg = st.make_config(tmp_path, sampler=sampler, n_startup_trials=2)
    study = run_search(cfg, n_trials=8, trial_fn=st.region_fails, estimate_fn=None, progress=False)
    recs = records(study)
    assert [r["state"] for r in recs] == ["COMPLETE"] * 8
    for r in recs:
        assert r["constraints"]["failed"] == (1.0 if r["status"] == "failed" else -1.0)
        assert list(r["constraints"]) == ["exact>=50", "failed"]


def test_progress_lines_on_stderr(tmp_path, capsys):
    cfg = st.make_config(tmp_path, sampler="random")
    run_search(cfg, n_trials=3, trial_fn=st.region_fails, estimate_fn=None, progress=True)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("distilbo search:")]
    assert "0/3 done (0 failed), 0 running" in lines[0] and "study 'distilbo' in sqlite:///" in lines[0]
    assert "3/3 done" in lines[-1] and "ETA 0:00:00" in lines[-1] and "front " in lines[-1]
    assert "| trial 0 (baseline): exact 60.15, num_parameters 4e+06" in lines[1]
    assert len(lines) == 4  # the start, then one line per finished trial


# ---------------------------------------------------------------------------------------------- failure modes
@pytest.mark.faults
def test_child_failure_modes_are_recorded_and_the_study_goes_on(tmp_path):
    modes = {0: None, 1: "ValueError: synthetic bad region", 2: "timeout after 3 s",
             3: "out of memory: MemoryError", 4: "exited with code 7", 5: "killed (out of memory?)",
             6: "exact = nan (not a finite number)", 7: "timeout after 3 s"}
    cfg = st.make_config(tmp_path, sampler="random", baseline=False, trial_timeout=3.0, trial_memory_limit="2GB",
                         space={"selection_seed": {"type": "int", "low": 0, "high": 7}})
    study = create_or_load_study(cfg)
    for k in modes:
        study.enqueue_trial({"selection_seed": k})
    study = run_search(cfg, n_trials=len(modes), trial_fn="_search_trials:modes", estimate_fn=None, progress=False)
    recs = records(study)
    assert [r["params"]["selection_seed"] for r in recs] == list(modes)
    ok_size = recs[0]["metrics"]["num_parameters"]
    for r in recs:
        want = modes[r["params"]["selection_seed"]]
        assert r["state"] == "COMPLETE"
        if want is None:
            assert r["status"] == "ok" and r["feasible"]
            continue
        assert r["status"] == "failed" and r["failure"].startswith(want), r["failure"]
        # pessimistic: exact 0, num_parameters the largest any successful trial had; constraints violated
        assert r["values"] == [0.0, ok_size] and r["constraints"]["failed"] == 1.0 and not r["feasible"]
    error = (Path(recs[1]["trial_dir"]) / "error.txt").read_text()
    assert error.startswith("ValueError: synthetic bad region") and "Traceback" in error and "modes" in error
    assert (Path(recs[3]["trial_dir"]) / "error.txt").read_text().startswith("out of memory: MemoryError")
    import psutil  # the time limit killed the trial's whole process group, grandchild included

    grandchild = int((Path(recs[7]["trial_dir"]) / "grandchild.pid").read_text())
    time.sleep(0.2)
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE


def test_failure_reasons_are_one_line_and_name_out_of_memory():
    from distilbo.search._child import failure_reason

    class OutOfMemoryError(RuntimeError):  # what torch.cuda raises
        pass

    assert failure_reason(ValueError("bad\n  value")) == "ValueError: bad value"
    assert failure_reason(MemoryError()) == "out of memory: MemoryError"
    assert failure_reason(OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")).startswith(
        "out of memory: OutOfMemoryError: CUDA out of memory.")
    assert failure_reason(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
                                       "memory")).startswith("out of memory: RuntimeError")
    assert failure_reason(OSError(12, "Cannot allocate memory")).startswith("out of memory: OSError")
    assert failure_reason(KeyError("x")) == "KeyError: 'x'"
    assert len(failure_reason(ValueError("x" * 1000))) == 300


# ---------------------------------------------------------------------------------------------- resume
DRIVER = """
import sys
sys.path.insert(0, {tests!r})
import _search_trials as st
import _waits as waits
from distilbo.search import run_search
cfg = st.make_config({out!r}, storage={storage!r}, sampler="random")
run_search(cfg, n_trials=3, trial_fn="_search_trials:slow", estimate_fn=None, progress=False)
"""


def _load(cfg) -> optuna.Study:
    return optuna.load_study(study_name=cfg.run.study, storage=open_storage(cfg))


@pytest.mark.faults
@pytest.mark.parametrize("storage", [None, "study.log"], ids=["sqlite", "journal"])
def test_resume_after_the_search_is_killed(tmp_path, storage):
    """SIGKILL the search while a trial runs; rerun: finished trials intact, the interrupted one FAIL with a
    reason, the budget completed."""
    out = tmp_path / "run"
    storage = None if storage is None else str(tmp_path / storage)
    cfg = st.make_config(out, storage=storage, sampler="random")
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(DRIVER.format(tests=TESTS, out=str(out), storage=storage)))

    def finished_and_running(trials):
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if done and running:
            return {t.number: (t.values, t.params) for t in done}, running[0].number
        return None

    proc = subprocess.Popen([sys.executable, str(script)])
    seen = st.kill_when(proc, lambda: _load(cfg), finished_and_running, timeout=60,
                        not_yet=(KeyError, ValueError, UserError))
    assert seen is not None, "never saw a finished and a running trial together"
    before, interrupted = seen
    assert _load(cfg).trials[interrupted].state == TrialState.RUNNING
    waits.run([sys.executable, str(script)], check=True, watch=[out])  # to its end, however busy the machine
    study = _load(cfg)
    recs = records(study)
    for n, (values, params) in before.items():
        assert (study.trials[n].values, study.trials[n].params) == (values, params)
    assert recs[interrupted]["state"] == "FAIL" and recs[interrupted]["failure"].startswith("worker died")
    assert sum(r["state"] == "COMPLETE" for r in recs) == 3
    assert not any(r["state"] == "RUNNING" for r in recs)
    assert sum(r["is_baseline"] and r["state"] == "COMPLETE" for r in recs) == 1


@pytest.mark.faults
def test_stale_running_trials_are_failed_by_owner_liveness(tmp_path):
    """Dead local pid -> FAIL now; live local pid -> untouched; remote worker -> FAIL only after the grace period."""
    cfg = st.make_config(tmp_path, storage=str(tmp_path / "j.log"))
    study = create_or_load_study(cfg)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import psutil

    parent = psutil.Process(os.getppid())
    owners = {
        "dead": {"host": socket.gethostname(), "pid": dead.pid, "pid_start": time.time() - 5},
        "alive": {"host": socket.gethostname(), "pid": parent.pid, "pid_start": parent.create_time()},
        "reused": {"host": socket.gethostname(), "pid": parent.pid, "pid_start": parent.create_time() - 1000},
        "remote-old": {"host": "elsewhere", "pid": 1, "pid_start": 0.0},
        "remote-fresh": {"host": "elsewhere", "pid": 1, "pid_start": 0.0},
    }
    numbers = {}
    for name, owner in owners.items():
        t = study.ask()
        t.set_user_attr("worker", owner)
        t.set_user_attr("heartbeat", time.time() - (1000 if name == "remote-old" else 1))
        numbers[name] = t.number
    failed = fail_stale_trials(study, grace_period=180)
    assert sorted(failed) == sorted(numbers[n] for n in ("dead", "reused", "remote-old"))
    for name, n in numbers.items():
        t = study.trials[n]
        if n in failed:
            assert t.state == TrialState.FAIL and t.user_attrs["failure"].startswith("worker died")
        else:
            assert t.state == TrialState.RUNNING


@pytest.mark.faults
def test_two_local_workers_share_the_study(tmp_path):
    cfg = st.make_config(tmp_path, sampler="random")
    study = run_search(cfg, n_trials=4, workers=2, trial_fn="_search_trials:slow", estimate_fn=None, progress=False)
    recs = records(study)
    done = [r for r in recs if r["state"] == "COMPLETE"]
    assert 4 <= len(done) <= 5  # two workers may both start the last trial (documented overshoot of < workers)
    assert all(r["status"] == "ok" for r in done) and recs[0]["is_baseline"]
    pids = {t.user_attrs["worker"]["pid"] for t in study.trials}
    assert len(pids) == 2 and os.getpid() not in pids
    assert not math.isnan(done[0]["values"][0])


# ---------------------------------------------------------------------------------------------- PostgreSQL
@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_storage_with_two_workers(tmp_path, postgres_url, capsys):
    cfg = st.make_config(tmp_path, storage=postgres_url, sampler="random")
    study = run_search(cfg, n_trials=4, workers=2, trial_fn="_search_trials:smooth", estimate_fn=None)
    recs = records(study)
    assert 4 <= sum(r["state"] == "COMPLETE" for r in recs) <= 5 and recs[0]["is_baseline"]
    # the trials that ran (a surplus trial two workers asked for at once is pruned before any worker claims it)
    assert len({t.user_attrs["worker"]["pid"] for t in study.trials if t.state == TrialState.COMPLETE}) == 2
    err = capsys.readouterr().err
    assert "s3cret-pw" not in err and "postgresql://bob:***@127.0.0.1" in err
    shown, complete = status(cfg, width=250), [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert "s3cret-pw" not in shown and shown.count(" ok ") == len(complete)
    # a surplus trial (both workers asked for the last one at once) is listed, with the reason, not as "ok"
    assert shown.count("not run: the budget") == len(study.trials) - len(complete)


def test_checkpoints_of_dominated_trials_are_pruned_unless_keep_all(tmp_path):
    from distilbo.search.runner import prune_checkpoints
    from distilbo.search.study import create_or_load_study, record_success, study_dir

    cfg = st.make_config(tmp_path)
    study = create_or_load_study(cfg)
    trials = study_dir(cfg, study) / "trials"  # the study's own folder: <out>/<study>/trials
    assert trials.parent == tmp_path / "distilbo"
    # (exact, params): 0 baseline, 1 and 2 on the front, 3 dominated by 1
    for number, (exact, size) in enumerate([(60, 10e6), (70, 5e6), (55, 2e6), (65, 6e6)]):
        trial = study.ask()
        trial_dir = trials / f"{number:04d}"
        (trial_dir / "model").mkdir(parents=True)
        trial.set_user_attr("trial_dir", str(trial_dir))
        if number == 0:
            trial.set_user_attr("is_baseline", True)
        values = record_success(trial, cfg, {"exact": exact, "num_parameters": size})
        study.tell(trial, values)
    assert prune_checkpoints(study) == [3]
    assert [(trials / f"{n:04d}" / "model").is_dir() for n in range(4)] == [True, True, True, False]
    keep_all = create_or_load_study(cfg.with_overrides({"keep": "all"}))
    (trials / "0003" / "model").mkdir()
    assert prune_checkpoints(keep_all) == []


def test_resume_continues_the_sobol_sequence(tmp_path):
    """A study run as 3 trials then resumed to 6 draws exactly the start-up points of one uninterrupted run of 6
    (one Sobol stream, one counter in the study, no point drawn twice), although the resumed process mixes its
    own seed (its first trial is not trial 0)."""
    def params(study):
        return [tuple(sorted(t.params.items())) for t in sorted(study.trials, key=lambda t: t.number)]

    whole = run_search(st.make_config(tmp_path / "a", n_startup_trials=6), n_trials=6, trial_fn=st.smooth,
                       estimate_fn=None, progress=False)
    cfg = st.make_config(tmp_path / "b", n_startup_trials=6)
    run_search(cfg, n_trials=3, trial_fn=st.smooth, estimate_fn=None, progress=False)
    resumed = run_search(cfg, n_trials=6, trial_fn=st.smooth, estimate_fn=None, progress=False)
    assert len(resumed.trials) == 6 and params(resumed) == params(whole)
    assert len(set(params(resumed))) == 6


def test_two_trials_asked_at_once_get_two_sobol_points(tmp_path):
    """Two workers ask before either draws: Optuna's QMCSampler reads, then writes a counter in the study, so both
    could get one point (a duplicate seen in a two-worker test on a busy machine). Indexed by trial number, each
    gets its own: trial 0 Sobol point 0 and trial 1 point 1, the two a single worker draws, whichever samples first
    (with the counter, the trial that sampled first got point 0)."""
    cfg = st.make_config(tmp_path, sampler="botorch", n_startup_trials=4, baseline=False)
    space = [p for p in parse_space(cfg.search.space, where="test") if p.kind != "fixed"]
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(cfg))
    first, second = study.ask(), study.ask()  # both created before either samples
    at_once = [sample(second, space), sample(first, space)]
    alone = optuna.create_study(directions=["maximize", "minimize"], sampler=make_sampler(cfg))
    in_turn = []
    for _ in range(2):
        t = alone.ask()
        in_turn.append(sample(t, space))
        alone.tell(t, [1.0, 1.0])
    assert at_once[1] == in_turn[0] and at_once[0] == in_turn[1] and in_turn[0] != in_turn[1]


@pytest.mark.parametrize("sampler", ["botorch", "gp"])
def test_a_trial_asked_beside_the_running_baseline_is_a_sobol_point(tmp_path, sampler):
    """A second local worker (its own seed) asks for its first trial while the baseline runs and no trial has
    registered a parameter yet: it gets the first Sobol point of the study's one stream, the one a single worker
    draws after the baseline (the 2026-12-07 quick start's trial 1 was the first point of a second stream, seeded
    by the worker, and trial 2 the first of the study's)."""
    cfg = st.make_config(tmp_path, sampler=sampler, n_startup_trials=4)
    space = [p for p in parse_space(cfg.search.space, where="test") if p.kind != "fixed"]

    def first_startup_point(concurrent: bool) -> dict:
        # the concurrent one is the second local worker's sampler: its seed is [run] seed + 1
        sampler = make_sampler(cfg, seed=cfg.run.seed + 1 if concurrent else None)
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
        study.enqueue_trial({"n_layers": 3, "n_heads": 4, "learning_rate": 5e-5})
        baseline = study.ask()
        if not concurrent:
            sample(baseline, space)
            study.tell(baseline, [10.0, 1e6])
        trial = study.ask()
        params = sample(trial, space)
        if sampler == "botorch":
            assert study.trials[trial.number].system_attrs["suggested_by"] == "sobol"
        return params

    alone, beside = first_startup_point(False), first_startup_point(True)
    assert beside == alone
    assert beside != {"n_layers": 3, "n_heads": 4, "learning_rate": 5e-5}


def test_a_custom_trial_functions_own_metric_is_an_objective_and_a_constraint(tmp_path):
    """[search] metrics names what a user's trial function returns; the study optimizes it like a built-in."""
    objectives = [{"metric": "exact_int8", "direction": "maximize"}, {"metric": "num_parameters", "direction": "minimize"}]
    constraints = [{"metric": "exact_int8", "min": 40.0}]
    with pytest.raises(ConfigError, match=r"unknown metric 'exact_int8'.*\[search\] metrics"):
        st.make_config(tmp_path, sampler="random", objectives=objectives)
    cfg = st.make_config(tmp_path, sampler="random", objectives=objectives, constraints=constraints,
                         metrics=["exact_int8"])
    study = run_search(cfg, n_trials=4, trial_fn=st.own_metric, estimate_fn=None, progress=False)
    recs = records(study)
    assert [r["status"] for r in recs] == ["ok"] * 4
    for r in recs:
        p = r["params"]
        want = st.synthetic_metrics(p["n_layers"], p["n_heads"], p["learning_rate"])["exact"] - 2.0
        assert r["values"][0] == pytest.approx(want)
        assert r["feasible"] == (want >= 40.0)
    # a trial function that does not return the named metric: the trial fails, naming what it did return
    cfg2 = st.make_config(tmp_path / "b", sampler="random", objectives=objectives, metrics=["exact_int8"])
    bad = run_search(cfg2, n_trials=1, trial_fn=st.smooth, estimate_fn=None, progress=False)
    failure = records(bad)[0]["failure"]
    assert "no 'exact_int8'" in failure and "it returned: exact" in failure


def test_a_worker_that_loses_every_trial_stops_the_search_with_the_reason(tmp_path):
    """A lost trial (its worker or node gone) does not count against the budget, so an executor that loses every
    trial (on 2026-12-07 a dead Ray relay: 1,429 lost trials in 6 minutes) must stop the search, not spin."""
    from distilbo.search._loop import MAX_LOST_IN_A_ROW, work
    from distilbo.search._outcome import TrialLost

    study = create_or_load_study(st.make_config(tmp_path, sampler="random"))
    calls = []

    def objective(trial):
        calls.append(trial.number)
        raise TrialLost(f"lost its Ray worker or node (ActorDiedError: relay {trial.number})")

    with pytest.raises(UserError, match=rf"{MAX_LOST_IN_A_ROW} trials in a row lost .*relay {MAX_LOST_IN_A_ROW - 1}\)"):
        work(study, objective, budget=3, grace_period=60)
    assert len(calls) == MAX_LOST_IN_A_ROW
    assert all(t.state == TrialState.FAIL for t in study.trials)


def test_a_failed_trial_scores_zero_on_a_maximized_calibrated_score(tmp_path):
    """A failed trial's pessimistic value for a maximized SQuAD score is 0, not the worst score seen so far: the
    calibrated scores a user may optimize (calibrated_f1) count as scores like exact and f1 (`names.SCORES`)."""
    from distilbo.search._outcome import pessimistic_metrics, record_success

    objectives = [{"metric": "calibrated_f1", "direction": "maximize"},
                  {"metric": "num_parameters", "direction": "minimize"}]
    cfg = st.make_config(tmp_path, sampler="random", objectives=objectives, constraints=[])
    study = create_or_load_study(cfg)
    trial = study.ask()
    study.tell(trial, record_success(trial, cfg, {"calibrated_f1": 40.0, "num_parameters": 1e6}))
    assert pessimistic_metrics(study, cfg) == {"calibrated_f1": 0.0, "num_parameters": 1e6}
