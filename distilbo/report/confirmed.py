"""Confirmed values: a trial's metrics as the mean over its seeds, not the one draw the search selected on. Pure.

    recs = confirmed_records(records, runs)          # records as `search.study.records` gives them; runs as
                                                     # `search.confirm.confirmation_runs` gives them
    rows = scenario_table(confirmed_only(recs), ...) # the scenarios pick from confirmed values
    marks = confirmed_marks(recs, objectives, constraints)   # {trial: "on the confirmed front" | "falls off ..."}

A confirmed record's `metrics` hold, for every numeric metric, the mean over the search's own draw and the
confirmation runs that succeeded (all seeds count alike); its `confirmed` entry keeps per metric
{mean, sd (sample, ddof 1; 0 for one value), n, draw (the search's value), values}. Test-split metrics
(`test_*`) count only from confirmation runs (the search never scores the test split), so their mean is over those.
Records without a successful confirmation run are returned unchanged with `confirmed` None.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

from distilbo.pareto import Record, meets_constraints, pareto_front


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """{mean, sd, n, values}: sd is the sample standard deviation (ddof 1), 0 for a single value."""
    vals = [float(v) for v in values]
    n = len(vals)
    mean = sum(vals) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "sd": sd, "n": n, "values": vals}


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def confirmed_records(records: Sequence[Record], runs: Sequence[Mapping[str, Any]]) -> list[Record]:
    """Copies of `records`; each trial with successful confirmation runs (`runs`: dicts with `trial`, `seed`,
    `state` == "ok", `metrics`) gets mean metrics and a `confirmed` entry (see the module docstring)."""
    by_trial: dict[int, list[Mapping[str, Any]]] = {}
    for run in runs:
        if run.get("state") == "ok" and isinstance(run.get("metrics"), Mapping):
            by_trial.setdefault(int(run["trial"]), []).append(run)
    out = []
    for rec in records:
        rec = dict(rec)
        mine = sorted(by_trial.get(int(rec.get("number", -1)), []), key=lambda r: r["seed"])
        if not mine or rec.get("status", "ok") != "ok":
            rec["confirmed"] = None
            out.append(rec)
            continue
        draw = dict(rec.get("metrics") or {})
        names = dict.fromkeys(list(draw) + [k for r in mine for k in r["metrics"]])
        stats, means = {}, dict(draw)
        for name in names:
            own = _finite(draw.get(name)) and not name.startswith("test_")  # the test split: confirmation runs only
            vals = ([draw[name]] if own else []) + [r["metrics"][name] for r in mine if _finite(r["metrics"].get(name))]
            if not vals:
                continue
            s = summarize(vals)
            s["draw"] = draw[name] if own else None
            stats[name] = s
            means[name] = s["mean"]
        rec["metrics"] = means
        rec["feasible"] = None  # judged again on the means (`pareto.meets_constraints`), not on the one draw
        rec["confirmed"] = {"seeds": [r["seed"] for r in mine], "runs": len(mine), "stats": stats}
        out.append(rec)
    return out


def confirmed_only(records: Sequence[Record]) -> list[Record]:
    """The records that were confirmed (what the scenarios pick from once a study has confirmation runs)."""
    return [r for r in records if r.get("confirmed")]


def confirmed_marks(records: Sequence[Record], objectives: Sequence[Mapping[str, Any]],
                    constraints: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """{trial number: mark} for every confirmed record: "confirmed on the front", "falls under a constraint" (its
    confirmed mean misses one) or "falls off the front" (another confirmed trial dominates its means)."""
    confirmed = confirmed_only(records)
    front = {id(r) for r in pareto_front(confirmed, objectives, constraints)}
    marks = {}
    for r in confirmed:
        if not meets_constraints(r, constraints):
            marks[int(r["number"])] = "falls under a constraint"
        elif id(r) in front:
            marks[int(r["number"])] = "confirmed on the front"
        else:
            marks[int(r["number"])] = "falls off the front"
    return marks


def stat(rec: Record | None, name: str) -> dict[str, Any] | None:
    """The confirmed {mean, sd, n, draw, values} of `name` for a confirmed record, else None."""
    if not rec or not rec.get("confirmed"):
        return None
    return rec["confirmed"]["stats"].get(name)


def with_confirmed(rows: Sequence[Mapping[str, Any]], records: Sequence[Record], *,
                   metric: str) -> list[dict[str, Any]]:
    """Scenario rows (`report.frontier.scenario_table`) with, for confirmed picks, `value_sd`, `n_seeds`, the
    search's `draw`, and the test split's `test_value` / `test_sd` / `test_n` (`test_<metric>`, else the calibrated
    test F1 when the metric has no test twin)."""
    by_number = {r.get("number"): r for r in records}
    out = []
    for row in rows:
        row = copy.deepcopy(dict(row))
        rec = by_number.get(row.get("trial"))
        s = stat(rec, metric)
        if s is not None:
            row.update(value_sd=s["sd"], n_seeds=s["n"], draw=s["draw"])
            t = stat(rec, f"test_{metric}")
            if t is not None:
                row.update(test_metric=f"test_{metric}", test_value=t["mean"], test_sd=t["sd"], test_n=t["n"])
            cal = stat(rec, "test_calibrated_f1")
            if cal is not None:
                row.update(test_calibrated_f1=cal["mean"], test_calibrated_f1_sd=cal["sd"])
            dev_cal = stat(rec, "calibrated_f1")
            if dev_cal is not None:
                row.update(calibrated_f1=dev_cal["mean"], calibrated_f1_sd=dev_cal["sd"])
        out.append(row)
    return out


__all__ = ["summarize", "confirmed_records", "confirmed_only", "confirmed_marks", "stat", "with_confirmed"]
