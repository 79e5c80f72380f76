"""A calibrated surrogate of the reference experiment at full scale, for benchmarking the search machinery.

The reference (SigOpt, "Efficient BERT with Multimetric Optimization", 2020) distilled a BERT-base SQuAD 2.0
teacher (twmkn9/bert-base-uncased-squad2) into DistilBERT-shaped students seeded from distilbert-base-uncased,
each trained 3 epochs on the full SQuAD 2.0 train set on a 16 GB V100 (p3.2xlarge) and scored on the full dev
set (11,873 questions). One real trial costs GPU-hours; this module replaces it with a cheap, seeded function of
the same search space, calibrated to published SQuAD 2.0 dev results, so the real distilbo search (sampler,
constraints, failure recording) can be run hundreds of times:

    import numpy as np
    from surrogate import surrogate_trial, true_exact, REFERENCE_BASELINE
    surrogate_trial(REFERENCE_BASELINE, rng=np.random.default_rng(0))
    # {'exact': 67.57, 'f1': 71.15, 'num_parameters': 66364418, 'peak_memory_mb': 5524.4, 'latency_ms': 10.1, ...}
    surrogate_trial({**REFERENCE_BASELINE, "n_layers": 20, "batch_size": 32}, rng=...)
    # {'failure': 'out of memory: CUDA out of memory (modelled 43.9 GiB needed, ...)', 'num_parameters': 165594626, ...}

    run_search(cfg, trial_fn=surrogate_trial_fn, estimate_fn=surrogate_estimate)   # a distilbo trial function

(`benchmarks/` is not a package: scripts put this folder on sys.path; see search_efficiency.py.)

What a trial returns, for a parameter dict in the reference's space (missing keys take REFERENCE_BASELINE's value):
    exact, f1         SQuAD 2.0 dev EM / F1 (%), with observation noise drawn from `rng`
    num_parameters    exact count of a DistilBertForQuestionAnswering of that shape (no noise)
    latency_ms        batch-1 inference at 384 tokens on a V100-class GPU (a rough FLOP model, no noise)
    peak_memory_mb    modelled training memory
or {"failure": "out of memory: ...", ...} when the modelled training memory exceeds the 16 GB device.

The model of exact (all constants are defined below, each with where it comes from):
    exact = FLOOR + (good - FLOOR) * exp(-badness / (good - FLOOR))          soft collapse to the floor
    good  = capacity(N) - init_gap + distillation_gain(T, alpha_ce)            a well-tuned run of that shape
    badness = sum of penalties in EM points (learning rate, dropouts, betas, epsilon, heads, fresh layers, ...)
Near the optimum exact ~ good - badness (penalties add); a run with a huge badness (lr 0.1, dropout 0.95,
initializer_range 1 in 10 fresh layers) collapses to FLOOR, below the 50 EM constraint, as real runs do.
`true_exact(params)` is this value without observation noise (it keeps the fixed per-seed offset of
`selection_seed`); `expected_exact(params)` also averages that offset out (the calibration tests use it).

Shape glossary (the memory and latency formulas):
    L  n_layers             H  effective attention heads (largest divisor of dim <= n_heads, as distilbo does)
    D  dim (768)            F  hidden_dim (FFN width, 3072)
    S  max_seq_length (384) B  batch_size (training sequences per step)
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np

# ------------------------------------------------------------------------------------------------ the space
REFERENCE_SPACE: dict[str, dict[str, Any]] = {
    # The reference experiment's ranges (SigOpt blog part 2; configs/squad2-bert-base.toml has the same table).
    "learning_rate": {"type": "float", "low": 2e-6, "high": 1e-1, "log": True},
    "beta_1": {"type": "float", "low": 0.7, "high": 0.9999},
    "beta_2": {"type": "float", "low": 0.7, "high": 0.9999},
    "adam_epsilon": {"type": "float", "low": 1e-10, "high": 1e-5, "log": True},
    "weight_decay": {"type": "float", "low": 1e-7, "high": 1e-2, "log": True},
    "alpha_ce": {"type": "float", "low": 1e-7, "high": 1.0},
    "temperature": {"type": "int", "low": 1, "high": 10},
    "initializer_range": {"type": "float", "low": 0.0, "high": 1.0},
    "dropout": {"type": "float", "low": 0.0, "high": 1.0},
    "attention_dropout": {"type": "float", "low": 0.0, "high": 1.0},
    "qa_dropout": {"type": "float", "low": 0.0, "high": 1.0},
    "warmup_steps": {"type": "int", "low": 0, "high": 100},
    "n_layers": {"type": "int", "low": 1, "high": 20},
    "n_heads": {"type": "int", "low": 1, "high": 12},
    "selection_seed": {"type": "int", "low": 1, "high": 100},
    "batch_size": {"type": "int", "low": 4, "high": 32},
}

REFERENCE_BASELINE: dict[str, Any] = {
    # The reference's defaults (sigopt/sigopt-examples, bert-distillation-multimetric/
    # distilbert_run_and_hpo_configurations/distilbert_squad_hpo_parameters.py): the DistilBERT recipe with
    # alpha_ce 0.5, alpha_squad 0.5, temperature 1.0, lr 5e-5, weight decay 0, eps 1e-8, batch 8, no warmup,
    # 6 layers x 12 heads x 768 (FFN 3072), dropouts 0.1, initializer_range 0.02; AdamW betas are the torch
    # defaults (0.9, 0.999); selection_seed is distilbo's default.
    "learning_rate": 5e-5, "beta_1": 0.9, "beta_2": 0.999, "adam_epsilon": 1e-8, "weight_decay": 0.0,
    "alpha_ce": 0.5, "temperature": 1, "initializer_range": 0.02, "dropout": 0.1, "attention_dropout": 0.1,
    "qa_dropout": 0.1, "warmup_steps": 0, "n_layers": 6, "n_heads": 12, "selection_seed": 42, "batch_size": 8,
    "dim": 768, "hidden_dim": 3072,
    # Not search parameters: the pretrained init the student is seeded from (distilbert-base-uncased).
    "init_family": "distilbert", "init_layers": 6, "init_heads": 12,
}

# ------------------------------------------------------------------------------------------------ sizes
VOCAB_SIZE = 30522
"""bert-base-uncased / distilbert-base-uncased WordPiece vocabulary."""
MAX_POSITIONS = 512
"""Position embeddings of BERT and DistilBERT."""
MAX_SEQ_LENGTH = 384
"""Training/eval window of the reference (max_seq_length 384, doc_stride 128)."""
TEACHER_PARAMETERS = 108_893_186
"""BertForQuestionAnswering, 12 x 768 (twmkn9/bert-base-uncased-squad2, the reference's teacher): the closed form
of `num_parameters(12, type_vocab_size=2)`; BERT-base's usual "110M" includes the pooler a QA model does not have."""


def num_parameters(n_layers: int, *, dim: int = 768, hidden_dim: int = 3072, type_vocab_size: int = 0) -> int:
    """Parameters of a DistilBertForQuestionAnswering (type_vocab_size 0) or BertForQuestionAnswering (2):
    word + position (+ token type) embeddings, embedding LayerNorm, per layer q/k/v/out (D x D + D each), FFN
    (F x D + F, D x F + D) and two LayerNorms, and the QA head (2 x D + 2). 6 x 768 -> 66,364,418, the count of
    distilbert-base-uncased with a QA head (same formula as distilbo.models.student.count_parameters)."""
    return (VOCAB_SIZE + MAX_POSITIONS + type_vocab_size) * dim + non_embedding_parameters(n_layers, dim=dim,
                                                                                         hidden_dim=hidden_dim)


def non_embedding_parameters(n_layers: int, *, dim: int = 768, hidden_dim: int = 3072) -> int:
    """`num_parameters` without the embedding matrices (what scales with depth: the size measure of the
    capacity curve, as in Kaplan et al. 2020, "Scaling Laws for Neural Language Models")."""
    d, f = dim, hidden_dim
    layer = 4 * (d * d + d) + (f * d + f) + (d * f + d) + 2 * (2 * d)
    return 2 * d + n_layers * layer + 2 * d + 2


def effective_heads(dim: int, n_heads: int) -> int:
    """The largest divisor of `dim` that is <= `n_heads` (distilbo's rule, distilbo.models.student.effective_n_heads;
    kept here so the surrogate imports no torch): 768 has 1, 2, 3, 4, 6, 8, 12."""
    for h in range(min(n_heads, dim), 0, -1):
        if dim % h == 0:
            return h
    return 1


# ------------------------------------------------------------------------------------------------ capacity
CAPACITY_UPPER = 86.8
"""Upper asymptote of the capacity curve: human performance on SQuAD 2.0, 86.8 EM (Rajpurkar, Jia & Liang 2018,
"Know What You Don't Know", human EM 86.831)."""
CAPACITY_LOWER = 43.818
CAPACITY_MID = 2.9735
CAPACITY_SCALE = 1.9162
"""capacity(N) = LOWER + (UPPER - LOWER) / (1 + exp(-(ln(N / 1e6) - MID) / SCALE)), N = non-embedding
parameters. LOWER, MID, SCALE: least squares through four plain (no distillation) fine-tunings of fully
pretrained BERT models on SQuAD 2.0 dev (numbers in ANCHORS; `fit_capacity()` recomputes them). The curve is
monotone and saturating; residuals (surrogate - published) are +0.19, -0.52, +0.78, -0.52 EM."""

ANCHORS: list[dict[str, Any]] = [
    # Plain fine-tuning of fully pretrained BERT models (the capacity curve is fitted to these four).
    {"name": "BERT-tiny 2x128", "n_layers": 2, "dim": 128, "hidden_dim": 512, "exact": 48.60, "fit": True,
     "source": "mrm8488/bert-tiny-finetuned-squadv2 model card (EM 48.60, F1 49.73, full dev). The model is from "
               "Turc et al. 2019 'Well-Read Students Learn Better'; that paper and the google-research/bert README "
               "report GLUE only, no SQuAD 2.0, so this is a third-party fine-tuning"},
    {"name": "BERT-mini 4x256", "n_layers": 4, "dim": 256, "hidden_dim": 1024, "exact": 56.31, "fit": True,
     "source": "mrm8488/bert-mini-finetuned-squadv2 (EM 56.31, F1 59.65; table in the bert-medium card)"},
    {"name": "BERT-medium 8x512", "n_layers": 8, "dim": 512, "hidden_dim": 2048, "exact": 65.95, "fit": True,
     "source": "mrm8488/bert-medium-finetuned-squadv2 (EM 65.956, F1 70.116, 11,873 questions)"},
    {"name": "BERT-base 12x768", "n_layers": 12, "dim": 768, "hidden_dim": 3072, "exact": 73.68, "fit": True,
     "source": "deepset/bert-base-uncased-squad2 model card (EM 73.68, F1 77.88; batch 32, lr 3e-5, 3 epochs). "
               "Other reports: 74.5 (Jiao et al. 2020, TinyBERT, appendix table), 72.36 on a 6,078-question dev "
               "subset (twmkn9/bert-base-uncased-squad2, the reference's teacher)"},
    # Shown, not fitted.
    {"name": "BERT-small 4x512", "n_layers": 4, "dim": 512, "hidden_dim": 2048, "exact": 60.49, "fit": False,
     "source": "mrm8488/bert-small-finetuned-squadv2 (EM 60.49, F1 64.21); not fitted: below the trend of the "
               "other miniatures by ~2.4 EM (its model card's run looks under-trained)"},
    {"name": "TinyBERT4 4x312", "n_layers": 4, "dim": 312, "hidden_dim": 1200, "exact": 68.2, "fit": False,
     "source": "Jiao et al. 2020 'TinyBERT', appendix table 6 (SQuAD 2.0 dev EM 68.2, F1 71.8, 14.5M params); "
               "not fitted: general + layer-wise (attention, hidden state) distillation and data augmentation, "
               "far beyond the logit distillation the reference does"},
]

DISTILBERT_ANCHORS: dict[str, dict[str, Any]] = {
    # DistilBERT 6 x 768 students seeded from distilbert-base-uncased (the reference's shape and init).
    "plain": {"exact": 66.93, "alpha_ce": 0.0, "temperature": 1,
              "source": "AristotelisPap/Question-Answering-with-BERT-and-Knowledge-Distillation, "
                        "models_without_distillation/eval_results.txt: EM 66.933, F1 70.265, 11,873 questions "
                        "(lr 5e-5, batch 8, 3 epochs). twmkn9/distilbert-base-uncased-squad2: 64.89 on a 6,078-"
                        "question subset with lr 3e-5"},
    "distilled": {"exact": 70.05, "alpha_ce": 0.5, "temperature": 2,
                  "source": "same repository, models_with_distillation/eval_results.txt: EM 70.050, F1 73.228 "
                            "(alpha_ce 0.5, alpha_squad 0.5, temperature 2.0, BERT-base teacher)"},
    "reference baseline": {"exact": 67.07, "alpha_ce": 0.5, "temperature": 1,
                           "source": "SigOpt baseline, 67.07 EM at 66.3M parameters (SigOpt blog part 3, from the "
                                     "task brief: the stored copy of the page holds only its opening, which says "
                                     "the frontier compresses the baseline 22% at equal EM and gains 3.5 points; "
                                     "the exact number could not be re-read here)"},
}
REFERENCE_FRONTIER = {"best_exact": 70.55, "best_exact_params": 66.82e6, "retain_params": 51.4e6,
                      "source": "SigOpt blog part 3 (via the task brief): +3.5 EM 'with minimal increase in size', "
                                "and the baseline's EM at 22% fewer parameters"}

DISTILBERT_INIT_GAP = 2.71
"""EM points a DistilBERT-seeded student lies below a fully BERT-pretrained model with the same non-embedding
parameters: capacity(42.53M) = 69.61, against 66.93 for the plain 6 x 768 DistilBERT fine-tuning (the mean offset
over the three DISTILBERT_ANCHORS, whose residuals are then -0.04, -0.04, +0.08). DistilBERT was itself
distilled from BERT with a reduced pretraining budget (Sanh et al. 2019 report 97% of BERT's GLUE score), so its
layers are worth less than BERT's at equal size. """

FRESH_LAYER_CAPACITY = 0.15
"""Fraction of a freshly initialised layer's parameters that counts as capacity. In the reference the student is
`DistilBertForQuestionAnswering.from_pretrained("distilbert-base-uncased", config=...)` (sigopt-examples,
load_transformer_semi_pretrained.py): layers 0-5 are pretrained, layers 6+ start random and see only SQuAD for
3 epochs. Assumption (no published number): they add a little capacity and cost stability (next constant);
the SigOpt results put the best students at 4-6 layers, which this reproduces."""
FRESH_LAYER_PENALTY = 0.3
"""EM lost per fresh layer at initializer_range 0.02: random post-LayerNorm layers stacked on a pretrained
encoder are hard to train in 3 epochs (Liu et al. 2020, 'Understanding the Difficulty of Training
Transformers'). Assumption, sized so that 12 layers (6 fresh) sit ~1.3 EM below 6 layers."""
FRESH_INIT_PENALTY = 0.6
"""EM per fresh layer per (ln(initializer_range / 0.02))^2 above 0.02: weights of std 0.1-1 in a fresh layer
produce outputs 5-50x the residual stream, which the post-LN then rescales, drowning the pretrained signal.
Below 0.02 a fresh layer is closer to the identity: it costs less and adds proportionally less capacity (at 0
every unit is the same and stays so: no capacity). Assumption."""
HEAD_INIT_PENALTY = 0.25
"""EM per (ln(initializer_range / 0.02))^2 above 0.02 for the QA head, which is always fresh: a head of std 1
starts with logits ~28 x too large and Adam moves each weight only ~lr per step. Assumption."""
INIT_RANGE_DEFAULT = 0.02
"""BERT's and DistilBERT's initializer_range (Devlin et al. 2019 config)."""
HEADS_PENALTY = 0.8
"""EM per ln(init_heads / heads): the reference loads 12-head attention weights into a student with fewer (or,
in distilbo, keeps fewer whole heads). Michel et al. 2019 ('Are Sixteen Heads Really Better than One?') remove
most heads at test time for ~1 point; fine-tuning recovers more. Assumption: 1 head costs 2.0 EM, 6 heads 0.55."""

# ------------------------------------------------------------------------------------------------ distillation
DISTILL_GAIN = 3.42
DISTILL_T_OPT = 2.2
DISTILL_T_WIDTH_LOW = 0.35
DISTILL_T_WIDTH_HIGH = 0.80
"""gain = DISTILL_GAIN * f(T) * g(alpha_ce); f(T) = exp(-ln(T / T_OPT)^2 / (2 w^2)), w = WIDTH_LOW below T_OPT and
WIDTH_HIGH above. Fitted with DISTILBERT_INIT_GAP to three 6 x 768 DistilBERT runs (DISTILBERT_ANCHORS):
plain 66.93, alpha_ce 0.5 / T 2 -> 70.05 (+3.1), and the reference baseline alpha_ce 0.5 / T 1 -> 67.07 (+0.14:
at T = 1 the soft targets add little over the hard labels). The peak, +3.4 EM at T ~ 2.2 and alpha_ce ~ 0.65,
matches the SigOpt frontier's +3.5 EM (REFERENCE_FRONTIER) within the noise; f(10) = 0.17 (very soft targets
carry little)."""
DISTILL_ALPHA_OPT = 0.65
DISTILL_ALPHA_AT_ONE = 0.6
"""g(alpha_ce): 0 at alpha_ce = 0 (no distillation), 1 at 0.65, 0.6 at 1 (pure soft targets, alpha_squad = 0:
the student then also copies the teacher's mistakes). Quadratic on each side. Assumption, in line with common
choices of 0.5-0.9 for the soft-target weight (Hinton et al. 2015; the HF distillation script's 0.5)."""
TEACHER_EXACT = 72.36
"""The reference teacher twmkn9/bert-base-uncased-squad2 (EM 72.36, on a 6,078-question dev subset): logit
distillation does not take a student past its teacher: the gain shrinks to 0 as the plain student nears
TEACHER_EXACT + 1."""

# ------------------------------------------------------------------------------------------------ optimisation
LR_OPT = 5e-5
LR_OPT_BATCH_EXPONENT = 0.25
"""Optimal peak learning rate: 5e-5 at batch 8 (the HF/SigOpt default that gave 66.93 / 70.05 above), scaled by
(batch / 8)^0.25: between no scaling (BERT's recipe uses 2e-5..5e-5 at batch 32, Devlin et al. 2019) and the
square-root rule for Adam (Malladi et al. 2022, 'On the SDEs and Scaling Rules for Adaptive Gradient
Algorithms')."""
LR_PENALTY = 0.5
"""EM per (ln(lr / lr_opt))^2: 2e-5 or 1.25e-4 cost ~0.4 EM, 1e-5 1.3 EM, 2e-6 5.2 EM (under-trained).
Assumption, consistent with the 2 EM between lr 3e-5 and 5e-5 runs of the same DistilBERT above (64.89 vs 66.93,
different dev subsets)."""
LR_DIVERGE = 3e-4
LR_DIVERGE_SOFTNESS = 0.25
LR_DIVERGE_WEIGHT = 30.0
"""Above ~3e-4 (batch 8, beta_2 0.999, no warmup) fine-tuning fails: badness LR_DIVERGE_WEIGHT * w *
softplus(ln(lr / lr_div) / w), w = SOFTNESS, so 1e-3 collapses to the floor. Mosbach et al. 2021 ('On the
Stability of Fine-tuning BERT') trace failed runs to large learning rates without warmup; the threshold is an
assumption. lr_div scales like lr_opt with batch, x (1 + warmup_steps / 100) with warmup, and shrinks as beta_2
falls (BETA2_DIVERGE_EXPONENT)."""
BETA2_PENALTY = 3.0
"""EM at beta_2 = 0.7 (quadratic in 0.999 - beta_2, 0.33 at 0.9): a short second-moment memory makes Adam's
steps noisy. Assumption."""
BETA2_DIVERGE_EXPONENT = 0.25
"""lr_div *= ((1 - 0.999) / (1 - beta_2))^0.25 for beta_2 < 0.999 (beta_2 0.7 -> lr_div / 4.2). Assumption."""
BETA1_PENALTY = 1.5
"""EM per (log10(tau / 10))^2 with tau = 1 / (1 - beta_1) the momentum memory in steps: 0.99 -> 1.5, 0.999 -> 6,
0.9999 -> 13.5 (the update then lags the gradient by thousands of steps; Adam's convergence also needs
beta_1 < sqrt(beta_2), Reddi et al. 2018); 0.7 -> 0.35. Assumption."""
EPS_PENALTY = 0.15
"""EM per (log10(eps / 1e-8))^2 above 1e-8: epsilon 1e-5 exceeds sqrt(v) of many BERT weights and shrinks their
steps (1.35 EM at 1e-5); below 1e-8 no effect. Assumption."""
WEIGHT_DECAY_GAIN = 0.1
"""EM gained at weight_decay 1e-2 (linear in it): decoupled decay of lr * wd * steps ~ 0.025 over a whole run is
negligible; BERT's recipe uses 0.01. Assumption: nearly no effect."""
DROPOUT_DEFAULT = 0.1
"""DistilBERT's dropout, attention_dropout and qa_dropout."""
DROPOUT_WEIGHTS = {"dropout": 4.0, "attention_dropout": 2.0, "qa_dropout": 0.7}
"""EM per unit of the noise ratio r = p / (1 - p) above r(0.1) = 0.11 (inverted dropout scales kept units by
1 / (1 - p), so the added variance grows like p / (1 - p)): hidden dropout p = 0.5 costs 3.6 EM, 0.9 -> 36 (no
learning), 1.0 -> nothing gets through. Attention dropout weighs half, QA-head dropout (one layer) a sixth.
Below 0.1: 3 x (0.1 - p) EM (less regularisation, 0.3 at 0). Assumption."""
SEED_EFFECT_SD = 0.25
"""A fixed EM offset per selection_seed (which heads/units are kept, the init of fresh parameters): part of the
seed-to-seed spread that a search can 'learn'. Assumption."""
NOISE_SD = 0.45
"""Observation noise of exact (EM points). Seed-to-seed spread of a SQuAD 2.0 fine-tuning scored on 11,873 dev
questions: the binomial standard error of EM at 67% on 11,873 questions is 0.43 points, and re-running with
another seed changes the predictions on a similar share of questions (Dodge et al. 2020 measure the seed spread
of BERT fine-tuning on GLUE). With SEED_EFFECT_SD the total is 0.51 EM. Assumption within 0.4-0.8."""
FLOOR = 48.0
"""Where a collapsed run ends: it answers (nearly) every question with no-answer, and 5,945 of the 11,873 dev
questions (50.07%) are unanswerable; the few spans it does emit are mostly wrong. BERT-tiny (48.6 EM) sits there.
Below the 50 EM constraint, as intended by the reference's threshold."""
F1_GAP = 3.6
"""F1 - EM of a learned model: 3.33 (DistilBERT plain), 3.18 (distilled), 3.39 (BERT-base, twmkn9), 4.20
(deepset BERT-base), 4.16 (BERT-medium), 3.34 (BERT-mini) above; it shrinks to ~1 near the floor (BERT-tiny
1.13): f1 = exact + F1_GAP * clip((exact - FLOOR) / 8, 0, 1)."""

# ------------------------------------------------------------------------------------------------ memory, latency
DEVICE_MEMORY_MB = 16160.0
"""A 16 GB V100 (the reference's p3.2xlarge) as PyTorch sees it: nvidia-smi reports 16160 MiB."""
CONTEXT_MB = 1024.0
"""CUDA context, cuBLAS workspace and allocator slack. Assumption (typically 0.5-1.5 GB)."""
ACTIVATION_FACTOR = 1.778
"""Training activation bytes per sequence per layer = ACTIVATION_FACTOR * 2 * S * D * (34 + 5 * H * S / D): the
16-bit estimate of Korthikanti et al. 2022 ('Reducing Activation Recomputation in Large Transformer Models'),
doubled for fp32, times this factor, which makes BERT-base at 384 tokens fit batch 12 but not 13 on a 12 GB
Titan X (google-research/bert README, 'Out-of-memory issues': max batch 12 at seq 384; `fit_memory()`).
Weights, gradients and Adam's two moments: 16 bytes per student parameter; the frozen fp32 teacher: 4 bytes per
parameter (its activations are not kept under no_grad). With it ~27% of uniformly sampled configs do not fit,
mostly deep x large-batch x many-heads ones."""
LATENCY_FLOPS = 4.7e12
LATENCY_OVERHEAD_MS = 1.0
LATENCY_PER_LAYER_MS = 0.15
"""Batch-1 latency at 384 tokens: FLOPs (2 x non-embedding params x S + 4 x S^2 x D x L) at 4.7 TFLOP/s (30% of
a V100's 15.7 fp32 peak), plus 1 ms and 0.15 ms per layer of launch overhead, plus 0.01 ms per head per layer.
Rough: DistilBERT -> ~10 ms. Not an objective of the benchmark."""


# ------------------------------------------------------------------------------------------------ the model
def _p(params: dict[str, Any], name: str) -> Any:
    v = params.get(name)
    return REFERENCE_BASELINE[name] if v is None else v


def capacity(n_non_embedding: float) -> float:
    """EM of a plain, well-tuned fine-tuning of a fully BERT-pretrained model with that many non-embedding
    parameters (the logistic curve above)."""
    x = math.log(max(n_non_embedding, 1.0) / 1e6)
    return CAPACITY_LOWER + (CAPACITY_UPPER - CAPACITY_LOWER) / (1.0 + math.exp(-(x - CAPACITY_MID) / CAPACITY_SCALE))


def distillation_gain(temperature: float, alpha_ce: float) -> float:
    """EM added by soft-target distillation from the BERT-base teacher (0 at alpha_ce = 0)."""
    t = max(float(temperature), 1e-3)
    w = DISTILL_T_WIDTH_LOW if t < DISTILL_T_OPT else DISTILL_T_WIDTH_HIGH
    f = math.exp(-math.log(t / DISTILL_T_OPT) ** 2 / (2 * w * w))
    a = min(max(float(alpha_ce), 0.0), 1.0)
    if a <= DISTILL_ALPHA_OPT:
        g = 1.0 - ((a - DISTILL_ALPHA_OPT) / DISTILL_ALPHA_OPT) ** 2
    else:
        g = 1.0 - (1.0 - DISTILL_ALPHA_AT_ONE) * ((a - DISTILL_ALPHA_OPT) / (1.0 - DISTILL_ALPHA_OPT)) ** 2
    return DISTILL_GAIN * f * g


def _softplus(x: float) -> float:
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def _dropout_badness(p: float, weight: float) -> float:
    p = min(max(float(p), 0.0), 1.0)
    if p < DROPOUT_DEFAULT:
        return 3.0 * (DROPOUT_DEFAULT - p) * weight / DROPOUT_WEIGHTS["dropout"]
    r = p / max(1.0 - p, 1e-4)
    return weight * (r - DROPOUT_DEFAULT / (1.0 - DROPOUT_DEFAULT))


def good_and_badness(params: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """(`good`: EM of a well-tuned run of this shape and distillation setting, {penalty name: EM points})."""
    n_layers = int(_p(params, "n_layers"))
    dim, hidden = int(_p(params, "dim")), int(_p(params, "hidden_dim"))
    init_layers, init_heads = int(_p(params, "init_layers")), int(_p(params, "init_heads"))
    init = float(_p(params, "initializer_range"))
    heads = effective_heads(dim, int(_p(params, "n_heads")))
    batch = int(_p(params, "batch_size"))
    lr = float(_p(params, "learning_rate"))

    # capacity: pretrained layers fully, fresh layers in part (less with a tiny init)
    per_layer = non_embedding_parameters(1, dim=dim, hidden_dim=hidden) - non_embedding_parameters(0, dim=dim, hidden_dim=hidden)
    fresh = max(0, n_layers - init_layers)
    init_ratio = min(1.0, init / INIT_RANGE_DEFAULT)
    n_eff = non_embedding_parameters(min(n_layers, init_layers), dim=dim, hidden_dim=hidden) \
        + FRESH_LAYER_CAPACITY * init_ratio * fresh * per_layer
    plain = capacity(n_eff) - (DISTILBERT_INIT_GAP if _p(params, "init_family") == "distilbert" else 0.0)
    # logit distillation does not lift a student past its teacher: the gain shrinks within DISTILL_GAIN of it
    headroom = min(1.0, max(0.0, (TEACHER_EXACT + 1.0 - plain) / DISTILL_GAIN))
    good = plain + headroom * distillation_gain(_p(params, "temperature"), _p(params, "alpha_ce"))

    bad: dict[str, float] = {}
    init_dev = math.log(max(init, 1e-12) / INIT_RANGE_DEFAULT)
    bad["fresh_layers"] = fresh * (FRESH_LAYER_PENALTY * init_ratio + FRESH_INIT_PENALTY * max(init_dev, 0.0) ** 2)
    bad["qa_head_init"] = HEAD_INIT_PENALTY * max(init_dev, 0.0) ** 2
    bad["heads"] = HEADS_PENALTY * max(0.0, math.log(init_heads / heads))

    lr_opt = LR_OPT * (batch / 8.0) ** LR_OPT_BATCH_EXPONENT
    beta_2 = float(_p(params, "beta_2"))
    lr_div = LR_DIVERGE * (batch / 8.0) ** LR_OPT_BATCH_EXPONENT * (1.0 + int(_p(params, "warmup_steps")) / 100.0)
    lr_div *= min(1.0, ((1.0 - 0.999) / max(1.0 - beta_2, 1e-9)) ** BETA2_DIVERGE_EXPONENT)
    bad["learning_rate"] = LR_PENALTY * math.log(lr / lr_opt) ** 2 \
        + LR_DIVERGE_WEIGHT * LR_DIVERGE_SOFTNESS * _softplus(math.log(lr / lr_div) / LR_DIVERGE_SOFTNESS)
    bad["beta_2"] = BETA2_PENALTY * (max(0.0, 0.999 - beta_2) / 0.299) ** 2
    tau = 1.0 / max(1.0 - float(_p(params, "beta_1")), 1e-9)
    bad["beta_1"] = BETA1_PENALTY * math.log10(tau / 10.0) ** 2
    bad["adam_epsilon"] = EPS_PENALTY * max(0.0, math.log10(float(_p(params, "adam_epsilon")) / 1e-8)) ** 2
    bad["weight_decay"] = -WEIGHT_DECAY_GAIN * min(float(_p(params, "weight_decay")), 1e-2) / 1e-2
    for name, weight in DROPOUT_WEIGHTS.items():
        bad[name] = _dropout_badness(_p(params, name), weight)
    return good, bad


def _collapse(good: float, badness: float) -> float:
    room = max(good - FLOOR, 1e-6)
    return FLOOR + room * math.exp(-badness / room)


def seed_effect(selection_seed: int) -> float:
    """The fixed EM offset of a selection_seed (deterministic, mean 0, SD SEED_EFFECT_SD)."""
    return SEED_EFFECT_SD * float(np.random.default_rng(1_000_003 + int(selection_seed)).standard_normal())


def expected_exact(params: dict[str, Any]) -> float:
    """Noise-free EM averaged over seeds (no selection_seed offset): what the calibration is checked on."""
    good, bad = good_and_badness(params)
    return _collapse(good, max(sum(bad.values()), 0.0))


def true_exact(params: dict[str, Any]) -> float:
    """Noise-free EM of this exact config (its selection_seed's fixed offset included)."""
    good, bad = good_and_badness(params)
    return _collapse(good + seed_effect(int(_p(params, "selection_seed"))), max(sum(bad.values()), 0.0))


def f1_of(exact: float) -> float:
    return exact + F1_GAP * min(max((exact - FLOOR) / 8.0, 0.0), 1.0)


def peak_memory_mb(params: dict[str, Any]) -> float:
    """Modelled peak training memory (MB) of the reference's distillation step on the GPU."""
    n_layers, dim = int(_p(params, "n_layers")), int(_p(params, "dim"))
    heads = effective_heads(dim, int(_p(params, "n_heads")))
    batch, s = int(_p(params, "batch_size")), MAX_SEQ_LENGTH
    static = 16.0 * num_parameters(n_layers, dim=dim, hidden_dim=int(_p(params, "hidden_dim"))) \
        + 4.0 * TEACHER_PARAMETERS
    per_layer = ACTIVATION_FACTOR * 2.0 * s * dim * (34.0 + 5.0 * heads * s / dim)
    return CONTEXT_MB + (static + batch * n_layers * per_layer) / 2**20


def latency_ms(params: dict[str, Any]) -> float:
    n_layers, dim = int(_p(params, "n_layers")), int(_p(params, "dim"))
    heads = effective_heads(dim, int(_p(params, "n_heads")))
    s = MAX_SEQ_LENGTH
    flops = 2.0 * non_embedding_parameters(n_layers, dim=dim, hidden_dim=int(_p(params, "hidden_dim"))) * s \
        + 4.0 * s * s * dim * n_layers
    return LATENCY_OVERHEAD_MS + n_layers * (LATENCY_PER_LAYER_MS + 0.01 * heads) + 1e3 * flops / LATENCY_FLOPS


def surrogate_trial(params: dict[str, Any], *, rng: np.random.Generator) -> dict[str, Any]:
    """One simulated full-scale trial: metrics with observation noise, or an out-of-memory failure.

    `params`: searched settings by flat name (missing ones take REFERENCE_BASELINE's value). Pure: the only
    randomness is `rng`."""
    n_layers, dim = int(_p(params, "n_layers")), int(_p(params, "dim"))
    n_params = num_parameters(n_layers, dim=dim, hidden_dim=int(_p(params, "hidden_dim")))
    mem = peak_memory_mb(params)
    known = {"num_parameters": n_params, "num_non_embedding_parameters": non_embedding_parameters(
        n_layers, dim=dim, hidden_dim=int(_p(params, "hidden_dim"))), "peak_memory_mb": mem}
    if mem > DEVICE_MEMORY_MB:
        return {"failure": f"out of memory: CUDA out of memory (modelled {mem / 1024:.1f} GiB needed, device has "
                           f"{DEVICE_MEMORY_MB / 1024:.1f} GiB; batch {int(_p(params, 'batch_size'))} x {n_layers} "
                           f"layers x {effective_heads(dim, int(_p(params, 'n_heads')))} heads)", **known}
    exact = true_exact(params) + NOISE_SD * float(rng.standard_normal())
    exact = min(max(exact, 0.0), 100.0)
    f1 = min(max(f1_of(exact) + 0.1 * float(rng.standard_normal()), exact), 100.0)
    return {"exact": exact, "f1": f1, **known, "latency_ms": latency_ms(params)}


# ------------------------------------------------------------------------------------------------ distilbo glue
def params_from_config(cfg: Any) -> dict[str, Any]:
    """The surrogate's parameters from a distilbo Config (flat names; None -> the reference default)."""
    flat = cfg.flat()
    return {k: flat[k] for k in REFERENCE_BASELINE if k in flat and flat[k] is not None}


def surrogate_estimate(cfg: Any) -> dict[str, float]:
    """What is known before training (distilbo's `estimate_fn`): the parameter counts."""
    p = params_from_config(cfg)
    n_layers, dim, hidden = int(_p(p, "n_layers")), int(_p(p, "dim")), int(_p(p, "hidden_dim"))
    return {"num_parameters": float(num_parameters(n_layers, dim=dim, hidden_dim=hidden)),
            "num_non_embedding_parameters": float(non_embedding_parameters(n_layers, dim=dim, hidden_dim=hidden))}


def surrogate_trial_fn(cfg: Any, trial_dir: Path) -> dict[str, Any]:
    """A distilbo trial function (`fn(cfg, trial_dir) -> metrics`): the surrogate instead of training.

    The noise is seeded by `[run] seed`, the trial folder's name and the parameters, so a study is reproducible.
    Raises MemoryError("out of memory: ...") where a real trial would run out of device memory; distilbo records
    that as an infeasible failed trial."""
    p = params_from_config(cfg)
    key = json.dumps({"seed": cfg.run.seed, "trial": Path(trial_dir).name, "params": p}, sort_keys=True, default=str)
    out = surrogate_trial(p, rng=np.random.default_rng(zlib.crc32(key.encode())))
    if "failure" in out:
        raise MemoryError(out["failure"])
    return out


# ------------------------------------------------------------------------------------------------ calibration
def anchor_params(anchor: dict[str, Any]) -> dict[str, Any]:
    """A fully pretrained BERT model of the anchor's shape, plain fine-tuning (no distillation), default recipe."""
    heads = max(1, anchor["dim"] // 64)  # BERT miniatures and BERT-base use 64-wide heads
    return {**REFERENCE_BASELINE, "n_layers": anchor["n_layers"], "dim": anchor["dim"],
            "hidden_dim": anchor["hidden_dim"], "n_heads": heads, "alpha_ce": 0.0, "init_family": "bert",
            "init_layers": anchor["n_layers"], "init_heads": heads}


def calibration_table() -> list[dict[str, Any]]:
    """Every anchor with its published EM and the surrogate's noise-free value."""
    rows = []
    for a in ANCHORS:
        rows.append({"anchor": a["name"], "params_M": num_parameters(a["n_layers"], dim=a["dim"],
                     hidden_dim=a["hidden_dim"], type_vocab_size=2) / 1e6, "published": a["exact"],
                     "surrogate": expected_exact(anchor_params(a)), "fitted": a["fit"], "source": a["source"]})
    for name, a in DISTILBERT_ANCHORS.items():
        p = {**REFERENCE_BASELINE, "alpha_ce": a["alpha_ce"], "temperature": a["temperature"]}
        rows.append({"anchor": f"DistilBERT 6x768 {name} (alpha_ce {a['alpha_ce']}, T {a['temperature']})",
                     "params_M": num_parameters(6) / 1e6, "published": a["exact"], "surrogate": expected_exact(p),
                     "fitted": True, "source": a["source"]})
    return rows


def fit_capacity() -> tuple[float, float, float]:
    """Refit (LOWER, MID, SCALE) of the capacity curve to the fitted ANCHORS (UPPER fixed); needs scipy."""
    from scipy.optimize import least_squares

    fit = [a for a in ANCHORS if a["fit"]]
    x = np.array([math.log(non_embedding_parameters(a["n_layers"], dim=a["dim"], hidden_dim=a["hidden_dim"]) / 1e6)
                  for a in fit])
    y = np.array([a["exact"] for a in fit])

    def resid(p: np.ndarray) -> np.ndarray:
        lo, mid, scale = p
        return lo + (CAPACITY_UPPER - lo) / (1 + np.exp(-(x - mid) / scale)) - y

    sol = least_squares(resid, [45.0, 3.0, 1.5], bounds=([30.0, -5.0, 0.2], [50.0, 10.0, 10.0]))
    return tuple(float(v) for v in sol.x)


def fit_memory() -> float:
    """ACTIVATION_FACTOR that puts BERT-base's max batch at 12.5 sequences of 384 on a 12 GiB device."""
    p = num_parameters(12, type_vocab_size=2)
    per_layer = 2.0 * MAX_SEQ_LENGTH * 768 * (34.0 + 5.0 * 12 * MAX_SEQ_LENGTH / 768)
    return (12 * 2**30 - CONTEXT_MB * 2**20 - 16.0 * p) / (12.5 * 12 * per_layer)


if __name__ == "__main__":  # print the calibration table
    for row in calibration_table():
        print(f"{row['anchor']:<55} {row['params_M']:7.2f}M  published {row['published']:6.2f}  "
              f"surrogate {row['surrogate']:6.2f}  {'fit' if row['fitted'] else 'shown'}")
