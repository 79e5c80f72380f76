"""The samplers of `[search] sampler` (names: `config.SAMPLERS`, shared by config validation and the CLI), built by
`make_sampler`: botorch (`_botorch`), gp (`QmcThenGp`), tpe, nsga2, random, each wrapped in `PerProcessSeed`.

    sampler = make_sampler(cfg, estimate=estimate_metrics)   # what create_or_load_study hands to Optuna
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any, Callable

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from distilbo.config import SAMPLERS, Config, parse_space
from distilbo.search._botorch import QmcThenBoTorch
from distilbo.search._outcome import constraint_values
from distilbo.search._sobol import TrialIndexedQmc
from distilbo.search.early_stop import stopped_as_finished, stopped_view
from distilbo.search.space import distributions


class QmcThenGp(optuna.samplers.BaseSampler):
    """Scrambled-Sobol (quasi-random) start-up trials, then Optuna's GPSampler (constrained log-EHVI).

    GPSampler's own start-up draws from its independent sampler one parameter at a time; this wrapper hands whole
    start-up trials to `_sobol.TrialIndexedQmc`, seeded by `qmc_seed` (the study's own seed, never the per-process
    one) and indexed by trial number, so a resumed study, or several workers on one study, continue one Sobol
    sequence with no point drawn twice. The points are drawn in `declared`, the config's space, when given (read
    off the trials, the space is empty before the first one registers its parameters, and can be partial while
    the baseline is still registering them); the enqueued baseline uses up none of them."""

    def __init__(self, *, seed: int | None, n_startup_trials: int, qmc_seed: int | None = None,
                 stopped: Callable[[list[FrozenTrial]], list[FrozenTrial]] | None = None,
                 declared: dict[str, BaseDistribution] | None = None) -> None:
        self._n_startup, self._stopped = n_startup_trials, stopped
        qmc_seed = seed if qmc_seed is None else qmc_seed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._qmc = TrialIndexedQmc(seed=qmc_seed, declared=declared)
            self._gp = optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup_trials,
                                                 deterministic_objective=False)

    def _view(self, study: optuna.Study) -> optuna.Study:
        return stopped_view(study, self._stopped)  # type: ignore[no-any-return]

    def _active(self, study: optuna.Study) -> optuna.samplers.BaseSampler:
        done = len(study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,), use_cache=True))
        return self._qmc if done < self._n_startup else self._gp

    def infer_relative_search_space(self, study, trial):  # type: ignore[no-untyped-def]
        return self._active(self._view(study)).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # type: ignore[no-untyped-def]
        view = self._view(study)
        sampler = self._active(view)
        return sampler.sample_relative(view if sampler is self._gp else study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore[no-untyped-def]
        # the same start-up count as sample_relative (stopped trials included), so one trial never mixes the two
        return self._active(self._view(study)).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):  # type: ignore[no-untyped-def]
        self._qmc.before_trial(study, trial)
        self._gp.before_trial(study, trial)

    def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
        self._qmc.after_trial(study, trial, state, values)
        self._gp.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._qmc.reseed_rng()
        self._gp.reseed_rng()


class PerProcessSeed(optuna.samplers.BaseSampler):
    """Delegates to `build(seed)`; rebuilt once with a seed mixed with the number of the first trial this process
    runs when that is not trial 0.

    One process on a fresh study is therefore exactly as reproducible as the plain sampler (its first trial is 0),
    while several processes started with the same config on one study (hosts sharing a PostgreSQL database) do not
    draw the same points: trial numbers are unique across workers, so their seeds differ."""

    def __init__(self, build: Any, seed: int | None) -> None:
        self._build, self._seed, self._first = build, seed, True
        self._inner = build(seed)

    def before_trial(self, study, trial):  # type: ignore[no-untyped-def]
        if self._first:
            self._first = False
            if trial.number and self._seed is not None:
                digest = hashlib.sha256(f"{self._seed}:{trial.number}".encode()).digest()
                self._inner = self._build(int.from_bytes(digest[:4], "little"))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):  # type: ignore[no-untyped-def]
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # type: ignore[no-untyped-def]
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore[no-untyped-def]
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


def make_sampler(cfg: Config, *, seed: int | None = None,
                 estimate: Any = None) -> optuna.samplers.BaseSampler:
    """The `[search] sampler`: botorch (constrained qLogNEHVI, failures and exact metrics modeled apart), gp
    (Optuna's constrained log-EHVI), tpe, nsga2 or random; seeded by `[run] seed` (see `PerProcessSeed` for several
    processes on one study). `estimate(cfg) -> dict` is the search's pre-training estimate: with botorch, the
    objectives and constraint metrics it returns are modeled exactly. `seed` (a local worker's: `[run] seed` plus
    its index) seeds the model and random parts; the start-up's Sobol stream is always `[run] seed`'s, so every
    worker on the study continues one sequence (a worker seed of its own drew the first point of a second one)."""
    seed = cfg.run.seed if seed is None else seed
    known = _known_fn(cfg, estimate) if estimate is not None else None
    return PerProcessSeed(lambda s: _base_sampler(cfg, seed=s, qmc_seed=cfg.run.seed, known=known), seed)


def _known_fn(cfg: Config, estimate: Any) -> Any:
    """params -> estimate of the trial config they make (the space's fixed values applied too)."""
    fixed = {p.name: p.value for p in parse_space(cfg.search.space, where=cfg.source) if p.kind == "fixed"}
    return lambda params: dict(estimate(cfg.with_overrides({**fixed, **params}, origin="sampler")) or {})


def _declared(cfg: Config) -> dict[str, BaseDistribution]:
    return distributions(parse_space(cfg.search.space, where=cfg.source))


def _base_sampler(cfg: Config, *, seed: int | None, qmc_seed: int | None = None,
                  known: Any = None) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _BUILDERS.get(cfg.search.sampler, _BUILDERS["random"])(cfg, seed, qmc_seed, known)


_BUILDERS: dict[str, Callable[[Config, Any, Any, Any], optuna.samplers.BaseSampler]] = {
    "botorch": lambda cfg, seed, qmc_seed, known: QmcThenBoTorch(
        seed=seed, n_startup_trials=cfg.search.n_startup_trials, objectives=cfg.search.objectives,
        constraints=cfg.search.constraints, known=known, qmc_seed=qmc_seed, stopped=_stopped_fn(cfg),
        declared=_declared(cfg)),
    "gp": lambda cfg, seed, qmc_seed, known: QmcThenGp(
        seed=seed, n_startup_trials=cfg.search.n_startup_trials, qmc_seed=qmc_seed, stopped=_stopped_fn(cfg),
        declared=_declared(cfg)),
    "tpe": lambda cfg, seed, qmc_seed, known: optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=cfg.search.n_startup_trials, multivariate=True, constant_liar=True),
    "nsga2": lambda cfg, seed, qmc_seed, known: optuna.samplers.NSGAIISampler(
        seed=seed, population_size=max(4, min(50, cfg.search.n_trials // 4))),
    "random": lambda cfg, seed, qmc_seed, known: optuna.samplers.RandomSampler(seed=seed),
}
"""`[search] sampler` name -> (cfg, seed, qmc_seed, known) -> the sampler; the names are `config.SAMPLERS`."""
assert tuple(_BUILDERS) == SAMPLERS, "config.SAMPLERS and the samplers built here differ"


def _stopped_fn(cfg: Config) -> Callable[[list[FrozenTrial]], list[FrozenTrial]] | None:
    """trials -> their stopped ones as predicted finished trials (`early_stop.stopped_as_finished`), or None
    when the search stops no trial (no rungs)."""
    if not cfg.search.rungs:
        return None
    objectives = list(cfg.search.objectives)
    needed = [c["metric"] for c in cfg.search.constraints]
    return lambda trials: stopped_as_finished(trials, objectives, needed,
                                              constraints=lambda m: constraint_values(cfg, m, failed=False))
