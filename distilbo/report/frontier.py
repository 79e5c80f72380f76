"""The scenario table and the importance sentence over recorded trials (the front itself: `distilbo.pareto`).

Pure: no Optuna, no files. The input is the list of trial records that `distilbo.search.study.records(study)`
returns, plain dicts of the form

    {"number": 3, "state": "COMPLETE", "params": {"n_layers": 4, ...},
     "metrics": {"exact": 61.2, "num_parameters": 31_000_000, ...},
     "failure": None, "is_baseline": False, "feasible": True, "curves": [...], "trial_dir": "..."}

and objectives / constraints as in `SearchConfig`: `[{"metric": "exact", "direction": "maximize"}, ...]` and
`[{"metric": "exact", "min": 50.0}, ...]`. Typical use (what `distilbo report` does):

    rows = scenario_table(records, objectives=objectives, constraints=constraints)
    sentence = importance_sentence(importances, n_trials=len(records))

A trial that failed (OOM, timeout, crash: `failure` set, or state FAIL) never counts as a result, even when
Optuna holds pessimistic values for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any


from distilbo.names import group_of
from distilbo.pareto import Record, candidates, is_success, meets_constraints, metric_value, pareto_front


SCENARIOS = (
    "baseline",
    "retain size, maximize performance",
    "minimize size, maximize performance",
    "minimize size, retain performance",
)
GROUPS = ("architecture", "SGD", "distillation")


# ---------------------------------------------------------------------------------------------- scenarios
def _row(scenario: str, rec: Record | None, *, metric_name: str, size_metric: str,
         base: Record | None, note: str) -> dict[str, Any]:
    size = metric_value(rec, size_metric) if rec is not None else None
    ex = metric_value(rec, metric_name) if rec is not None else None
    bsize = metric_value(base, size_metric) if base is not None else None
    bex = metric_value(base, metric_name) if base is not None else None
    size_pct = (size - bsize) / bsize * 100.0 if size is not None and bsize else None
    ex_pts = ex - bex if ex is not None and bex is not None else None
    return {"scenario": scenario, "trial": rec.get("number") if rec is not None else None, "metric": metric_name,
            "value": ex, "size": size, "size_change_pct": size_pct, "value_change_pts": ex_pts, "note": note}


def _best(pool: list[Record], key: Callable[[Record], tuple]) -> Record | None:
    return min(pool, key=key) if pool else None


def _fmt_size(v: float) -> str:
    return f"{v / 1e6:.2f}M" if abs(v) >= 1e5 else f"{v:g}"


def scenario_table(records: Sequence[Record], *, metric: str = "exact", size_metric: str = "num_parameters",
                   size_tolerance: float = 0.01, exact_tolerance: float = 0.5,
                   objectives: Sequence[Mapping[str, Any]],
                   constraints: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The reference's Table 1: one row per entry of SCENARIOS, each
    {scenario, trial, metric, value, size, size_change_pct, value_change_pts, note}: `value` is the trial's
    `metric` (named in the row), `size` its `size_metric`.

    - baseline: the `is_baseline` trial (the first successful one if the study holds several).
    - retain size, maximize performance: best `metric` among feasible trials with size <= baseline * (1 + tol).
    - minimize size, maximize performance: best `metric` among FRONTIER trials with size <= baseline * (1 - tol).
    - minimize size, retain performance: smallest FRONTIER trial with `metric` >= baseline - exact_tolerance.
    Ties break towards the smaller model, then the higher `metric`, then the lower trial number. A scenario no
    trial meets has trial None and a note saying so. Without a usable baseline the changes are None; "retain
    size" then falls back to the best trial overall, "retain performance" to the smallest frontier trial, and
    "minimize size, maximize performance" has no trial (it needs the baseline's size).
    """
    need = (metric, size_metric)
    pool = candidates(records, objectives, constraints, extra_metrics=need)
    front_ids = {id(r) for r in pareto_front(records, objectives, constraints)}
    front = [r for r in pool if id(r) in front_ids]

    def by_perf(r: Record) -> tuple:
        return (-metric_value(r, metric), metric_value(r, size_metric), r.get("number", 0))

    def by_size(r: Record) -> tuple:
        return (metric_value(r, size_metric), -metric_value(r, metric), r.get("number", 0))

    baselines = [r for r in records if r.get("is_baseline")]
    ok_baselines = [r for r in baselines if is_success(r, need)]
    base = ok_baselines[0] if ok_baselines else None
    kw = {"metric_name": metric, "size_metric": size_metric, "base": base}
    rows = []

    if base is not None:
        note = "the baseline recipe"
        if not meets_constraints(base, constraints):
            note += " (it misses a constraint)"
        rows.append(_row(SCENARIOS[0], base, note=note, **kw))
        bsize, bex = metric_value(base, size_metric), metric_value(base, metric)
        hi, lo = bsize * (1 + size_tolerance), bsize * (1 - size_tolerance)
        floor = bex - exact_tolerance

        pick = _best([r for r in pool if metric_value(r, size_metric) <= hi], by_perf)
        rule = f"{size_metric} <= {_fmt_size(hi)} (baseline + {size_tolerance * 100:g}%)"
        if pick is None:
            rows.append(_row(SCENARIOS[1], None, note=f"no trial with {rule}", **kw))
        else:
            note = f"best {metric} with {rule}"
            if pick is base:
                note += "; no trial beats the baseline"
            rows.append(_row(SCENARIOS[1], pick, note=note, **kw))

        rule = f"{size_metric} <= {_fmt_size(lo)} (baseline - {size_tolerance * 100:g}%)"
        pick = _best([r for r in front if metric_value(r, size_metric) <= lo], by_perf)
        rows.append(_row(SCENARIOS[2], pick, **kw,
                         note=f"best {metric} on the frontier with {rule}" if pick is not None
                         else f"no trial on the frontier with {rule}"))

        rule = f"{metric} >= {floor:.2f} (baseline - {exact_tolerance:g})"
        pick = _best([r for r in front if metric_value(r, metric) >= floor], by_size)
        rows.append(_row(SCENARIOS[3], pick, **kw,
                         note=f"smallest frontier trial with {rule}" if pick is not None
                         else f"no trial on the frontier with {rule}"))
        return rows

    if baselines:
        b = baselines[0]
        why = f"failed: {b['failure']}" if b.get("failure") else f"has no {metric}/{size_metric} (state {b.get('state')})"
        rows.append(_row(SCENARIOS[0], b, note=f"baseline trial {why}; changes not computed", **kw))
        rows[0]["size"], rows[0]["value"] = metric_value(b, size_metric), metric_value(b, metric)
    else:
        rows.append(_row(SCENARIOS[0], None, note="no baseline trial in this study; changes not computed", **kw))
    pick = _best(pool, by_perf)
    rows.append(_row(SCENARIOS[1], pick, **kw,
                     note=(f"no baseline: best {metric} of all trials; changes not computed" if pick is not None
                           else "no trial: no successful feasible trial")))
    rows.append(_row(SCENARIOS[2], None, note="no trial: this scenario needs the baseline's size", **kw))
    pick = _best(front, by_size)
    rows.append(_row(SCENARIOS[3], pick, **kw,
                     note=("no baseline: smallest frontier trial that meets the constraints; changes not computed"
                           if pick is not None else "no trial: no successful feasible trial")))
    return rows


# ---------------------------------------------------------------------------------------------- importance
def group_shares(importance: Mapping[str, float],
                 groups: Callable[[str], str] | Mapping[str, str] = group_of) -> dict[str, float]:
    """{param: importance} -> {group: share of the total}, largest first (shares sum to 1)."""
    totals: dict[str, float] = {}
    for p, v in importance.items():
        g = _group(p, groups)
        totals[g] = totals.get(g, 0.0) + max(float(v), 0.0)
    s = sum(totals.values())
    if s <= 0:
        return {}
    return dict(sorted(((g, v / s) for g, v in totals.items()), key=lambda kv: -kv[1]))


def importance_sentence(importances: Mapping[str, Mapping[str, float]],
                        groups: Callable[[str], str] | Mapping[str, str] = group_of, *,
                        n_trials: int | None = None,
                        spread: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """One plain sentence: which parameter group (architecture / SGD / distillation) dominates each objective's
    importance, and how much to trust it.

    `importances` is {objective: {param: importance}} (e.g. Optuna's fANOVA, any scale); `groups` maps a
    parameter name to its group (default `distilbo.names.group_of`); `n_trials` is how many completed
    trials the importances were fitted on; `spread` is {objective: {param: std}} from bootstrap reruns, in the
    same units as `importances`. The lead of the top group counts as stable when it exceeds the combined spread
    of the top two groups.
    """
    parts, unstable, checked = [], [], False
    for obj, imp in importances.items():
        shares = group_shares(imp, groups)
        if not shares:
            continue
        ranked = list(shares.items())
        top_g, top_s = ranked[0]
        lead_param = max(((p, v) for p, v in imp.items() if _group(p, groups) == top_g), key=lambda pv: pv[1])[0]
        text = f"for {obj}, {top_g} parameters carry {top_s:.0%} of the importance (led by {lead_param})"
        if len(ranked) > 1:
            text += ", then " + " and ".join(f"{g} {s:.0%}" for g, s in ranked[1:])
        parts.append(text)
        sp = (spread or {}).get(obj)
        if sp and len(ranked) > 1:
            checked = True
            total = sum(max(float(v), 0.0) for v in imp.values())
            gsd = {g: math.sqrt(sum(float(sp.get(p, 0.0)) ** 2 for p in imp if _group(p, groups) == g)) / total
                   for g, _ in ranked[:2]}
            if top_s - ranked[1][1] <= gsd[ranked[0][0]] + gsd[ranked[1][0]]:
                unstable.append(obj)
    if not parts:
        return "Parameter importance was not computed (it needs several completed trials with varied parameters)."
    body = "; ".join(parts)
    basis = f"from {n_trials} completed trials" if n_trials is not None else "from an unstated number of trials"
    if checked and unstable:
        trust = (f"the lead is within the bootstrap spread for {', '.join(unstable)}, so that ranking is not stable")
    elif checked:
        trust = "the ranking held across bootstrap reruns"
    else:
        trust = "no bootstrap reruns were made, so its stability is unknown"
    caution = ", few enough to treat it as a hint" if n_trials is not None and n_trials < 20 else ""
    return f"{body[0].upper()}{body[1:]} (estimated {basis}{caution}; {trust})."


def _group(param: str, groups: Callable[[str], str] | Mapping[str, str]) -> str:
    return groups.get(param, group_of(param)) if isinstance(groups, Mapping) else groups(param)
