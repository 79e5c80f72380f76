"""Student models: a `StudentSpec` -> a stock QA model of a BERT family (`FAMILIES`) seeded from a checkpoint.

    from distilbo.models.student import StudentSpec, build_student, count_parameters
    spec = StudentSpec(n_layers=3, n_heads=12, dim=384, hidden_dim=1536, ...)   # or spec_from_config(cfg, init_cfg)
    model = build_student(spec, "path/to/pretrained", init_seed=0)            # DistilBertForQuestionAnswering
    model.save_pretrained("out/")   # loads with AutoModelForQuestionAnswering, no distilbo import needed

The result is always a stock `DistilBertForQuestionAnswering` (architecture "distilbert"),
`BertForQuestionAnswering` ("bert") or, with `embedding_size` < dim, `AlbertForQuestionAnswering` (BERT layers,
one layer group each, behind factorized tables: `factorize_student`): no custom classes, so a saved student is an
ordinary Hugging Face folder. From an init of another family (`OWN_FAMILY_ONLY`: RoBERTa, XLM-RoBERTa, ELECTRA,
DeBERTa-v2/v3, ALBERT) the student is that family's stock QA class, its config the init's with the spec's sizes
(`_own_family_config`).

Families, in one canonical layout. Every init's tensors are renamed into the DistilBERT layout below (prefixes
`bert.`, `roberta.` (also XLM-R), `electra.`, `deberta.`, `albert.`; DeBERTa's query_proj/key_proj/value_proj and
pos_key_proj/pos_query_proj -> q/k/v_lin and pk/pq_lin; ALBERT's attention.query/dense, ffn/ffn_output,
full_layer_layer_norm likewise) plus the parts some families add: `embeddings.project` (ELECTRA's
embeddings_project, DeBERTa's embed_proj, ALBERT's embedding_hidden_mapping_in: tables narrower than the hidden
size, kept whole, the map's rows following the hidden units), `encoder.rel_embeddings` / `encoder.LayerNorm`
(DeBERTa's relative positions: sliced along the hidden units). An ALBERT init's shared layer groups are expanded
into the layers that run them (group int(i / (L / G)), each inner layer in turn), and an ALBERT student gets one
group per layer: at full shape it computes what the teacher computes, with the shared weights stored once per
layer. The student's activation is the init's own (ALBERT's gelu_new, say) unless the spec asks for relu.

Heads. The search samples `n_heads` freely, but a stock config needs `dim % heads == 0`. The student therefore
uses `effective_n_heads(dim, n_heads)`: the largest divisor of `dim` that is <= the requested `n_heads`
(dim 384: 5 -> 4, 7 -> 6, 9..11 -> 8, 12 -> 12; a prime dim such as 31 always gets 1 head). Head size =
dim / effective heads. Every sampled combination is therefore a valid model, and `count_parameters` does not
depend on the head count at all (q/k/v/out are dim x dim whatever the split).

Seeding (what is copied from the init checkpoint). Weights are read ONLY from safetensors files (a folder
with only `pytorch_model.bin` is refused: pickle files can run code). The init may be a BERT/MiniLM
(`BertModel`, `BertForQuestionAnswering`, keys with or without `bert.`) or a DistilBERT checkpoint
(`distilbert.` prefix or bare). BERT weights are renamed into the DistilBERT layout (word + position
embeddings, embedding LayerNorm; per layer q/k/v/out_lin, sa_layer_norm, ffn.lin1/lin2, output_layer_norm).

* Architecture: `auto` (the default) builds the init's own family, so a BERT/MiniLM init (the shipped teacher)
  gives a `BertForQuestionAnswering` student that, at full shape, computes exactly what the init computes.
* Token types: a BERT student keeps the init's token_type embeddings; a BERT student from a DistilBERT init gets
  all-zero ones (a no-op). A DistilBERT student has no token_type embeddings at all, so from a BERT init the
  token-type-0 row is folded into every position embedding. That is exact for segment A (the question) and
  wrong by (row 1 - row 0) for segment B (the context), which DistilBERT cannot represent: measured on the
  shared teacher at full shape, 200 dev questions, HasAns_forced_f1 58.2 folded (7.5 dropped) against the
  teacher's 60.1 (benchmarks/README.md). Use the BERT architecture for BERT teachers unless you must ship
  DistilBERT.
* Layers: `layer_sources(L0, n, layer_selection)` names the init layer each student layer copies (`even`:
  spread over the stack, `stride`: DistilBERT's every other layer, `bottom`, `top`, `ends`). The identity at
  full depth. A student DEEPER than the init repeats init layers in order (6 -> 8 uses 0,1,2,2,3,4,5,5:
  progressive stacking) rather than adding random layers on top of a pretrained stack.
* Width: when the student is narrower, a subset is kept, chosen by `selection`: "seed" = a random subset drawn
  from `torch.Generator().manual_seed(selection_seed)`, "magnitude" = the units whose attached weights have
  the largest L2 norm. Kept indices are always in ascending order and are chosen, in this order:
  1. hidden units (the residual stream, one subset shared by every layer): score = squared L2 norm of every
     weight entry on that unit (embedding columns, q/k/v and lin1 columns, out_lin and lin2 rows, LayerNorms,
     QA head) over the embeddings, the copied layers and the QA head;
  2. per student layer, the heads of its source layer: when the student has fewer (effective) heads than the
     init, whole heads are kept (score: the head's q/k/v rows and biases + its out_lin columns);
  3. per kept head, its head dims: when the student's head size is smaller, the same dims are kept for q, k, v
     and out_lin so each kept head is an exact sub-head (score: those rows/columns);
  4. per student layer, the FFN units (score: lin1 row + bias + lin2 column).
  Every matrix is sliced consistently with these indices: embedding columns, q/k/v rows (grouped by head) and
  columns, out_lin rows and columns, LayerNorm entries, FFN rows/columns, QA head columns. Attention scores of a
  narrower head are not rescaled.
* Parameters with no source (a wider/more-headed student, a QA head the init does not have or whose shape
  differs) keep the stock DistilBERT/BERT initialisation drawn under `torch.manual_seed(init_seed)`:
  normal(0, initializer_range) for weights, LayerNorm weight 1 / bias 0, biases 0. Extra heads, head dims,
  hidden units and FFN units are appended after the copied ones.

`seed_student` also returns a small dict of what was copied versus freshly initialised (with the chosen indices);
`build_student` logs its summary.

Shape glossary:
    V  vocabulary size             P  max position embeddings      T  token type vocabulary (BERT)
    D  hidden size (dim)           F  FFN size (hidden_dim)        L  layers
    H  effective attention heads   d  head size = D / H
    D0, F0, L0, H0, d0             the init checkpoint's sizes
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from distilbo.config import Config, StudentConfig
from distilbo.errors import UserError, custom_code_refused

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel

log = logging.getLogger(__name__)

FAMILIES = {"bert": "BERT", "distilbert": "DistilBERT", "roberta": "RoBERTa", "xlm-roberta": "XLM-RoBERTa",
            "electra": "ELECTRA", "deberta-v2": "DeBERTa-v2/v3", "albert": "ALBERT"}
"""Model types a teacher or student init may have (stock transformers classes), with their display names."""
ARCHITECTURES = tuple(FAMILIES)
OWN_FAMILY_ONLY = ("roberta", "xlm-roberta", "electra", "deberta-v2", "albert")
"""Families whose students are always of the init's own family (only BERT and DistilBERT convert into each other)."""
SELECTIONS = ("seed", "magnitude")
LAYER_RULES = ("even", "stride", "bottom", "top", "ends")


# ---------------------------------------------------------------------------------------------- the spec
_DEFAULTS = StudentConfig()


@dataclass(frozen=True, kw_only=True)
class StudentSpec:
    """The student's architecture and seeding choices (all sizes resolved: no None)."""

    n_layers: int
    n_heads: int
    """Requested heads; the model uses `heads` = effective_n_heads(dim, n_heads)."""
    dim: int
    hidden_dim: int
    # the rest default to the config's own defaults (one source: `distilbo.config.StudentConfig`)
    dropout: float = _DEFAULTS.dropout
    attention_dropout: float = _DEFAULTS.attention_dropout
    qa_dropout: float = _DEFAULTS.qa_dropout
    initializer_range: float = _DEFAULTS.initializer_range
    activation: str = _DEFAULTS.activation
    selection_seed: int = _DEFAULTS.selection_seed
    selection: str = _DEFAULTS.selection
    layer_selection: str = _DEFAULTS.layer_selection
    """Which init layers the student copies: see `layer_sources`."""
    architecture: str = "distilbert"
    embedding_size: int | None = None
    """Width E of the embedding tables; None or `dim` = BERT/DistilBERT's own (E = dim). Below `dim` the student
    is an ALBERT model (E-wide tables, a LayerNorm, a learned E -> dim map, then the same layers: see
    `factorize_student`); needs the BERT architecture."""

    def __post_init__(self) -> None:
        for name in ("n_layers", "n_heads", "dim", "hidden_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UserError(f"student {name} = {v!r}: must be an integer >= 1")
        if self.architecture not in ARCHITECTURES:
            raise UserError(f"student_architecture = {self.architecture!r}: use 'auto' or one of "
                            f"{', '.join(ARCHITECTURES)}")
        if self.selection not in SELECTIONS:
            raise UserError(f"selection = {self.selection!r}: use 'seed' or 'magnitude'")
        if self.layer_selection not in LAYER_RULES:
            raise UserError(f"layer_selection = {self.layer_selection!r}: use one of {', '.join(LAYER_RULES)}")
        E = self.embedding_size
        if E is not None and (isinstance(E, bool) or not isinstance(E, int) or not 2 <= E <= self.dim):
            raise UserError(f"student embedding_size = {E!r}: must be an integer in [2, dim = {self.dim}]")
        if self.factorized and self.architecture != "bert":
            raise UserError(f"student embedding_size = {E} < dim needs student_architecture = 'bert' (or 'auto' "
                            f"with a BERT teacher): factorized tables are built for BERT students only, a "
                            f"{FAMILIES[self.architecture]} student keeps its init's own; unset embedding_size")

    @property
    def factorized(self) -> bool:
        """True when the embedding tables are narrower than the hidden size (an ALBERT student)."""
        return self.embedding_size is not None and self.embedding_size < self.dim

    @property
    def heads(self) -> int:
        """Attention heads the model really has (largest divisor of dim <= n_heads)."""
        return effective_n_heads(self.dim, self.n_heads)

    @property
    def head_size(self) -> int:
        return self.dim // self.heads


def effective_n_heads(dim: int, n_heads: int) -> int:
    """The largest divisor of `dim` that is <= `n_heads` (at least 1): dim 384, 7 -> 6; 9..11 -> 8."""
    for h in range(min(n_heads, dim), 0, -1):
        if dim % h == 0:
            return h
    return 1


def init_shape(init_config: PretrainedConfig) -> dict[str, int]:
    """Layers, hidden size, FFN size and heads of a config of one of the `FAMILIES` (an ALBERT config's layers
    are the layers it runs: num_hidden_layers x inner_group_num, whatever it shares)."""
    mt = getattr(init_config, "model_type", None)
    if mt == "distilbert":
        return {"n_layers": init_config.n_layers, "dim": init_config.dim, "hidden_dim": init_config.hidden_dim,
                "n_heads": init_config.n_heads}
    if mt not in FAMILIES:
        raise UserError(f"student_init: model type {mt!r} is not supported; use a checkpoint of one of "
                        f"{', '.join(FAMILIES.values())}")
    if mt == "deberta-v2" and getattr(init_config, "conv_kernel_size", 0):
        raise UserError("student_init: a DeBERTa-v2 checkpoint with a convolution layer (conv_kernel_size > 0, "
                        "the xlarge/xxlarge models) is not supported; use a DeBERTa-v3 or another family")
    layers = init_config.num_hidden_layers * (getattr(init_config, "inner_group_num", 1) if mt == "albert" else 1)
    return {"n_layers": layers, "dim": init_config.hidden_size, "hidden_dim": init_config.intermediate_size,
            "n_heads": init_config.num_attention_heads}


def projected(config: PretrainedConfig) -> bool:
    """True when the model's embedding tables are narrower than (or mapped into) the hidden size by a learned
    map (`embeddings.project` in the canonical layout): ALBERT always, ELECTRA and DeBERTa-v2 when their
    embedding_size differs from hidden_size."""
    mt = config.model_type
    if mt == "albert":
        return True
    if mt in ("electra", "deberta-v2"):
        return getattr(config, "embedding_size", config.hidden_size) not in (None, config.hidden_size)
    return False


def spec_from_config(cfg: Config, init_config: PretrainedConfig) -> StudentSpec:
    """The spec of `cfg.student` with unset sizes filled from the init model: n_layers -> half the init's
    (at least 1), dim / hidden_dim / n_heads -> the init's. An embedding_size >= dim means unfactorized (so a
    search may sample both freely)."""
    s = cfg.student
    base = init_shape(init_config)
    dim = s.dim if s.dim is not None else base["dim"]
    return StudentSpec(
        n_layers=s.n_layers if s.n_layers is not None else max(1, base["n_layers"] // 2),
        n_heads=s.n_heads if s.n_heads is not None else base["n_heads"],
        dim=dim,
        hidden_dim=s.hidden_dim if s.hidden_dim is not None else base["hidden_dim"],
        dropout=s.dropout,
        attention_dropout=s.attention_dropout,
        qa_dropout=s.qa_dropout,
        initializer_range=s.initializer_range,
        activation=s.activation,
        selection_seed=s.selection_seed,
        selection=s.selection,
        layer_selection=s.layer_selection,
        architecture=resolve_architecture(cfg.models.student_architecture, init_config),
        embedding_size=(None if s.embedding_size is None or s.embedding_size >= dim else s.embedding_size),
    )


def resolve_architecture(architecture: str, init_config: PretrainedConfig) -> str:
    """`auto` -> the init's own family (`bert` for a BERT/MiniLM init, so it is copied exactly, token types
    included; `distilbert` for a DistilBERT init; `roberta`, `electra`, ... for theirs); an explicit name is
    returned as is when it can be built from the init (BERT and DistilBERT convert into each other; every other
    family only into itself), else a one-line UserError."""
    mt = getattr(init_config, "model_type", None)
    if architecture == "auto":
        return mt if mt in FAMILIES else "bert"
    if architecture != mt and (architecture in OWN_FAMILY_ONLY or mt in OWN_FAMILY_ONLY):
        raise UserError(f"student_architecture = {architecture!r}: a {FAMILIES.get(mt, mt)} student_init seeds "
                        f"only a {FAMILIES.get(mt, mt)} student; use 'auto' (or '{mt}')")
    return architecture


# ---------------------------------------------------------------------------------------------- parameter counts
def count_parameters(spec: StudentSpec, *, vocab_size: int, max_position_embeddings: int,
                     type_vocab_size: int = 2, init_config: PretrainedConfig | None = None) -> dict[str, int]:
    """Parameters of the QA model `build_student(spec, ...)` returns, in closed form (no model built) for BERT,
    DistilBERT and ALBERT-factorized students; for the other families (`OWN_FAMILY_ONLY`, which need
    `init_config`) counted on a weightless copy of the model (built on the meta device: no memory, no time).

    `num_non_embedding_parameters` excludes the embedding matrices (word, position, token type), as
    `PreTrainedModel.num_parameters(exclude_embeddings=True)` does (so an ALBERT student's E -> D map counts as
    non-embedding). `type_vocab_size` counts for BERT only."""
    if spec.architecture in OWN_FAMILY_ONLY:
        if init_config is None:
            raise ValueError(f"count_parameters: a {spec.architecture} student needs init_config")
        config = _student_config(spec, init_config)
        config.vocab_size = vocab_size
        with torch.device("meta"):
            return model_num_parameters(_qa_model(config))
    D, F, L = spec.dim, spec.hidden_dim, spec.n_layers
    E = spec.embedding_size if spec.factorized else D
    embed_matrices = (vocab_size + max_position_embeddings + (type_vocab_size if spec.architecture == "bert" else 0)) * E
    embed_ln = 2 * E + ((E * D + D) if spec.factorized else 0)  # + ALBERT's E -> D map
    layer = 4 * (D * D + D) + (F * D + F) + (D * F + D) + 2 * (2 * D)  # q,k,v,out; lin1; lin2; two LayerNorms
    qa = 2 * D + 2
    total = embed_matrices + embed_ln + L * layer + qa
    return {"num_parameters": total, "num_non_embedding_parameters": total - embed_matrices}


def model_num_parameters(model: nn.Module) -> dict[str, int]:
    """The same two counts for a real model (shared/tied tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():  # parameters() already yields a shared tensor once; the id set makes it explicit
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    emb_seen: set[int] = set()
    emb = 0
    for m in model.modules():
        if isinstance(m, nn.Embedding) and id(m.weight) not in emb_seen:
            emb_seen.add(id(m.weight))
            emb += m.weight.numel()
    return {"num_parameters": total, "num_non_embedding_parameters": total - emb}


# ---------------------------------------------------------------------------------------------- reading the init
_BERT_TO_DISTIL = (
    ("attention.self.query.", "attention.q_lin."),
    ("attention.self.key.", "attention.k_lin."),
    ("attention.self.value.", "attention.v_lin."),
    ("attention.output.dense.", "attention.out_lin."),
    ("attention.output.LayerNorm.", "sa_layer_norm."),
    ("intermediate.dense.", "ffn.lin1."),
    ("output.dense.", "ffn.lin2."),
    ("output.LayerNorm.", "output_layer_norm."),
)

# Axis roles of each canonical (bare DistilBERT-layout) tensor: "hid" = residual stream (D), "att" = attention
# dims grouped by head (D), "ffn" = FFN units (F), "all" = kept whole (vocabulary, positions, labels).
_EMBED_ROLES = {
    "embeddings.word_embeddings.weight": ("all", "hid"),
    "embeddings.position_embeddings.weight": ("all", "hid"),
    "embeddings.token_type_embeddings.weight": ("all", "hid"),
    "embeddings.LayerNorm.weight": ("hid",),
    "embeddings.LayerNorm.bias": ("hid",),
    "qa_outputs.weight": ("all", "hid"),
    "qa_outputs.bias": ("all",),
    "embeddings.project.weight": ("hid", "all"),
    "embeddings.project.bias": ("hid",),
    "encoder.rel_embeddings.weight": ("all", "hid"),
    "encoder.LayerNorm.weight": ("hid",),
    "encoder.LayerNorm.bias": ("hid",),
}
_LAYER_ROLES = {
    **{f"attention.{n}_lin.weight": ("att", "hid") for n in ("q", "k", "v", "pk", "pq")},
    **{f"attention.{n}_lin.bias": ("att",) for n in ("q", "k", "v", "pk", "pq")},
    "attention.out_lin.weight": ("hid", "att"),
    "attention.out_lin.bias": ("hid",),
    "sa_layer_norm.weight": ("hid",),
    "sa_layer_norm.bias": ("hid",),
    "ffn.lin1.weight": ("ffn", "hid"),
    "ffn.lin1.bias": ("ffn",),
    "ffn.lin2.weight": ("hid", "ffn"),
    "ffn.lin2.bias": ("hid",),
    "output_layer_norm.weight": ("hid",),
    "output_layer_norm.bias": ("hid",),
}
_LAYER_RE = re.compile(r"^transformer\.layer\.(\d+)\.(.+)$")


_DEBERTA_TO_DISTIL = (
    ("attention.self.query_proj.", "attention.q_lin."),
    ("attention.self.key_proj.", "attention.k_lin."),
    ("attention.self.value_proj.", "attention.v_lin."),
    ("attention.self.pos_key_proj.", "attention.pk_lin."),
    ("attention.self.pos_query_proj.", "attention.pq_lin."),
    *_BERT_TO_DISTIL,
)
_ALBERT_TO_DISTIL = (
    ("attention.query.", "attention.q_lin."),
    ("attention.key.", "attention.k_lin."),
    ("attention.value.", "attention.v_lin."),
    ("attention.dense.", "attention.out_lin."),
    ("attention.LayerNorm.", "sa_layer_norm."),
    ("ffn_output.", "ffn.lin2."),
    ("ffn.", "ffn.lin1."),
    ("full_layer_layer_norm.", "output_layer_norm."),
)
_PREFIXES = ("distilbert.", "bert.", "roberta.", "electra.", "deberta.", "albert.")
_PROJECTIONS = ("embeddings_project.", "embeddings.embed_proj.", "encoder.embedding_hidden_mapping_in.")
"""ELECTRA's, DeBERTa-v2's and ALBERT's map from the embedding tables to the hidden size: `embeddings.project.`"""
_ALBERT_RE = re.compile(r"^encoder\.albert_layer_groups\.(\d+)\.albert_layers\.(\d+)\.(.+)$")
_GROUP_RE = re.compile(r"^albert_group\.(\d+)\.(\d+)\.(.+)$")


def canonical_name(key: str) -> str | None:
    """A state-dict key of any of the `FAMILIES` -> the bare DistilBERT-layout name (plus `embeddings.project.*`,
    `encoder.rel_embeddings.weight`, `encoder.LayerNorm.*` and DeBERTa's `attention.pk_lin/pq_lin` where the
    family has them), or None for tensors a QA student never uses (pooler, MLM heads, position_ids buffers).
    An ALBERT layer-group key becomes `albert_group.G.J.<layer name>` (group G, inner layer J): which layers run
    it depends on the config (`_albert_layers`)."""
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
    for proj in _PROJECTIONS:
        if key.startswith(proj):
            rest = key[len(proj):]
            return f"embeddings.project.{rest}" if rest in ("weight", "bias") else None
    if key in ("encoder.rel_embeddings.weight", "encoder.LayerNorm.weight", "encoder.LayerNorm.bias"):
        return key
    m = _ALBERT_RE.match(key)
    if m:
        for old, new in _ALBERT_TO_DISTIL:
            if m.group(3).startswith(old):
                rest = new + m.group(3)[len(old):]
                return f"albert_group.{m.group(1)}.{m.group(2)}.{rest}" if rest in _LAYER_ROLES else None
        return None
    m = re.match(r"^encoder\.layer\.(\d+)\.(.+)$", key)
    if m:
        rest = m.group(2)
        for old, new in _DEBERTA_TO_DISTIL:
            if rest.startswith(old):
                key = f"transformer.layer.{m.group(1)}.{new}{rest[len(old):]}"
                break
        else:
            return None
    if key in _EMBED_ROLES:
        return key
    m = _LAYER_RE.match(key)
    if m and m.group(2) in _LAYER_ROLES:
        return key
    return None


def _albert_layers(name: str, config: PretrainedConfig) -> list[str]:
    """An `albert_group.G.J.x` name -> the `transformer.layer.k.x` names of every layer k that runs it: ALBERT
    runs group int(i / (L / G)) at each of its L steps i, and every inner layer j of that group in turn, so run
    layer k = i * inner_group_num + j. Other names are returned as they are."""
    m = _GROUP_RE.match(name)
    if not m:
        return [name]
    g, j = int(m.group(1)), int(m.group(2))
    L, G, inner = config.num_hidden_layers, config.num_hidden_groups, config.inner_group_num
    return [f"transformer.layer.{i * inner + j}.{m.group(3)}" for i in range(L) if int(i / (L / G)) == g]


def _roles(name: str, emb: dict[str, tuple[str, ...]] | None = None) -> tuple[str, ...]:
    """Axis roles of a canonical tensor; `emb` overrides the embeddings' (`_embedding_roles`)."""
    m = _LAYER_RE.match(name)
    if m:
        return _LAYER_ROLES[m.group(2)]
    return (emb or {}).get(name) or _EMBED_ROLES[name]


def _embedding_roles(config: PretrainedConfig) -> dict[str, tuple[str, ...]]:
    """Embedding roles of a `projected` model: its tables' columns are E-wide and kept whole ("all"), the map's
    rows are the residual stream; the embedding LayerNorm is over E (ALBERT, ELECTRA) or, after the map, over
    the hidden size (DeBERTa-v2)."""
    if not projected(config):
        return {}
    ln = ("hid",) if config.model_type == "deberta-v2" else ("all",)
    return {**{f"embeddings.{t}_embeddings.weight": ("all", "all") for t in ("word", "position", "token_type")},
            "embeddings.LayerNorm.weight": ln, "embeddings.LayerNorm.bias": ln}


def resolve_init(init: str) -> Path:
    """A local model folder, `package:NAME`, or a hub id (downloaded: config and safetensors files only)."""
    if init.startswith("package:"):
        from distilbo.config import resolve_location

        return Path(resolve_location(init, base=Path.cwd()))
    p = Path(init).expanduser()
    if p.is_dir():
        return p
    if p.exists() or init.startswith((".", "/", "~")):
        raise UserError(f"student_init = {init}: not a model folder (config.json + model.safetensors); fix the path")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(init, allow_patterns=["*.json", "*.safetensors"]))
    except Exception as e:  # noqa: BLE001 - any hub failure is the user's location to fix
        raise UserError(f"student_init = {init}: no such folder, and the hub download failed "
                        f"({type(e).__name__}); give a local model folder") from None


def load_init(init: str, *, trust_remote_code: bool = False) -> tuple[PretrainedConfig, dict[str, torch.Tensor]]:
    """The init checkpoint's config and its tensors under canonical names (float32, CPU), from safetensors only."""
    from safetensors.torch import load_file
    from transformers import AutoConfig

    folder = resolve_init(init)
    if not (folder / "config.json").is_file():
        raise UserError(f"{folder}: no config.json; student_init must be a Hugging Face model folder")
    try:
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001
        refused = custom_code_refused(str(folder), e)
        if refused is not None:
            raise refused from None
        reason = " ".join(str(e).split())[:200]
        raise UserError(f"{folder}/config.json: cannot be read as a model config ({reason})") from None
    init_shape(config)  # refuses model types outside FAMILIES
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        files = [folder / f for f in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    elif any(folder.glob("*.bin")) or any(folder.glob("*.pt")) or any(folder.glob("*.pth")):
        raise UserError(f"{folder}: only pickle weights (.bin) found; distilbo loads weights from safetensors only. "
                        f"If you trust the file, convert it once with transformers (`save_pretrained(..., "
                        f"safe_serialization=True)`) and point student_init at the result")
    else:
        raise UserError(f"{folder}: no model.safetensors; student_init must hold safetensors weights")
    state: dict[str, torch.Tensor] = {}
    for f in files:
        for key, t in load_file(str(f)).items():
            name = canonical_name(key)
            if name is not None:
                for layer_name in _albert_layers(name, config):  # an ALBERT group: every layer that runs it
                    state[layer_name] = t.to(torch.float32)
    if "embeddings.word_embeddings.weight" not in state:
        raise UserError(f"{folder}: no word embeddings found in the safetensors file; not a "
                        f"{FAMILIES.get(config.model_type, config.model_type)} checkpoint")
    return config, state


# ---------------------------------------------------------------------------------------------- building
def layer_sources(n_init: int, n_layers: int, rule: str = "even") -> list[int]:
    """Init layer copied into each student layer, by `rule` (n student layers of L0 = n_init):

    * `even`: floor(i * L0 / n + 1/2), capped at L0 - 1 -- spread over the whole stack, first layer included
      (6 -> 3: 0, 2, 4; 6 -> 4: 0, 2, 3, 5; 6 -> 2: 0, 3);
    * `stride`: floor(i * L0 / n) -- DistilBERT's "every other layer" in general (6 -> 4: 0, 1, 3, 4);
    * `bottom`: the first n (0, 1, ..., n - 1);
    * `top`: the last n (L0 - n, ..., L0 - 1): the layers nearest the QA head;
    * `ends`: the first and the last, the rest evenly between (6 -> 3: 0, 2, 5; 6 -> 2: 0, 5; 6 -> 1: 5).
    A student deeper than the init repeats init layers in order under every rule (progressive stacking:
    6 -> 8 uses 0, 1, 2, 2, 3, 4, 5, 5)."""
    if rule not in LAYER_RULES:
        raise UserError(f"layer_selection = {rule!r}: use one of {', '.join(LAYER_RULES)}")
    if n_layers >= n_init or rule == "even":
        return [min(n_init - 1, math.floor(i * n_init / n_layers + 0.5)) for i in range(n_layers)]
    if rule == "stride":
        return [i * n_init // n_layers for i in range(n_layers)]
    if rule == "bottom":
        return list(range(n_layers))
    if rule == "top":
        return list(range(n_init - n_layers, n_init))
    if n_layers == 1:  # ends
        return [n_init - 1]
    return [round(i * (n_init - 1) / (n_layers - 1)) for i in range(n_layers)]


def _student_config(spec: StudentSpec, init_config: PretrainedConfig) -> PretrainedConfig:
    from transformers import BertConfig, DistilBertConfig

    vocab = init_config.vocab_size
    pos = init_config.max_position_embeddings
    pad = getattr(init_config, "pad_token_id", 0)
    if spec.architecture in OWN_FAMILY_ONLY:
        return _own_family_config(spec, init_config)
    if spec.architecture == "distilbert":
        return DistilBertConfig(
            vocab_size=vocab, max_position_embeddings=pos, n_layers=spec.n_layers, n_heads=spec.heads,
            dim=spec.dim, hidden_dim=spec.hidden_dim, dropout=spec.dropout, attention_dropout=spec.attention_dropout,
            qa_dropout=spec.qa_dropout, activation=spec.activation, initializer_range=spec.initializer_range,
            pad_token_id=pad)
    return BertConfig(
        vocab_size=vocab, max_position_embeddings=pos, num_hidden_layers=spec.n_layers,
        num_attention_heads=spec.heads, hidden_size=spec.dim, intermediate_size=spec.hidden_dim,
        hidden_dropout_prob=spec.dropout, attention_probs_dropout_prob=spec.attention_dropout,
        hidden_act=spec.activation, initializer_range=spec.initializer_range,
        type_vocab_size=getattr(init_config, "type_vocab_size", 2) if init_config.model_type == "bert" else 2,
        layer_norm_eps=getattr(init_config, "layer_norm_eps", 1e-12), pad_token_id=pad)


def _own_family_config(spec: StudentSpec, init_config: PretrainedConfig) -> PretrainedConfig:
    """The init's own config class and settings (vocabulary, positions, token types, relative attention, layer
    norm eps, pad id, ...) with the spec's sizes and dropouts. The FFN activation stays the init's (ALBERT's
    gelu_new, say) unless the spec asks for relu. Embedding tables: a `projected` init's width E is kept (its
    tables are copied whole); otherwise E = dim. An ALBERT student has one layer group per layer (no sharing)."""
    c = init_config.to_dict()
    for key in ("architectures", "transformers_version", "_name_or_path", "id2label", "label2id"):
        c.pop(key, None)
    c.update(num_hidden_layers=spec.n_layers, num_attention_heads=spec.heads, hidden_size=spec.dim,
             intermediate_size=spec.hidden_dim, hidden_dropout_prob=spec.dropout,
             attention_probs_dropout_prob=spec.attention_dropout, initializer_range=spec.initializer_range)
    if spec.activation != "gelu":
        c["hidden_act"] = spec.activation
    if init_config.model_type == "albert":
        c.update(num_hidden_groups=spec.n_layers, inner_group_num=1, classifier_dropout_prob=spec.qa_dropout)
    elif init_config.model_type in ("electra", "deberta-v2") and not projected(init_config):
        c["embedding_size"] = spec.dim
    return type(init_config).from_dict(c)


def _qa_model(config: PretrainedConfig) -> PreTrainedModel:
    """The stock `...ForQuestionAnswering` of the config's model type, freshly initialised."""
    from transformers import AutoModelForQuestionAnswering

    return AutoModelForQuestionAnswering.from_config(config)


def _albert_config(bert_config: PretrainedConfig, embedding_size: int) -> PretrainedConfig:
    """The ALBERT config that is `bert_config` layer for layer (one group per layer, no sharing) with
    E = embedding_size wide embedding tables."""
    from transformers import AlbertConfig

    c = bert_config
    return AlbertConfig(
        vocab_size=c.vocab_size, embedding_size=embedding_size, hidden_size=c.hidden_size,
        num_hidden_layers=c.num_hidden_layers, num_hidden_groups=c.num_hidden_layers, inner_group_num=1,
        num_attention_heads=c.num_attention_heads, intermediate_size=c.intermediate_size, hidden_act=c.hidden_act,
        hidden_dropout_prob=c.hidden_dropout_prob, attention_probs_dropout_prob=c.attention_probs_dropout_prob,
        classifier_dropout_prob=c.hidden_dropout_prob, max_position_embeddings=c.max_position_embeddings,
        type_vocab_size=c.type_vocab_size, initializer_range=c.initializer_range, layer_norm_eps=c.layer_norm_eps,
        pad_token_id=c.pad_token_id, bos_token_id=None, eos_token_id=None)


def factorize_student(model: PreTrainedModel, embedding_size: int,
                      word_weights: torch.Tensor | None = None) -> PreTrainedModel:
    """A stock `AlbertForQuestionAnswering` that computes what the BERT QA `model` computes, its embedding
    tables cut to `embedding_size` columns (the math: `distilbo.models._factorize`). Layers and QA head are
    copied unchanged; at embedding_size = hidden size the logits are the same. `word_weights` (V,) weight
    the tokens when choosing the kept directions (e.g. how often each occurs in the training data)."""
    from transformers import AlbertForQuestionAnswering

    from distilbo.models._factorize import factorize

    if model.config.model_type != "bert":
        raise UserError("embedding_size < dim needs the BERT student architecture (student_architecture = "
                        "'bert' or 'auto' with a BERT teacher)")
    albert = AlbertForQuestionAnswering(_albert_config(model.config, embedding_size)).eval()
    src = model.state_dict()
    e = "bert.embeddings."
    f = factorize(word=src[e + "word_embeddings.weight"], pos=src[e + "position_embeddings.weight"],
                  typ=src[e + "token_type_embeddings.weight"], ln_weight=src[e + "LayerNorm.weight"],
                  ln_bias=src[e + "LayerNorm.bias"], embedding_size=embedding_size, word_weights=word_weights)
    out = {"albert.embeddings.word_embeddings.weight": f["word"],
           "albert.embeddings.position_embeddings.weight": f["pos"],
           "albert.embeddings.token_type_embeddings.weight": f["typ"],
           "albert.embeddings.LayerNorm.weight": f["ln_weight"], "albert.embeddings.LayerNorm.bias": f["ln_bias"],
           "albert.encoder.embedding_hidden_mapping_in.weight": f["map_weight"],
           "albert.encoder.embedding_hidden_mapping_in.bias": f["map_bias"],
           "qa_outputs.weight": src["qa_outputs.weight"], "qa_outputs.bias": src["qa_outputs.bias"]}
    renames = (("attention.self.query.", "attention.query."), ("attention.self.key.", "attention.key."),
               ("attention.self.value.", "attention.value."), ("attention.output.dense.", "attention.dense."),
               ("attention.output.LayerNorm.", "attention.LayerNorm."), ("intermediate.dense.", "ffn."),
               ("output.dense.", "ffn_output."), ("output.LayerNorm.", "full_layer_layer_norm."))
    for key, t in src.items():
        m = re.match(r"^bert\.encoder\.layer\.(\d+)\.(.+)$", key)
        if not m:
            continue
        rest = m.group(2)
        for a, b in renames:
            if rest.startswith(a):
                rest = b + rest[len(a):]
                break
        out[f"albert.encoder.albert_layer_groups.{m.group(1)}.albert_layers.0.{rest}"] = t
    missing, unexpected = albert.load_state_dict(out, strict=False)
    if unexpected or [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]:
        raise AssertionError(f"BERT -> ALBERT conversion: missing {missing}, unexpected {unexpected}")
    return albert


def random_student(spec: StudentSpec, init_config: PretrainedConfig) -> PreTrainedModel:
    """The stock QA model of `spec` with random weights (no checkpoint read): what latency depends on."""
    if spec.factorized:
        from transformers import AlbertForQuestionAnswering

        return AlbertForQuestionAnswering(_albert_config(_student_config(spec, init_config),
                                                         spec.embedding_size)).eval()
    return _qa_model(_student_config(spec, init_config)).eval()


def _keep(n_src: int, n_out: int, scores: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
    """Map of length n_out: kept source indices (ascending), then -1 for slots with no source."""
    if n_out >= n_src:
        return torch.cat([torch.arange(n_src), torch.full((n_out - n_src,), -1, dtype=torch.long)])
    if scores is None:
        picked = torch.randperm(n_src, generator=gen)[:n_out]
    else:
        picked = torch.topk(scores, n_out).indices
    return picked.sort().values


def _sq_along(t: torch.Tensor, axis: int) -> torch.Tensor:
    """Sum of squares of `t` over every axis but `axis`."""
    sq = t.double() ** 2
    return sq if sq.dim() == 1 else sq.sum(dim=1 - axis)


def _fill(target: torch.Tensor, src: torch.Tensor, maps: list[torch.Tensor]) -> int:
    """target[i, j] = src[map0[i], map1[j]] wherever every map entry is >= 0; returns entries copied."""
    pos = [torch.nonzero(m >= 0).flatten() for m in maps]
    idx = [m[p] for m, p in zip(maps, pos)]
    if any(len(p) == 0 for p in pos):
        return 0
    if len(maps) == 1:
        target[pos[0]] = src[idx[0]]
    else:
        target[pos[0][:, None], pos[1][None, :]] = src[idx[0][:, None], idx[1][None, :]]
    return math.prod(len(p) for p in pos)


def seed_student(spec: StudentSpec, init: str, *, init_seed: int = 0, trust_remote_code: bool = False,
                 word_weights: torch.Tensor | None = None) -> tuple[PreTrainedModel, dict[str, Any]]:
    """Build the stock QA model of `spec`, seeded from the safetensors checkpoint `init` (folder, `package:NAME`
    or hub id). Returns (model, seeding) where seeding records the layer sources, the kept indices and how many
    parameters were copied versus freshly initialised. A factorized spec (embedding_size < dim) is seeded as
    the BERT student first, then converted by `factorize_student` with `word_weights` (V,) (token counts in
    the training data, say; None weighs every token alike).

    Three phases: the stock model with its own random init, the units to keep (`_choose_units`), the copy
    (`_copy_weights`)."""
    init_config, src = load_init(init, trust_remote_code=trust_remote_code)
    resolve_architecture(spec.architecture, init_config)  # a family the init cannot seed: the one-line error
    config = _student_config(spec, init_config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        model = _qa_model(config)
    model.eval()

    base = init_shape(init_config)
    sources = layer_sources(base["n_layers"], spec.n_layers, spec.layer_selection)
    units = _choose_units(spec, src, base, sources, _embedding_roles(init_config))
    copied, fresh, fresh_tensors = _copy_weights(model, src, spec, base, sources, units)

    seeding = {
        "init": str(init),
        "init_model_type": init_config.model_type,
        "architecture": spec.architecture,
        "heads": spec.heads,
        "head_size": spec.head_size,
        "layer_sources": sources,
        "hidden_index": [int(i) for i in units["hid"] if i >= 0],
        "heads_index": units["kept_heads"],
        "head_dims_index": units["kept_head_dims"],
        "ffn_index": [[int(i) for i in f if i >= 0] for f in units["ffn"]],
        "copied_parameters": copied,
        "fresh_parameters": fresh,
        "fresh_tensors": fresh_tensors,
        "embedding_size": spec.embedding_size if spec.factorized else spec.dim,
    }
    if spec.factorized:
        model = factorize_student(model, spec.embedding_size, word_weights)
    return model, seeding


def _choose_units(spec: StudentSpec, src: dict[str, torch.Tensor], base: dict[str, int],
                  sources: list[int], emb_roles: dict[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Which init units each student unit copies (-1: none), in the module doc's order: hidden units, then per
    student layer its source layer's heads, head dims and FFN units. Returns {"hid": (D,), "att": [(D,)] per
    layer, "ffn": [(F,)] per layer, "kept_heads", "kept_head_dims", "emb_roles"}; `emb_roles` as
    `_embedding_roles`."""
    D0, F0, H0 = base["dim"], base["hidden_dim"], base["n_heads"]
    d0 = D0 // H0
    H, d = spec.heads, spec.head_size
    magnitude = spec.selection == "magnitude"
    gen = torch.Generator().manual_seed(spec.selection_seed)

    # 1. hidden units, shared by all layers
    hid_scores = None
    if magnitude and spec.dim < D0:
        hid_scores = torch.zeros(D0, dtype=torch.float64)
        used = {f"transformer.layer.{l}." for l in set(sources)}
        for name, t in src.items():
            if _LAYER_RE.match(name) and not any(name.startswith(u) for u in used):
                continue
            for axis, role in enumerate(_roles(name, emb_roles)):
                if role == "hid" and t.shape[axis] == D0:
                    hid_scores += _sq_along(t, axis)
    hid = _keep(D0, spec.dim, hid_scores, gen)

    # 2-4. per student layer: heads, head dims, FFN units of its source layer
    att_maps, ffn_maps, kept_heads, kept_head_dims = [], [], [], []
    for l in sources:
        p = f"transformer.layer.{l}."
        att_scores = ffn_scores = None
        if magnitude:
            att_scores = sum(_sq_along(src[p + f"attention.{n}_lin.weight"], 0) + src[p + f"attention.{n}_lin.bias"].double() ** 2
                             for n in "qkv") + _sq_along(src[p + "attention.out_lin.weight"], 1)
            ffn_scores = (_sq_along(src[p + "ffn.lin1.weight"], 0) + src[p + "ffn.lin1.bias"].double() ** 2
                          + _sq_along(src[p + "ffn.lin2.weight"], 1))
        heads = _keep(H0, H, None if att_scores is None else att_scores.view(H0, d0).sum(1), gen)
        att = torch.full((spec.dim,), -1, dtype=torch.long)
        dims_per_head = []
        for s, h in enumerate(heads.tolist()):
            if h < 0:
                dims_per_head.append([])
                continue
            dims = _keep(d0, d, None if att_scores is None else att_scores.view(H0, d0)[h], gen)
            dims_per_head.append([int(j) for j in dims if j >= 0])
            att[s * d:(s + 1) * d] = torch.where(dims >= 0, h * d0 + dims, torch.full_like(dims, -1))
        att_maps.append(att)
        kept_heads.append([int(h) for h in heads if h >= 0])
        kept_head_dims.append(dims_per_head)
        ffn_maps.append(_keep(F0, spec.hidden_dim, ffn_scores, gen))
    return {"hid": hid, "att": att_maps, "ffn": ffn_maps, "kept_heads": kept_heads, "kept_head_dims": kept_head_dims,
            "emb_roles": emb_roles or {}}


def _copy_weights(model: PreTrainedModel, src: dict[str, torch.Tensor], spec: StudentSpec, base: dict[str, int],
                  sources: list[int], units: dict[str, Any]) -> tuple[int, int, list[str]]:
    """Copy the chosen init units into the model's own (freshly initialised) tensors, in place. Returns
    (parameters copied, parameters left fresh, names of the tensors left wholly fresh)."""
    D0, F0 = base["dim"], base["hidden_dim"]
    copied = fresh = 0
    fresh_tensors: list[str] = []
    with torch.no_grad():
        for key, param in model.named_parameters():
            name = canonical_name(key)
            if name is None:
                raise AssertionError(f"unmapped student parameter {key}")
            name = _GROUP_RE.sub(r"transformer.layer.\1.\3", name)  # an ALBERT student: one group per layer
            m = _LAYER_RE.match(name)
            src_name = f"transformer.layer.{sources[int(m.group(1))]}.{m.group(2)}" if m else name
            maps = None
            if src_name in src:
                maps = _index_maps(name, param, src[src_name], m, units, D0, F0)
            elif name == "embeddings.token_type_embeddings.weight":
                param.zero_()  # DistilBERT init -> BERT student: token types start as a no-op
            if (name == "embeddings.position_embeddings.weight" and spec.architecture == "distilbert"
                    and "embeddings.token_type_embeddings.weight" in src and maps is not None):
                # BERT init -> DistilBERT student: fold token type 0 into every position (see the module doc)
                folded = src[src_name] + src["embeddings.token_type_embeddings.weight"][0][None, :]
                n = _fill(param, folded, maps)
            else:
                n = _fill(param, src[src_name], maps) if maps is not None else 0
            copied += n
            fresh += param.numel() - n
            if n == 0:
                fresh_tensors.append(key)
    return copied, fresh, fresh_tensors


def _index_maps(name: str, param: torch.Tensor, t: torch.Tensor, m: re.Match | None, units: dict[str, Any],
                D0: int, F0: int) -> list[torch.Tensor] | None:
    """Per axis of `param`, the init index each entry copies (-1: none); None when the init tensor's shape
    disagrees with the init config (should not happen: the tensor is left fresh)."""
    layer = int(m.group(1)) if m else None
    role_maps = {"hid": units["hid"], "att": units["att"][layer] if m else None,
                 "ffn": units["ffn"][layer] if m else None}
    roles = _roles(name, units["emb_roles"])
    maps = []
    for axis, role in enumerate(roles):
        if role == "all":
            mp = torch.arange(param.shape[axis])
            mp[mp >= t.shape[axis]] = -1
        else:
            mp = role_maps[role]
        maps.append(mp)
    want = {"hid": D0, "att": D0, "ffn": F0}
    if t.dim() != param.dim() or any(t.shape[a] != want[r] for a, r in enumerate(roles) if r != "all"):
        return None
    return maps


def build_student(spec: StudentSpec, init: str, *, init_seed: int = 0, trust_remote_code: bool = False,
                  word_weights: torch.Tensor | None = None) -> PreTrainedModel:
    """`seed_student` without the seeding record (its summary is logged at INFO)."""
    model, seeding = seed_student(spec, init, init_seed=init_seed, trust_remote_code=trust_remote_code,
                                  word_weights=word_weights)
    log.info("student %s %dL x %d (%d heads), FFN %d, embeddings %d from %s: layers %s, %d parameters copied, "
             "%d fresh%s", "albert" if spec.factorized else spec.architecture, spec.n_layers, spec.dim, spec.heads,
             spec.hidden_dim, seeding["embedding_size"], init, seeding["layer_sources"],
             seeding["copied_parameters"], seeding["fresh_parameters"],
             f" (wholly fresh: {', '.join(seeding['fresh_tensors'])})" if seeding["fresh_tensors"] else "")
    return model
