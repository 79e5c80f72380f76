"""Trimmed vocabularies (`[student] vocab_size`): which pieces are kept, the student's own tokenizer, the word table.

References are independent of the code under test: a ranking written out by hand, the full tokenizer's own
pieces and offsets, the teacher's own forward pass on the same windows in its own ids, a recount of the saved
model's parameters and of the pieces its tokenizer holds.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

from _tiny import tiny_config, tokenizer
from conftest import DEV_JSON
from distilbo.config import load_config
from distilbo.data.squad import build_features, load_examples
from distilbo.evaluate import load_qa_model
from distilbo.models._vocab import choose_vocabulary, must_keep_ids, trim_embeddings, trim_tokenizer

TEXT = "In what country is Normandy located? The Normans (Norman: Nourmands; French: Normands) were the people"


def test_choose_vocabulary_by_hand():
    counts = np.array([0, 5, 0, 9, 1, 9, 0, 2])
    # always 0 and 6; then by count: 3 (9), 5 (9, higher id), 1 (5), 7 (2), 4 (1), then count 0 by id: 2
    assert choose_vocabulary(counts, size=4, always=[6, 0]).tolist() == [0, 3, 5, 6]
    assert choose_vocabulary(counts, size=6, always=[6, 0]).tolist() == [0, 1, 3, 5, 6, 7]
    assert choose_vocabulary(counts, size=8, always=[0]).tolist() == list(range(8))
    assert choose_vocabulary(counts, size=99, always=[0]).tolist() == list(range(8))


def test_vocab_size_below_the_pieces_every_word_needs_is_refused():
    from distilbo.errors import UserError

    with pytest.raises(UserError, match="use at least 3"):
        choose_vocabulary(np.ones(8), size=2, always=[0, 1, 2])


def test_must_keep_holds_the_specials_and_every_single_character():
    tok = tokenizer()
    vocab = tok.get_vocab()
    keep = set(must_keep_ids(tok).tolist())
    assert {vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")} <= keep
    assert {vocab["a"], vocab["##a"], vocab["7"], vocab["##7"]} <= keep and vocab["the"] not in keep


def test_trimmed_tokenizer_splits_kept_text_the_same_way_and_spells_the_rest():
    tok = tokenizer()
    full = tok(TEXT, return_offsets_mapping=True)
    counts = np.zeros(len(tok.get_vocab()), np.int64)
    np.add.at(counts, full["input_ids"], 1)
    always = must_keep_ids(tok)
    kept = choose_vocabulary(counts, size=len(always) + 30, always=always)
    small = trim_tokenizer(tok, kept)
    assert len(small.get_vocab()) == len(kept) == len(always) + 30
    got = small(TEXT, return_offsets_mapping=True)
    assert kept[got["input_ids"]].tolist() == full["input_ids"]  # same pieces...
    assert got["offset_mapping"] == full["offset_mapping"]       # ...over the same characters
    other = "Steam engines drove the Industrial Revolution."
    pieces = small.convert_ids_to_tokens(small(other)["input_ids"])
    assert "[UNK]" not in pieces and len(pieces) > len(tok(other)["input_ids"])
    assert "".join(p.removeprefix("##") for p in pieces[1:-1]) == "".join(other.lower().split())
    assert "the" in pieces  # a counted piece stays whole


def test_teacher_with_a_trimmed_table_computes_what_the_teacher_computes_on_its_own_ids(tmp_path):
    """The student's ids through the re-indexed table == the teacher on kept[ids]: the cached-logit mapping and the
    in-loop teacher (alpha_cos) agree with the teacher itself."""
    cfg = load_config(tiny_config(tmp_path))
    teacher = load_qa_model(cfg.path(cfg.models.teacher)).eval()
    tok = tokenizer()
    examples = load_examples(str(DEV_JSON), max_samples=6)
    lengths = dict(max_seq_length=96, doc_stride=32, max_query_length=24)
    full = build_features(examples, tok, **lengths)
    kept = choose_vocabulary(full.token_counts(len(tok.get_vocab())), size=2500, always=must_keep_ids(tok))
    feats = build_features(examples, trim_tokenizer(tok, kept), **lengths)  # the student's windows
    trimmed = copy.deepcopy(teacher)
    trim_embeddings(trimmed, kept)
    assert trimmed.get_input_embeddings().weight.shape[0] == trimmed.config.vocab_size == 2500

    def logits(model, ids):
        mask = torch.as_tensor(np.arange(ids.shape[1])[None, :] < feats.lengths[:, None]).long()
        with torch.inference_mode():
            out = model(input_ids=torch.as_tensor(ids, dtype=torch.long), attention_mask=mask,
                        token_type_ids=torch.as_tensor(feats.token_type_ids, dtype=torch.long))
        return torch.stack([out.start_logits, out.end_logits])

    assert torch.equal(logits(trimmed, feats.input_ids), logits(teacher, kept[feats.input_ids]))


def test_trial_with_a_trimmed_vocabulary_saves_a_stock_model_of_that_size(tmp_path):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from distilbo.distill.trial import estimate_metrics, run_trial

    cfg = load_config(tiny_config(tmp_path), {"vocab_size": "2600", "num_train_epochs": "1"})
    m = run_trial(cfg, tmp_path / "trial", progress=False)
    assert m["vocab_size"] == 2600
    model = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "trial" / "model")
    tok = AutoTokenizer.from_pretrained(tmp_path / "trial" / "model")
    assert len(tok.get_vocab()) == model.get_input_embeddings().weight.shape[0] == 2600
    recount = sum(p.numel() for p in model.parameters())
    assert m["num_parameters"] == recount == estimate_metrics(cfg)["num_parameters"]
    untrimmed = estimate_metrics(load_config(tiny_config(tmp_path)))["num_parameters"]
    assert untrimmed - recount == (len(tokenizer().get_vocab()) - 2600) * model.config.dim
    ids = tok("Who ruled the duchy of Normandy?")["input_ids"]
    assert max(ids) < 2600 and tok.unk_token_id not in ids


def test_too_small_vocab_size_is_one_line_exit_2(tmp_path):
    cfg = tiny_config(tmp_path)
    r = subprocess.run([sys.executable, "-m", "distilbo.cli", "distill", "--config", str(cfg), "--out",
                        str(tmp_path / "x"), "--set", "vocab_size=100"], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "tiny.toml: [student] vocab_size = 100" in lines[0] and "use at least" in lines[0]
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
