"""Security: weights load only from safetensors (a pickle is refused, never unpickled); a model folder's own Python
code runs only with --trust-remote-code; passwords in storage URLs never reach logs, errors, `status` or reports;
the HTML report of a real study with a hostile name escapes it.

Run: python -m pytest tests/test_security.py -q     (-m postgres: the password tests against a real server)
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import _search_trials as st
from _pg import PASSWORD
from _tiny import tiny_bert, tiny_config
from conftest import DEV_JSON
from distilbo.errors import UserError

torch.set_num_threads(1)
PY = sys.executable


def cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "distilbo.cli", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def one_line_error(r: subprocess.CompletedProcess) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, (r.returncode, r.stderr[-3000:])
    assert lines[0].startswith("distilbo: error: ")
    return lines[0]


# ---------------------------------------------------------------------------------------------- safetensors only
class _Trap:
    """Unpickling this creates the file `path` (what a malicious pytorch_model.bin could do with os.system)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickle_weights_are_refused_and_never_unpickled(tmp_path):
    """A QA model folder whose only weights are a pickle that runs code when loaded: load_qa_model, build_student
    and `distilbo evaluate` (exit 2) refuse it by name, and the pickle's code never runs."""
    from distilbo.evaluate import load_qa_model
    from distilbo.models.student import StudentSpec, build_student

    marker = tmp_path / "UNPICKLED"
    armed = pickle.dumps({"bert.embeddings.word_embeddings.weight": _Trap(marker)})
    pickle.loads(armed)  # the trap works: loading it runs code
    assert marker.exists()
    marker.unlink()

    folder = tiny_bert(tmp_path / "binonly", qa=True, seed=1)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(armed)

    with pytest.raises(UserError, match=r"no \.safetensors weights \(distilbo never loads pickle \.bin files\)"):
        load_qa_model(str(folder))
    spec = StudentSpec(n_layers=1, n_heads=2, dim=32, hidden_dim=64)
    with pytest.raises(UserError, match="only pickle weights .* safetensors only"):
        build_student(spec, str(folder))
    line = one_line_error(cli("evaluate", "--model", str(folder), "--data", str(DEV_JSON), "--max-eval-samples", "4"))
    assert str(folder) in line and "safetensors" in line
    assert not marker.exists(), "the pickle was loaded"


# ---------------------------------------------------------------------------------------------- remote code
def _custom_code_folder(tmp_path: Path, marker: Path) -> Path:
    """A tiny QA model whose config.json maps Auto classes to Python files in the folder (`auto_map`); importing
    them writes `marker`. With trust they load a working BertForQuestionAnswering subclass."""
    folder = tiny_bert(tmp_path / "custom", qa=True, seed=7)
    (folder / "configuration_evil.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('custom code ran')\n"
        "from transformers import BertConfig\n\n\n"
        "class EvilConfig(BertConfig):\n    model_type = 'evil-bert'\n")
    (folder / "modeling_evil.py").write_text(
        "from transformers import BertForQuestionAnswering\n"
        "from .configuration_evil import EvilConfig\n\n\n"
        "class EvilForQA(BertForQuestionAnswering):\n    config_class = EvilConfig\n")
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="evil-bert", architectures=["EvilForQA"],
                  auto_map={"AutoConfig": "configuration_evil.EvilConfig",
                            "AutoModelForQuestionAnswering": "modeling_evil.EvilForQA"})
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_custom_model_code_runs_only_with_trust_remote_code(tmp_path):
    marker = tmp_path / "CUSTOM-CODE-RAN"
    folder = _custom_code_folder(tmp_path, marker)
    env = {"HF_MODULES_CACHE": str(tmp_path / "hf-modules")}  # where transformers copies trusted code
    args = ["evaluate", "--model", str(folder), "--data", str(DEV_JSON), "--max-eval-samples", "4"]
    line = one_line_error(cli(*args, env=env))
    assert str(folder) in line and "its own Python code" in line and "--trust-remote-code" in line
    assert not marker.exists(), "custom code ran without --trust-remote-code"
    # the same through the library entry points (in a subprocess: the modules cache is process-wide)
    probe = (f"import sys; from distilbo.errors import UserError\n"
             f"from distilbo.evaluate import load_qa_model\nfrom distilbo.models.student import load_init\n"
             f"for fn in (load_qa_model, load_init):\n"
             f"    try:\n        fn({str(folder)!r})\n    except UserError as e:\n        print(e)\n")
    r = subprocess.run([PY, "-c", probe], capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    refusals = r.stdout.strip().splitlines()
    assert len(refusals) == 2 and all("--trust-remote-code" in x for x in refusals), r.stdout + r.stderr[-2000:]
    assert not marker.exists()
    # with the flag, the user's choice: the code runs and the model is evaluated
    r = cli(*args, "--trust-remote-code", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert marker.read_text() == "custom code ran" and "total=4" in r.stdout


def test_search_refuses_a_teacher_with_custom_code_before_the_study(tmp_path):
    marker = tmp_path / "CUSTOM-CODE-RAN"
    config = tiny_config(tmp_path)
    teacher = _custom_code_folder(tmp_path, marker)
    line = one_line_error(cli("search", "--config", str(config), "--set", f"teacher={teacher}",
                              env={"HF_MODULES_CACHE": str(tmp_path / "hf-modules")}))
    assert "[models] teacher" in line and "--trust-remote-code" in line
    assert not marker.exists() and not (tmp_path / "run" / "study.db").exists()


# ---------------------------------------------------------------------------------------------- passwords
def test_unreachable_storage_error_does_not_show_the_password(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[run]\nout = "{tmp_path / "run"}"\n')
    for command, url in (("status", "postgresql://u:SECRET@127.0.0.1:1/x"),
                         ("report", "postgresql://u@127.0.0.1:1/x?password=SECRET&sslmode=disable"),
                         ("export", "postgresql://u:SECRET@127.0.0.1:1/x")):
        extra = ["--trial", "0", "--out", str(tmp_path / "exp")] if command == "export" else []
        r = cli(command, "--config", str(config), "--storage", url, *extra)
        line = one_line_error(r)
        assert "SECRET" not in r.stderr + r.stdout and "***" in line and "127.0.0.1:1" in line


@pytest.mark.postgres
def test_password_never_reaches_logs_status_or_the_report(tmp_path, postgres_url, capsys):
    """A real study on a password-protected PostgreSQL server: the search's progress, `distilbo -v status`,
    `distilbo -v report` (stdout, stderr and every report file) and a wrong-password error never show it."""
    from distilbo.search import run_search

    cfg = st.make_config(tmp_path / "run", storage=postgres_url, sampler="random")
    run_search(cfg, n_trials=3, trial_fn=st.smooth, estimate_fn=None, progress=True)
    progress = capsys.readouterr().err
    assert "bob:***@127.0.0.1" in progress and PASSWORD not in progress
    config = tmp_path / "c.toml"
    config.write_text(f'[run]\nout = "{tmp_path / "run"}"\n')
    query_url = postgres_url.replace(f"bob:{PASSWORD}@", "bob@") + f"?password={PASSWORD}"
    for url in (postgres_url, query_url):
        status = cli("-v", "status", "--config", str(config), "--storage", url)
        assert status.returncode == 0 and "3 finished" in status.stdout, status.stderr[-2000:]
        assert PASSWORD not in status.stdout + status.stderr
        out = tmp_path / f"report-{len(url)}"
        rep = cli("-v", "report", "--config", str(config), "--storage", url, "--out", str(out))
        assert rep.returncode == 0, rep.stderr[-2000:]
        assert PASSWORD not in rep.stdout + rep.stderr
        files = list(out.iterdir())
        assert {f.name for f in files} >= {"report.html", "frontier.png", "trials.csv", "frontier.json"}
        for f in files:
            assert PASSWORD.encode() not in f.read_bytes(), f.name
        assert "***" in (out / "report.html").read_text()  # the storage label is shown, masked
    wrong = postgres_url.replace(PASSWORD, "Wr0ng-pw-123")
    line = one_line_error(cli("status", "--config", str(config), "--storage", wrong))
    assert "Wr0ng-pw-123" not in line and PASSWORD not in line and "password authentication failed" in line


# ---------------------------------------------------------------------------------------------- HTML escaping
EVIL_NAME = "<script>alert(1)</script>"
EVIL_CHOICE = "<img src=x onerror=alert(2)>"


def test_report_of_a_real_study_escapes_a_hostile_name(tmp_path):
    """A real SQLite study named <script>alert(1)</script>, one of whose trials failed on a parameter value that
    is an HTML tag; `distilbo report` (real command): neither string appears as markup, both appear escaped."""
    from distilbo.config import load_config
    from distilbo.search import records, run_search
    from distilbo.search.study import load_study, study_dir

    config = tmp_path / "evil.toml"
    config.write_text(f"""
[run]
out = "{tmp_path / 'run'}"
study = "{EVIL_NAME}"
[student]
n_layers = 3
n_heads = 4
[search]
sampler = "random"
[search.space]
n_layers = {{ type = "int", low = 1, high = 4 }}
n_heads = {{ type = "int", low = 1, high = 8 }}
activation = {{ type = "categorical", choices = ["gelu", "{EVIL_CHOICE}"] }}
""")
    cfg = load_config(config)
    study = run_search(cfg, n_trials=1, trial_fn=st.smooth, estimate_fn=None, progress=False)
    study.enqueue_trial({"n_layers": 2, "n_heads": 2, "activation": EVIL_CHOICE})
    study.enqueue_trial({"n_layers": 4, "n_heads": 8, "activation": "gelu"})
    run_search(cfg, n_trials=3, trial_fn=st.smooth, estimate_fn=None, progress=False)
    recs = records(load_study(cfg))
    assert [r["status"] for r in recs] == ["ok", "failed", "ok"]
    assert EVIL_CHOICE in recs[1]["failure"] and recs[1]["params"]["activation"] == EVIL_CHOICE

    r = cli("report", "--config", str(config))
    assert r.returncode == 0, r.stderr[-2000:]
    report_dir = study_dir(cfg, load_study(cfg)) / "report"  # the study's own folder, its name made safe
    assert report_dir.parent.name == "script-alert-1-script"
    page = (report_dir / "report.html").read_text()
    for evil in (EVIL_NAME, EVIL_CHOICE, "<img src=x", "alert(1)</script>", "<script>alert"):
        assert evil not in page, evil
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    # the embedded data (JSON in a <script> element) carries them with < and > escaped
    assert '"activation": "\\u003cimg src=x onerror=alert(2)\\u003e"' in page
    assert json.loads((report_dir / "frontier.json").read_text())["study"] == EVIL_NAME
    shutil.rmtree(report_dir)
