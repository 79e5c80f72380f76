"""Vocabulary trimming: a student that keeps K of the init's V wordpieces, with a stock tokenizer of its own.

    kept = choose_vocabulary(counts, size=K, always=must_keep_ids(tokenizer))   # (K,) init ids, ascending
    student_tok = trim_tokenizer(tokenizer, kept)     # a stock fast tokenizer: ids 0..K-1, same text rules
    trim_embeddings(model, kept)                      # the word table keeps those rows; config.vocab_size = K

Why: the word table is V x E parameters whatever the student's depth (the shared teacher: 30,522 x 384 = 11.7M of
its 22.7M), and a QA model on English text uses a small part of it. Which pieces are kept:
  1. always: the special tokens and every single-character piece (`a`, `##a`, ...), so any word can still be
     spelled: a trimmed tokenizer never makes a new [UNK], it splits a word whose piece was dropped into
     smaller kept pieces (greedy longest match, as WordPiece always does);
  2. then the pieces the training windows use most (`counts`), ties broken by the init's own order (BERT's
     WordPiece vocabulary lists its pieces roughly by corpus frequency after the single characters).
A text whose pieces are all kept is tokenized exactly as before (same pieces, same offsets): WordPiece's
longest match over the full vocabulary is a kept piece, and no longer kept piece exists. Only text with dropped
pieces changes; on the shared teacher, 600 dev questions on articles unseen in training, HasAns_forced_f1 goes
58.4 (full) -> 59.5 at K 14,522 / 51.7 at 9,000 / 42.6 at 4,000 with the teacher itself reading the
re-split text (benchmarks/README.md, "Trimmed vocabularies").

The teacher keeps its own vocabulary: its logits are computed on the student's windows mapped back to the
teacher's ids (`kept[student_ids]`), so the positions (and the cached logits) line up with the student's.

Shape glossary:
    V  the init's (and teacher's) vocabulary size      K  the student's, K <= V
    E  width of the word table
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch import nn

from distilbo.errors import UserError


def must_keep_ids(tokenizer: Any) -> np.ndarray:
    """Init ids of the special tokens and of every single-character piece (`x` and `##x`), ascending."""
    vocab = tokenizer.get_vocab()
    special = {vocab[t] for t in tokenizer.all_special_tokens if t in vocab}
    single = {i for piece, i in vocab.items() if len(piece) == 1 or (piece.startswith("##") and len(piece) == 3)}
    return np.array(sorted(special | single), dtype=np.int64)


def choose_vocabulary(counts: np.ndarray, *, size: int, always: Iterable[int]) -> np.ndarray:
    """(K,) init ids kept, ascending: every id of `always`, then the most counted (ties: lowest id first).

    counts (V,): how often each init id occurs in the training windows. UserError if `size` < len(always)."""
    always = np.unique(np.asarray(list(always), dtype=np.int64))
    V = len(counts)
    if size >= V:
        return np.arange(V, dtype=np.int64)
    if size < len(always):
        raise UserError(f"vocab_size = {size}: below the {len(always)} pieces every student keeps (special tokens "
                        f"and single characters, so any word can be spelled); use at least {len(always)}")
    rest = np.setdiff1d(np.arange(V, dtype=np.int64), always)
    order = rest[np.lexsort((rest, -np.asarray(counts, dtype=np.int64)[rest]))]  # most counted, then lowest id
    return np.sort(np.concatenate([always, order[: size - len(always)]]))


def trim_tokenizer(tokenizer: Any, kept: np.ndarray) -> Any:
    """A stock fast tokenizer (same class, normalizer, pre-tokenizer, special tokens) over the kept pieces, with ids
    0..K-1 in the init's order. Needs a tokenizers-backed WordPiece tokenizer (the BERT family's)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    spec = json.loads(backend.to_str()) if backend is not None else {}
    if spec.get("model", {}).get("type") != "WordPiece":
        kind = {"BPE": "a byte-level BPE (RoBERTa)", "Unigram": "a SentencePiece/Unigram (XLM-RoBERTa, ALBERT, "
                "DeBERTa-v3)"}.get(spec.get("model", {}).get("type"), "not a WordPiece")
        raise UserError(f"vocab_size: trimming the vocabulary needs a fast WordPiece tokenizer (BERT, MiniLM, "
                        f"DistilBERT, ELECTRA); this student's tokenizer is {kind} one: unset vocab_size")
    inverse = {i: piece for piece, i in spec["model"]["vocab"].items()}
    new_id = {int(old): new for new, old in enumerate(kept)}
    spec["model"]["vocab"] = {inverse[int(old)]: new for new, old in enumerate(kept)}
    for tok in spec.get("added_tokens", []):
        tok["id"] = new_id[tok["id"]]  # special tokens are always kept
    post = spec.get("post_processor") or {}
    for processor in [post, *post.get("processors", [])]:
        for special in (processor.get("special_tokens") or {}).values():
            special["ids"] = [new_id[i] for i in special["ids"]]
        for key in ("cls", "sep"):  # BertProcessing stores [piece, id] pairs
            if isinstance(processor.get(key), list):
                processor[key][1] = new_id[processor[key][1]]
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        for extra in ("vocab.txt", "special_tokens_map.json", "added_tokens.json"):
            (Path(tmp) / extra).unlink(missing_ok=True)
        (Path(tmp) / "tokenizer.json").write_text(json.dumps(spec))
        trimmed = AutoTokenizer.from_pretrained(tmp)
    if len(trimmed.get_vocab()) != len(kept):
        raise UserError(f"vocab_size = {len(kept)}: the trimmed tokenizer has {len(trimmed.get_vocab())} pieces; "
                        "this tokenizer cannot be trimmed: unset vocab_size")
    return trimmed


def trim_embeddings(model: Any, kept: np.ndarray) -> None:
    """Keep rows `kept` of the model's word table (in place): (V, E) -> (K, E); config.vocab_size = K and the pad
    id follows its row."""
    table = model.get_input_embeddings()
    idx = torch.as_tensor(kept, dtype=torch.long)
    pad = getattr(model.config, "pad_token_id", None)
    new_pad = int(np.searchsorted(kept, pad)) if pad is not None and pad in set(kept.tolist()) else None
    new = nn.Embedding(len(kept), table.weight.shape[1], padding_idx=new_pad)
    with torch.no_grad():
        new.weight.copy_(table.weight[idx])
    new.to(device=table.weight.device, dtype=table.weight.dtype)
    model.set_input_embeddings(new)
    model.config.vocab_size = len(kept)
    if new_pad is not None:
        model.config.pad_token_id = new_pad


__all__ = ["must_keep_ids", "choose_vocabulary", "trim_tokenizer", "trim_embeddings"]
