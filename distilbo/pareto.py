"""The Pareto front and its hypervolume over recorded trials: the one front every command uses.

Pure (no Optuna, no files), a leaf beside `distilbo.names`, so the search (which marks `on_front` in its records
and keeps the frontier's checkpoints), the report and the export all read the same front. Records and
objectives/constraints are as in `distilbo.report.frontier` (plain dicts; objectives `[{"metric", "direction"}]`,
constraints `[{"metric", "min"?, "max"?}]`).

    front = pareto_front(records, objectives, constraints)
    hv = hypervolume(objective_matrix(front, objectives), ref=[...])   # all coordinates minimized

A trial that failed (OOM, timeout, crash: `failure` set, or state FAIL) never counts as a result, even when
Optuna holds pessimistic values for it; a record marked `feasible: False` (Optuna's constraints) is never on it.

Shape glossary:  n  records     d  objectives
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Record = dict[str, Any]


# ---------------------------------------------------------------------------------------------- trial status
def _num(value: Any) -> float | None:
    """A finite float, or None (missing, NaN, inf, not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def metric_value(rec: Record, name: str) -> float | None:
    """The trial's finite value of `name`, else None."""
    return _num((rec.get("metrics") or {}).get(name))


def is_failure(rec: Record) -> bool:
    """OOM, timeout, crash or a lost heartbeat: `failure` is set or Optuna says FAIL."""
    return rec.get("failure") is not None or rec.get("state") == "FAIL"


def is_success(rec: Record, metrics: Sequence[str] = ()) -> bool:
    """Finished without failure, with a finite value for every metric in `metrics`."""
    return (rec.get("state") == "COMPLETE" and not is_failure(rec)
            and all(metric_value(rec, m) is not None for m in metrics))


def meets_constraints(rec: Record, constraints: Sequence[Mapping[str, Any]]) -> bool:
    """Every {metric, min?, max?} holds (a missing metric fails its constraint) and the record is not marked
    infeasible."""
    if rec.get("feasible") is False:
        return False
    for c in constraints:
        v = metric_value(rec, c["metric"])
        if v is None:
            return False
        if "min" in c and c["min"] is not None and v < float(c["min"]):
            return False
        if "max" in c and c["max"] is not None and v > float(c["max"]):
            return False
    return True


def candidates(records: Sequence[Record], objectives: Sequence[Mapping[str, Any]],
               constraints: Sequence[Mapping[str, Any]], extra_metrics: Sequence[str] = ()) -> list[Record]:
    """Successful, feasible trials with every objective (and `extra_metrics`) measured."""
    need = [o["metric"] for o in objectives] + list(extra_metrics)
    return [r for r in records if is_success(r, need) and meets_constraints(r, constraints)]


# ---------------------------------------------------------------------------------------------- Pareto front
def objective_matrix(records: Sequence[Record], objectives: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(n_records, n_objectives) float array oriented so that SMALLER is better in every column
    (maximized metrics are negated). Missing values become NaN."""
    rows = []
    for r in records:
        row = []
        for o in objectives:
            v = metric_value(r, o["metric"])
            sign = -1.0 if o.get("direction", "minimize") == "maximize" else 1.0
            row.append(math.nan if v is None else sign * v)
        rows.append(row)
    return np.asarray(rows, dtype=float).reshape(len(rows), len(objectives))


def non_dominated_mask(points: np.ndarray) -> np.ndarray:
    """(n, d) minimization points -> boolean mask of the points no other point dominates. A point dominates
    another when it is <= in every coordinate and < in at least one; equal points do not dominate each other
    (ties are all kept)."""
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    mask = np.ones(n, dtype=bool)
    for i in range(n):
        le = np.all(pts <= pts[i], axis=1)
        lt = np.any(pts < pts[i], axis=1)
        if np.any(le & lt):
            mask[i] = False
    return mask


def pareto_front(records: Sequence[Record], objectives: Sequence[Mapping[str, Any]],
                 constraints: Sequence[Mapping[str, Any]]) -> list[Record]:
    """The non-dominated trials among the successful, feasible ones, for any number of objectives and
    directions. Tied trials are all on the front. Returned in the input order."""
    if not objectives:
        raise ValueError("pareto_front needs at least one objective")
    pool = candidates(records, objectives, constraints)
    if not pool:
        return []
    mask = non_dominated_mask(objective_matrix(pool, objectives))
    return [r for r, keep in zip(pool, mask) if keep]


# ---------------------------------------------------------------------------------------------- hypervolume
def hypervolume_2d(points: Any, ref: Sequence[float]) -> float:
    """Area dominated by 2-D minimization `points` and bounded by the reference point `ref`.
    Points not strictly better than `ref` in both coordinates add nothing."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    rx, ry = float(ref[0]), float(ref[1])
    pts = pts[(pts[:, 0] < rx) & (pts[:, 1] < ry)]
    area, best_y = 0.0, ry
    for x, y in sorted(map(tuple, pts)):  # by x, then y
        if y < best_y:
            area += (rx - x) * (best_y - y)
            best_y = y
    return area


def hypervolume(points: Any, ref: Sequence[float]) -> float:
    """Volume dominated by N-d minimization `points` and bounded by `ref` (slicing along the last axis,
    exact; fine for the few hundred points of a study)."""
    ref_arr = np.asarray(ref, dtype=float)
    d = ref_arr.size
    pts = np.asarray(points, dtype=float).reshape(-1, d)
    pts = pts[np.all(pts < ref_arr, axis=1)]
    if len(pts) == 0:
        return 0.0
    if d == 1:
        return float(ref_arr[0] - pts[:, 0].min())
    if d == 2:
        return hypervolume_2d(pts, ref_arr)
    pts = pts[non_dominated_mask(pts)]
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    volume = 0.0
    for i in range(len(pts)):
        top = pts[i + 1, -1] if i + 1 < len(pts) else ref_arr[-1]
        depth = top - pts[i, -1]
        if depth > 0:
            volume += depth * hypervolume(pts[: i + 1, :-1], ref_arr[:-1])
    return float(volume)
