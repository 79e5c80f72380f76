"""Rung decisions for Pareto-aware early stopping (issue 14): pure math, no Optuna, no files.

A trial reports at rung k (a fixed fraction of its training) its accuracy objectives, scored on a fixed subset of
dev; its cost objectives (`num_parameters`, a predicted latency) are exact before training, so only accuracy is
uncertain at a rung. The decision is asynchronous successive halving's stopping rule (ASHA; MOASHA for several
objectives): the trial is compared with every trial that reached the same rung before it, and it continues when it
is among the best ceil(n / eta) of those n, else it stops. "Best" is multi-objective: the n rung points are ranked
by non-dominated sorting (front 0 first), and within a front by crowding distance (NSGA-II: the points at the
ends of a front and in its sparse parts first), so a rung keeps a spread of sizes, not only the biggest students.
Until `min_peers` trials have reached the rung, every trial continues (there is nothing yet to compare with).
With the search's thresholds (`rung_feasible_first`, off by default), the trials that meet them at the rung rank
ahead of those that do not (constrained domination), so a below-threshold student at a front's size end does not
keep its place over a good one by crowding alone (seen on real trials; a tie on the surrogate:
benchmarks/README.md, issue 14).

    keep = continues(points, index=i, eta=3, min_peers=3)      # points (n, d), every column minimized
    keep = continues(points, index=i, eta=3, min_peers=3, violation=violations(rows, [{"metric": "f1", "min": 20.0}]))
    final = predicted_final(41.2, gains=[3.1, 5.0, 4.2])      # 45.4: a stopped trial's value for the samplers

Shape glossary:  n  trials at the rung (the candidate included)     d  objectives
"""

from __future__ import annotations

import math

import numpy as np

from distilbo.pareto import non_dominated_mask


def front_ranks(points: np.ndarray) -> np.ndarray:
    """(n,) int: 0 for the non-dominated points, 1 for the front once those are removed, and so on (all minimized)."""
    points = np.asarray(points, dtype=np.float64)
    ranks = np.full(len(points), -1, dtype=np.int64)
    left = np.arange(len(points))
    rank = 0
    while len(left):
        mask = non_dominated_mask(points[left])
        ranks[left[mask]] = rank
        left = left[~mask]
        rank += 1
    return ranks


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """(n,) NSGA-II crowding distance of points on one front: inf at each objective's ends, else the sum over
    objectives of the neighbours' gap divided by the objective's range."""
    points = np.asarray(points, dtype=np.float64)
    n, d = points.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(d):
        order = np.argsort(points[:, j], kind="stable")
        col = points[order, j]
        span = col[-1] - col[0]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


def priority(points: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    """(n,) order of the points, best first: by front rank, then by crowding distance within the front (larger
    first), then by index (earlier first), so the order is deterministic. With `violation` ((n,) >= 0, how far
    each point misses the search's thresholds, 0 = meets them all), the points that meet them come first, ranked
    so among themselves, and the others after them, least violation first (Deb's constrained domination, as in
    NSGA-II with constraints): a below-threshold student at the end of a front no longer takes a place by its
    infinite crowding distance."""
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    v = np.zeros(n) if violation is None else np.asarray(violation, dtype=np.float64)
    ok, bad = np.flatnonzero(v <= 0), np.flatnonzero(v > 0)
    ranks = np.zeros(n, dtype=np.int64)
    crowd = np.zeros(n)
    if len(ok):
        ranks[ok] = front_ranks(points[ok])
        for r in np.unique(ranks[ok]):
            members = ok[ranks[ok] == r]
            crowd[members] = crowding_distance(points[members])
    if len(bad):
        ranks[bad] = ranks[ok].max() + 1 if len(ok) else 0
        crowd[bad] = -v[bad]  # after every front that meets the thresholds, least violation first
    return np.lexsort((np.arange(n), -crowd, ranks))


def continues(points: np.ndarray, *, index: int, eta: float, min_peers: int,
              violation: np.ndarray | None = None) -> bool:
    """Whether the trial at row `index` of `points` (every trial at this rung, it included; all minimized) goes on:
    True while fewer than `min_peers` trials are at the rung, else when it is among the best ceil(n / eta)
    (`priority`, with `violation` when given)."""
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if not 0 <= index < n:
        raise IndexError(f"index {index} is not a row of {n} points")
    if eta <= 1:
        raise ValueError("eta must be > 1")
    if n < max(1, min_peers):
        return True
    kept = math.ceil(n / eta)
    return bool(index in priority(points, violation)[:kept])


def violations(rows: list[dict[str, float]], constraints: list[dict[str, float]]) -> np.ndarray:
    """(n,) how far each rung result misses `constraints` (the config's {metric, min and/or max}): the sum of its
    shortfalls, each relative to its bound (so metrics of any scale add up); a metric the row lacks counts 0."""
    out = np.zeros(len(rows))
    for i, row in enumerate(rows):
        for c in constraints:
            v, lo, hi = row.get(c["metric"]), c.get("min"), c.get("max")
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                continue
            if lo is not None and v < lo:
                out[i] += (lo - v) / max(abs(lo), 1e-12)
            if hi is not None and v > hi:
                out[i] += (v - hi) / max(abs(hi), 1e-12)
    return out


def predicted_final(rung_value: float, gains: list[float], *, min_peers: int = 3) -> float | None:
    """A stopped trial's final value of one accuracy metric, predicted from its rung value and the gains
    (final - rung value) of the trials that went on from the same rung and finished: rung value + their median
    gain. None while fewer than `min_peers` such gains exist (then the trial informs no model)."""
    clean = [float(g) for g in gains if math.isfinite(g)]
    if len(clean) < max(1, min_peers) or not math.isfinite(rung_value):
        return None
    return float(rung_value + np.median(clean))
