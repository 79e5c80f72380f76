"""Parameter importance over a study's trials: Optuna's PED-ANOVA per objective, with a bootstrap spread.

    imp, spread = importances(records(study), cfg.search.objectives)

Here, under search/ (the only code that talks to Optuna), so `distilbo report` stays glue. Maximized metrics are
negated, since PED-ANOVA assumes lower is better; the bootstrap over trials says how stable the ranking is.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


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
