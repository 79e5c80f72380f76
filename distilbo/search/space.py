"""The search space as trial suggestions: `sample` (the only caller of `trial.suggest_*`) and the baseline's values.

`[search.space]` is parsed and validated with the config (`distilbo.config.parse_space`). A parameter is one of

    learning_rate = {type = "float", low = 2e-6, high = 1e-1, log = true}
    n_layers      = {type = "int", low = 1, high = 6}
    activation    = {type = "categorical", choices = ["gelu", "relu"]}
    temperature   = 2            # fixed for the whole study

and its name is a flat config field (`distilbo distill --help` lists them).
"""

from __future__ import annotations

import logging
from typing import Any

import optuna

from distilbo.config import Config, Param
from distilbo.errors import ConfigError

log = logging.getLogger(__name__)


def sample(trial: Any, params: list[Param]) -> dict[str, Any]:
    """Suggest every searched parameter; fixed values pass through."""
    return {p.name: suggest(trial, p) for p in params}


def suggest(trial: Any, p: Param) -> Any:
    """One parameter's value for `trial` (an Optuna trial); a fixed value passes through."""
    if p.kind == "float":
        return trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
    if p.kind == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
    if p.kind == "categorical":
        return trial.suggest_categorical(p.name, list(p.choices))
    return p.value


def distributions(params: list[Param]) -> dict[str, optuna.distributions.BaseDistribution]:
    """The searched parameters as the Optuna distributions `suggest` registers (fixed values left out), in config
    order: the space a start-up sampler draws from before any trial has registered its own."""
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    for p in params:
        if p.kind == "float":
            out[p.name] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.log, step=p.step)
        elif p.kind == "int":
            out[p.name] = optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log,
                                                               step=int(p.step or 1))
        elif p.kind == "categorical":
            out[p.name] = optuna.distributions.CategoricalDistribution(list(p.choices))
    return out


def unfixed(declared: dict[str, optuna.distributions.BaseDistribution], trial: Any
            ) -> dict[str, optuna.distributions.BaseDistribution]:
    """`declared` less the parameters an enqueued trial (`trial`, a FrozenTrial) already fixes: for the baseline
    that is all of them, so it draws no quasi-random point (and uses up none of the Sobol sequence)."""
    fixed = trial.system_attrs.get("fixed_params") or {}
    return {n: d for n, d in declared.items() if n not in fixed}


def baseline_params(cfg: Config, params: list[Param]) -> dict[str, Any]:
    """The baseline trial's value of every searched parameter: the config's own setting (ConfigError if unset)."""
    out = {}
    for p in params:
        if p.kind == "fixed":
            continue
        value = cfg.get(p.name)
        if value is None:
            raise ConfigError(f"{cfg.source}: [search.space] {p.name} is searched but the config leaves {p.name} unset, "
                              f"so the baseline trial has no value for it; set {p.name} in its section "
                              "(the baseline's value) or set baseline = false in [search]")
        if p.kind == "categorical" and value not in p.choices:
            raise ConfigError(f"{cfg.source}: [search.space] {p.name}: the baseline value {value!r} is not one of the "
                              f"choices {list(p.choices)}; add it to choices or set baseline = false in [search]")
        if p.kind in ("int", "float") and not (p.low <= value <= p.high):
            clipped = min(max(value, p.low), p.high)
            clipped = int(clipped) if p.kind == "int" else float(clipped)
            log.warning("baseline %s = %r is outside the searched range [%g, %g]; the baseline trial uses %r "
                        "(e.g. the reference's weight decay 0 on a log range)", p.name, value, p.low, p.high, clipped)
            value = clipped
        out[p.name] = value
    return out
