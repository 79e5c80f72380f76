"""The start-up sampler of `botorch` and `gp`: Optuna's QMCSampler with its n-th point given to the n-th trial
that was not enqueued, by trial number (`sobol_index`), instead of a counter in the study.

QMCSampler counts its points in a study attribute that it reads, then writes: two workers asking at once can get
the same point (Optuna notes "each sample_id is sampled at least once"), and did in a two-worker test on a busy
machine once every worker drew from one stream. Trial numbers are unique and dense across workers, and whether a
trial was enqueued is fixed when it is created, so the index is race-free and a resumed study continues where it
stopped. The point itself is `_encoding.sobol_params` (pure).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from distilbo.search._encoding import sobol_params
from distilbo.search.space import unfixed


def sobol_index(study: optuna.Study, trial: FrozenTrial) -> int:
    """How many trials numbered below `trial` were not enqueued (an enqueued trial has system attr fixed_params)."""
    trials = study._get_trials(deepcopy=False, states=None, use_cache=False)
    return sum(1 for t in trials if t.number < trial.number and "fixed_params" not in t.system_attrs)


class TrialIndexedQmc(optuna.samplers.QMCSampler):
    """Scrambled Sobol, seeded by `seed`, indexed by `sobol_index` (see the module docstring), drawn in `declared`
    (the config's space, `space.distributions`) when given, less what an enqueued trial fixes. Read off the
    trials, as QMCSampler does, the space is empty before the first trial registers its parameters and partial
    while the baseline is still registering them: a second worker's first trial got a Sobol point of a few
    parameters and the rest at random."""

    def __init__(self, *, seed: int | None, declared: dict[str, BaseDistribution] | None = None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__(seed=seed, scramble=True, warn_independent_sampling=False)
        # no seed: one random scramble for this sampler's life (as QMCSampler), not a new one per point
        self._declared = dict(declared or {})
        self._sobol_seed = seed if seed is not None else int(np.random.SeedSequence().entropy % 2**32)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if self._declared:
            return unfixed(self._declared, trial)
        return super().infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        return sobol_params(search_space, index=sobol_index(study, trial), seed=self._sobol_seed)
