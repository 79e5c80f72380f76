"""Load QA models safely, run them over features, and score them by the official SQuAD rules.

    model, tokenizer = load_qa_model("../shared/teachers/minilm-l6-h384-squad2")
    metrics = evaluate(model="../shared/teachers/minilm-l6-h384-squad2", data="../shared/data/squad2/dev.json",
                       out="runs/eval")      # what `distilbo evaluate` runs

Shape glossary:
    N  features (windows);  L  max_seq_length;  B  batch rows;  S  longest row of a batch
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from distilbo._io import write_json_atomic
from distilbo.config import DataConfig, TrainConfig
from distilbo.data.batches import batch_order, model_inputs, to_batch
from distilbo.data.types import Example, Features
from distilbo.errors import UserError, custom_code_refused
from distilbo.measure import autocast, takes_token_types


# ----------------------------------------------------------------------------------------------- loading
def load_tokenizer(location: str, *, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    _check_location(location, "tokenizer")
    try:
        with quiet_transformers():
            tok = AutoTokenizer.from_pretrained(location, trust_remote_code=trust_remote_code)
    except Exception as e:  # noqa: BLE001
        _refuse_custom_code(location, e)
        raise UserError(f"{location}: could not load a tokenizer ({type(e).__name__}: {_first_line(e)}); "
                        "the folder needs tokenizer.json / vocab files") from None
    if not getattr(tok, "is_fast", False):
        raise UserError(f"{location}: the tokenizer is not a fast tokenizer; add a tokenizer.json to the folder")
    return tok


def load_qa_model(location: str, *, trust_remote_code: bool = False) -> Any:
    """A question-answering model from a local folder or hub id; weights only from safetensors."""
    from transformers import AutoModelForQuestionAnswering

    _check_location(location, "model")
    p = Path(location)
    if p.is_dir() and not any(p.glob("*.safetensors")):
        raise UserError(f"{location}: no .safetensors weights (distilbo never loads pickle .bin files); "
                        "convert with `model.save_pretrained(dir, safe_serialization=True)`")
    try:
        with quiet_transformers():  # the load report and progress bar would bury a one-line error
            model, info = AutoModelForQuestionAnswering.from_pretrained(
                location, use_safetensors=True, trust_remote_code=trust_remote_code, output_loading_info=True)
    except Exception as e:  # noqa: BLE001
        _refuse_custom_code(location, e)
        raise UserError(f"{location}: could not load a question-answering model ({type(e).__name__}: "
                        f"{_first_line(e)}); pass a HF folder with config.json and model.safetensors") from None
    if any("qa_outputs" in k for k in info.get("missing_keys", [])):
        raise UserError(f"{location}: not a question-answering model (no qa_outputs weights); "
                        "fine-tune one first with `distilbo teacher`")
    return model.eval()


def _refuse_custom_code(location: str, e: BaseException) -> None:
    refused = custom_code_refused(location, e)
    if refused is not None:
        raise refused from None


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings (its multi-line LOAD REPORT) and progress bars off for the duration; restored after."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _check_location(location: str, what: str) -> None:
    if not location:
        raise UserError(f"no {what} given; set it in the config or pass --model")
    looks_local = location.startswith((".", "/", "~")) or os.sep in location and Path(location).parts[0] in (".", "..")
    if looks_local and not Path(location).exists():
        raise UserError(f"{location}: {what} folder not found; pass an existing folder or a hub id")


def _first_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0][:200] if s else ""


NULL_THRESHOLD_KEY = "null_score_diff_threshold"
"""The config.json attribute an exported model keeps its calibrated no-answer threshold in (run_qa's name)."""


def model_null_threshold(model: Any) -> float:
    """The no-answer threshold a model folder ships with (`null_score_diff_threshold` in its config.json, written by
    `distilbo export`), else 0.0 (answer "" whenever the null score beats the best span)."""
    value = getattr(model.config, NULL_THRESHOLD_KEY, None)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def uses_token_types(model: Any) -> bool:
    """Whether the model is given token_type_ids (`measure.takes_token_types`: not for one type or none)."""
    return takes_token_types(model)


# ----------------------------------------------------------------------------------------------- inference
def model_logits(model: Any, features: Features, *, batch_size: int = TrainConfig.eval_batch_size, device: torch.device | None = None,
                 progress: bool = False, precision: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Start and end logits (N, L) float32 for every feature; columns beyond a row's length are 0. `precision`
    as `measure.autocast` (`auto`: fp32 on the CPU, mixed on CUDA; `bf16`: bf16 autocast)."""
    device = device or next(model.parameters()).device
    n, width = features.input_ids.shape
    start = np.zeros((n, width), dtype=np.float32)
    end = np.zeros((n, width), dtype=np.float32)
    token_types = uses_token_types(model)
    order = batch_order(features.lengths, batch_size=batch_size, shuffle=False, group_by_length=True)
    it = order
    if progress:
        from tqdm import tqdm

        it = tqdm(order, desc="inference", unit="batch", leave=False)
    model.eval()
    with torch.inference_mode(), autocast(device, precision):
        for idx in it:
            batch = to_batch(features, idx, device=device, token_types=token_types)
            out = model(**model_inputs(batch))
            s = batch["input_ids"].shape[1]
            keep = batch["attention_mask"].cpu().numpy().astype(bool)  # rows shorter than the batch: 0 beyond
            start[idx, :s] = np.where(keep, out.start_logits.float().cpu().numpy(), 0.0)
            end[idx, :s] = np.where(keep, out.end_logits.float().cpu().numpy(), 0.0)
    return start, end


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    answers: dict[str, str]
    na_probs: dict[str, float]
    forced: dict[str, str] = field(default_factory=dict)
    """qid -> the best span, the null answer disabled (SQuAD 2.0 only)."""
    margins: dict[str, float] = field(default_factory=dict)
    """qid -> null score - best span score, what a no-answer threshold is applied to (SQuAD 2.0 only)."""


def evaluate_logits(examples: list[Example], features: Features, start: np.ndarray, end: np.ndarray, *,
                    version_2_with_negative: bool = True, n_best_size: int = DataConfig.n_best_size, max_answer_length: int = DataConfig.max_answer_length,
                    null_score_diff_threshold: float = 0.0, calibrated: bool = True) -> Evaluation:
    """Postprocess logits into answers and score them (official rules), with the null-disabled span scores."""
    from distilbo.qa.postprocess import postprocess
    from distilbo.qa.squad_v2 import evaluate_examples, evaluate_v1

    preds = postprocess(examples, features, start, end, n_best_size=n_best_size, max_answer_length=max_answer_length,
                        null_score_diff_threshold=null_score_diff_threshold,
                        version_2_with_negative=version_2_with_negative)
    if version_2_with_negative:
        metrics = dict(evaluate_examples(examples, preds.answers, preds.na_probs))
        metrics["answered_pct"] = 100.0 * sum(bool(a) for a in preds.answers.values()) / len(examples)
        answerable = [e for e in examples if e.answers]
        if answerable:
            forced = evaluate_examples(answerable, {e.id: preds.forced[e.id] for e in answerable})
            metrics["HasAns_forced_exact"] = forced["exact"]
            metrics["HasAns_forced_f1"] = forced["f1"]
        if calibrated:  # the best-F1 threshold on these very questions (not for a held-out split)
            metrics.update(calibrated_metrics(examples, preds))
    else:
        from distilbo.data.squad import examples_to_squad_json

        v1 = evaluate_v1(examples_to_squad_json(examples)["data"], preds.answers)
        metrics = {"exact": v1["exact_match"], "f1": v1["f1"], "total": len(examples)}
    return Evaluation(metrics=metrics, answers=preds.answers, na_probs=preds.na_probs,
                      forced=preds.forced if version_2_with_negative else {},
                      margins=preds.margins if version_2_with_negative else {})


CALIBRATED_KEYS = ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact")
"""Official scores recorded again at the best-F1 threshold, as calibrated_<key>."""


def calibrated_metrics(examples: list[Example], preds: Any, *, threshold: float | None = None) -> dict[str, float]:
    """`null_threshold` (the best-F1 null-score margin on these questions, `distilbo.qa.calibrate`, or `threshold`
    when given: one set on a calibration split), the official scores with it (`calibrated_exact`, `calibrated_f1`,
    ...) and the share it answers (`calibrated_answered_pct`): what a user of the exported model gets, since the
    export ships that threshold. `preds` has `forced` and `margins` (a Predictions or an Evaluation)."""
    from distilbo.qa.calibrate import apply_threshold, calibrate
    from distilbo.qa.squad_v2 import evaluate_examples

    if threshold is None:
        cal = calibrate(examples, preds.forced, preds.margins)
        threshold, answered = cal.threshold, cal.answered
    else:
        answered = 100.0 * sum(preds.margins[e.id] <= threshold for e in examples) / len(examples)
    scores = evaluate_examples(examples, apply_threshold(preds.forced, preds.margins, threshold))
    out = {"null_threshold": float(threshold), "calibrated_answered_pct": answered}
    out.update({f"calibrated_{k}": float(scores[k]) for k in CALIBRATED_KEYS if k in scores})
    return out


def heldout_metrics(examples: list[Example], features: Features, start: np.ndarray, end: np.ndarray, *,
                    threshold: float, **post: Any) -> dict[str, float]:
    """Scores on a held-out split with a no-answer `threshold` chosen elsewhere (the dev set's best-F1 one): the
    `calibrated_*` keys are the official scores at that threshold, never this split's own best; beside them the
    span quality with the null answer disabled (`HasAns_forced_*`) and `total`."""
    ev = evaluate_logits(examples, features, start, end, **{**post, "null_score_diff_threshold": threshold},
                         calibrated=False)
    m = ev.metrics
    out = {f"calibrated_{k}": float(m[k]) for k in CALIBRATED_KEYS if k in m}
    out["calibrated_answered_pct"] = float(m["answered_pct"])
    out.update({k: float(m[k]) for k in ("HasAns_forced_exact", "HasAns_forced_f1") if k in m})
    out["total"] = float(m["total"])
    return out


def evaluate_model(model: Any, examples: list[Example], features: Features, *, batch_size: int = 64,
                   device: torch.device | None = None, progress: bool = False, **post: Any) -> Evaluation:
    t0 = time.perf_counter()
    start, end = model_logits(model, features, batch_size=batch_size, device=device, progress=progress)
    ev = evaluate_logits(examples, features, start, end, **post)
    seconds = time.perf_counter() - t0
    ev.metrics["eval_seconds"] = seconds
    ev.metrics["examples_per_second"] = len(examples) / seconds if seconds > 0 else float("nan")
    return ev


# ----------------------------------------------------------------------------------------------- command
def evaluate(*, model: str, data: str, out: str | None = None, max_eval_samples: int | None = None,
             max_seq_length: int = DataConfig.max_seq_length, doc_stride: int = DataConfig.doc_stride, max_query_length: int = DataConfig.max_query_length,
             version_2_with_negative: bool = True, batch_size: int = TrainConfig.eval_batch_size, device: str = "auto",
             null_score_diff_threshold: float | None = None, cache_dir: str | None = None,
             trust_remote_code: bool = False, progress: bool = True) -> dict[str, Any]:
    """Score a QA model on SQuAD data; writes metrics.json, predictions.json and na_probs.json into `out`.

    `exact`/`f1`/... are the scores at `null_score_diff_threshold`; None takes the threshold the model ships with
    (`model_null_threshold`: a distilbo export's), else 0. The `calibrated_*` scores beside them use the best-F1
    threshold on this very data (`null_threshold`): an upper bound there, not a held-out score."""
    from distilbo.data.squad import build_features, load_examples
    from distilbo.measure import select_device

    examples = load_examples(data, version_2_with_negative=version_2_with_negative, max_samples=max_eval_samples)
    tokenizer = load_tokenizer(model, trust_remote_code=trust_remote_code)
    qa = load_qa_model(model, trust_remote_code=trust_remote_code)
    if null_score_diff_threshold is None:
        null_score_diff_threshold = model_null_threshold(qa)
    dev = select_device(device)
    qa.to(dev)
    feats = build_features(examples, tokenizer, max_seq_length=max_seq_length, doc_stride=doc_stride,
                           max_query_length=max_query_length, cache_dir=cache_dir)
    ev = evaluate_model(qa, examples, feats, batch_size=batch_size, device=dev, progress=progress,
                        version_2_with_negative=version_2_with_negative,
                        null_score_diff_threshold=null_score_diff_threshold)
    ev.metrics.update(model=model, data=data, num_features=len(feats), max_seq_length=max_seq_length,
                      doc_stride=doc_stride, device=str(dev), null_score_diff_threshold=null_score_diff_threshold)
    if out:
        o = Path(out)
        o.mkdir(parents=True, exist_ok=True)
        write_json_atomic(o / "metrics.json", ev.metrics)
        write_json_atomic(o / "predictions.json", ev.answers)
        if version_2_with_negative:
            write_json_atomic(o / "na_probs.json", ev.na_probs)
    return ev.metrics
