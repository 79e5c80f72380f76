"""`sampler = "botorch"`: Sobol start-up trials, then constrained qLogNEHVI (`_mobo.suggest`) behind Optuna's
sampler interface, every second model-based suggestion a local step (the acquisition maximized in a box around
the front point with the largest hypervolume contribution, `LOCAL_EVERY`, `LOCAL_HALF_WIDTH`; issue 35). Optuna
stays the study and storage layer; this file is the glue: it reads the study's trials, encodes their parameters
(`_encoding`, the pure unit-cube math), says which trials succeeded, failed, were skipped or are running, and
decodes the suggestion.

    sampler = QmcThenBoTorch(seed=0, n_startup_trials=8, objectives=cfg.search.objectives,
                             constraints=cfg.search.constraints, known=lambda params: {"num_parameters": ...})

Which trials teach what (see `_mobo` for the models):
  * succeeded (COMPLETE, no `failure`/`skipped` user attr): objectives from `trial.values`, constraint-only
    metrics from the `metrics` user attr;
  * failed (`failure` set: out of memory, timeout, a raise): the failure model only. The pessimistic values the
    study stores for it (so TPE/NSGA-II and Optuna's own tools still see a complete trial) are NOT read;
  * skipped (an estimate broke a constraint before training): nothing; the deterministic model already knows;
  * running: pending points.
`known(params) -> dict` is the search's pre-training estimate (`estimate_fn`, e.g. num_parameters in closed form):
the objectives and constraint metrics it returns are modeled exactly. Its values are cached per combination of the
parameters it depends on, found once by changing each parameter alone at a few points (`_Known`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import warnings
from typing import Any, Callable

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState

from distilbo.search._encoding import decode, discrete_units, encode, width
from distilbo.search._sobol import TrialIndexedQmc
from distilbo.search.early_stop import stopped_view

# torch and botorch (`_mobo`) are imported inside the functions that fit and optimize: a study with another sampler,
# or the start-up trials of this one, never load them

log = logging.getLogger(__name__)

SUGGESTED_BY = "suggested_by"
LOCAL_HALF_WIDTH = 0.1
"""A local step searches this fraction of each column's range either side of the chosen front point."""
LOCAL_EVERY = 2
"""Every LOCAL_EVERY-th model-based suggestion (the 2nd, 4th, ... after the start-up) is a local step; 0: none."""
MAX_DISCRETE = 64
"""Integer columns with more values than this are relaxed to continuous and rounded."""


# ----------------------------------------------------------------------------------------- exact metrics
class _Known:
    """`known(params)` cached on the parameters it depends on. Which ones: each parameter is moved alone to two
    other values at three random points; those that never change a known value are left out of the cache key."""

    def __init__(self, known: Callable[[dict[str, Any]], dict[str, Any]], space: dict[str, BaseDistribution],
                 rng: Any) -> None:
        self._known, self._space, self._cache = known, space, {}  # type: dict
        names = list(space)
        self.relevant: list[str] = []
        for _ in range(3):
            base = {n: decode(space[n], rng.uniform(0, max(1.0, width(space[n])))) for n in names}
            ref = self._known(base)
            for n in names:
                if n in self.relevant:
                    continue
                for u in rng.uniform(0, max(1.0, width(space[n])), size=2):
                    if self._known({**base, n: decode(space[n], u)}) != ref:
                        self.relevant.append(n)
                        break

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        key = tuple(params[n] for n in self.relevant)
        if key not in self._cache:
            self._cache[key] = self._known(params)
        return self._cache[key]


# ----------------------------------------------------------------------------------------- the sampler
class QmcThenBoTorch(optuna.samplers.BaseSampler):
    """Scrambled-Sobol start-up trials (one stream per study, in `declared`: `_sobol.TrialIndexedQmc`), then
    constrained qLogNEHVI."""

    def __init__(self, *, seed: int | None, n_startup_trials: int, objectives: list[dict], constraints: list[dict],
                 known: Callable[[dict[str, Any]], dict[str, Any]] | None = None, qmc_seed: int | None = None,
                 raw_samples: int = 512, num_restarts: int = 10,
                 stopped: Callable[[list[FrozenTrial]], list[FrozenTrial]] | None = None,
                 declared: dict[str, BaseDistribution] | None = None) -> None:
        self._seed, self._n_startup, self._stopped = seed, n_startup_trials, stopped
        self._objectives = [o["metric"] for o in objectives]
        self._constraints = [(c["metric"], float(c.get("min", -math.inf)), float(c.get("max", math.inf)))
                             for c in constraints]
        self._known_fn, self._known, self._known_space = known, None, None
        self._opt = {"raw_samples": raw_samples, "num_restarts": num_restarts}
        self._rng = np.random.default_rng(seed)
        qmc_seed = seed if qmc_seed is None else qmc_seed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._qmc = TrialIndexedQmc(seed=qmc_seed, declared=declared)
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._space = optuna.search_space.IntersectionSearchSpace()
        self.last_problem: Any = None
        """The `_mobo.Problem` of the last suggestion (what the models were fitted on), for tests and debugging."""

    def _view(self, study: optuna.Study) -> Any:
        """The study with its stopped trials as predicted finished ones (`early_stop.WithStopped`), when rungs are on."""
        return stopped_view(study, self._stopped)

    def _startup(self, study: optuna.Study) -> bool:
        view = self._view(study)
        return len(view._get_trials(deepcopy=False, states=(TrialState.COMPLETE,), use_cache=True)) < self._n_startup

    def infer_relative_search_space(self, study, trial):  # type: ignore[no-untyped-def]
        if self._startup(study):
            return self._qmc.infer_relative_search_space(study, trial)
        return {n: d for n, d in self._space.calculate(study).items() if not d.single()}

    def sample_relative(self, study, trial, search_space):  # type: ignore[no-untyped-def]
        if self._startup(study) or not search_space:
            self._mark(study, trial, "sobol")
            return self._qmc.sample_relative(study, trial, search_space)
        why = "no successful trial yet"
        for _ in range(2):  # a second fit when the first point is another trial's (see `_repeats`)
            try:
                out = self._suggest(self._view(study), trial, search_space)
            except Exception as e:  # noqa: BLE001  (a model that cannot be built must not stop the study)
                why = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                log.warning("trial %d: BoTorch suggestion failed (%s); a quasi-random point instead", trial.number, why)
                out = None
            repeat = None if out is None else _repeats(study, trial, out)
            if out is not None and repeat is None:
                self._mark(study, trial, "qlognehvi")
                return out
            if repeat is not None:
                why = f"the model's point is trial {repeat}'s"
            else:
                break
        self._mark(study, trial, f"sobol ({why})")
        return self._qmc.sample_relative(study, trial, search_space)

    @staticmethod
    def _mark(study: optuna.Study, trial: FrozenTrial, how: str) -> None:
        """System attr `suggested_by` of the trial: sobol, qlognehvi, or sobol (why the model was not used)."""
        study._storage.set_trial_system_attr(trial._trial_id, SUGGESTED_BY, how)

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore[no-untyped-def]
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):  # type: ignore[no-untyped-def]
        self._qmc.before_trial(study, trial)

    def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
        self._qmc.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._qmc.reseed_rng()
        self._random.reseed_rng()
        self._rng = np.random.default_rng()

    # -- the suggestion ----------------------------------------------------------------------------
    def problem(self, study: optuna.Study, space: dict[str, BaseDistribution]) -> Any:
        """The `_mobo.Problem` for the study's trials as they are now (no acquisition run)."""
        import torch  # lazy: torch and botorch only once this sampler fits

        from distilbo.search import _mobo

        names = list(space)
        cols = {n: i for i, n in enumerate(names)}
        trials = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING), use_cache=False)
        trials = [t for t in trials if all(n in t.params for n in names)]

        def row(t: FrozenTrial) -> list[float]:
            return [encode(space[n], t.params[n]) for n in names]

        known = self._known_for(space)
        exact = set(known(_first_params(space))) if known is not None else set()
        metrics = list(self._objectives) + [c for c, _, _ in self._constraints if c not in self._objectives]
        metrics = list(dict.fromkeys(metrics))
        deterministic = {}
        for name in metrics:
            if name in exact:
                deterministic[name] = _exact_column(known, space, names, name)
        uncertain = [n for n in metrics if n not in deterministic]
        ok, ran, fail, pending = [], [], [], []
        y_ok = []
        for t in trials:
            if t.state == TrialState.RUNNING:
                pending.append(row(t))
                continue
            ua = t.user_attrs
            if ua.get("skipped"):
                continue
            failed = bool(ua.get("failure"))
            values = None
            if not failed:
                values = _metric_values(t, self._objectives, uncertain)
                failed = values is None  # a "successful" trial with a missing metric teaches as a failure
            ran.append(row(t))
            fail.append(1.0 if failed else 0.0)
            if not failed:
                ok.append(row(t))
                y_ok.append(values)
        dt = torch.float64
        d = len(names)
        lo = [0.0] * d
        hi = [width(space[n]) for n in names]
        discrete = {cols[n]: units for n in names if (units := discrete_units(space[n], MAX_DISCRETE)) is not None}
        categorical = {cols[n]: len(space[n].choices) for n in names if isinstance(space[n], CategoricalDistribution)}
        signs = [1.0 if dd == optuna.study.StudyDirection.MAXIMIZE else -1.0 for dd in study.directions]
        return _mobo.Problem(
            bounds=torch.tensor([lo, hi], dtype=dt), discrete=discrete, categorical=categorical, metrics=metrics,
            signs=signs, constraints=[c for c in self._constraints if c[0] in metrics],
            deterministic=deterministic,
            X_ok=torch.tensor(ok, dtype=dt).reshape(-1, d), Y_ok=torch.tensor(y_ok, dtype=dt).reshape(-1, len(uncertain)),
            X_ran=torch.tensor(ran, dtype=dt).reshape(-1, d), failed=torch.tensor(fail, dtype=dt),
            X_pending=torch.tensor(pending, dtype=dt).reshape(-1, d) if pending else None)

    def _suggest(self, study: optuna.Study, trial: FrozenTrial, space: dict[str, BaseDistribution]) -> dict | None:
        from distilbo.search import _mobo  # lazy: botorch only once this sampler fits

        p = self.problem(study, space)
        self.last_problem = p
        digest = hashlib.sha256(f"{self._seed}:{trial.number}".encode()).digest()
        k = p.X_ran.shape[0] - self._n_startup
        local = LOCAL_HALF_WIDTH if LOCAL_EVERY and k % LOCAL_EVERY == LOCAL_EVERY - 1 else None
        x = _mobo.suggest(p, seed=int.from_bytes(digest[:4], "little"), local=local, **self._opt)
        if x is None:
            return None
        return {n: decode(space[n], float(u)) for n, u in zip(space, x[0].tolist())}

    def _known_for(self, space: dict[str, BaseDistribution]) -> _Known | None:
        if self._known_fn is None:
            return None
        if self._known is None or self._known_space != space:
            self._known, self._known_space = _Known(self._known_fn, space, self._rng), dict(space)
            log.info("exact metrics depend on %s", ", ".join(self._known.relevant) or "no searched parameter")
        return self._known


def _repeats(study: optuna.Study, trial: FrozenTrial, params: dict[str, Any]) -> int | None:
    """The number of another trial with exactly `params`, or None. Two workers fitting at once each see the
    other's new trial before it has parameters (no pending point yet) and can reach the same optimum; fitted again,
    the earlier one is a pending point."""
    for t in study._get_trials(deepcopy=False, use_cache=False):
        if t.number != trial.number and all(t.params.get(n) == v for n, v in params.items()):
            return t.number
    return None


def _first_params(space: dict[str, BaseDistribution]) -> dict[str, Any]:
    return {n: decode(d, 0.0) for n, d in space.items()}


def _exact_column(known: _Known, space: dict[str, BaseDistribution], names: list[str], metric: str):  # type: ignore[no-untyped-def]
    import torch  # lazy: torch only once this sampler fits

    def f(X: "torch.Tensor") -> "torch.Tensor":
        vals = [float(known({n: decode(space[n], float(u)) for n, u in zip(names, r)})[metric]) for r in X.tolist()]
        return torch.tensor(vals, dtype=X.dtype)

    return f


def _metric_values(t: FrozenTrial, objectives: list[str], wanted: list[str]) -> list[float] | None:
    """The trial's values of `wanted` (objectives from `t.values`, others from its `metrics` attr), or None."""
    metrics = t.user_attrs.get("metrics") or {}
    out = []
    for name in wanted:
        v = t.values[objectives.index(name)] if name in objectives and t.values else metrics.get(name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            return None
        out.append(float(v))
    return out
