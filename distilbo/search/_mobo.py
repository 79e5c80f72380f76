"""Constrained multi-objective suggestions with BoTorch's qLogNEHVI: the math, on plain tensors (no Optuna).

    x = suggest(Problem(...), seed=0)        # one new point in the encoded space, or None (nothing to model yet)

What is modeled, and on what (the reason this module exists, issue 13):
  * each uncertain objective and each uncertain constraint metric: a GP (SingleTaskGP, or MixedSingleTaskGP when
    the space has categorical columns) fitted on the trials that RAN AND SUCCEEDED only. A failed or skipped trial
    has no objective value, and none is invented for it;
  * failures: one GP on the failure indicator (1 failed, 0 succeeded) over every trial that ran, used as an
    outcome constraint `p_fail - 0.5 <= 0`; it is the only thing a failure teaches;
  * metrics known exactly before training (parameter count, a latency predicted from the shape): a deterministic
    model, `known(X)` computed for every candidate (BoTorch's GenericDeterministicModel), never a GP. A size
    budget is then an exact constraint, and the hypervolume gain of a candidate is uncertain in accuracy only;
  * trials still running: pending points of the acquisition (X_pending), so two workers do not pick one point.
The acquisition is qLogNEHVI over the objectives, with the constraints as BoTorch outcome constraints (smoothed
feasibility), maximized over the mixed space by `optimize_acqf_mixed_alternating` (L-BFGS on continuous columns,
local search on integer and categorical ones).

Local steps (`suggest(..., local=h)`, every second model-based suggestion, `_botorch.LOCAL_EVERY`): the same
acquisition maximized only inside a box of +-h of each column's range around the front point with the largest
hypervolume contribution (`center`, `local_bounds`). Why (issue 35, benchmarks/README.md): with 5-15 points in 6
inputs the whole-box maximum of qLogNEHVI sits on the box's corners (the GPs' variance is largest there), for
BoTorch's own loop as for this one; on DTLZ2 with a failure region such runs never improved their start-up
hypervolume. A step near the best point found so far is what those runs lacked.

Shapes (n trials that succeeded, r trials that ran, p pending, d encoded columns, m objectives):
    X_ok      n x d      encoded inputs of the successful trials (categorical columns hold the choice index)
    Y_ok      n x k      their uncertain metrics (objectives first, then constraint-only metrics), raw units
    X_ran     r x d      every trial that ran (successful or failed), for the failure model
    failed    r          1.0 failed, 0.0 succeeded
    X_pending p x d
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor


@dataclass(frozen=True, kw_only=True)
class Problem:
    """Everything one suggestion needs, in encoded units. Objectives and constraint metrics are raw values
    (a `sign` of -1 marks a minimized objective); `known` computes the deterministic metrics of encoded rows."""

    bounds: Tensor
    """2 x d: [0, 1] for float/int columns, [0, k-1] for a categorical column of k choices."""
    discrete: dict[int, list[float]] = field(default_factory=dict)
    """Integer (and stepped float) columns: their allowed encoded values, ascending, first = low bound, last = high."""
    categorical: dict[int, int] = field(default_factory=dict)
    """Categorical columns: number of choices."""
    metrics: list[str]
    """Names of the modeled metrics: the objectives first (in order), then metrics only a constraint uses."""
    signs: list[float]
    """+1 maximize / -1 minimize per objective (len m <= len(metrics))."""
    constraints: list[tuple[str, float, float]] = field(default_factory=list)
    """(metric, min, max) bounds, +-inf when open: feasible when min <= value <= max."""
    deterministic: dict[str, Callable[[Tensor], Tensor]] = field(default_factory=dict)
    """metric -> f(rows: N x d) -> N values, exact; such a metric has no column in Y_ok and no GP."""
    X_ok: Tensor
    Y_ok: Tensor
    """n x (number of metrics not in `deterministic`), in `metrics` order."""
    X_ran: Tensor
    failed: Tensor
    X_pending: Tensor | None = None
    ref_point: list[float] | None = None
    """Hypervolume reference in maximized units (sign * value), one per objective; None: inferred (`ref_point`)."""


def _gp(X: Tensor, y: Tensor, cat_cols: list[int]):  # type: ignore[no-untyped-def]
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import MixedSingleTaskGP, SingleTaskGP
    from botorch.models.transforms import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    Y = y.unsqueeze(-1)
    if cat_cols:
        model = MixedSingleTaskGP(X, Y, cat_dims=cat_cols, outcome_transform=Standardize(m=1))
    else:
        model = SingleTaskGP(X, Y, outcome_transform=Standardize(m=1))
    try:
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    except Exception:  # noqa: BLE001  (a failed fit keeps the prior hyper-parameters: still a usable model)
        pass
    return model


def ref_point(values: Tensor, given: list[float], *, feasible: Tensor | None = None, scale: float = 0.1) -> list[float]:
    """Reference point in maximized units. `given[j]` (a constraint's bound on objective j's bad side) when finite;
    otherwise the nadir of the Pareto front of the feasible points minus `scale` times the OBSERVED range (all
    points, feasible or not); while no point is feasible, the worst observed value minus the same margin.
    values: n x m maximized; feasible: n bools (None: all).

    Why this rule (benchmarks/peer.py, issue 13; % of qLogNEHVI's HV at 30 evaluations, 10 seeds, BraninCurrin /
    C2-DTLZ2 / DTLZ2 with failures): the worst observed value minus 10% of the range (the first rule) pays for far,
    dominated corners: 93.5 / 80.7 / 61.6. BoTorch's `infer_reference_point` (the front's nadir minus 10% of the
    front's range) cuts them but makes the box as small as the front found so far, so points along the unexplored
    rest of a front gain nothing and C2-DTLZ2's search stopped looking for feasible ones: 98.1 / 56.4 / 59.2. The
    front's nadir with the observed range as the margin keeps most of both: 97.1 / 65.3 / 73.8."""
    n, m = values.shape
    span = (values.max(dim=0).values - values.min(dim=0).values) if n > 1 else values[0].abs()
    margin = scale * span.clamp_min(1e-9)
    if feasible is not None and not bool(feasible.any()):
        corner = values.min(dim=0).values
    else:
        Y = values if feasible is None else values[feasible]
        corner = Y[_non_dominated(Y)].min(dim=0).values
    inferred = (corner - margin).tolist()
    return [given[j] if math.isfinite(given[j]) else inferred[j] for j in range(m)]


def _non_dominated(Y: Tensor) -> Tensor:
    """n bools: row i is not dominated (maximization: another row >= in every column and > in one)."""
    ge = (Y.unsqueeze(0) >= Y.unsqueeze(1)).all(dim=-1)  # ge[i, k]: row k >= row i everywhere
    gt = (Y.unsqueeze(0) > Y.unsqueeze(1)).any(dim=-1)
    return ~(ge & gt).any(dim=1)


def build_model(p: Problem):  # type: ignore[no-untyped-def]
    """ModelList with one output per metric (`p.metrics` order), then the failure indicator when any trial failed.
    Returns (model, index of the failure output or None)."""
    from botorch.models import GenericDeterministicModel, ModelList

    cat_cols = sorted(p.categorical)
    models, col = [], 0
    for name in p.metrics:
        if name in p.deterministic:
            f = p.deterministic[name]
            models.append(GenericDeterministicModel(lambda X, f=f: f(X.reshape(-1, X.shape[-1])).reshape(*X.shape[:-1], 1)
                                                    .to(X)))
        else:
            models.append(_gp(p.X_ok, p.Y_ok[:, col], cat_cols))
            col += 1
    fail_index = None
    if p.failed.numel() and bool(p.failed.max() > 0):
        fail_index = len(models)
        models.append(_gp(p.X_ran, p.failed.to(p.X_ran), cat_cols))
    return ModelList(*models), fail_index


def suggest(p: Problem, *, seed: int, raw_samples: int = 512, num_restarts: int = 10,
            mc_samples: int = 128, local: float | None = None) -> Tensor | None:
    """The next point (1 x d, encoded) maximizing constrained qLogNEHVI, or None when no trial succeeded yet.
    Defaults are BoTorch's tutorials' (512 raw samples, 10 restarts, 128 QMC samples): a trial costs minutes, a
    suggestion seconds; the lighter 256 / 4 / 64 lost 4-17% hypervolume on BraninCurrin and C2-DTLZ2 (seed 0)."""
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.acquisition.multi_objective.objective import WeightedMCMultiOutputObjective
    from botorch.optim import optimize_acqf
    from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
    from botorch.sampling.get_sampler import get_sampler  # a ListSampler when GPs and deterministic models are mixed

    if p.X_ok.shape[0] == 0:
        return None
    m = len(p.signs)
    _no_jit_kernel()
    with torch.random.fork_rng(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BoTorch's optimization restarts and input-scaling notes: not the user's
        torch.manual_seed(seed)
        model, fail_index = build_model(p)
        idx = {name: j for j, name in enumerate(p.metrics)}
        signs = torch.tensor(p.signs, dtype=p.X_ok.dtype)

        def maximized(Z: Tensor) -> Tensor:  # model outputs (raw units) -> objectives, all maximized
            return Z[..., :m] * signs

        constraints: list[Callable[[Tensor], Tensor]] = []
        for name, lo, hi in p.constraints:
            j = idx[name]
            if math.isfinite(lo):
                constraints.append(lambda Z, j=j, lo=lo: lo - Z[..., j])
            if math.isfinite(hi):
                constraints.append(lambda Z, j=j, hi=hi: Z[..., j] - hi)
        if fail_index is not None:
            constraints.append(lambda Z, k=fail_index: Z[..., k] - 0.5)
        with torch.no_grad():
            Z = model.posterior(p.X_ok).mean
        feasible = torch.stack([c(Z) <= 0 for c in constraints], dim=-1).all(dim=-1) if constraints else None
        ref = p.ref_point
        if ref is None:
            ref = ref_point(maximized(Z), [_bad_side(p, j) for j in range(m)], feasible=feasible)
        bounds = p.bounds
        if local is not None:
            bounds = local_bounds(p, center(maximized(Z), ref, feasible), local)
        objective = WeightedMCMultiOutputObjective(weights=signs, outcomes=list(range(m)),
                                                   num_outcomes=len(p.metrics) + (fail_index is not None))
        acqf = qLogNoisyExpectedHypervolumeImprovement(
            model=model, ref_point=ref, X_baseline=p.X_ok, objective=objective, constraints=constraints or None,
            X_pending=p.X_pending if p.X_pending is not None and p.X_pending.numel() else None,
            sampler=get_sampler(model.posterior(p.X_ok), sample_shape=torch.Size([mc_samples]), seed=seed),
            prune_baseline=True, cache_root=False)
        if p.discrete or p.categorical:
            discrete = {c: [v for v in vals if bounds[0, c] - 1e-9 <= v <= bounds[1, c] + 1e-9]
                        for c, vals in p.discrete.items()}
            x, _ = optimize_acqf_mixed_alternating(
                acqf, bounds=bounds, discrete_dims=discrete or None,
                cat_dims={c: list(map(float, range(k))) for c, k in p.categorical.items()} or None,
                q=1, raw_samples=raw_samples, num_restarts=num_restarts,
                options={"maxiter_init": 30, "maxiter_alternating": 16})  # BoTorch: 100 / 64; 3-4x faster here
        else:
            x, _ = optimize_acqf(acqf, bounds=bounds, q=1, raw_samples=raw_samples, num_restarts=num_restarts)
    return x.detach().reshape(1, -1)


def center(values: Tensor, ref: list[float], feasible: Tensor | None) -> int:
    """Index of the point (row of `values`, maximized) with the largest exclusive hypervolume contribution
    against `ref` among the feasible ones; the best by the sum of objectives when none adds hypervolume."""
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    ok = torch.ones(values.shape[0], dtype=torch.bool) if feasible is None else feasible.clone()
    if not bool(ok.any()):
        ok[:] = True
    r = torch.tensor(ref, dtype=values.dtype)
    inside = ok & (values > r).all(dim=-1)
    if not bool(inside.any()):
        score = torch.where(ok, (values - r).sum(dim=-1), torch.tensor(-math.inf, dtype=values.dtype))
        return int(score.argmax())
    idx = torch.nonzero(inside).flatten().tolist()
    hv = Hypervolume(r)
    Y = values[idx]
    total = hv.compute(Y[_non_dominated(Y)])
    contrib = []
    for k in range(len(idx)):
        rest = torch.cat([Y[:k], Y[k + 1:]])
        contrib.append(total - (hv.compute(rest[_non_dominated(rest)]) if rest.shape[0] else 0.0))
    return idx[max(range(len(idx)), key=lambda k: contrib[k])]


def local_bounds(p: Problem, i: int, half: float) -> Tensor:
    """2 x d bounds: the box of `half` times each column's range either side of X_ok[i], within p.bounds.
    Categorical columns keep their whole range; an integer column keeps at least its value's grid neighbours."""
    x = p.X_ok[i]
    width = (p.bounds[1] - p.bounds[0]) * half
    lo = torch.maximum(p.bounds[0], x - width)
    hi = torch.minimum(p.bounds[1], x + width)
    for c in p.categorical:
        lo[c], hi[c] = p.bounds[0, c], p.bounds[1, c]
    for c, grid in p.discrete.items():  # on grid values (BoTorch wants a discrete column's bounds on its grid)
        near = min(range(len(grid)), key=lambda k: abs(grid[k] - float(x[c])))
        inside = [k for k in range(len(grid)) if float(lo[c]) - 1e-9 <= grid[k] <= float(hi[c]) + 1e-9]
        lo[c] = grid[min(inside + [max(near - 1, 0)])]
        hi[c] = grid[max(inside + [min(near + 1, len(grid) - 1)])]
    return torch.stack([lo, hi])


def _no_jit_kernel() -> None:
    """Keep BoTorch 0.18 from JIT-compiling its fused qLogNEHVI C++ kernel on first use: the build took minutes on
    a fresh machine (and every process re-loads it, ~3-27 s), and it bought nothing here (13-trial surrogate study,
    2026-12-02: 22.0 / 19.5 s without it, 24.9 / 22.6 s with it). BoTorch then uses its pure-PyTorch path."""
    try:
        import botorch.acquisition.multi_objective.logei as logei

        logei._load_attempted = True  # its "already tried" flag: no attempt, `_C` stays None
    except ImportError:
        pass


def _bad_side(p: Problem, j: int) -> float:
    """A constraint's bound on objective j's bad side, in maximized units (-inf when none): `f1 >= 20` for a
    maximized f1 gives 20; `num_parameters <= 5e6` for a minimized size gives -5e6."""
    name, s = p.metrics[j], p.signs[j]
    bounds = [lo if s > 0 else -hi for metric, lo, hi in p.constraints if metric == name]
    return max((b for b in bounds if math.isfinite(b)), default=-math.inf)
