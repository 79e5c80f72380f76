"""The search space: parsed from `[search.space]` in the config, validated, and turned into trial suggestions.

This is the only module that calls `trial.suggest_*`. A parameter is one of

    learning_rate = {type = "float", low = 2e-6, high = 1e-1, log = true}
    n_layers      = {type = "int", low = 1, high = 6}
    activation    = {type = "categorical", choices = ["gelu", "relu"]}
    temperature   = 2            # fixed for the whole study

and its name is a flat config field (`distilbo distill --help` lists them).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from distilbo.errors import ConfigError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from distilbo.config import Config

# Parameter groups, for the importance sentence of the report (the reference asked which group matters).
ARCHITECTURE = ("n_layers", "n_heads", "dim", "hidden_dim", "embedding_size", "dropout", "attention_dropout", "qa_dropout",
                "initializer_range", "activation", "selection_seed", "selection", "layer_selection")
SGD = ("learning_rate", "beta_1", "beta_2", "adam_epsilon", "weight_decay", "warmup_steps", "warmup_ratio",
       "batch_size", "gradient_accumulation_steps", "num_train_epochs", "max_grad_norm")
DISTILLATION = ("alpha_ce", "alpha_squad", "temperature")

# Metrics a trial records (the objectives and constraints may use any of them).
METRICS = ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "best_exact", "best_f1",
           "HasAns_forced_exact", "HasAns_forced_f1", "num_parameters", "num_non_embedding_parameters",
           "latency_ms", "peak_memory_mb", "train_seconds", "train_features_per_second")


def group_of(name: str) -> str:
    if name in ARCHITECTURE:
        return "architecture"
    if name in DISTILLATION:
        return "distillation"
    return "SGD"


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "float" | "int" | "categorical" | "fixed"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None
    value: Any = None

    def suggest(self, trial: Any) -> Any:
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        return self.value


def parse_space(space: dict, *, where: str) -> list[Param]:
    """`[search.space]` table -> Params; ConfigError naming the parameter and the fix."""
    from distilbo.config import FIELD_SECTION, FIELD_TYPES

    params = []
    for name, spec in space.items():
        at = f"{where}: [search.space] {name}"
        if name not in FIELD_SECTION or FIELD_SECTION[name] not in ("student", "train", "data"):
            raise ConfigError(f"{at}: unknown parameter; searchable names are the [student], [train] and [data] fields")
        if not isinstance(spec, dict):
            params.append(Param(name, "fixed", value=spec))
            continue
        kind = spec.get("type")
        extra = set(spec) - {"type", "low", "high", "log", "step", "choices"}
        if extra:
            raise ConfigError(f"{at}: unknown key(s) {sorted(extra)}; use type, low, high, log, step or choices")
        if kind in ("float", "int"):
            if "low" not in spec or "high" not in spec:
                raise ConfigError(f"{at}: a {kind} parameter needs low and high")
            low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)):
                raise ConfigError(f"{at}: low and high must be numbers")
            if low > high:
                raise ConfigError(f"{at}: low ({low}) > high ({high}); swap them")
            if log and low <= 0:
                raise ConfigError(f"{at}: a log range must have low > 0 (got {low}); raise low or set log = false")
            if kind == "int" and (float(low) != int(low) or float(high) != int(high)):
                raise ConfigError(f"{at}: an int parameter needs integer low and high")
            step = spec.get("step")
            if step is not None and log:
                raise ConfigError(f"{at}: step and log cannot be combined; drop one")
            base = FIELD_TYPES[name]
            if kind == "float" and "int" in str(base) and "float" not in str(base):
                raise ConfigError(f"{at}: '{name}' is an integer setting; use type = \"int\"")
            params.append(Param(name, kind, low=low, high=high, log=log, step=step))
        elif kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"{at}: a categorical parameter needs a non-empty choices list")
            params.append(Param(name, "categorical", choices=tuple(choices)))
        else:
            raise ConfigError(f"{at}: type must be \"float\", \"int\" or \"categorical\" (got {kind!r})")
    return params


def _check_metric_list(items: Any, *, where: str, what: str, keys: set[str]) -> None:
    if not isinstance(items, list) or (what == "objectives" and not items):
        raise ConfigError(f"{where}: [search] {what} must be a list of tables like {{metric = \"exact\", ...}}")
    for it in items:
        if not isinstance(it, dict) or "metric" not in it:
            raise ConfigError(f"{where}: [search] {what}: each entry needs a metric, got {it!r}")
        if it["metric"] not in METRICS:
            raise ConfigError(f"{where}: [search] {what}: unknown metric '{it['metric']}'; use one of {', '.join(METRICS)}")
        bad = set(it) - keys
        if bad:
            raise ConfigError(f"{where}: [search] {what}: unknown key(s) {sorted(bad)} in {it!r}; use {sorted(keys)}")


def validate_search_section(cfg: "Config") -> None:
    where = cfg.source
    s = cfg.search
    parse_space(s.space, where=where)
    _check_metric_list(s.objectives, where=where, what="objectives", keys={"metric", "direction"})
    for o in s.objectives:
        if o.get("direction") not in ("maximize", "minimize"):
            raise ConfigError(f"{where}: [search] objectives: direction of '{o['metric']}' must be maximize or minimize")
    if len({o["metric"] for o in s.objectives}) != len(s.objectives):
        raise ConfigError(f"{where}: [search] objectives: a metric is listed twice")
    _check_metric_list(s.constraints, where=where, what="constraints", keys={"metric", "min", "max"})
    for c in s.constraints:
        if "min" not in c and "max" not in c:
            raise ConfigError(f"{where}: [search] constraints: '{c['metric']}' needs min and/or max")
        for k in ("min", "max"):
            if k in c and (isinstance(c[k], bool) or not isinstance(c[k], (int, float))):
                raise ConfigError(f"{where}: [search] constraints: {k} of '{c['metric']}' must be a number")


def sample(trial: Any, params: list[Param]) -> dict[str, Any]:
    """Suggest every searched parameter; fixed values pass through."""
    return {p.name: p.suggest(trial) for p in params}


def baseline_params(cfg: "Config", params: list[Param]) -> dict[str, Any]:
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
