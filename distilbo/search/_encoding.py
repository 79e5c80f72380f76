"""The botorch sampler's encoding math (pure): Optuna distributions <-> the unit cube the models are fitted in, as
Optuna's `_gp/search_space.py` does for GPSampler. A float or integer column maps to [0, 1] (log-scaled when the
distribution is), a categorical one to its choice index 0..C-1 (`width` C - 1); `decode` rounds to the column's grid.

    u = encode(FloatDistribution(1e-5, 1e-2, log=True), 1e-3)     # 0.6667
    decode(IntDistribution(1, 6), 0.5)                             # 4 (3.5 rounded to the grid)
"""

from __future__ import annotations

import math
import threading
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

_SOBOL_LOCK = threading.Lock()


def _unit(d: FloatDistribution | IntDistribution, v: float) -> float:
    lo, hi = float(d.low), float(d.high)
    if hi == lo:
        return 0.0
    if d.log:
        return (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return (v - lo) / (hi - lo)


def _from_unit(d: FloatDistribution | IntDistribution, u: float) -> float:
    lo, hi = float(d.low), float(d.high)
    u = min(max(u, 0.0), 1.0)
    return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if d.log else lo + u * (hi - lo)


def grid(d: BaseDistribution) -> list[float] | None:
    """The allowed values of an integer or stepped float column, or None (continuous)."""
    if isinstance(d, IntDistribution):
        return [float(v) for v in range(d.low, d.high + 1, d.step)]
    if isinstance(d, FloatDistribution) and d.step is not None:
        n = int(round((d.high - d.low) / d.step))
        return [d.low + i * d.step for i in range(n + 1)]
    return None


def encode(d: BaseDistribution, v: Any) -> float:
    if isinstance(d, CategoricalDistribution):
        return float(d.to_internal_repr(v))
    return _unit(d, float(v))  # type: ignore[arg-type]


def decode(d: BaseDistribution, u: float) -> Any:
    if isinstance(d, CategoricalDistribution):
        return d.choices[min(max(int(round(u)), 0), len(d.choices) - 1)]
    x = _from_unit(d, u)  # type: ignore[arg-type]
    values = grid(d)
    if values is not None:
        x = min(values, key=lambda g: abs(g - x))
    return int(round(x)) if isinstance(d, IntDistribution) else float(x)


def width(d: BaseDistribution) -> float:
    return float(len(d.choices) - 1) if isinstance(d, CategoricalDistribution) else 1.0


def discrete_units(d: BaseDistribution, max_values: int) -> list[float] | None:
    """The unit-cube values of an integer or stepped column with 2..`max_values` values (sorted), else None: the
    acquisition optimizer searches those exactly; a longer grid is relaxed to continuous and rounded by `decode`."""
    values = grid(d)
    if values is None or not 1 < len(values) <= max_values:
        return None
    return sorted({_unit(d, v) for v in values})  # type: ignore[arg-type]


def sobol_params(space: dict[str, BaseDistribution], *, index: int, seed: int | None) -> dict[str, Any]:
    """Point `index` (0, 1, ...) of the scrambled Sobol sequence `seed` in `space`, as parameter values, mapped the
    way Optuna's QMCSampler maps its points (its `_SearchSpaceTransform`, a categorical column as C equal bins), so
    a study's start-up points are QMCSampler's. The same (space, index, seed) always gives the same point."""
    from optuna._transform import _SearchSpaceTransform  # QMCSampler's own mapping (no public equivalent)
    from scipy.stats import qmc  # scipy comes with Optuna and botorch; imported here, used by start-up trials only

    with _SOBOL_LOCK:  # scipy's Sobol engine shares state between threads (Optuna takes a lock too)
        engine = qmc.Sobol(len(space), scramble=True, seed=seed)
        if index > 0:
            engine.fast_forward(index)
        u = engine.random(1)
    categorical = {n: d for n, d in space.items() if isinstance(d, CategoricalDistribution)}
    pseudo = {n: FloatDistribution(0, len(d.choices)) for n, d in categorical.items()}
    values = _SearchSpaceTransform(space | pseudo, transform_0_1=True).untransform(u[0])
    return {n: (categorical[n].to_external_repr(int(v)) if n in categorical else v) for n, v in values.items()}
