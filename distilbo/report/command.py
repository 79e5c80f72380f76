"""`distilbo report`: read a study, compute parameter importance, write the report files.

    paths = report(load_config("configs/cpu-squad2.toml"))   # -> {"html": ..., "png": ..., "csv": ..., "json": ...}

The glue between the study (search/) and the pure report (report/frontier.py, report/html.py). Importance is
Optuna's PED-ANOVA per objective over the successful trials (maximized metrics negated, since PED-ANOVA assumes
lower is better), with a bootstrap over trials to say how stable the ranking is.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from distilbo.config import Config


def importances(records: list[dict], objectives: list[dict], *, n_boot: int = 8,
                seed: int = 0) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """({objective: {param: importance}}, {objective: {param: bootstrap std}}) over successful trials.

    Empty dicts when there are too few trials (PED-ANOVA needs a top quantile to compare against)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    from optuna.importance import PedAnovaImportanceEvaluator

    ok = [r for r in records if r.get("status", "ok") == "ok" and not r.get("failure") and r.get("params")]
    if len(ok) < 8:
        return {}, {}
    names = sorted({k for r in ok for k in r["params"]})
    dists: dict[str, Any] = {}
    for n in names:
        vals = [r["params"][n] for r in ok if n in r["params"]]
        if len(set(map(str, vals))) < 2:
            continue  # a parameter that never varied has no importance to measure
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            lo, hi = min(vals), max(vals)
            log = lo > 0 and hi / lo > 100
            dists[n] = IntDistribution(int(lo), int(hi)) if all(isinstance(v, int) for v in vals) \
                else FloatDistribution(float(lo), float(hi), log=log)
        else:
            dists[n] = CategoricalDistribution(sorted(set(map(str, vals))))
    if not dists:
        return {}, {}

    def evaluate(rows: list[dict], metric: str, sign: float) -> dict[str, float]:
        trials = []
        for r in rows:
            value = r["metrics"].get(metric)
            if value is None or not np.isfinite(value):
                continue
            params = {n: (r["params"][n] if not isinstance(dists[n], CategoricalDistribution) else str(r["params"][n]))
                      for n in dists if n in r["params"]}
            if len(params) != len(dists):
                continue
            trials.append(optuna.trial.create_trial(params=params, distributions=dict(dists), value=sign * float(value)))
        if len(trials) < 8:
            return {}
        study = optuna.create_study(direction="minimize")
        study.add_trials(trials)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())

    imp: dict[str, dict[str, float]] = {}
    spread: dict[str, dict[str, float]] = {}
    rng = np.random.default_rng(seed)
    for o in objectives:
        metric, sign = o["metric"], (-1.0 if o["direction"] == "maximize" else 1.0)
        try:
            base = evaluate(ok, metric, sign)
        except Exception:  # noqa: BLE001 - importance is a nice-to-have; the report goes on without it
            continue
        if not base:
            continue
        imp[metric] = dict(base)
        boots = []
        for _ in range(n_boot):
            sample = [ok[i] for i in rng.integers(0, len(ok), len(ok))]
            try:
                b = evaluate(sample, metric, sign)
            except Exception:  # noqa: BLE001
                continue
            if b:
                boots.append([b.get(k, 0.0) for k in base])
        if boots:
            spread[metric] = dict(zip(base, np.std(np.asarray(boots), axis=0).tolist()))
    return imp, spread


def report(cfg: Config, *, out: str | None = None, storage: str | None = None,
           study_name: str | None = None) -> dict[str, Path]:
    """Write the study's report into `out`, default `<run folder>/<study folder>/report/` (`study.study_dir`)."""
    from distilbo.report.frontier import scenario_table
    from distilbo.report.html import write_report
    from distilbo.search.study import load_study, mask_url, records, study_dir

    study = load_study(cfg, storage=storage, study_name=study_name)
    recs = records(study)
    objectives, constraints = cfg.search.objectives, cfg.search.constraints
    y_metric = next((o["metric"] for o in objectives if o["direction"] == "maximize"), "exact")
    x_metric = next((o["metric"] for o in objectives if o["direction"] == "minimize"), "num_parameters")
    scenarios = scenario_table(recs, metric=y_metric, size_metric=x_metric, size_tolerance=cfg.report.size_tolerance,
                               exact_tolerance=cfg.report.exact_tolerance, objectives=objectives,
                               constraints=constraints)
    imp, spread = importances(recs, objectives)
    out_dir = Path(out) if out else study_dir(cfg, study) / "report"  # each study its own report
    return write_report(recs, out_dir=out_dir, study_name=study.study_name, objectives=objectives,
                        constraints=constraints, scenarios=scenarios, importances=imp or None,
                        importance_spread=spread or None, storage_label=mask_url(storage or cfg.storage_url),
                        x_metric=x_metric, y_metric=y_metric)
