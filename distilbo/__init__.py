"""distilbo: distill a BERT-family SQuAD 2.0 teacher into smaller students and find the accuracy/size/speed
Pareto frontier with constrained multi-objective Bayesian optimization.

Every CLI command is a library function:

    from distilbo import load_config, run_search, make_report, export_model
    cfg = load_config("configs/cpu-squad2.toml", {"max_train_samples": "300"})
    study = run_search(cfg, n_trials=6)
    paths = make_report(cfg)                 # frontier.png, report.html, trials.csv, frontier.json
    export_model(cfg, trial=None, scenario="retain-performance", out="exported/")

Names load on first use, so `import distilbo` stays cheap (no torch, transformers or Optuna until needed). No
name is also a submodule's (`distilbo.evaluate`, `distilbo.export`, `distilbo.report`, `distilbo.distill`): the
import system binds a submodule to its package once imported, so such a name would turn from a function into a
module depending on what was imported before.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_WHERE = {
    "Config": "distilbo.config", "load_config": "distilbo.config", "UserError": "distilbo.errors",
    "load_examples": "distilbo.data.squad", "build_features": "distilbo.data.squad",
    "postprocess": "distilbo.qa.postprocess", "evaluate_squad": ("distilbo.qa.squad_v2", "evaluate"),
    "evaluate_qa": ("distilbo.evaluate", "evaluate"), "score_files": "distilbo.score", "finetune_teacher": "distilbo.teacher",
    "StudentSpec": "distilbo.models.student", "build_student": "distilbo.models.student",
    "count_parameters": "distilbo.models.student", "distillation_loss": "distilbo.distill.losses",
    "distill_student": ("distilbo.distill.train", "distill"), "run_trial": "distilbo.distill.trial",
    "run_search": "distilbo.search.runner", "status": "distilbo.search.study",
    "make_report": ("distilbo.report.command", "report"), "export_model": ("distilbo.export", "export"),
    "answer": "distilbo.export",
}
__all__ = ["__version__", *_WHERE]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'distilbo' has no attribute {name!r}")
    where = _WHERE[name]
    module, attr = where if isinstance(where, tuple) else (where, name)
    return getattr(importlib.import_module(module), attr)
