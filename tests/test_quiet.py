"""Quiet windows (distilbo._quiet): a training loop on the same machine takes no step while a latency measurement
times, a dead or foreign request stalls nobody, a trainer that cannot pause is waited for only so long, and the
real training loop asks between its steps and registers only while it trains.

    PYTHONPATH=$PWD python -m pytest -q tests/test_quiet.py
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from _tiny import tiny_config, tokenizer
from _waits import wait_until
from conftest import TRAIN_JSON
from distilbo._quiet import pause_if_asked, quiet_window, trainer
from distilbo.config import load_config
from distilbo.data.squad import build_features, load_examples
from distilbo.distill import teacher_cache
from distilbo.distill import train as train_module
from distilbo.distill.trial import student_spec
from distilbo.evaluate import load_qa_model
from distilbo.models.student import build_student

TRAINER = """
import sys, pathlib
from distilbo._quiet import pause_if_asked, trainer
root, counter = sys.argv[1], pathlib.Path(sys.argv[2])
n = 0
with trainer(root):
    while True:
        pause_if_asked(root, poll_s=0.01)
        n += 1
        counter.write_text(str(n))
"""


def _count(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (OSError, ValueError):
        return 0


def _trainer(root: Path, counter: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", TRAINER, str(root), str(counter)])


def test_a_trainer_takes_no_step_inside_a_quiet_window_and_goes_on_after(tmp_path):
    counter = tmp_path / "steps"
    proc = _trainer(tmp_path, counter)
    try:
        wait_until(lambda: _count(counter) > 3, proc)
        with quiet_window(tmp_path, wait_s=120) as quiet:  # a trainer that never pauses fails here, in 2 min
            assert quiet  # it paused (not merely timed out)
            inside = _count(counter)
            for _ in range(20):  # room for a trainer that does not pause to take steps (a busy machine only hides a
                time.sleep(0.05)  # failure here, it cannot cause one)
                assert _count(counter) == inside
            assert (tmp_path / "quiet" / f"paused-{socket.gethostname()}-{proc.pid}").exists()
        wait_until(lambda: _count(counter) > inside, proc)  # it goes on once the request is withdrawn
        assert not list((tmp_path / "quiet").glob("request-*"))
    finally:
        proc.kill()
        proc.wait()
    with quiet_window(tmp_path, wait_s=3600) as quiet:  # its registration died with it: nobody to wait for
        assert quiet


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_dead_or_foreign_request_pauses_nobody(tmp_path):
    folder = tmp_path / "quiet"
    folder.mkdir()
    (folder / f"request-{socket.gethostname()}-{_dead_pid()}").touch()  # a measurer killed mid-window
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        (folder / f"request-other-host-{sleeper.pid}").touch()  # a live pid, but another machine's request
        assert pause_if_asked(tmp_path, max_s=3600) == 0.0
        assert not list(folder.glob("paused-*"))
        assert [p.name for p in folder.glob("request-*")] == [f"request-other-host-{sleeper.pid}"]  # dead one gone
        (folder / f"request-{socket.gethostname()}-{sleeper.pid}").touch()  # a live request here: it pauses
        assert pause_if_asked(tmp_path, max_s=0.2) > 0.0
        assert not list(folder.glob("paused-*"))  # and unmarks itself after
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_trainer_that_cannot_pause_is_waited_for_at_most_wait_s(tmp_path):
    folder = tmp_path / "quiet"
    folder.mkdir()
    busy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])  # registered, never asks
    try:
        (folder / f"trainer-{socket.gethostname()}-{busy.pid}").touch()
        with quiet_window(tmp_path, wait_s=0.2) as quiet:
            assert quiet is False
        assert not list(folder.glob("request-*"))
    finally:
        busy.kill()
        busy.wait()
    with quiet_window(tmp_path, wait_s=3600) as quiet:
        assert quiet  # the dead trainer's file is ignored
    assert not list(folder.glob("trainer-*"))  # and removed, so a new process with its pid is not taken for it


def test_the_training_loop_asks_before_every_batch_and_registers_only_while_it_trains(tmp_path, monkeypatch):
    cfg = load_config(tiny_config(tmp_path), {"num_train_epochs": "1", "precision": "fp32"})
    feats = build_features(load_examples(str(TRAIN_JSON), max_samples=8), tokenizer(), max_seq_length=96,
                           doc_stride=32, max_query_length=24)
    teacher = load_qa_model(cfg.path(cfg.models.teacher))
    ts, te = teacher_cache.teacher_logits(teacher, feats, teacher_key="k", cache_dir=None, device=torch.device("cpu"))
    spec, _ = student_spec(cfg)
    student = build_student(spec, cfg.path(cfg.models.student_init))
    root = Path(cfg.path(cfg.run.cache_dir))
    asked = []

    def pause(r, **kw):
        asked.append(sorted(p.name for p in (Path(r) / "quiet").glob("trainer-*")))
        return pause_if_asked(r, **kw)

    monkeypatch.setattr(train_module, "pause_if_asked", pause)
    result = train_module.distill(student, feats, cfg=cfg, device=torch.device("cpu"),
                                  teacher_start=ts.astype(np.float32), teacher_end=te.astype(np.float32),
                                  progress=False)
    n_batches = -(-len(feats) // cfg.train.batch_size)
    assert result.steps >= 1 and len(asked) == n_batches  # once before each batch
    me = f"trainer-{socket.gethostname()}-{os.getpid()}"
    assert all(names == [me] for names in asked)  # registered (in the config's cache folder) while training
    assert not list((root / "quiet").glob("trainer-*"))  # and not after


def test_registration_in_an_unwritable_place_is_skipped(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with trainer(blocker):  # <file>/quiet cannot be created: training goes on without registering
        assert pause_if_asked(blocker) == 0.0
