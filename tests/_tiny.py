"""Tiny random BERT-family models with the real (shared teacher's) uncased tokenizer, and a config using them.

Built in the tests themselves: no hub, no GPU, a second or two each.
"""

from __future__ import annotations

from pathlib import Path

import torch

from conftest import DEV_JSON, TEACHER, TRAIN_JSON


def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(TEACHER))


def tiny_bert(folder: Path, *, qa: bool, seed: int = 0, hidden: int = 32, layers: int = 2, heads: int = 2) -> Path:
    """Save a random BertForQuestionAnswering (qa) or BertModel (an encoder to seed students from) + tokenizer."""
    from transformers import BertConfig, BertForQuestionAnswering, BertModel

    tok = tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tok.vocab_size, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=hidden * 2, max_position_embeddings=512)
    model = (BertForQuestionAnswering if qa else BertModel)(config)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    return folder


def tiny_config(tmp_path: Path, *, extra: str = "", train_samples: int = 24, eval_samples: int = 16) -> Path:
    """A config file: tiny teacher and init in tmp_path, a few real shared questions, short features."""
    teacher = tiny_bert(tmp_path / "teacher", qa=True, seed=1)
    init = tiny_bert(tmp_path / "init", qa=False, seed=2, layers=4)
    text = f"""
[run]
out = "{tmp_path / 'run'}"
study = "tiny"
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
student_init = "{init}"
student_architecture = "distilbert"

[student]
n_layers = 2
n_heads = 2
dim = 32
hidden_dim = 64

[train]
learning_rate = 1e-3
batch_size = 8
num_train_epochs = 2
logging_steps = 1
eval_batch_size = 32
latency_repeats = 3
{extra}
"""
    p = tmp_path / "tiny.toml"
    p.write_text(text)
    return p
