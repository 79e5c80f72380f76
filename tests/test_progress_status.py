"""Live progress of running trials (the trial's progress.json, read by the search's console output), clean trial
logs, the `status` table (fits the terminal, architecture first, constraint misses marked, --columns) and each
command's --help listing only the settings it reads.

Run: python -m pytest tests/test_progress_status.py -q        (tiny models, fake records; a few seconds)
"""

from __future__ import annotations

import datetime
import io
import os
import re
import time
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

import _search_trials as st
from distilbo import progress
from distilbo.errors import UserError
from distilbo.search._console import Progress as _Progress, describe as _describe, running_line as _running_line
from distilbo.search.runner import run_child, study_eta
from distilbo.search.study import status, status_table

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(autouse=True)
def _no_reporter():
    yield
    progress.configure(None)


# ---------------------------------------------------------------------------------------------- progress.json
def test_training_loop_writes_progress_that_the_search_prints(tmp_path):
    """distill() reports phase, epoch, step/total, loss and ETA through distilbo.progress; the search's printer
    reads the running trial's progress.json and prints it (here: mid-training, from the loop's log callback)."""
    import torch

    from _tiny import tiny_config, tokenizer
    from conftest import TRAIN_JSON
    from distilbo.config import load_config
    from distilbo.data.squad import build_features, load_examples
    from distilbo.distill.train import distill
    from distilbo.distill.trial import student_spec
    from distilbo.models.student import build_student

    cfg = load_config(tiny_config(tmp_path), {"num_train_epochs": "2", "alpha_ce": "0", "batch_size": "4",
                                              "logging_steps": "1"})
    feats = build_features(load_examples(str(TRAIN_JSON), max_samples=8), tokenizer(), max_seq_length=96,
                           doc_stride=32, max_query_length=24)
    trial_dir = tmp_path / "trial"
    trial_dir.mkdir()
    progress.configure(trial_dir / progress.FILE, min_interval=0.0)
    assert progress.read(trial_dir)["phase"] == "loading"

    study = optuna.create_study()
    trial = study.ask()
    trial.set_user_attr("trial_dir", str(trial_dir))
    out = io.StringIO()
    shown = _Progress(study, cfg, budget=3, enabled=True, stream=out)
    assert not shown.tty and shown.interval == 30.0
    seen: list[dict] = []

    calls = []

    def log(row: dict) -> None:
        calls.append(row)
        if len(calls) == 2:  # the second optimizer step: the first one's progress is on disk
            seen.append(progress.read(trial_dir))
            shown.tick(now=time.time() + 31)  # as the search's thread does every 30 s when stderr is a file

    phases = []

    def dev_eval(model) -> dict:
        phases.append(progress.read(trial_dir)["phase"])
        return {"exact": 1.0, "f1": 2.0}

    spec, _ = student_spec(cfg)
    result = distill(build_student(spec, cfg.path(cfg.models.student_init)), feats, cfg=cfg,
                     device=torch.device("cpu"), dev_eval=dev_eval, log=log, progress=False)

    mid = seen[0]
    total = result.steps
    assert mid["phase"] == "training" and mid["total_steps"] == total and 1 <= mid["step"] < total
    assert mid["epochs"] == 2 and 0 < mid["epoch"] < 2 and mid["loss"] > 0 and mid["eta_s"] >= 0
    assert phases and set(phases) == {"evaluating"}
    printed = out.getvalue().splitlines()
    assert printed[0].startswith("distilbo search: 0/3 done (0 failed), 1 running") and "ETA " in printed[0]
    assert re.fullmatch(rf"distilbo search: trial 0: training, epoch [\d.]+/2, step \d+/{total}, loss [\d.]+, "
                        r"ETA \d:\d\d:\d\d", printed[1]), printed
    final = progress.read(trial_dir)
    assert final["phase"] == "evaluating" and final["step"] == total and final["epoch"] == 2.0  # the final dev score
    assert isinstance(final["eval_s"], float)
    assert not list(trial_dir.glob(".*tmp*"))  # written atomically: no temp file left


def test_progress_writes_are_throttled_but_phase_changes_are_not(tmp_path):
    clock = [1000.0]
    r = progress.Reporter(tmp_path / progress.FILE, min_interval=2.0, clock=lambda: clock[0])
    r.phase("training", step=0, total_steps=10)
    for step in range(1, 6):
        clock[0] += 0.5
        r.update(step=step, loss=1.0)
    state = progress.read(tmp_path)
    assert state["phase"] == "training" and state["step"] == 4  # written at +2.0 s, not at +2.5 s
    r.phase("evaluating")
    assert progress.read(tmp_path / progress.FILE)["phase"] == "evaluating"
    assert progress.read(tmp_path / "nothing-here") is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / progress.FILE).write_text('{"phase": ')  # cut by a kill: ignored
    assert progress.read(tmp_path / "bad") is None


def _finished(seconds: float, **attrs) -> optuna.trial.FrozenTrial:
    t = optuna.trial.create_trial(state=TrialState.COMPLETE, values=[1.0], user_attrs=attrs)
    t.datetime_start = t.datetime_complete - datetime.timedelta(seconds=seconds)
    return t


def _running(elapsed: float, trial_dir: Path | None = None) -> optuna.trial.FrozenTrial:
    t = optuna.trial.create_trial(state=TrialState.RUNNING, user_attrs={"trial_dir": str(trial_dir)} if trial_dir else {})
    t.datetime_start = datetime.datetime.now() - datetime.timedelta(seconds=elapsed)
    t.number = 0
    return t


def test_study_eta_from_finished_durations_and_running_progress():
    now = time.time()
    done = [_finished(100.0), _finished(100.0)]
    training = {"phase": "training", "eta_s": 50.0, "updated": now, "phase_started": now - 20}
    # one running trial 50 s from the end of training, 2 not started at 100 s each
    assert study_eta(done + [_running(30.0)], budget=5, workers=1, now=now, states={0: training}) \
        == pytest.approx(250.0)
    assert study_eta(done + [_running(30.0)], budget=5, workers=2, now=now, states={0: training}) \
        == pytest.approx(125.0)
    # no progress file: the mean duration minus the time it has run
    assert study_eta(done + [_running(30.0)], budget=3, workers=1, now=now, states={0: None}) \
        == pytest.approx(70.0, abs=1.0)
    assert study_eta([_running(5.0)], budget=3, workers=1, now=now, states={0: None}) is None  # nothing known yet
    assert study_eta(done, budget=2, workers=1, now=now, states={}) == 0.0
    # a trial's ETA counts down from when the file was written, plus one more evaluation
    line = _running_line(7, {**training, "updated": now - 10, "eval_s": 5.0, "epoch": 1.5, "epochs": 3,
                             "step": 120, "total_steps": 240, "loss": 2.3456}, now, now - 60)
    assert line == "trial 7: training, epoch 1.50/3, step 120/240, loss 2.346, ETA 0:00:45"
    assert _running_line(8, {"phase": "teacher logits", "phase_started": now - 42}, now, now - 50) \
        == "trial 8: teacher logits, for 0:00:42, running for 0:00:50"
    assert _running_line(9, None, now, now - 3) == "trial 9: starting, running for 0:00:03"


def test_live_lines_are_redrawn_in_place_on_a_terminal(tmp_path):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    study = optuna.create_study()
    for n in range(2):
        trial = study.ask()
        folder = tmp_path / f"{n:04d}"
        folder.mkdir()
        trial.set_user_attr("trial_dir", str(folder))
        progress.Reporter(folder / progress.FILE).phase("training", epoch=0.5, epochs=1, step=3, total_steps=6,
                                                         loss=1.0, eta_s=9.0)
    out = Tty()
    shown = _Progress(study, st.make_config(tmp_path), budget=4, enabled=True, stream=out)
    assert shown.tty and shown.interval == 1.0
    shown.tick()
    first = out.getvalue()
    assert "\x1b[" not in first and first.count("\n") == 3  # the study's line and one per running trial
    assert "  trial 0: training, epoch 0.50/1, step 3/6" in first and "  trial 1: training" in first
    shown.tick()
    assert out.getvalue()[len(first):].startswith("\x1b[3A\r\x1b[J")  # up 3 lines, clear, redraw


def test_a_failed_trial_names_its_log_file(tmp_path):
    folder = tmp_path / "trials" / "0003"
    folder.mkdir(parents=True)
    (folder / "log.txt").write_text("Traceback ...\n")
    t = _finished(1.0, failure="out of memory: MemoryError: synthetic", trial_dir=str(folder))
    t.number = 3
    assert _describe(t, st.make_config(tmp_path)) == \
        f"trial 3 failed: out of memory: MemoryError: synthetic (log: {folder / 'log.txt'})"


def noisy(cfg, trial_dir: Path) -> dict:
    """A trial that warns 50 times (two kinds), draws a tqdm bar and reports progress."""
    from tqdm import tqdm

    for i in range(25):
        warnings.warn(f"The given NumPy array is not writable ({i})", UserWarning)
        warnings.warn("some other deprecation", FutureWarning)
    for _ in tqdm(range(50), desc="inference"):
        pass
    progress.update(step=3)
    progress.phase("training")
    return {"exact": 1.0, "transformers_quiet": float(os.environ.get("TRANSFORMERS_VERBOSITY") == "error")}


def test_trial_log_keeps_each_warning_once_and_no_progress_bars(tmp_path):
    trial_dir = tmp_path / "trials" / "0000"
    metrics = run_child(st.make_config(tmp_path), trial_dir, trial_fn=f"{Path(__file__).stem}:noisy", timeout=120)
    assert metrics["transformers_quiet"] == 1.0
    log = (trial_dir / "log.txt").read_text()
    assert "\r" not in log and "inference" not in log  # no tqdm bar
    assert log.count("UserWarning: The given NumPy array is not writable") == 1, log
    assert log.count("FutureWarning: some other deprecation") == 1, log
    assert len(log.splitlines()) <= 4, log  # the two warnings and the phase change
    state = progress.read(trial_dir)
    assert state["phase"] == "training" and state["step"] == 3


# ---------------------------------------------------------------------------------------------- status
SPACE = ["learning_rate", "beta_1", "beta_2", "adam_epsilon", "weight_decay", "alpha_ce", "temperature", "dropout",
         "attention_dropout", "qa_dropout", "batch_size", "n_layers", "dim", "hidden_dim", "layer_selection"]


def _rec(n: int, *, exact: float | None = 60.0, status: str = "ok", failure: str | None = None) -> dict:
    params = {k: 0.123456 for k in SPACE}
    params.update(n_layers=1 + n % 6, dim=96 + 48 * n, hidden_dim=512, batch_size=16, layer_selection="even")
    running = status == "running"
    metrics = {} if running else {"exact": exact, "f1": exact + 3, "num_parameters": 20_000_000 + n, "latency_ms": 3.5}
    cons = {} if running else {"exact>=50": 50.0 - exact, "failed": 1.0 if failure else -1.0}
    return {"number": n, "state": "RUNNING" if running else "COMPLETE", "status": status, "params": params,
            "metrics": metrics, "values": None, "constraints": cons, "failure": failure, "skipped": None,
            "is_baseline": n == 0, "feasible": not failure and not running and exact >= 50, "on_front": n == 0,
            "trial_dir": None, "surplus": None}


def _recs() -> list[dict]:
    return [_rec(0), _rec(1, exact=41.25), _rec(2, exact=0.0, status="failed",
                                                 failure="out of memory: MemoryError: " + "x" * 200),
            _rec(3, status="running")]


def test_status_fits_the_width_with_architecture_first():
    wide = status_table(_recs(), width=200)
    head = wide.splitlines()[0].split()
    assert head[:6] == ["#", "status", "exact", "f1", "params", "lat_ms"]
    assert [h for h in head if h in SPACE][:3] == ["n_layers", "dim", "hidden_dim"]  # architecture first
    assert all(len(line) <= 200 for line in wide.splitlines())
    narrow = status_table(_recs(), width=80)
    assert all(len(line) <= 80 for line in narrow.splitlines()), narrow
    assert "n_layers" in narrow.splitlines()[0]
    assert "not shown: dim, hidden_dim" in narrow  # what did not fit is named, with the flag that shows it
    assert "--columns" in narrow
    assert status_table(_recs(), width=60).splitlines()[1].startswith("0*F")


def test_status_marks_constraint_misses():
    table = status_table(_recs(), width=200)
    rows = {line.split()[0]: line for line in table.splitlines()[1:5]}
    assert re.match(r"1\s+ok \(infeasible\)\s+41\.25", rows["1"]) and "misses exact>=50 (exact 41.25)" in rows["1"]
    assert re.match(r"0\*F\s+ok\s+60", rows["0*F"]) and "infeasible" not in rows["0*F"]
    assert re.match(r"2\s+failed", rows["2"]) and "out of memory: MemoryError: xxx" in rows["2"]
    assert "4 finished" not in table and "3 finished (1 failed, 1 infeasible), 1 running" in table


def test_status_columns_flag_picks_params_and_metrics_in_order():
    table = status_table(_recs(), width=120, columns=["dim", "latency_ms", "n_layers"])
    assert table.splitlines()[0].split() == ["#", "status", "dim", "latency_ms", "n_layers", "failure", "/", "note"]
    with pytest.raises(UserError, match="--columns bogus: not a column of this study.*n_layers"):
        status_table(_recs(), columns=["bogus"])


def test_status_of_a_real_study(tmp_path):
    """A search with an in-process trial: `status` marks exactly the trials that ran but miss exact >= 50."""
    from distilbo.search import records, run_search

    cfg = st.make_config(tmp_path, sampler="random")
    study = run_search(cfg, n_trials=4, trial_fn=st.smooth, estimate_fn=None, progress=False)
    recs = records(study)
    table = status(cfg, width=150)
    assert all(len(line) <= 150 for line in table.splitlines())
    assert table.splitlines()[0].split()[:6] == ["#", "status", "exact", "f1", "params", "lat_ms"]
    assert "n_layers" in table.splitlines()[0] and "n_heads" in table.splitlines()[0]
    misses = sum(r["status"] == "ok" and not r["feasible"] for r in recs)
    assert table.count("ok (infeasible)") == misses
    assert table.count(" ok ") == len(recs)  # tests/test_search.py counts rows like this
    only = status(cfg, columns=["n_layers", "exact"], width=100).splitlines()
    assert only[0].split()[:4] == ["#", "status", "n_layers", "exact"]


# ---------------------------------------------------------------------------------------------- --help
def _help(capsys, *argv: str) -> str:
    from distilbo.cli import main

    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["status", "report", "export"])
def test_study_commands_list_only_the_settings_they_read(capsys, command):
    text = _help(capsys, command)
    listed = re.findall(r"^  (\w+)\s+\[(\w+)\]", text, flags=re.M)
    names = {n for n, _ in listed}
    assert {"out", "study", "storage", "objectives"} <= names
    assert "learning_rate" not in text and "n_layers" not in names and "alpha_ce" not in names
    assert len(names) <= 25


def test_training_commands_list_every_setting(capsys):
    from distilbo.config import FIELD_SECTION

    text = _help(capsys, "distill")
    names = set(re.findall(r"^  (\w+)\s+\[\w+\]", text, flags=re.M))
    assert "learning_rate" in names and names == set(FIELD_SECTION)


def test_storage_help_is_complete(capsys):
    from distilbo.config import FIELD_DOCS

    text = " ".join(_help(capsys, "status").split())
    assert "[...]" not in text
    assert f"storage [run] {' '.join(FIELD_DOCS['storage'].split())}" in text  # the setting's doc, in full
    assert "else the SQLite file study.db in the run folder)" in text  # the --storage flag
    assert "postgresql://USER:PASSWORD@HOST/DB" in text
    for line in _help(capsys, "search").splitlines():
        assert not line.rstrip().endswith("[...]")
