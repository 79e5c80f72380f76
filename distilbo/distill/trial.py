"""One distillation trial: build the student from its spec, distill it from the teacher, measure it.

    metrics = run_trial(cfg, Path("runs/x"))   # what `distilbo distill` and every search trial run

writes into the trial folder:
    metrics.json        exact, f1, HasAns/NoAns, best_*, HasAns_forced_*, num_parameters, latency_ms, ... as
                        served in `[search] runtime` (`distilbo.serve`); for a runtime other than pytorch also
                        fp32_* (the PyTorch fp32 scores) and quantization_loss_* (fp32 - served)
    curves.jsonl        training loss every logging_steps; dev scores every eval_steps and each epoch; with
                        `[search] rungs`, the rung scores on the first `rung_questions` dev questions ("rung": k)
                        (a trial the search stops at a rung raises StoppedAtRung there and writes no model)
    predictions.json    dev answers (official format), na_probs.json
    trial_config.json   every flat setting the trial ran with
    model/              the student as a stock Hugging Face folder (safetensors + tokenizer), plus
                        model.onnx (runtime onnx, onnx-int8) and model-int8.onnx (onnx-int8): what was scored
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from distilbo.config import Config
from distilbo.errors import UserError, custom_code_refused
from distilbo._cache import cache_dir
from distilbo._io import write_json_atomic
from distilbo._quiet import quiet_window
from distilbo.distill.rung_report import report_rung
from distilbo.evaluate import load_qa_model, load_tokenizer
from distilbo.data.splits import calibration_examples

log = logging.getLogger(__name__)


def student_spec(cfg: Config):
    """The trial's StudentSpec, defaults filled in from the init model's config (no weights loaded)."""
    from transformers import AutoConfig

    from distilbo.models.student import spec_from_config

    init = cfg.student_init_path
    try:
        init_config = AutoConfig.from_pretrained(init, trust_remote_code=cfg.run.trust_remote_code)
    except Exception as e:  # noqa: BLE001
        refused = custom_code_refused(f"[models] student_init = {cfg.models.student_init!r}", e)
        if refused is not None:
            raise refused from None
        raise UserError(f"{cfg.source}: [models] student_init = {cfg.models.student_init!r}: could not read its config "
                        f"({type(e).__name__}); pass a HF model folder, package:NAME or a hub id") from None
    return spec_from_config(cfg, init_config), init_config


def estimate_metrics(cfg: Config) -> dict[str, float]:
    """What is known before training: the parameter counts, from the spec in closed form, and -- when a study
    uses `latency_ms` as an objective or constraint -- the latency of the trial's shape, timed on a random-weight
    model of that shape on the dev set's first latency batch (cached per shape and machine)."""
    from distilbo.models.student import count_parameters

    spec, init_config = student_spec(cfg)
    vocab = min(cfg.student.vocab_size or init_config.vocab_size, init_config.vocab_size)
    known: dict[str, float] = dict(count_parameters(spec, vocab_size=vocab,
                                                    max_position_embeddings=init_config.max_position_embeddings,
                                                    type_vocab_size=getattr(init_config, "type_vocab_size", 2),
                                                    init_config=init_config))
    wanted = {o["metric"] for o in cfg.search.objectives} | {c["metric"] for c in cfg.search.constraints}
    if "latency_ms" in wanted:
        lat = predicted_latency(cfg, spec, init_config)
        known.update(latency_ms=lat["latency_ms"], latency_predicted_ms=lat["latency_ms"],
                     latency_predicted_spread=lat["spread"])
        quiet = lat.get("quiet", float("nan"))
        if quiet == quiet:  # 1.0: timed while every training loop here had paused, 0.0: not (nan: not known)
            known["latency_predicted_quiet"] = quiet
    return known


def latency_lengths(cfg: Config) -> list[int]:
    """Row lengths of the batch latency is timed on: the first latency_batch_size dev windows (as `latency_ms`)."""
    from distilbo.data.squad import build_features
    from distilbo.data.splits import dev_examples

    d = cfg.data
    examples = dev_examples(cfg)
    feats = build_features(examples, load_tokenizer(cfg.student_init_path, trust_remote_code=cfg.run.trust_remote_code),
                           max_seq_length=d.max_seq_length, doc_stride=d.doc_stride,
                           max_query_length=d.max_query_length, cache_dir=cache_dir(cfg))
    rows = np.arange(cfg.train.latency_batch_size) % len(feats)
    return [int(n) for n in feats.lengths[rows]]


def predicted_latency(cfg: Config, spec: Any, init_config: Any) -> dict[str, float]:
    """`serve.shape_latency_ms` of the trial's shape (random weights) on the device and threads a trial uses."""
    from dataclasses import asdict

    from distilbo.measure import select_device, set_threads
    from distilbo.serve import shape_latency_ms
    from distilbo.models.student import random_student

    set_threads(cfg.run.num_threads)
    shape = {k: v for k, v in asdict(spec).items() if k in ("n_layers", "dim", "hidden_dim", "architecture",
                                                                 "activation")}
    if spec.factorized:  # older cache keys stay valid for unfactorized shapes
        shape["embedding_size"] = spec.embedding_size
    return shape_latency_ms(lambda: random_student(spec, init_config), key={**shape, "heads": spec.heads},
                            lengths=latency_lengths(cfg),
                            vocab_size=init_config.vocab_size, repeats=cfg.train.latency_repeats,
                            device=select_device(cfg.run.device), cache_dir=cache_dir(cfg),
                            runtime=cfg.search.runtime)


def check_inputs(cfg: Config) -> None:
    """UserError naming the setting and the fix when the data files, the teacher, the student init or their
    tokenizers would make every trial fail; what `distilbo search` checks before it opens the study.

    Loads what a trial loads (the examples, both tokenizers, the teacher as a QA model, the init's config and
    safetensors weights), so it takes as long as the first seconds of a trial."""
    from distilbo.data.splits import check_disjoint, dev_examples, test_examples
    from distilbo.data.squad import load_examples
    from distilbo.models.student import load_init

    from distilbo.serve import require_runtime

    require_runtime(cfg.search.runtime, where=f"{cfg.source}: [search] runtime")
    d, m, trust = cfg.data, cfg.models, cfg.run.trust_remote_code
    for name, value in (("train_file", d.train_file), ("dev_file", d.dev_file)):
        if not value:
            raise UserError(f"{cfg.source}: [data] {name} is not set; point it at a SQuAD JSON file")
    train = load_examples(cfg.path(d.train_file), version_2_with_negative=d.version_2_with_negative,
                          max_samples=d.max_train_samples)
    if d.train_extra_file:
        train = train + load_examples(cfg.path(d.train_extra_file), version_2_with_negative=d.version_2_with_negative,
                                      max_samples=d.max_train_extra_samples)
    dev = dev_examples(cfg)
    test = test_examples(cfg)
    if test is not None:
        check_disjoint(dev, test, where=f"{cfg.source}: [data] test_file")
    calibration = calibration_examples(cfg)
    if calibration is not None:
        fix = "point calibration_file at questions on other articles (or leave it empty: the dev questions)"
        for other, questions in (("the dev questions", dev), ("the test split", test or []), ("the training questions", train)):
            check_disjoint(questions, calibration, where=f"{cfg.source}: [data] calibration_file",
                           what="the calibration split", other=other, fix=fix)
    for name, value in (("teacher", m.teacher), ("student_init", m.student_init)):
        if not value:
            raise UserError(f"{cfg.source}: [models] {name} is not set; give a model folder, package:NAME or hub id")
    if d.transfer_file:
        load_examples(cfg.path(d.transfer_file), max_samples=d.max_transfer_samples, labeled=False)
    teacher_path, init_path = cfg.path(m.teacher), cfg.student_init_path

    def named(name: str, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except UserError as e:
            raise UserError(f"[models] {name}: {e}") from None

    teacher_tok = named("teacher", load_tokenizer, teacher_path, trust_remote_code=trust)
    student_tok = named("student_init", load_tokenizer, init_path, trust_remote_code=trust)
    same_tokens = check_tokenizers(teacher_tok, student_tok, teacher=teacher_path, student=init_path, allow_cross=True)
    _check_cross(cfg, same_tokens)
    if cfg.student.vocab_size is not None:  # too small, or a tokenizer that cannot be trimmed: before any trial
        V = len(student_tok.get_vocab())  # counts of zero: the check, without tokenizing the training set
        trimmed_tokenizer(cfg, student_tok, same_tokens=same_tokens, counts=np.zeros(V))
    named("teacher", load_qa_model, teacher_path, trust_remote_code=trust)
    named("student_init", load_init, init_path, trust_remote_code=trust)
    student_spec(cfg)


def load_data(cfg: Config, tokenizer: Any):
    """(train examples, train features, dev examples, dev features) with the config's lengths; cached."""
    from distilbo.data.squad import build_features
    from distilbo.data.splits import dev_examples

    dev_ex = dev_examples(cfg)
    return (*load_train(cfg, tokenizer), dev_ex, build_features(dev_ex, tokenizer, cache_dir=cache_dir(cfg),
                                                                **_lengths(cfg)))


def load_train(cfg: Config, tokenizer: Any):
    """(train examples, train features) with the config's lengths; cached."""
    from distilbo.data.squad import build_features, load_examples

    d = cfg.data
    train_ex = load_examples(cfg.path(d.train_file), version_2_with_negative=d.version_2_with_negative,
                             max_samples=d.max_train_samples)
    if d.train_extra_file:
        train_ex = train_ex + load_examples(cfg.path(d.train_extra_file), max_samples=d.max_train_extra_samples,
                                            version_2_with_negative=d.version_2_with_negative)
    return train_ex, build_features(train_ex, tokenizer, cache_dir=cache_dir(cfg), **_lengths(cfg))


def _lengths(cfg: Config) -> dict[str, int]:
    d = cfg.data
    return dict(max_seq_length=d.max_seq_length, doc_stride=d.doc_stride, max_query_length=d.max_query_length)


def load_transfer(cfg: Config, tokenizer: Any):
    """The transfer set's features (no labels), or None when `[data] transfer_file` is unset; cached."""
    from distilbo.data.squad import build_features, load_examples

    d = cfg.data
    if not d.transfer_file:
        return None
    examples = load_examples(cfg.path(d.transfer_file), max_samples=d.max_transfer_samples, labeled=False)
    return build_features(examples, tokenizer, cache_dir=cache_dir(cfg), **_lengths(cfg))


def check_tokenizers(teacher_tok: Any, student_tok: Any, *, teacher: str, student: str,
                     allow_cross: bool = False) -> bool | None:
    """True if the student and teacher tokenize identically (teacher logits can be cached); False if only the
    vocabularies agree (the teacher must run in the loop); if the vocabularies differ, None with `allow_cross`
    (the teacher's targets are carried over by character offsets: `distilbo.distill.cross_tokenizer`), else a
    UserError."""
    from distilbo.data.squad import tokenizer_fingerprint

    if tokenizer_fingerprint(teacher_tok) == tokenizer_fingerprint(student_tok):
        return True
    if teacher_tok.get_vocab() != student_tok.get_vocab():
        if allow_cross:
            return None
        raise UserError(f"tokenizer mismatch: the teacher ({teacher}) and the student init ({student}) have different "
                        "vocabularies, so their span logits cannot be compared; pick a student_init with the teacher's vocab")
    return False


def _check_cross(cfg: Config, same_tokens: bool | None) -> None:
    """The settings a cross-tokenizer trial cannot have, as one-line UserErrors."""
    if same_tokens is None and cfg.train.alpha_cos > 0:
        raise UserError(f"{cfg.source}: [train] alpha_cos = {cfg.train.alpha_cos}: the hidden-state term needs a "
                        "student_init with the teacher's tokenizer (these tokenize differently); set alpha_cos = 0")


def trimmed_tokenizer(cfg: Config, tokenizer: Any, *, same_tokens: bool = True,
                      counts: np.ndarray | None = None) -> tuple[Any, np.ndarray | None]:
    """(the student's tokenizer, kept): with `[student] vocab_size` below the tokenizer's size, a tokenizer of the
    `vocab_size` pieces `distilbo.models._vocab` keeps -- the specials, every single character, then the pieces the
    training and transfer windows (tokenized in full, cached) use most, or those of `counts` (V,) when given -- and
    `kept` (K,), the init ids of its ids 0..K-1; else (tokenizer, None). A vocab_size that cannot be met is the
    one-line UserError naming `[student] vocab_size`."""
    from distilbo.models._vocab import choose_vocabulary, must_keep_ids, trim_tokenizer

    size, V = cfg.student.vocab_size, len(tokenizer.get_vocab())
    if size is None or size >= V:
        return tokenizer, None
    if not same_tokens:
        raise UserError(f"{cfg.source}: [student] vocab_size = {size}: trimming needs a student_init that tokenizes "
                        "like the teacher; unset vocab_size or use the teacher's tokenizer")
    if counts is None:
        counts = load_train(cfg, tokenizer)[1].token_counts(V)
        transfer_f = load_transfer(cfg, tokenizer)
        if transfer_f is not None:
            counts = counts + transfer_f.token_counts(V)
    try:
        kept = choose_vocabulary(counts, size=size, always=must_keep_ids(tokenizer))
        return trim_tokenizer(tokenizer, kept), kept
    except UserError as e:
        raise UserError(f"{cfg.source}: [student] {e}") from None


def run_trial_with_test(cfg: Config, trial_dir: Path, *, progress: bool = True) -> dict[str, Any]:
    """`run_trial` plus the held-out test split (`[data] test_file`), scored with the dev set's no-answer threshold
    and recorded as test_<metric>: the trial function of `distilbo confirm` (a search never reads the test split)."""
    return run_trial(cfg, trial_dir, progress=progress, score_test=True)


def numeric_path(device: Any, precision: str) -> dict[str, Any]:
    """What a trial's numbers depend on besides its settings and seed: the CPU (or GPU) model, the training
    arithmetic `precision` resolved to, torch's threads and version. Recorded in every trial's metrics."""
    import torch

    from distilbo.measure import cpu_info, train_precision

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_info()["name"]
    return {"hardware": name or "unknown", "train_precision": train_precision(precision, device),
            "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__}


def _served_logits(cfg: Config, student: Any, feats: Any, *, model_dir: Path, device: Any) -> tuple[Any, Any]:
    """Start and end logits of the trained student on `feats` in `[search] runtime` (as dev is scored)."""
    from distilbo.serve import serve

    served = serve(student, cfg.search.runtime, folder=model_dir, example=feats, device=device, check=False)
    return served.logits(feats, batch_size=cfg.train.eval_batch_size)


def _calibrate_split(cfg: Config, student: Any, tokenizer: Any, calibration: list, dev_ex: list, final: Any, *,
                     post: dict, model_dir: Path, device: Any) -> dict[str, float]:
    """The no-answer threshold set on `[data] calibration_file` (its best-F1 margin) and the dev scores at it:
    null_threshold, calibrated_* (dev), plus dev_null_threshold (dev's own best-F1 one), calibration_questions,
    calibration_f1 and calibration_answered_pct."""
    from distilbo import progress as live
    from distilbo.data.squad import build_features
    from distilbo.evaluate import calibrated_metrics, evaluate_logits

    live.phase("calibrating the no-answer threshold")
    feats = build_features(calibration, tokenizer, cache_dir=cache_dir(cfg), **_lengths(cfg))
    start, end = _served_logits(cfg, student, feats, model_dir=model_dir, device=device)
    on_cal = evaluate_logits(calibration, feats, start, end, **post).metrics
    return {"dev_null_threshold": final.metrics["null_threshold"],
            **calibrated_metrics(dev_ex, final, threshold=on_cal["null_threshold"]),
            "calibration_questions": len(calibration), "calibration_f1": on_cal["calibrated_f1"],
            "calibration_answered_pct": on_cal["calibrated_answered_pct"]}


def _score_test(cfg: Config, student: Any, tokenizer: Any, *, threshold: float, post: dict, model_dir: Path,
                device: Any) -> dict[str, float]:
    """test_<metric> of the trained student on the held-out split, in `[search] runtime`, at `threshold`."""
    from distilbo import progress as live
    from distilbo.data.splits import test_examples
    from distilbo.data.squad import build_features
    from distilbo.evaluate import heldout_metrics

    examples = test_examples(cfg)
    if examples is None:
        return {}
    live.phase("scoring the test split")
    feats = build_features(examples, tokenizer, cache_dir=cache_dir(cfg), **_lengths(cfg))
    start, end = _served_logits(cfg, student, feats, model_dir=model_dir, device=device)
    m = heldout_metrics(examples, feats, start, end, threshold=threshold, **post)
    return {f"test_{k}": v for k, v in m.items()}


def run_trial(cfg: Config, trial_dir: Path, *, progress: bool = True, score_test: bool = False) -> dict[str, Any]:
    from distilbo import progress as live
    from distilbo.distill.teacher_cache import model_fingerprint, teacher_logits
    from distilbo.distill.train import CURVE_METRICS, distill
    from distilbo.evaluate import evaluate_model
    from distilbo.measure import latency_ms, peak_memory, select_device, set_threads
    from distilbo.models._vocab import trim_embeddings
    from distilbo.models.student import build_student, model_num_parameters

    from distilbo.serve import require_runtime

    require_runtime(cfg.search.runtime, where=f"{cfg.source}: [search] runtime")  # before any training
    t_start = time.perf_counter()
    trial_dir = Path(trial_dir)
    set_threads(cfg.run.num_threads)
    device = select_device(cfg.run.device)
    teacher_path, init_path = cfg.path(cfg.models.teacher), cfg.student_init_path
    trust = cfg.run.trust_remote_code

    # data, tokenized with the student's tokenizer (its own trimmed one with `vocab_size`: `kept` maps its ids to
    # the init's and the teacher's)
    teacher_tok = load_tokenizer(teacher_path, trust_remote_code=trust)
    student_tok = load_tokenizer(init_path, trust_remote_code=trust)
    same_tokens = check_tokenizers(teacher_tok, student_tok, teacher=teacher_path, student=init_path, allow_cross=True)
    _check_cross(cfg, same_tokens)
    student_tok, kept = trimmed_tokenizer(cfg, student_tok, same_tokens=same_tokens)
    train_ex, train_f, dev_ex, dev_f = load_data(cfg, student_tok)

    # the transfer set (soft targets only) joins the training rows when there is a teacher to teach it
    transfer_f = load_transfer(cfg, student_tok) if cfg.train.alpha_ce > 0 else None
    labeled, n_train, n_transfer = None, len(train_f), 0 if transfer_f is None else len(transfer_f)
    if transfer_f is not None:
        labeled = np.concatenate([np.ones(n_train, bool), np.zeros(n_transfer, bool)])
    trial_dir.mkdir(parents=True, exist_ok=True)  # only once the data has loaded: bad input leaves no folder
    write_json_atomic(trial_dir / "trial_config.json", cfg.flat())

    # teacher logits: cached (fp16 memmap) when tokenization is identical, else the teacher runs in the loop
    ts = te = teacher_model = None
    if cfg.train.alpha_ce > 0:
        live.phase("teacher logits")
        if same_tokens is not False:
            def cached(feats: Any) -> tuple[np.ndarray, np.ndarray]:
                if kept is not None:  # the teacher reads the same windows in its own ids
                    feats = dataclasses.replace(feats, input_ids=kept[feats.input_ids].astype(np.int32))
                return teacher_logits(lambda: load_qa_model(teacher_path, trust_remote_code=trust), feats,
                                      teacher_key=model_fingerprint(teacher_path), cache_dir=cache_dir(cfg),
                                      device=device, batch_size=cfg.train.eval_batch_size, progress=progress)

            if same_tokens is None:  # other tokenizers: the teacher reads its own windows, mapped onto the student's
                from distilbo.distill.cross_tokenizer import map_teacher_logits

                def cached_cross(feats: Any, teacher_feats: Any) -> tuple[np.ndarray, np.ndarray]:
                    return map_teacher_logits(*cached(teacher_feats), teacher_feats, feats,
                                              temperature=cfg.train.temperature)

                ts, te = cached_cross(train_f, load_train(cfg, teacher_tok)[1])
                if transfer_f is not None:
                    xs, xe = cached_cross(transfer_f, load_transfer(cfg, teacher_tok))
                    ts, te = np.concatenate([ts, xs]), np.concatenate([te, xe])
            else:
                ts, te = cached(train_f)
                if transfer_f is not None:
                    xs, xe = cached(transfer_f)
                    ts, te = np.concatenate([ts, xs]), np.concatenate([te, xe])
        else:
            log.warning("student and teacher tokenizers differ (same vocabulary): running the teacher in the loop, "
                        "no logit cache")
            teacher_model = load_qa_model(teacher_path, trust_remote_code=trust)
    if cfg.train.alpha_cos > 0 and teacher_model is None:  # the hidden-state term: the teacher runs in the loop
        teacher_model = load_qa_model(teacher_path, trust_remote_code=trust)
    if teacher_model is not None and kept is not None:  # its word table re-indexed by the student's ids
        trim_embeddings(teacher_model, kept)
    if transfer_f is not None:
        train_f = train_f.concat(transfer_f)

    # student
    spec, init_config = student_spec(cfg)
    word_weights = None
    if spec.factorized:  # the embedding directions kept are those of the tokens the training data uses
        import torch

        if kept is None:
            word_weights = torch.from_numpy(train_f.token_counts(init_config.vocab_size) + 1.0)
        else:  # the dropped rows do not count
            word_weights = torch.zeros(init_config.vocab_size, dtype=torch.float64)
            word_weights[torch.from_numpy(kept)] = torch.from_numpy(train_f.token_counts(len(kept)) + 1.0)
    student = build_student(spec, init_path, init_seed=cfg.run.seed, trust_remote_code=trust,
                            word_weights=word_weights)
    if kept is not None:
        trim_embeddings(student, kept)
    if teacher_model is not None and cfg.train.alpha_cos > 0:
        widths = student.config.hidden_size, teacher_model.config.hidden_size
        if widths[0] != widths[1]:
            raise ValueError(f"alpha_cos needs the student's width to be the teacher's: dim {widths[0]} against "
                             f"{widths[1]} (set alpha_cos = 0 or dim = {widths[1]})")
    post = dict(version_2_with_negative=cfg.data.version_2_with_negative, n_best_size=cfg.data.n_best_size,
                max_answer_length=cfg.data.max_answer_length,
                null_score_diff_threshold=cfg.data.null_score_diff_threshold)
    last_eval: list[Any] = []

    def dev_eval(model: Any) -> dict:
        last_eval[:] = [evaluate_model(model, dev_ex, dev_f, batch_size=cfg.train.eval_batch_size, device=device,
                                       **post)]
        return last_eval[0].metrics

    curves_path = trial_dir / "curves.jsonl"
    curves_path.write_text("")

    def log_row(row: dict) -> None:
        with open(curves_path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def score_rung(k: int, model: Any) -> bool:
        """Early stopping: the model scored on the first rung_questions dev questions at rung k, reported."""
        n_rung = min(cfg.search.rung_questions, len(dev_ex))
        rung_f = dev_f.subset(np.flatnonzero(dev_f.example_index < n_rung))
        ev = evaluate_model(model, dev_ex[:n_rung], rung_f, batch_size=cfg.train.eval_batch_size, device=device,
                            **post)
        row = {"rung": k, "fraction": cfg.search.rungs[k], "rung_questions": n_rung,
               **{m: ev.metrics[m] for m in CURVE_METRICS if m in ev.metrics}}
        log_row(row)
        return report_rung(trial_dir, k, {**row, **model_num_parameters(model)})

    at_rung = score_rung if cfg.search.rungs else None

    with peak_memory(device) as mem:
        result = distill(student, train_f, cfg=cfg, device=device, teacher_start=ts, teacher_end=te,
                         teacher_model=teacher_model, labeled=labeled, dev_eval=dev_eval, at_rung=at_rung,
                         log=log_row, progress=progress)
    final = last_eval[0]  # distill scores the final model last
    start = {}
    if cfg.train.eval_at_start and result.curves and result.curves[0].get("step") == 0:
        start = {f"start_{k}": v for k, v in result.curves[0].items() if k not in ("step", "epoch")}

    live.phase("measuring latency")
    with quiet_window(cache_dir(cfg)):  # trials training beside this one pause between their steps
        lat = latency_ms(student, dev_f, batch_size=cfg.train.latency_batch_size, repeats=cfg.train.latency_repeats,
                         device=device)
    model_dir = trial_dir / "model"
    served_metrics: dict[str, Any] = {}
    if cfg.search.runtime != "pytorch":  # scored and timed again as it will be served; fp32 kept as fp32_*
        final, lat, served_metrics = _score_served(cfg, student, final, lat, dev_ex, dev_f, post, model_dir, device)
    calibration = calibration_examples(cfg) if cfg.data.version_2_with_negative else None
    if calibration is not None:  # the shipped threshold from the calibration split; dev scored at it
        final.metrics.update(_calibrate_split(cfg, student, student_tok, calibration, dev_ex, final, post=post,
                                              model_dir=model_dir, device=device))
    counts = model_num_parameters(student)
    test = {}
    if score_test and cfg.data.version_2_with_negative:
        test = _score_test(cfg, student, student_tok, threshold=final.metrics["null_threshold"], post=post,
                           model_dir=model_dir, device=device)
    metrics = {**final.metrics, **start, **counts, **lat, **served_metrics, **test, "runtime": cfg.search.runtime,
               **numeric_path(device, cfg.train.precision), "seed": cfg.run.seed,
               "peak_memory_mb": mem.peak_mb, "train_seconds": result.train_seconds,
               "train_features_per_second": result.train_features_per_second, "train_steps": result.steps,
               "num_train_features": n_train, "num_transfer_features": n_transfer, "n_heads_effective": spec.heads,
               "dim": spec.dim, "embedding_size": spec.embedding_size or spec.dim,
               "hidden_dim": spec.hidden_dim, "n_layers": spec.n_layers, "vocab_size": len(student_tok.get_vocab()),
               "teacher_logits_cached": same_tokens is not False,
               "cross_tokenizer": same_tokens is None,
               "trial_seconds": time.perf_counter() - t_start, "device": str(device)}

    live.phase("saving")
    if "null_threshold" in final.metrics:  # the calibrated threshold travels with the weights (config.json)
        from distilbo.evaluate import NULL_THRESHOLD_KEY

        setattr(student.config, NULL_THRESHOLD_KEY, float(final.metrics["null_threshold"]))
    student.save_pretrained(model_dir, safe_serialization=True)
    student_tok.save_pretrained(model_dir)
    write_json_atomic(trial_dir / "predictions.json", final.answers)
    if cfg.data.version_2_with_negative:
        write_json_atomic(trial_dir / "na_probs.json", final.na_probs)
    metrics = {k: (float(v) if isinstance(v, (np.floating, np.integer)) else v) for k, v in metrics.items()}
    write_json_atomic(trial_dir / "metrics.json", metrics)
    return metrics


SERVED_KEYS = ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "best_exact", "best_f1",
               "HasAns_forced_exact", "HasAns_forced_f1", "calibrated_exact", "calibrated_f1", "null_threshold")
"""Accuracy metrics a non-pytorch runtime re-scores; their fp32 values stay as fp32_<key>."""


def _score_served(cfg: Config, student: Any, fp32: Any, fp32_lat: dict, dev_ex: Any, dev_f: Any, post: dict,
                  model_dir: Path, device: Any) -> tuple[Any, dict, dict]:
    """The trained student in `[search] runtime` (`distilbo.serve`, ONNX files written into model_dir):
    (its dev Evaluation, its latency, {fp32_<key>, quantization_loss_<key> = fp32 - served, ...})."""
    from distilbo import progress as live
    from distilbo.evaluate import evaluate_logits
    from distilbo.serve import serve

    runtime = cfg.search.runtime
    live.phase(f"serving in {runtime}")
    t0 = time.perf_counter()
    served = serve(student, runtime, folder=model_dir, example=dev_f, device=device)
    start, end = served.logits(dev_f, batch_size=cfg.train.eval_batch_size)
    ev = evaluate_logits(dev_ex, dev_f, start, end, **post)
    with quiet_window(cache_dir(cfg)):
        lat = served.latency(dev_f, batch_size=cfg.train.latency_batch_size, repeats=cfg.train.latency_repeats)
    keys = [k for k in SERVED_KEYS if k in ev.metrics and k in fp32.metrics]
    extra = {**{f"fp32_{k}": fp32.metrics[k] for k in keys},
             **{f"quantization_loss_{k}": fp32.metrics[k] - ev.metrics[k] for k in keys},
             "fp32_latency_ms": fp32_lat["latency_ms"], "runtime_seconds": time.perf_counter() - t0}
    ev.metrics.update({k: v for k, v in fp32.metrics.items() if k not in ev.metrics})  # eval_seconds etc.
    log.info("%s: %s", runtime, ", ".join(f"{k} {fp32.metrics[k]:.2f} -> {ev.metrics[k]:.2f}" for k in keys[:2]))
    return ev, lat, extra


def distill_command(*, config: str, out: str, overrides: dict[str, str] | None = None, progress: bool = True) -> dict:
    """`distilbo distill`: one trial by hand, with `--set` overrides."""
    from distilbo.config import load_config

    cfg = load_config(config, overrides)
    return run_trial(cfg, Path(out), progress=progress)


RECIPE = ("n_layers", "n_heads", "dim", "hidden_dim", "embedding_size", "vocab_size", "alpha_ce", "alpha_squad",
          "temperature", "alpha_cos", "alpha_null", "learning_rate", "adam_epsilon", "beta_1", "beta_2", "weight_decay", "batch_size",
          "warmup_steps", "warmup_ratio", "dropout", "attention_dropout", "qa_dropout", "layer_selection")
"""The settings `distilbo baseline` resets to the reference recipe."""


def baseline_overrides(cfg: Config) -> dict[str, Any]:
    """The reference recipe (`distilbo baseline`; a study's enqueued baseline trial is instead the config's own
    values of the searched parameters): the config dataclasses' defaults, which are the reference experiment's
    (half the init's depth, full width, alpha_ce 0.5, T 1, lr 5e-5, batch 8, dropouts 0.1, no warmup), with
    DistilBERT's every-other-layer rule.

    The epoch count stays the config's (the reference used 3): it is a fidelity setting shared by every trial."""
    defaults = Config()
    return {**{name: defaults.get(name) for name in RECIPE}, "layer_selection": "stride"}


def baseline_command(*, config: str, out: str, overrides: dict[str, str] | None = None, progress: bool = True) -> dict:
    """`distilbo baseline`: the DistilBERT-recipe student (reference defaults), `--set` applied on top."""
    from distilbo.config import load_config

    cfg = load_config(config)
    cfg = cfg.with_overrides({**baseline_overrides(cfg), **(overrides or {})})
    return run_trial(cfg, Path(out), progress=progress)


__all__ = ["run_trial", "run_trial_with_test", "numeric_path", "estimate_metrics", "check_inputs", "student_spec",
           "distill_command", "baseline_command", "check_tokenizers", "baseline_overrides"]
