"""Names every layer shares: the metrics a trial records and the groups the search parameters fall into.

A leaf module (imports nothing of distilbo), so the pure parts (`report/frontier.py`), the config and the search
all read the same lists.
"""

from __future__ import annotations

# Parameter groups, for the importance sentence of the report (the reference asked which group matters).
ARCHITECTURE = ("n_layers", "n_heads", "dim", "hidden_dim", "embedding_size", "vocab_size", "dropout", "attention_dropout",
                "qa_dropout", "initializer_range", "activation", "selection_seed", "selection", "layer_selection")
SGD = ("learning_rate", "beta_1", "beta_2", "adam_epsilon", "weight_decay", "warmup_steps", "warmup_ratio",
       "batch_size", "gradient_accumulation_steps", "num_train_epochs", "max_grad_norm")
DISTILLATION = ("alpha_ce", "alpha_squad", "temperature", "alpha_cos", "alpha_null")

# Metrics a trial records (the objectives and constraints may use any of them).
METRICS = ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "best_exact", "best_f1",
           "HasAns_forced_exact", "HasAns_forced_f1", "num_parameters", "num_non_embedding_parameters",
           "latency_ms", "peak_memory_mb", "train_seconds", "train_features_per_second", "calibrated_exact",
           "calibrated_f1", "null_threshold", "answered_pct", "calibrated_answered_pct")
SCORES = ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "best_exact", "best_f1",
          "HasAns_forced_exact", "HasAns_forced_f1", "calibrated_exact", "calibrated_f1")
"""The METRICS that are SQuAD scores in [0, 100] (a failed trial's pessimistic value for a maximized one is 0)."""
assert set(SCORES) <= set(METRICS), "every score is a metric"


def group_of(name: str) -> str:
    """The group of a searched parameter: `architecture`, `distillation`, else `SGD`."""
    if name in ARCHITECTURE:
        return "architecture"
    if name in DISTILLATION:
        return "distillation"
    return "SGD"
