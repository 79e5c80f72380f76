"""SQuAD 2.0 / 1.1 data: read and validate examples, tokenize them into windows with labels, cache the features.

    examples = load_examples("../shared/data/squad2/dev.json")            # official JSON
    examples = load_examples("hub:squad_v2:validation")                   # a Hugging Face dataset name
    examples = load_examples("path/to/saved_dataset")                     # datasets.save_to_disk folder
    feats = build_features(examples, tokenizer, max_seq_length=384, doc_stride=128, max_query_length=64,
                           cache_dir="~/.cache/distilbo")

Validation names the file, the article/question id and the field of every problem (a `DataError`, which the
CLI prints as one line with exit code 2). `doc_stride` is the overlap in tokens between consecutive windows
(Hugging Face `stride` semantics).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from distilbo._cache import cached_arrays, content_key
from distilbo.data.types import FEATURE_FIELDS, Example, Features
from distilbo.errors import DataError

FEATURES_VERSION = 1  # bump when the feature layout or labelling changes


# ----------------------------------------------------------------------------------------------- loading
def load_examples(source: str, *, version_2_with_negative: bool = True, max_samples: int | None = None,
                  split: str | None = None, labeled: bool = True) -> list[Example]:
    """Examples from an official JSON file, a saved `datasets` folder, or `hub:NAME[:SPLIT]`; validated.

    `labeled=False` reads a transfer set: questions whose `answers` (if any) are ignored, every example with
    `answers=[]` and `is_impossible=False` (its features are taught by the teacher's soft targets only)."""
    if source.startswith("hub:"):
        name, _, hub_split = source[4:].partition(":")
        examples = _from_hf(name, split=hub_split or split or "validation", where=source)
    else:
        path = Path(source)
        if path.is_dir():
            examples = _from_hf(str(path), split=split, where=source, saved=True)
        elif path.is_file():
            examples = parse_squad_json(_read_json(path), where=str(path), version_2_with_negative=version_2_with_negative,
                                        labeled=labeled)
        else:
            raise DataError(f"{source}: data file not found; pass an official SQuAD JSON file, a saved dataset folder or hub:NAME")
    if labeled and not version_2_with_negative:
        bad = next((e for e in examples if not e.answers), None)
        if bad is not None:
            raise DataError(f"{source}: question {bad.id}: no answers, but SQuAD 1.1 mode (version_2_with_negative = false) "
                            "needs an answer for every question; set version_2_with_negative = true")
    if max_samples is not None:
        examples = examples[:max_samples]
    return examples


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text; pass an official SQuAD JSON file") from None
    if not text.strip():
        raise DataError(f"{path}: empty file; pass an official SQuAD JSON file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: malformed JSON at line {e.lineno} column {e.colno} ({e.msg}); fix the file") from None


def parse_squad_json(doc: Any, *, where: str, version_2_with_negative: bool = True,
                     labeled: bool = True) -> list[Example]:
    """Official SQuAD JSON (`{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}`) -> Examples.

    `labeled=False`: a transfer set; answers are not read (see `load_examples`)."""

    def fail(place: str, msg: str) -> None:
        raise DataError(f"{where}: {place}: {msg}")

    if not isinstance(doc, dict) or "data" not in doc:
        fail("top level", "missing field 'data'; expected {\"version\": ..., \"data\": [articles]}")
    if not isinstance(doc["data"], list):
        fail("field 'data'", "must be a list of articles")
    examples: list[Example] = []
    seen: dict[str, str] = {}
    for a_i, article in enumerate(doc["data"]):
        title = article.get("title", f"article {a_i}") if isinstance(article, dict) else None
        at = f"article {a_i} ({title!r})" if isinstance(article, dict) else f"article {a_i}"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            fail(at, "missing field 'paragraphs' (a list)")
        for p_i, para in enumerate(article["paragraphs"]):
            pat = f"{at} paragraph {p_i}"
            if not isinstance(para, dict):
                fail(pat, "must be an object with 'context' and 'qas'")
            context = para.get("context")
            if not isinstance(context, str):
                fail(pat, "missing field 'context' (a string)")
            if not isinstance(para.get("qas"), list):
                fail(pat, "missing field 'qas' (a list)")
            for q_i, qa in enumerate(para["qas"]):
                if not isinstance(qa, dict):
                    fail(f"{pat} question {q_i}", "must be an object")
                qid = qa.get("id")
                if not isinstance(qid, str) or not qid:
                    fail(f"{pat} question {q_i}", "missing field 'id' (a non-empty string)")
                qat = f"question {qid}"
                if qid in seen:
                    fail(qat, f"duplicate id (also in {seen[qid]}); ids must be unique")
                seen[qid] = pat
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    fail(qat, "missing field 'question' (a non-empty string)")
                if not labeled:
                    examples.append(Example(id=qid, title=str(title), context=context, question=question))
                    continue
                answers = qa.get("answers")
                if not isinstance(answers, list):
                    if not _any_answers_field(doc):
                        fail(qat, "missing field 'answers', as in every question of the file: a transfer set without "
                             "labels is not training data; give it as [data] transfer_file and a labeled file as train_file")
                    fail(qat, "missing field 'answers' (a list; [] for an unanswerable question)")
                for k, ans in enumerate(answers):
                    if not isinstance(ans, dict) or not isinstance(ans.get("text"), str):
                        fail(f"{qat} answers[{k}]", "missing field 'text' (a string)")
                    start = ans.get("answer_start")
                    if isinstance(start, bool) or not isinstance(start, int):
                        fail(f"{qat} answers[{k}]", "missing field 'answer_start' (an integer character offset)")
                    if context[start:start + len(ans["text"])] != ans["text"]:
                        fail(f"{qat} answers[{k}].answer_start", f"{start} does not point at the answer text "
                             f"{ans['text'][:40]!r} in the context; fix the offset")
                impossible = qa.get("is_impossible", not answers)
                if not isinstance(impossible, bool):
                    fail(f"{qat} is_impossible", "must be true or false")
                if version_2_with_negative:
                    if impossible and answers:
                        fail(f"{qat} is_impossible", "is true but the question has answers; empty 'answers' or set false")
                    if not impossible and not answers:
                        fail(f"{qat} answers", "is empty but is_impossible is false; add an answer or set is_impossible true")
                examples.append(Example(id=qid, title=str(title), context=context, question=question,
                                        answers=[{"text": a["text"], "answer_start": a["answer_start"]} for a in answers],
                                        is_impossible=bool(impossible)))
    if not examples:
        fail("field 'data'", "holds no questions; pass a file with at least one question")
    return examples


def _any_answers_field(doc: dict) -> bool:
    return any("answers" in qa for a in doc["data"] if isinstance(a, dict) for p in a.get("paragraphs") or []
               if isinstance(p, dict) for qa in p.get("qas") or [] if isinstance(qa, dict))


def _from_hf(name: str, *, split: str | None, where: str, saved: bool = False) -> list[Example]:
    """A `datasets` dataset in the squad_v2 schema (answers: {text: [...], answer_start: [...]}) -> Examples."""
    try:
        import datasets
    except ImportError:
        raise DataError(f"{where}: reading Hugging Face datasets needs `pip install datasets`") from None
    try:
        ds = datasets.load_from_disk(name) if saved else datasets.load_dataset(name, split=split)
    except Exception as e:  # noqa: BLE001 - any loader failure is a user-facing data error
        raise DataError(f"{where}: could not load dataset ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            split = "validation" if "validation" in ds else next(iter(ds))
        if split not in ds:
            raise DataError(f"{where}: no split {split!r}; available: {', '.join(ds)}")
        ds = ds[split]
    missing = {"id", "context", "question", "answers"} - set(ds.column_names)
    if missing:
        raise DataError(f"{where}: missing column(s) {sorted(missing)}; the squad_v2 schema is id, title, context, question, answers")
    articles: dict[str, dict] = {}
    for row in ds:
        ans = row["answers"] or {"text": [], "answer_start": []}
        art = articles.setdefault(row.get("title") or "", {"title": row.get("title") or "", "paragraphs": []})
        art["paragraphs"].append({"context": row["context"], "qas": [{
            "id": row["id"], "question": row["question"],
            "answers": [{"text": t, "answer_start": s} for t, s in zip(ans["text"], ans["answer_start"])]}]})
    return parse_squad_json({"data": list(articles.values())}, where=where)


def examples_to_squad_json(examples: list[Example]) -> dict:
    """Examples -> the official JSON structure (what `evaluate-v2.0.py` reads)."""
    data: dict[str, dict] = {}
    for ex in examples:
        art = data.setdefault(ex.title, {"title": ex.title, "paragraphs": []})
        art["paragraphs"].append({"context": ex.context, "qas": [
            {"id": ex.id, "question": ex.question, "answers": ex.answers, "is_impossible": ex.is_impossible}]})
    return {"version": "v2.0", "data": list(data.values())}


# ----------------------------------------------------------------------------------------------- features
def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Hash of what decides token ids (vocab, normalizer, pre-tokenizer, special tokens), not padding settings."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    return content_key(type(tokenizer).__name__, spec, tokenizer.padding_side)


def examples_fingerprint(examples: list[Example]) -> str:
    return content_key([(e.id, e.context, e.question, e.answers, e.is_impossible) for e in examples])


def build_features(examples: list[Example], tokenizer: Any, *, max_seq_length: int = 384, doc_stride: int = 128,
                   max_query_length: int = 64, cache_dir: str | Path | None = None) -> Features:
    """Tokenize every question+context into overlapping windows with start/end labels; cached on disk.

    The cache key covers the tokenizer, the examples' content and the three lengths, so any change rebuilds."""
    if not getattr(tokenizer, "is_fast", False):
        raise DataError(f"{getattr(tokenizer, 'name_or_path', 'tokenizer')}: a fast (Rust) tokenizer is needed for "
                        "character offsets; the model folder needs a tokenizer.json")
    key = content_key(FEATURES_VERSION, tokenizer_fingerprint(tokenizer), examples_fingerprint(examples),
                      max_seq_length, doc_stride, max_query_length)
    arrays = cached_arrays("features", key, lambda: _tokenize(examples, tokenizer, max_seq_length, doc_stride,
                                                               max_query_length), cache_dir=cache_dir,
                          expect=dict.fromkeys(FEATURE_FIELDS))
    return Features(**{f: arrays[f] for f in FEATURE_FIELDS})


def _truncate_questions(questions: list[str], tokenizer: Any, max_query_length: int) -> list[str]:
    """Cut each question (stripped of leading space) to its first `max_query_length` tokens, at a character offset."""
    questions = [q.lstrip() for q in questions]
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for q, offs in zip(questions, enc["offset_mapping"]):
        out.append(q[: offs[max_query_length - 1][1]] if len(offs) > max_query_length else q)
    return out


def _trim_space(context: str, a: int, b: int) -> tuple[int, int]:
    """A context token's character span without the whitespace at its ends: SentencePiece tokenizers (DeBERTa-v3's
    `▁` piece, say) and byte-level BPE ones without trimmed offsets give a word's piece its leading space, which
    would then start an answer; a piece of whitespace alone gets (-1, -1), as a question token: it can neither
    start nor end an answer. WordPiece spans never hold whitespace, so their features are unchanged."""
    while a < b and context[a].isspace():
        a += 1
    while b > a and context[b - 1].isspace():
        b -= 1
    return (a, b) if a < b else (-1, -1)


def _tokenize(examples: list[Example], tokenizer: Any, max_seq_length: int, doc_stride: int,
              max_query_length: int) -> dict[str, np.ndarray]:
    if tokenizer.padding_side != "right":
        raise DataError(f"{tokenizer.name_or_path}: tokenizer pads on the left; distilbo needs padding_side='right'")
    cols: dict[str, list] = {f: [] for f in FEATURE_FIELDS}
    chunk = 256
    for lo in range(0, len(examples), chunk):
        batch = examples[lo:lo + chunk]
        questions = _truncate_questions([e.question for e in batch], tokenizer, max_query_length)
        enc = tokenizer(questions, [e.context for e in batch], truncation="only_second", max_length=max_seq_length,
                        stride=doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                        return_token_type_ids=True, padding="max_length")
        for i in range(len(enc["input_ids"])):
            ex_i = enc["overflow_to_sample_mapping"][i]
            ex = batch[ex_i]
            seq_ids = enc.sequence_ids(i)
            offsets = np.full((max_seq_length, 2), -1, dtype=np.int32)
            for t, (sid, off) in enumerate(zip(seq_ids, enc["offset_mapping"][i])):
                if sid == 1:
                    offsets[t] = _trim_space(ex.context, *off)  # (-1, -1): whitespace alone
            ids = enc["input_ids"][i]
            length = int(sum(enc["attention_mask"][i]))
            start = end = 0  # CLS index
            if ex.answers:
                a_start = ex.answers[0]["answer_start"]
                a_end = a_start + len(ex.answers[0]["text"])
                ctx = np.nonzero(offsets[:, 0] >= 0)[0]
                if len(ctx) and offsets[ctx[0], 0] <= a_start and offsets[ctx[-1], 1] >= a_end:
                    # first token ending after the answer start; last token starting before the answer end
                    start = int(ctx[np.argmax(offsets[ctx, 1] > a_start)])
                    end = int(ctx[len(ctx) - 1 - np.argmax(offsets[ctx[::-1], 0] < a_end)])
            cols["input_ids"].append(ids)
            cols["token_type_ids"].append(enc["token_type_ids"][i])
            cols["lengths"].append(length)
            cols["offsets"].append(offsets)
            cols["example_index"].append(lo + ex_i)
            cols["start_positions"].append(start)
            cols["end_positions"].append(end)
    return {
        "input_ids": np.asarray(cols["input_ids"], dtype=np.int32).reshape(-1, max_seq_length),
        "token_type_ids": np.asarray(cols["token_type_ids"], dtype=np.int8).reshape(-1, max_seq_length),
        "lengths": np.asarray(cols["lengths"], dtype=np.int32),
        "offsets": np.asarray(cols["offsets"], dtype=np.int32).reshape(-1, max_seq_length, 2),
        "example_index": np.asarray(cols["example_index"], dtype=np.int32),
        "start_positions": np.asarray(cols["start_positions"], dtype=np.int32),
        "end_positions": np.asarray(cols["end_positions"], dtype=np.int32),
    }
