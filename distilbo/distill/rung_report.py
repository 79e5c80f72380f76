"""The trial's side of early stopping at rungs (`[search] rungs`): how a running trial asks whether to go on.

    # in a trial function (the default one, distill.trial.run_trial, does this at each rung fraction):
    if not report_rung(trial_dir, k, {"HasAns_forced_f1": 41.2, "num_parameters": 9.3e6}):
        raise StoppedAtRung(k)

It lives below both the trial (`distill/`) and the search (`search/`): the trial raises and catches
`StoppedAtRung` and reports its rungs here without importing the search; the search answers the reports
(`search.early_stop.answer_reports` / `decide`) and re-exports these names from `search.early_stop`.

Protocol. In a child process started by the search (`ENV` set in its environment), `report_rung` writes
`rung-K.json` into the trial folder and waits for `rung-K-decision.json`, which the search writes. A trial function
run in the search's own process (tests, debugging) gets the answer through an in-process hook (`answering`).
Outside a search (`distilbo distill`), every rung answers "go on".
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from distilbo._io import write_json_atomic

EXIT_STOPPED = 4
"""Exit code of a trial child that stopped at a rung (EXIT_ERROR is 3)."""
ENV = "DISTILBO_RUNG_PARENT"
"""Set in a trial child's environment when a search process answers its rung reports through files."""

Decider = Callable[[int, dict[str, Any]], bool]
_in_process: list[Decider] = []


class StoppedAtRung(Exception):
    """Raised by a trial function when the search stops it at rung `rung`."""

    def __init__(self, rung: int) -> None:
        super().__init__(f"stopped at rung {rung}")
        self.rung = rung


def rung_file(trial_dir: Path, rung: int, *, decision: bool = False) -> Path:
    return Path(trial_dir) / (f"rung-{rung}-decision.json" if decision else f"rung-{rung}.json")


def report_rung(trial_dir: Path | str, rung: int, metrics: dict[str, Any], *, poll: float = 0.2,
                timeout: float = 3600.0) -> bool:
    """The trial's dev metrics at rung `rung` (0-based) -> True to go on, False to stop (raise StoppedAtRung)."""
    metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float, np.integer, np.floating))}
    if _in_process:
        return _in_process[-1](rung, metrics)
    if not os.environ.get(ENV):
        return True  # not inside a search: nothing to compare with
    write_json_atomic(rung_file(trial_dir, rung), {"rung": rung, "metrics": metrics})
    answer = rung_file(trial_dir, rung, decision=True)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            return bool(json.loads(answer.read_text())["continue"])
        except (FileNotFoundError, ValueError, KeyError):
            time.sleep(poll)
    return True  # the parent never answered (it is gone or wedged): training on is the safe choice


@contextmanager
def answering(decide: Decider) -> Iterator[None]:
    """Within the block, `report_rung` in this process is answered by `decide(rung, metrics)` (in-process trials)."""
    _in_process.append(decide)
    try:
        yield
    finally:
        _in_process.remove(decide)
