"""Trial functions and driver scripts for tests/test_faults.py and tests/test_bad_input.py.

Trial functions have the signature of `distilbo.distill.trial:run_trial`, `fn(cfg, trial_dir) -> dict`, and run by
dotted path (`_fault_trials:marked`) in the search's child processes, which get the test process's sys.path.
The driver scripts are run with `python -c` (or written to a file) in a subprocess the test kills.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import _search_trials as st

TESTS = str(Path(__file__).resolve().parent)


def marked(cfg: Any, trial_dir: Path) -> dict[str, float]:
    """`smooth` after 1 s, leaving `trial_dir/started` at its start so a test knows this trial is running."""
    (Path(trial_dir) / "started").write_text("1")
    time.sleep(1.0)
    return st.smooth(cfg, trial_dir)


SEARCH_DRIVER = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
import _search_trials as st
from distilbo.report.command import report
from distilbo.search import _loop, run_search

out, budget, hook = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
paused = out.parent / "paused"


def pause(what):
    paused.write_text(what)
    time.sleep(120)


if hook == "between":  # trial 1 finished and the loop pruned checkpoints; trial 2 not yet started
    real_prune = _loop.prune_checkpoints  # what the worker loop calls after each trial

    def prune(study, **kw):
        pruned = real_prune(study, **kw)
        if sum(t.state.name == "COMPLETE" for t in study.trials) == 2:
            pause("between trials 1 and 2")
        return pruned

    _loop.prune_checkpoints = prune
if hook == "report":  # report.html fully in its temporary file, not yet renamed into place
    real_fsync = os.fsync

    def fsync(fd):
        real_fsync(fd)
        if ".report.html." in os.readlink(f"/proc/self/fd/{{fd}}"):
            pause("writing report.html")

    os.fsync = fsync
cfg = st.make_config(out, sampler="random")
run_search(cfg, n_trials=budget, trial_fn="_fault_trials:marked", estimate_fn=None, progress=False)
report(cfg)
"""
"""argv: RUN_FOLDER BUDGET HOOK (none | between | report): `distilbo search` then `distilbo report`, in code."""

CACHE_LOOP = """
import sys
import numpy as np
from distilbo._cache import cached_arrays
root = sys.argv[1]
k = 0
while True:  # entry k holds arange(k, k + 400_000) in two arrays; killed from outside at some moment
    a = np.arange(k, k + 400_000, dtype=np.int64)
    cached_arrays("loop", f"{{k:06d}}", lambda: {{"a": a, "b": a.reshape(-1, 8)[:, ::-1].copy()}}, cache_dir=root)
    k += 1
"""

REPORT_LOOP = """
import sys
sys.path.insert(0, {tests!r})
import _report_records as rr
from distilbo.report.html import write_report
out = sys.argv[1]
versions = [rr.records(), rr.records()[:6]]
k = 0
while True:  # alternately the full and a shorter version of one report; killed from outside at some moment
    write_report(versions[k % 2], out_dir=out, study_name=f"v{{k % 2}}", objectives=rr.OBJECTIVES,
                 constraints=rr.CONSTRAINTS, scenarios=[])
    k += 1
    print(k, flush=True)
"""


def fill_to_the_last_byte(folder: Path) -> None:
    """Write `folder/filler` until the filesystem refuses more."""
    with open(Path(folder) / "filler", "wb") as f:
        try:
            while True:
                f.write(bytes(1 << 16))
                f.flush()
        except OSError:
            pass


def fill_disk(cfg: Any, trial_dir: Path) -> dict[str, float]:
    """`smooth`, after filling the disk under `trial_dir` to the last byte (`trial_dir/filler`)."""
    fill_to_the_last_byte(trial_dir)
    return st.smooth(cfg, None)
