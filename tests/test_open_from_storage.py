"""`distilbo status/report/export --storage URL [--study NAME]` open a study from its storage alone, from any folder
and without a config file (issue 32, `distilbo.search.stored`); library log lines stay off the console unless
`--verbose`.

Synthetic trial functions (tests/_search_trials.py), run in-process: no model, seconds.

Run: python -m pytest tests/test_open_from_storage.py -q
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import optuna
import pytest

import _search_trials as st
from distilbo.cli import main
from distilbo.search import runner
from distilbo.search.stored import CONFIG_ATTR, config_from_storage
from distilbo.search.study import load_study


def _searched(tmp_path: Path, *, storage: str | None = None, name: str = "synth", trials: int = 3) -> object:
    cfg = st.make_config(tmp_path / "run", storage=storage, sampler="random", n_startup_trials=2,
                         objectives=[{"metric": "exact", "direction": "maximize"},
                                     {"metric": "num_parameters", "direction": "minimize"}],
                         constraints=[{"metric": "exact", "min": 45.0}])
    cfg = cfg.with_overrides({"study": name})
    runner.run_search(cfg, n_trials=trials, trial_fn=st.smooth, estimate_fn=None, progress=False)
    return cfg


def test_status_opens_from_the_storage_alone_in_another_folder(tmp_path, monkeypatch, capsys):
    """From an empty folder with no configs/ in it, `status --storage sqlite:///... --study synth` prints the table
    of that study: its 3 trials, and nothing on stderr."""
    cfg = _searched(tmp_path)
    db = cfg.run_dir / "study.db"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["status", "--storage", f"sqlite:///{db}", "--study", "synth", "--width", "200"]) == 0
    out, err = capsys.readouterr()
    rows = [re.match(r"(\d+)\S*\s+ok\s", ln) for ln in out.splitlines()]
    assert [m.group(1) for m in rows if m] == ["0", "1", "2"], out
    assert "3 finished (0 failed)" in out
    assert err == ""


def test_a_relative_sqlite_url_and_the_storages_only_study(tmp_path, monkeypatch, capsys):
    """`sqlite:///run/study.db` is relative to the working directory (what SQLAlchemy and optuna-dashboard read);
    with one study on the storage, --study may be left out."""
    cfg = _searched(tmp_path)
    monkeypatch.chdir(tmp_path)
    got = config_from_storage("sqlite:///run/study.db")
    assert got.run.study == "synth"
    assert [o["metric"] for o in got.search.objectives] == ["exact", "num_parameters"]
    assert got.search.constraints == [{"metric": "exact", "min": 45.0}]
    assert got.search.space == cfg.search.space
    assert main(["status", "--storage", "sqlite:///run/study.db"]) == 0
    assert "3 finished" in capsys.readouterr().out


def test_report_from_the_storage_alone_matches_the_report_from_the_config(tmp_path, monkeypatch):
    """The stored config gives `report` the same scenarios and frontier as the search's own config did."""
    from distilbo.report.command import report

    cfg = _searched(tmp_path, storage=str(tmp_path / "journal.log"), trials=4)
    want = json.loads(Path(report(cfg, out=str(tmp_path / "r1"))["json"]).read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--storage", "journal.log", "--study", "synth", "--out", str(tmp_path / "r2")]) == 0
    got = json.loads((tmp_path / "r2" / "frontier.json").read_text())
    assert got == want


def test_a_study_made_before_the_config_was_stored_reads_its_baseline_spec(tmp_path):
    """A study without the `config` user attr (made by an older distilbo) takes the config in its baseline trial's
    spec.json (a child-process trial writes one)."""
    cfg = st.make_config(tmp_path / "run", sampler="random").with_overrides({"study": "old"})
    runner.run_search(cfg, n_trials=1, trial_fn="_search_trials:smooth", estimate_fn=None, progress=False)
    study = load_study(cfg)
    assert CONFIG_ATTR in study.user_attrs
    study._storage.set_study_user_attr(study._study_id, CONFIG_ATTR, None)  # as an older distilbo left it
    got = config_from_storage(f"sqlite:///{cfg.run_dir / 'study.db'}", "old")
    assert got.search.space == cfg.search.space and got.student.n_layers == 3


def test_no_such_study_or_storage_is_one_line_naming_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["status", "--storage", "sqlite:///nothing/here.db"]) == 2
    assert "no study at" in capsys.readouterr().err
    _searched(tmp_path)
    _searched(tmp_path, name="other")
    assert main(["status", "--storage", "sqlite:///run/study.db"]) == 2
    err = capsys.readouterr().err
    assert "holds 2 studies" in err and "--study NAME" in err and err.count("\n") == 1
    assert main(["status"]) == 2  # no configs/cpu-squad2.toml here and no --storage
    err = capsys.readouterr().err
    assert "--storage" in err and err.count("\n") == 1


def test_library_info_lines_only_with_verbose(tmp_path, monkeypatch, caplog):
    """Optuna's INFO lines (e.g. "A new study created in memory ...", what the report's importance triggers) are
    not logged unless --verbose."""
    _searched(tmp_path)
    monkeypatch.chdir(tmp_path)

    def created() -> bool:
        return any("A new study created" in r.getMessage() for r in caplog.records)

    assert main(["status", "--storage", "sqlite:///run/study.db"]) == 0
    optuna.create_study()
    assert not created()
    assert main(["--verbose", "status", "--storage", "sqlite:///run/study.db"]) == 0
    optuna.create_study()
    assert created()


@pytest.fixture(autouse=True)
def _optuna_quiet_after():
    before = optuna.logging.get_verbosity()
    yield
    optuna.logging.set_verbosity(before)
