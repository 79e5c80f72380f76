"""Faults: the search driver killed (during a trial, between trials, while its report is written), report and cache
writers killed at random moments, trials over their memory and time limits through the real CLI, damaged cache
manifests, a read-only or full run folder, and three workers on one real PostgreSQL study.

Run: python -m pytest tests/test_faults.py -q          (-m postgres: only the PostgreSQL test)

Read-only and full disks are real: a small tmpfs mounted for the test (remounted read-only, or filled up). We run
as root, and root ignores file permissions, so `chmod` would prove nothing. Where mounting is not allowed (not
root, no CAP_SYS_ADMIN) those tests fall back to a run folder under /proc (a filesystem nobody can create files on)
with the study database kept elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import optuna
import psutil
import pytest
import torch
from optuna.trial import TrialState

import _fault_trials as ft
import _search_trials as st
import _waits as waits
from _tiny import tiny_bert, tiny_config, tokenizer
from conftest import TRAIN_JSON
from distilbo import _cache
from distilbo.cli import main
from distilbo.errors import UserError
from distilbo.search import records, run_search
from distilbo.search.study import load_study

torch.set_num_threads(1)
optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.faults
PY = sys.executable


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def wait_for(path: Path, proc: subprocess.Popen) -> None:
    """Until `path` exists (AssertionError when the driver exits first, or hangs: `_waits`)."""
    waits.wait_until(path.exists, proc)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL `proc`; return once it and the processes it started (a trial's child, which exits when it sees its
    parent gone) have ended."""
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        kids = []
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    psutil.wait_procs(kids)


def snapshot(cfg) -> dict[int, tuple]:
    """Finished trials: number -> (params, values, user_attrs, constraints)."""
    study = load_study(cfg)
    return {t.number: (t.params, t.values, t.user_attrs, dict(t.constraints))
            for t in study.get_trials(states=(TrialState.COMPLETE,))}


# ---------------------------------------------------------------------------------------------- driver killed
def _driver(out: Path, budget: int, hook: str) -> subprocess.Popen:
    return subprocess.Popen([PY, "-c", ft.SEARCH_DRIVER.format(tests=ft.TESTS), str(out), str(budget), hook],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(out: Path, budget: int) -> None:
    proc = _driver(out, budget, "none")
    _, err = waits.communicate(proc, watch=[out])
    assert proc.returncode == 0, err.decode()[-2000:]


@pytest.mark.parametrize("moment", ["during a trial", "between trials", "while the report is written"])
def test_search_driver_killed_then_resumed(tmp_path, moment):
    """SIGKILL the search at a known moment; the rerun keeps every finished trial exactly as it was (params,
    values, user attrs, constraints), fails an interrupted trial with a reason, and completes the budget."""
    out = tmp_path / "run"
    cfg = st.make_config(out, sampler="random")
    budget = 3
    if moment == "while the report is written":
        _finish(out, 2)  # a complete study of 2 and its report: the "old version"
        old = {p.name: p.read_bytes() for p in (out / "distilbo" / "report").iterdir()}
        proc = _driver(out, budget, "report")
        wait_for(tmp_path / "paused", proc)
    elif moment == "between trials":
        proc = _driver(out, budget, "between")
        wait_for(tmp_path / "paused", proc)
    else:
        proc = _driver(out, budget, "none")
        wait_for(out / "distilbo" / "trials" / "0001" / "started", proc)
    kill(proc)
    before = snapshot(cfg)
    states = [t.state for t in load_study(cfg).trials]
    if moment == "during a trial":
        assert len(before) == 1 and states == [TrialState.COMPLETE, TrialState.RUNNING]
    elif moment == "between trials":
        assert len(before) == 2 and states == [TrialState.COMPLETE] * 2
    else:
        assert len(before) == 3 and states == [TrialState.COMPLETE] * 3
        report = out / "distilbo" / "report"  # the study's own folder
        # the kill came after report.html's temporary file was complete but before it replaced the old one:
        # report.html is still the old version, whole; nothing half-written under a final name
        assert (report / "report.html").read_bytes() == old["report.html"]
        assert len((report / "trials.csv").read_text().splitlines()) == 1 + 3  # the new version, whole
        assert [p.name for p in report.glob(".report.html.*.tmp")]  # the orphaned temporary file

    _finish(out, budget)
    study = load_study(cfg)
    after = snapshot(cfg)
    for number, frozen in before.items():
        assert after[number] == frozen, f"trial {number} changed"
    recs = records(study)
    assert sum(r["state"] == "COMPLETE" for r in recs) == budget
    assert not any(r["state"] == "RUNNING" for r in recs)
    assert [r["is_baseline"] for r in recs if r["state"] == "COMPLETE"].count(True) == 1
    if moment == "during a trial":
        assert [r["state"] for r in recs] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
        assert recs[1]["failure"].startswith("worker died (pid ") and recs[1]["status"] == "interrupted"
    else:
        assert [r["state"] for r in recs] == ["COMPLETE"] * budget  # nothing was interrupted
    for r in recs:
        if r["state"] == "COMPLETE":  # no lost or altered result: the values are the trial function's
            p = r["params"]
            want = st.synthetic_metrics(p["n_layers"], p["n_heads"], p["learning_rate"])
            assert r["values"] == pytest.approx([want["exact"], want["num_parameters"]])
    report = out / "distilbo" / "report"
    assert len((report / "trials.csv").read_text().splitlines()) == 1 + len(recs)
    assert json.loads((report / "frontier.json").read_text())["front"]
    assert (report / "report.html").read_text().rstrip().endswith("</html>")
    assert not list(report.glob(".*.tmp"))  # the next report removed what the killed one left


def _normalized_html(data: bytes) -> bytes:
    return re.sub(rb"written \d{4}-\d\d-\d\d \d\d:\d\d UTC", b"written T", data)


def test_report_writer_killed_at_random_moments_never_leaves_a_partial_file(tmp_path):
    """A loop writes two versions of a report in turn; SIGKILL it at random moments: every file is always one
    complete version or the other, byte for byte."""
    import _report_records as rr
    from distilbo.report.html import write_report

    versions = {}
    for i, recs in enumerate([rr.records(), rr.records()[:6]]):
        paths = write_report(recs, out_dir=tmp_path / f"v{i}", study_name=f"v{i}", objectives=rr.OBJECTIVES,
                             constraints=rr.CONSTRAINTS, scenarios=[])
        versions[i] = {k: p.read_bytes() for k, p in paths.items()}
    out = tmp_path / "live"
    rng = random.Random(0)
    for _ in range(3):
        proc = subprocess.Popen([PY, "-c", ft.REPORT_LOOP.format(tests=ft.TESTS), str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout.readline(), "the loop wrote no report"  # one whole report done in this run
        time.sleep(rng.uniform(0.0, 1.0))
        kill(proc)
        for key, name in (("html", "report.html"), ("png", "frontier.png"), ("csv", "trials.csv"),
                          ("json", "frontier.json")):
            data = (out / name).read_bytes()
            norm = _normalized_html if key == "html" else (lambda b: b)
            match = [i for i in versions if norm(data) == norm(versions[i][key])]
            assert match, f"{name} is neither complete version after a kill"


def test_cache_writer_killed_mid_entry_leaves_no_entry_and_the_next_build_cleans_up(tmp_path, monkeypatch):
    """Kill a feature-cache build after its first array is on disk: no entry appears (only the builder's temporary
    folder); the next build stores a complete, validated entry, removes the leftover and equals an uncached build."""
    from distilbo.data import squad
    from distilbo.data.squad import build_features, load_examples

    cache, marker = tmp_path / "cache", tmp_path / "saved-one-array"
    script = f"""
import sys, time
import numpy as np
sys.path.insert(0, {ft.TESTS!r})
from _tiny import tokenizer
from distilbo.data.squad import build_features, load_examples
real = np.save
def save(f, arr, *a, **k):
    real(f, arr, *a, **k)
    open({str(marker)!r}, "w").close()
    time.sleep(120)
np.save = save
build_features(load_examples({str(TRAIN_JSON)!r}, max_samples=20), tokenizer(), max_seq_length=96, doc_stride=32,
               max_query_length=24, cache_dir={str(cache)!r})
"""
    proc = subprocess.Popen([PY, "-c", script], stderr=subprocess.PIPE)
    wait_for(marker, proc)
    kill(proc)
    assert not [p for p in cache.iterdir() if p.name.startswith("features-")]  # no entry, complete or not
    leftovers = [p for p in cache.iterdir() if p.name.startswith(".features-") and p.is_dir()]
    assert len(leftovers) == 1 and len(list(leftovers[0].glob("*.npy"))) == 1

    examples = load_examples(str(TRAIN_JSON), max_samples=20)
    kw = dict(max_seq_length=96, doc_stride=32, max_query_length=24)
    calls = []
    real = squad._tokenize
    monkeypatch.setattr(squad, "_tokenize", lambda *a: calls.append(1) or real(*a))
    got = build_features(examples, tokenizer(), cache_dir=cache, **kw)
    again = build_features(examples, tokenizer(), cache_dir=cache, **kw)
    fresh = build_features(examples, tokenizer(), cache_dir=None, **kw)
    assert calls == [1, 1]  # built once for the cache (the killed build did not count), once uncached
    for f in ("input_ids", "offsets", "start_positions"):
        assert np.array_equal(getattr(got, f), getattr(fresh, f)) and np.array_equal(getattr(again, f), getattr(fresh, f))
    entries = [p for p in cache.iterdir() if p.name.startswith("features-")]
    assert len(entries) == 1 and _cache._load(entries[0], mmap=False) is not None
    assert not leftovers[0].exists()


def test_cache_writer_killed_at_random_moments_leaves_only_complete_entries(tmp_path):
    """A loop stores entry after entry; SIGKILL it at random moments: every entry present loads, validates and holds
    exactly what was stored; the interrupted one is simply absent and builds again."""
    root = tmp_path / "cache"
    rng = random.Random(1)
    for _ in range(3):
        proc = subprocess.Popen([PY, "-c", ft.CACHE_LOOP.format(), str(root)], stderr=subprocess.PIPE)
        wait_for(root, proc)
        time.sleep(rng.uniform(0.3, 1.2))
        kill(proc)
    entries = sorted(p for p in root.iterdir() if p.name.startswith("loop-"))
    assert entries
    for e in entries:
        k = int(e.name.split("-")[1])
        got = _cache._load(e, mmap=False)
        assert got is not None, f"{e.name} is damaged"
        a = np.arange(k, k + 400_000, dtype=np.int64)
        assert np.array_equal(got["a"], a) and np.array_equal(got["b"], a.reshape(-1, 8)[:, ::-1])
    nxt = len(entries)  # the loop restarts at key 0 each run; entries are 0..nxt-1, the next one was cut
    assert [int(e.name.split("-")[1]) for e in entries] == list(range(nxt))
    a = np.arange(nxt, nxt + 400_000, dtype=np.int64)
    got = _cache.cached_arrays("loop", f"{nxt:06d}", lambda: {"a": a, "b": a.reshape(-1, 8)[:, ::-1].copy()},
                               cache_dir=root)
    assert np.array_equal(got["a"], a)
    assert not [p for p in root.iterdir() if p.name.startswith(f".loop-{nxt:06d}-")]


# ---------------------------------------------------------------------------------------------- damaged manifests
def _logits_setup(tmp_path):
    from distilbo.data.squad import build_features, load_examples
    from distilbo.distill import teacher_cache
    from distilbo.evaluate import load_qa_model

    folder = tiny_bert(tmp_path / "t", qa=True, seed=3)
    feats = build_features(load_examples(str(TRAIN_JSON), max_samples=10), tokenizer(), max_seq_length=96,
                           doc_stride=32, max_query_length=24)
    kw = dict(teacher_key=teacher_cache.model_fingerprint(str(folder)), cache_dir=tmp_path / "c",
              device=torch.device("cpu"))
    ref = [np.array(x) for x in teacher_cache.teacher_logits(load_qa_model(str(folder)), feats, **kw)]
    return folder, feats, kw, ref


def _edit_manifest(entry: Path, fn) -> None:
    m = json.loads((entry / "manifest.json").read_text())
    fn(m)
    (entry / "manifest.json").write_text(json.dumps(m))


DAMAGE = {
    "manifest size wrong": lambda e: _edit_manifest(e, lambda m: m["arrays"]["start"].update(bytes=123)),
    "manifest shape wrong": lambda e: _edit_manifest(
        e, lambda m: m["arrays"]["end"].update(shape=[m["arrays"]["end"]["shape"][0] - 1, m["arrays"]["end"]["shape"][1]])),
    "manifest lacks an array": lambda e: _edit_manifest(e, lambda m: m["arrays"].pop("end")),
    "manifest not JSON": lambda e: (e / "manifest.json").write_text('{"arrays": {"start": '),
    "array of another shape, consistent manifest": None,  # built below
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_teacher_cache_manifest_is_detected_and_rebuilt(tmp_path, damage):
    from distilbo.distill import teacher_cache
    from distilbo.evaluate import load_qa_model

    folder, feats, kw, ref = _logits_setup(tmp_path)
    entry = next((tmp_path / "c").glob("teacher-logits-*"))
    if DAMAGE[damage] is None:
        # a whole, self-consistent entry (checksums, sizes, manifest all agree) whose arrays have one row too few
        # for these features: only the caller knows the shape it needs
        import shutil

        shutil.rmtree(entry)
        short = {"start": ref[0][:-1], "end": ref[1][:-1]}
        _cache._build_and_store(entry, lambda: short, mmap=False)
        assert _cache._load(entry, mmap=False) is not None
    else:
        DAMAGE[damage](entry)
    loads = []
    start, end = teacher_cache.teacher_logits(lambda: loads.append(1) or load_qa_model(str(folder)), feats, **kw)
    assert loads == [1], "the damaged entry was used instead of rebuilt"
    assert np.array_equal(np.array(start), ref[0]) and np.array_equal(np.array(end), ref[1])
    assert start.shape == feats.input_ids.shape
    # the rebuilt entry is served from now on
    s2, _ = teacher_cache.teacher_logits(lambda: pytest.fail("rebuilt entry not used"), feats, **kw)
    assert np.array_equal(np.array(s2), ref[0])


# ---------------------------------------------------------------------------------------------- limits, real CLI
def test_trials_over_memory_and_time_limits_through_the_cli(tmp_path):
    """`distilbo search` on real questions with tiny models: a student whose FFN cannot fit in --trial-memory-limit
    fails as out of memory, the next run's trial exceeds --trial-timeout: both recorded with their reason, the study
    goes on (2 finished trials), and `distilbo status` shows the reasons."""
    config = tiny_config(tmp_path)
    # hidden_dim 8M: one 32 x 8M FFN matrix is 1 GB, over a 2 GB address-space limit on top of torch itself
    r = waits.run([PY, "-m", "distilbo.cli", "search", "--config", str(config), "--trials", "1",
                   "--trial-memory-limit", "2GB", "--set", "hidden_dim=8000000", "--no-report"],
                  capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    run = tmp_path / "run"
    spec = json.loads((run / "tiny" / "trials" / "0000" / "spec.json").read_text())
    assert spec["memory_limit"] == 2 << 30
    assert main(["search", "--config", str(config), "--trials", "2", "--trial-timeout", "0.5", "--no-report"]) == 0
    from distilbo.config import load_config

    recs = records(load_study(load_config(config)))
    assert [r["state"] for r in recs] == ["COMPLETE", "COMPLETE"]
    assert recs[0]["failure"].startswith("out of memory: ") and "can't allocate memory" in recs[0]["failure"]
    assert recs[1]["failure"] == "timeout after 0.5 s"
    assert all(r["status"] == "failed" and r["constraints"]["failed"] == 1.0 for r in recs)
    status = waits.run([PY, "-m", "distilbo.cli", "status", "--config", str(config)], capture_output=True,
                       text=True)
    assert status.returncode == 0 and "out of memory" in status.stdout and "timeout after 0.5 s" in status.stdout


# ---------------------------------------------------------------------------------------------- read-only, full
@contextmanager
def small_disk(path: Path, size: str = "4m"):
    """A tmpfs of `size` mounted on `path` (root only); pytest.skip when mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(disk: Path) -> None:
    ft.fill_to_the_last_byte(disk)
    # whatever is left is smaller than a block
    with pytest.raises(OSError):
        with open(disk / "filler2", "wb") as g:
            g.write(bytes(8192))
            g.flush()
            os.fsync(g.fileno())


@pytest.mark.parametrize("fault", ["read-only", "full"])
def test_run_folder_on_a_read_only_or_full_disk(tmp_path, fault):
    """A study of 2 trials on a small disk; then the disk is remounted read-only (or filled): `distilbo search`
    (real CLI, subprocess) is one line naming the folder and the fix, exit 2, and the study file is byte-identical;
    `distilbo status` still reads it."""
    from distilbo.config import load_config

    with small_disk(tmp_path / "disk") as disk:
        if disk is None and fault == "full":
            pytest.skip("cannot mount a small tmpfs here (needs root / CAP_SYS_ADMIN) to fill up")
        config = tiny_config(tmp_path, extra='[search]\nsampler = "random"\n')
        if disk is not None:
            run, db = disk / "run", disk / "run" / "study.db"
        else:  # cannot mount here: the study elsewhere, the run folder under /proc (no files can be made there)
            run, db = Path("/proc/distilbo-run-folder"), tmp_path / "study.db"
            config.write_text(config.read_text().replace("[run]\n", f'[run]\nstorage = "sqlite:///{db}"\n'))
        text = config.read_text()
        config.write_text(text.replace(f'out = "{tmp_path / "run"}"', f'out = "{run if disk else tmp_path / "run0"}"'))
        make = (f"import sys; sys.path.insert(0, {ft.TESTS!r}); from distilbo.config import load_config; "
                f"from distilbo.search import run_search; run_search(load_config({str(config)!r}), n_trials=2, "
                "trial_fn='_search_trials:smooth', estimate_fn=None, progress=False)")
        waits.run([PY, "-c", make], check=True)  # in a subprocess: no open handle blocks remount
        config.write_text(text.replace(f'out = "{tmp_path / "run"}"', f'out = "{run}"'))
        before = sha(db)
        if disk is not None:
            if fault == "read-only":
                subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
            else:
                _fill(disk)
        r = waits.run([PY, "-m", "distilbo.cli", "search", "--config", str(config), "--trials", "4"],
                      capture_output=True, text=True)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
        why = "" if disk is None else "Read-only file system" if fault == "read-only" else "No space left on device"
        assert lines[0].startswith(f"distilbo: error: run folder {run}: cannot write ({why}"), lines[0]
        assert "free disk space" in lines[0] and "--set out=DIR" in lines[0]
        assert sha(db) == before
        # in-process, with a trial function that would never fail: the same error before the study is touched
        with pytest.raises(UserError, match="cannot write"):
            run_search(load_config(config), n_trials=4, trial_fn="_search_trials:smooth", estimate_fn=None,
                       progress=False)
        assert sha(db) == before
        status = waits.run([PY, "-m", "distilbo.cli", "status", "--config", str(config)],
                           capture_output=True, text=True)
        assert status.returncode == 0 and "2 finished (0 failed)" in status.stdout, status.stderr
        assert sha(db) == before


def test_disk_full_while_a_trial_folder_is_made_stops_the_search_with_a_user_error(tmp_path, monkeypatch):
    """The run folder fills up between the start check and a trial: the search stops with a UserError naming the
    trial folder (not one failed trial after another) and the finished trials stay as they were."""
    cfg = st.make_config(tmp_path / "run", sampler="random")
    run_search(cfg, n_trials=2, trial_fn="_search_trials:smooth", estimate_fn=None, progress=False)
    before = snapshot(cfg)
    from distilbo.search import _launch  # run_child, which writes the trial's spec.json

    real = _launch.write_json_atomic

    def full(path, obj):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(_launch, "write_json_atomic", full)
    with pytest.raises(UserError, match=r"trial folder .*0002: cannot write \(No space left on device\)"):
        run_search(cfg, n_trials=4, trial_fn="_search_trials:smooth", estimate_fn=None, progress=False)
    monkeypatch.setattr(_launch, "write_json_atomic", real)
    assert snapshot(cfg) == before
    recs = records(load_study(cfg))
    assert recs[2]["state"] == "FAIL" and "No space left on device" in recs[2]["failure"]
    study = run_search(cfg, n_trials=4, trial_fn="_search_trials:smooth", estimate_fn=None, progress=False)
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 4


def test_disk_fills_up_during_a_trial_then_the_study_cannot_be_written(tmp_path):
    """A trial fills the run folder's disk to the last byte: recording its result fails; the search stops with one
    UserError naming the storage (not Optuna's traceback), the finished trials are intact, and after space is
    freed a rerun fails the interrupted trial with a reason and completes the budget. (Each search runs in its own
    process, as `distilbo search` does: the interrupted trial is failed once its process is gone.)"""
    with small_disk(tmp_path / "disk", size="3m") as disk:
        if disk is None:
            pytest.skip("cannot mount a small tmpfs here (needs root / CAP_SYS_ADMIN) to fill up")
        cfg = st.make_config(disk / "run", sampler="random")
        search = (f"import sys; sys.path.insert(0, {ft.TESTS!r}); import _search_trials as st\n"
                  "from distilbo.errors import UserError\nfrom distilbo.search import run_search\n"
                  f"cfg = st.make_config({str(disk / 'run')!r}, sampler='random')\n"
                  "try:\n    run_search(cfg, n_trials=int(sys.argv[1]), trial_fn=sys.argv[2], estimate_fn=None, "
                  "progress=False)\nexcept UserError as e:\n    sys.exit(f'distilbo: error: {e}')\n")

        def run(budget: int, fn: str) -> subprocess.CompletedProcess:
            return waits.run([PY, "-c", search, str(budget), fn], capture_output=True, text=True)

        assert run(2, "_search_trials:smooth").returncode == 0
        before = snapshot(cfg)
        r = run(4, "_fault_trials:fill_disk")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1, r.stderr[-3000:]
        assert lines[0].startswith(f"distilbo: error: storage sqlite:///{disk / 'run' / 'study.db'}: a write failed "
                                   "(database or disk is full)") and "free disk space" in lines[0]
        assert snapshot(cfg) == before
        for filler in (disk / "run" / "distilbo" / "trials").glob("*/filler"):
            filler.unlink()
        assert run(4, "_search_trials:smooth").returncode == 0
        recs = records(load_study(cfg))
        assert [r["state"] for r in recs] == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
        assert recs[2]["failure"].startswith("worker died")
        assert {n: snapshot(cfg)[n] for n in before} == before


# ---------------------------------------------------------------------------------------------- many workers
@pytest.mark.postgres
def test_three_workers_on_one_postgres_study(tmp_path, postgres_url):
    """Three separate `distilbo search` processes (the multi-host recipe: same config, same study, one PostgreSQL
    database) started at once: exactly the budget of finished trials, unique trial numbers, every result kept and
    equal to the trial function's, one baseline, and the workers do not all propose the same points."""
    budget = 9
    script = f"""
import sys
sys.path.insert(0, {ft.TESTS!r})
import _search_trials as st
from distilbo.search import run_search
cfg = st.make_config({str(tmp_path / "run")!r}, storage=sys.argv[1], sampler="random")
run_search(cfg, n_trials={budget}, trial_fn="_fault_trials:marked", estimate_fn=None, progress=False)
"""
    procs = [subprocess.Popen([PY, "-c", script, postgres_url], stderr=subprocess.PIPE, text=True) for _ in range(3)]
    errs = [waits.communicate(p)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(e[-1500:] for e in errs)
    assert not any("s3cret-pw" in e for e in errs)
    cfg = st.make_config(tmp_path / "run", storage=postgres_url, sampler="random")
    study = load_study(cfg)
    trials = study.trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == len(trials)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == budget
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    for t in trials:  # a trial started beyond the budget is not run and says why
        if t.state == TrialState.PRUNED:
            assert "budget" in t.user_attrs["surplus"] or "baseline" in t.user_attrs["surplus"]
    for t in done:
        want = st.synthetic_metrics(t.params["n_layers"], t.params["n_heads"], t.params["learning_rate"])
        assert t.values == pytest.approx([want["exact"], want["num_parameters"]])
        assert (Path(t.user_attrs["trial_dir"]) / "started").is_file()
    assert sum(bool(t.user_attrs.get("is_baseline")) for t in done) == 1
    pids = {t.user_attrs["worker"]["pid"] for t in done}
    assert len(pids) >= 2, "the processes shared the work"  # (a process that starts late may find none left)
    points = [tuple(sorted(t.params.items())) for t in done]
    assert len(set(points)) == budget, f"workers proposed the same points: {points}"
