"""The search: space (space.py), the Optuna study and its records (study.py, over _storage, _samplers, _outcome,
_liveness, _folders, _records, _table), trials in child processes and the worker loop (runner.py, over _objective,
_launch, _loop, _ray, _console).

    from distilbo.search import run_search, records, status_table
    study = run_search(cfg, n_trials=8)
    print(status_table(records(study)))

Exports load on first use, so importing `distilbo.search.space` (config validation, the pure report module) or
starting a trial's child process does not import Optuna.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "run_search": "runner", "run_child": "runner", "make_objective": "runner", "DEFAULT_TRIAL_FN": "runner",
    "DEFAULT_ESTIMATE_FN": "runner", "TrialFailure": "study", "create_or_load_study": "study",
    "fail_stale_trials": "study", "mask_url": "study", "front_records": "study", "record_failure": "study",
    "record_success": "study", "records": "study", "status": "study", "status_table": "study",
}
__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
