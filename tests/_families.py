"""Tiny random QA models of every supported family, each with a tiny tokenizer of its family's type trained here.

    folder = tiny_family(tmp_path / "teacher", "roberta")      # RobertaForQuestionAnswering + byte-level BPE
    tok = family_tokenizer("albert")                            # an AlbertTokenizer (SentencePiece/Unigram)

The tokenizers are trained with the `tokenizers` library on a few shared SQuAD paragraphs (the first train and
dev articles, which the tests' questions come from), then handed to the family's own stock transformers class
(`RobertaTokenizer(vocab=, merges=)`, `XLMRobertaTokenizer(vocab=)`, ...), so each has its family's real
normalizer, pre-tokenizer, special tokens and pair template (RoBERTa's `<s> q </s></s> c </s>`, no token types).
Built in the tests: no hub, a second or two each (tokenizers are cached per process).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

from conftest import DEV_JSON, TRAIN_JSON

FAMILY_NAMES = ("bert", "roberta", "xlm-roberta", "electra", "deberta-v2", "albert", "distilbert")
TOKENIZER_TYPE = {"bert": "WordPiece", "distilbert": "WordPiece", "electra": "WordPiece", "roberta": "BPE",
                  "xlm-roberta": "Unigram", "albert": "Unigram", "deberta-v2": "Unigram"}
VOCAB = 1000
"""Pieces each tiny tokenizer learns: enough that common words are whole pieces, rare ones split."""


def _texts(paragraphs: int = 6) -> list[str]:
    """Contexts and questions of the first `paragraphs` paragraphs of the shared train and dev files."""
    out: list[str] = []
    for path in (TRAIN_JSON, DEV_JSON):
        paras = [p for a in json.loads(Path(path).read_text())["data"] for p in a["paragraphs"]][:paragraphs]
        for p in paras:
            out.append(p["context"])
            out += [qa["question"] for qa in p["qas"]]
    return out


@functools.lru_cache(maxsize=None)
def _trained(kind: str, lowercase: bool, specials: tuple[str, ...]) -> str:
    """A `tokenizers` model of `kind` (WordPiece, BPE, Unigram) trained on `_texts()`, as its JSON."""
    from tokenizers import ByteLevelBPETokenizer, Tokenizer, models, normalizers, pre_tokenizers, trainers

    texts = [t.lower() for t in _texts()] if lowercase else _texts()
    if kind == "BPE":
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(texts, vocab_size=VOCAB, special_tokens=list(specials), show_progress=False)
        return bpe._tokenizer.to_str()
    if kind == "WordPiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(vocab_size=VOCAB, special_tokens=list(specials), show_progress=False)
    else:
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=VOCAB, special_tokens=list(specials), show_progress=False,
                                          unk_token=[s for s in specials if "unk" in s.lower()][0])
    tok.train_from_iterator(texts, trainer)
    return tok.to_str()


def family_tokenizer(family: str):
    """The family's stock fast tokenizer over a tiny vocabulary trained here (see the module doc)."""
    import transformers

    if family in ("bert", "distilbert", "electra"):
        model = json.loads(_trained("WordPiece", True, ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")))["model"]
        cls = {"bert": "BertTokenizer", "distilbert": "DistilBertTokenizer", "electra": "ElectraTokenizer"}[family]
        return getattr(transformers, cls)(vocab=model["vocab"], do_lower_case=True)
    if family == "roberta":
        model = json.loads(_trained("BPE", False, ("<s>", "<pad>", "</s>", "<unk>", "<mask>")))["model"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        return transformers.RobertaTokenizer(vocab=model["vocab"], merges=merges)
    if family == "xlm-roberta":
        model = json.loads(_trained("Unigram", False, ("<s>", "<pad>", "</s>", "<unk>", "<mask>")))["model"]
        return transformers.XLMRobertaTokenizer(vocab=[tuple(v) for v in model["vocab"]])
    if family == "albert":
        model = json.loads(_trained("Unigram", True, ("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")))["model"]
        return transformers.AlbertTokenizer(vocab=[tuple(v) for v in model["vocab"]], do_lower_case=True)
    if family == "deberta-v2":
        model = json.loads(_trained("Unigram", False, ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]")))["model"]
        return transformers.DebertaV2Tokenizer(vocab=[tuple(v) for v in model["vocab"]])
    raise ValueError(family)


def family_config(family: str, tok, *, hidden: int = 32, layers: int = 4, heads: int = 4, positions: int = 130):
    """A tiny config of `family` as its real checkpoints are shaped: RoBERTa/XLM-R with one token type and
    positions offset past the pad id, ELECTRA with narrower embedding tables and a projection, DeBERTa-v3 with
    relative attention (shared keys, position buckets, no absolute positions, no token types), ALBERT with
    narrower tables and two layer groups shared across the layers."""
    import transformers

    common = dict(vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  intermediate_size=2 * hidden, max_position_embeddings=positions, pad_token_id=tok.pad_token_id)
    if family == "bert":
        return transformers.BertConfig(**common)
    if family == "distilbert":
        return transformers.DistilBertConfig(vocab_size=len(tok), dim=hidden, n_layers=layers, n_heads=heads,
                                             hidden_dim=2 * hidden, max_position_embeddings=positions,
                                             pad_token_id=tok.pad_token_id)
    if family == "roberta":
        return transformers.RobertaConfig(**common, type_vocab_size=1, bos_token_id=0, eos_token_id=2)
    if family == "xlm-roberta":
        return transformers.XLMRobertaConfig(**common, type_vocab_size=1, bos_token_id=0, eos_token_id=2)
    if family == "electra":
        return transformers.ElectraConfig(**common, embedding_size=hidden // 2)
    if family == "deberta-v2":
        return transformers.DebertaV2Config(**common, type_vocab_size=0, relative_attention=True,
                                            pos_att_type=["p2c", "c2p"], position_biased_input=False,
                                            norm_rel_ebd="layer_norm", share_att_key=True, position_buckets=32,
                                            max_relative_positions=-1)
    if family == "albert":
        return transformers.AlbertConfig(**common, embedding_size=hidden // 2, num_hidden_groups=2,
                                         inner_group_num=1, hidden_act="gelu_new")
    raise ValueError(family)


def tiny_family(folder: Path, family: str, *, seed: int = 0, **shape) -> Path:
    """Save a random `family` QA model (its stock `...ForQuestionAnswering`) + its tiny tokenizer to `folder`."""
    from transformers import AutoModelForQuestionAnswering

    tok = family_tokenizer(family)
    torch.manual_seed(seed)
    model = AutoModelForQuestionAnswering.from_config(family_config(family, tok, **shape))
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


def family_config_file(tmp_path: Path, family: str, *, extra: str = "", train_samples: int = 16,
                       eval_samples: int = 6) -> Path:
    """A config: a tiny `family` teacher in tmp_path, the student seeded from it in its own family (`auto`),
    2 layers of its 4, a few real shared questions, short windows."""
    teacher = tiny_family(tmp_path / "teacher", family, seed=1)
    text = f"""
[run]
out = "{tmp_path / 'run'}"
study = "tiny-{family}"
cache_dir = "{tmp_path / 'cache'}"
device = "cpu"

[data]
train_file = "{TRAIN_JSON}"
dev_file = "{DEV_JSON}"
max_seq_length = 96
doc_stride = 32
max_query_length = 24
max_train_samples = {train_samples}
max_eval_samples = {eval_samples}

[models]
teacher = "{teacher}"
student_init = "teacher"
student_architecture = "auto"

[student]
n_layers = 2

[train]
learning_rate = 1e-3
batch_size = 8
num_train_epochs = 3
eval_each_epoch = false
logging_steps = 1
eval_batch_size = 32
latency_repeats = 1
{extra}
"""
    p = tmp_path / f"tiny-{family}.toml"
    p.write_text(text)
    return p
