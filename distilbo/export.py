"""Export a trial's student as a Hugging Face folder with a model card, plus a checked ONNX file and an int8
variant; and `answer`, one question through the same code path as evaluation.

    path = export(cfg, trial=7, scenario=None, out="exports/t7", onnx=True, quantize="int8")  # `distilbo export`
    path = export(cfg, trial=None, scenario="retain-performance", out="exports/small")
    path = export_trial_dir("runs/x/trials/0007", "exports/t7")           # a trial folder, no study needed
    answer(model="exports/t7", question="Who wrote it?", context="...")   # `distilbo answer`

What lands in `out` (a new or empty folder; an earlier distilbo export there is replaced only with `force=True`,
`--force`; any other non-empty folder is refused):
    config.json, model.safetensors, tokenizer files   the trial's model/ folder, unchanged (loads with
                          AutoModelForQuestionAnswering / AutoTokenizer, no distilbo needed)
    README.md             model card: front matter, metrics, hyperparameters, provenance, a transformers+torch snippet
    export.json           the same provenance, machine-readable; metrics.json and trial_config.json of the trial
    model.onnx            (onnx=True or quantize) torch.onnx dynamo exporter, dynamic batch and sequence axes,
                          inputs input_ids, attention_mask (+ token_type_ids for BERT), outputs start_logits,
                          end_logits; checked against PyTorch on real windows (max |diff| < 1e-4, else an error)
    model-int8.onnx       (quantize="int8") onnxruntime dynamic quantization: per-channel int8 weights for MatMul/Gemm,
                          activations quantized per batch at run time
    quantized_metrics.json   exact/f1 and latency of the fp32 and int8 ONNX files on the config's dev set

Choices made for torch 2.13: the legacy TorchScript exporter (`dynamo=False`) traces the attention-mask code of
DistilBERT/BERT into a graph that is wrong for other shapes, so the dynamo exporter (needs `onnxscript`, in the
`export` extra: `pip install 'distilbo[export]'`) is used. `torch.ao.quantization.quantize_dynamic` still runs but is deprecated (moved to torchao)
and its modules cannot be saved in a form `from_pretrained` loads, so the int8 artifact is ONNX.

Shape glossary:
    N  windows (features);  L  max_seq_length;  B  batch rows;  S  longest row of a batch
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from distilbo._card import model_card, usage_snippet
from distilbo._onnx import (ONNX_ATOL, ExportCheckError, export_onnx, onnx_latency, onnx_logits, onnx_opset,
                            onnx_session, quantize_onnx_int8, require_export_extra, verify_onnx)
from distilbo._secrets import mask_secrets
from distilbo.config import DataConfig, data_lengths, postprocess_settings
from distilbo.data.types import Example, Features
from distilbo.errors import UserError

if TYPE_CHECKING:
    from distilbo.config import Config

log = logging.getLogger(__name__)

SCENARIO_NAMES = {
    "baseline": "baseline",
    "retain-size": "retain size, maximize performance",
    "minimize-size": "minimize size, maximize performance",
    "retain-performance": "minimize size, retain performance",
}
"""CLI scenario name -> the row name of `distilbo.report.frontier.scenario_table`."""
MARKER = "export.json"
"""Written into every export; a folder holding it may be overwritten by a new export."""


# ----------------------------------------------------------------------------------------------- locate the trial
def find_trial(cfg: "Config", *, trial: int | None, scenario: str | None) -> tuple[Path, dict[str, Any]]:
    """(trial folder, provenance) of trial number `trial` or of the trial a scenario picks, from the study."""
    from distilbo.search.confirm import confirmation_runs
    from distilbo.search.study import load_study, records, study_dir

    if (trial is None) == (scenario is None):
        raise UserError("export: pass exactly one of --trial N or --scenario NAME")
    if scenario is not None and scenario not in SCENARIO_NAMES:
        raise UserError(f"--scenario {scenario!r}: unknown; use one of {', '.join(SCENARIO_NAMES)}")
    name = cfg.run.study
    study = load_study(cfg)
    recs = records(study, curves=False)
    objectives, constraints = cfg.search.objectives, cfg.search.constraints
    rows, confirmed, marks = _scenario_rows(cfg, recs, confirmation_runs(study))
    if scenario is not None:
        row = next(r for r in rows if r["scenario"] == SCENARIO_NAMES[scenario])
        if row["trial"] is None:
            raise UserError(f"--scenario {scenario}: {row['note']}; no trial to export (see `distilbo report`)")
        trial = int(row["trial"])
    by_number = {r["number"]: r for r in recs}
    if trial not in by_number:
        have = f"trials 0-{max(by_number)}" if by_number else "no trials"
        raise UserError(f"--trial {trial}: study '{name}' has no such trial (it has {have}); see `distilbo status`")
    rec = by_number[trial]
    if rec["status"] != "ok":
        why = rec["failure"] or rec["skipped"] or rec["status"]
        raise UserError(f"--trial {trial}: the trial did not finish ({rec['status']}: {why}); pick another one "
                        "(see `distilbo status`)")
    trial_dir = Path(rec["trial_dir"]) if rec.get("trial_dir") else study_dir(cfg, study) / "trials" / f"{trial:04d}"
    front = sorted((r for r in recs if r["on_front"]), key=lambda r: _front_key(r, objectives))
    provenance = {
        "study": name, "storage": mask_secrets(cfg.storage_url), "sampler": cfg.search.sampler, "trial": trial,
        "is_baseline": rec["is_baseline"], "on_front": rec["on_front"], "feasible": rec["feasible"],
        "front_size": len(front),
        "front_rank": next((i + 1 for i, r in enumerate(front) if r["number"] == trial), None),
        "front_order": _front_order(objectives),
        "scenarios": [r["scenario"] for r in rows if r["trial"] == trial],
        "n_trials": len(recs), "params": rec["params"], "objectives": objectives, "constraints": constraints,
    }
    mine = next((r for r in confirmed if r["number"] == trial), None)
    if mine is not None:  # mean +- sd over seeds, on dev and the test split
        provenance["confirmed"] = {"seeds": mine["confirmed"]["seeds"], "mark": marks.get(trial),
                                   "stats": {k: {f: v[f] for f in ("mean", "sd", "n", "draw")}
                                             for k, v in mine["confirmed"]["stats"].items()}}
    return trial_dir, provenance


def _scenario_rows(cfg: "Config", recs: list[dict], runs: list[dict]) -> tuple[list[dict], list[dict], dict]:
    """(scenario rows, confirmed records, their marks): the report's picks (`report.command.scenarios_of`: by the
    confirmed means when the study has confirmation runs)."""
    from distilbo.report.command import scenarios_of

    return scenarios_of(cfg, recs, runs)


def scenario_picks(cfg: "Config") -> dict[str, int | None]:
    """{CLI scenario name: the trial number it picks, or None} for the config's study (what `--scenario` exports)."""
    from distilbo.search.confirm import confirmation_runs
    from distilbo.search.study import load_study, records

    study = load_study(cfg)
    rows = {r["scenario"]: r["trial"] for r in _scenario_rows(cfg, records(study, curves=False),
                                                             confirmation_runs(study))[0]}
    return {cli: (None if rows.get(row) is None else int(rows[row])) for cli, row in SCENARIO_NAMES.items()}


def _front_order(objectives: list[dict]) -> str:
    o = objectives[-1] if objectives else {"metric": "num_parameters", "direction": "minimize"}
    return f"by {o['metric']}, {'smallest' if o['direction'] == 'minimize' else 'largest'} first"


def _front_key(rec: dict, objectives: list[dict]) -> tuple:
    """Front trials ordered by the last objective (the size, usually), best first."""
    o = objectives[-1] if objectives else {"metric": "num_parameters", "direction": "minimize"}
    v = float((rec["metrics"] or {}).get(o["metric"], 0.0))
    return (v if o["direction"] == "minimize" else -v, rec["number"])


# ----------------------------------------------------------------------------------------------- export
def export(cfg: "Config", *, trial: int | None, scenario: str | None, out: str, onnx: bool = False,
           quantize: str | None = None, force: bool = False) -> Path:
    """`distilbo export`: find the trial in the config's study, then `export_trial_dir`."""
    if onnx or quantize:
        require_export_extra()
    _check_out(Path(out), None, force=force)
    trial_dir, provenance = find_trial(cfg, trial=trial, scenario=scenario)
    return export_trial_dir(trial_dir, out, cfg=cfg, onnx=onnx, quantize=quantize, provenance=provenance, force=force)


def export_trial_dir(trial_dir: str | Path, out: str | Path, *, cfg: "Config | None" = None, onnx: bool = False,
                     quantize: str | None = None, provenance: dict[str, Any] | None = None,
                     force: bool = False) -> Path:
    """Copy `trial_dir/model/` to `out` with a model card; optionally ONNX (checked) and int8 ONNX (re-scored).

    `cfg` supplies the dev data for the ONNX check windows and the int8 re-scoring (`[data] dev_file`, lengths,
    `max_eval_samples`) and the latency settings; without it the check uses built-in sample questions and int8
    is refused. `provenance` (from `find_trial`) says how the trial was found, for the card. `out` must be new or
    empty; `force` replaces an earlier distilbo export there (never another non-empty folder)."""
    from distilbo._io import write_json_atomic
    from distilbo.evaluate import load_qa_model, load_tokenizer

    trial_dir, out = Path(trial_dir), Path(out)
    if quantize not in (None, "int8"):
        raise UserError(f"--quantize {quantize!r}: only 'int8' is supported")
    model_dir = trial_dir / "model"
    if not (model_dir / "config.json").is_file() or not any(model_dir.glob("*.safetensors")):
        raise UserError(f"{model_dir}: the trial has no saved model (with [search] keep = 'frontier' the "
                        "checkpoints of dominated trials are deleted); export a frontier trial, or rerun the search "
                        "with `--set keep=all`")
    if quantize and (cfg is None or not cfg.data.dev_file):
        raise UserError("--quantize int8 re-scores the quantized model on the dev set: set [data] dev_file in the config")
    if onnx or quantize:
        require_export_extra()
    _check_out(out, trial_dir, force=force)
    trial_config = _read_json(trial_dir / "trial_config.json")
    metrics = _read_json(trial_dir / "metrics.json")

    tmp = out.parent / f".{out.name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model_dir, tmp)
    try:
        threshold = shipped_threshold(metrics, trial_config)
        _set_config_threshold(tmp / "config.json", threshold["value"])
        for name in ("metrics.json", "trial_config.json"):  # settings may hold a storage URL with a password
            if (trial_dir / name).is_file():
                (tmp / name).write_text(mask_secrets((trial_dir / name).read_text(encoding="utf-8")), encoding="utf-8")
        info: dict[str, Any] = {"trial_dir": str(trial_dir.resolve()), "provenance": provenance or {},
                                "null_threshold": threshold,
                                "models": _model_refs(trial_config, _config_base(trial_dir, cfg))}
        if cfg is not None and cfg.data.test_file and cfg.data.version_2_with_negative:
            info["test"] = test_metrics(tmp, cfg, threshold=threshold["value"])
            write_json_atomic(tmp / "test_metrics.json", info["test"])
        if onnx or quantize:
            model = load_qa_model(str(tmp))
            tokenizer = load_tokenizer(str(tmp))
            has_dev = cfg is not None and bool(cfg.data.dev_file)
            check_examples, check_features = _check_data(cfg if has_dev else None, tokenizer, trial_config)
            export_onnx(model, tmp / "model.onnx", check_features)
            diff = verify_onnx(model, tmp / "model.onnx", check_features)
            info["onnx"] = {"file": "model.onnx", "max_abs_diff": diff, "atol": ONNX_ATOL,
                            "check_windows": len(check_features), "check_questions": len(check_examples),
                            "check_data": "the first dev questions" if has_dev else "built-in sample questions",
                            "opset": onnx_opset(tmp / "model.onnx")}
            if quantize:
                if metrics.get("runtime") != "onnx-int8" or not (tmp / "model-int8.onnx").is_file():
                    quantize_onnx_int8(tmp / "model.onnx", tmp / "model-int8.onnx")
                # else: the int8 file the trial was scored with (`[search] runtime = "onnx-int8"`), as it is
                qm = quantized_metrics(tmp, _dev_data(cfg, tokenizer), cfg=cfg)
                qm["pytorch_fp32_trial_metrics"] = {k: metrics.get(k) for k in ("exact", "f1", "latency_ms")}
                write_json_atomic(tmp / "quantized_metrics.json", qm)
                info["quantized"] = qm
            if not onnx:
                info.setdefault("onnx", {})["note"] = "written as the source of model-int8.onnx"
        card = model_card(out=out, model_config=_read_json(tmp / "config.json"), trial_config=trial_config,
                          metrics=metrics, info=info)
        (tmp / "README.md").write_text(mask_secrets(card), encoding="utf-8")
        (tmp / MARKER).write_text(mask_secrets(json.dumps(info, indent=1, default=str)), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def test_metrics(folder: Path, cfg: "Config", *, threshold: float) -> dict[str, Any]:
    """The exported model (PyTorch fp32) on the config's held-out test split at the threshold it ships:
    {test_file, test_articles, questions, metrics (`evaluate.heldout_metrics`)}."""
    from distilbo._cache import cache_dir
    from distilbo.data.splits import test_examples
    from distilbo.data.squad import build_features
    from distilbo.evaluate import heldout_metrics, load_qa_model, load_tokenizer, model_logits

    examples = test_examples(cfg)
    d = cfg.data
    feats = build_features(examples, load_tokenizer(str(folder)), max_seq_length=d.max_seq_length,
                           doc_stride=d.doc_stride, max_query_length=d.max_query_length, cache_dir=cache_dir(cfg))
    start, end = model_logits(load_qa_model(str(folder)), feats, batch_size=cfg.train.eval_batch_size)
    m = heldout_metrics(examples, feats, start, end, threshold=threshold,
                        **{k: v for k, v in postprocess_settings(cfg.flat()).items() if k != "null_score_diff_threshold"})
    return {"test_file": d.test_file, "test_articles": list(d.test_articles), "questions": len(examples),
            "threshold": threshold, "metrics": m}


def shipped_threshold(metrics: dict[str, Any], trial_config: dict[str, Any]) -> dict[str, Any]:
    """The no-answer threshold an export ships (null - best span score above which it answers ""): the trial's
    best-F1 threshold on its dev questions or its calibration split (`null_threshold`, `distilbo.qa.calibrate`); for a
    trial recorded before that existed, the official `best_f1_thresh` turned into score units; else the trial's own
    setting.
    {"value", "source"}."""
    value = metrics.get("null_threshold")
    if isinstance(value, (int, float)) and math.isfinite(value):
        n = metrics.get("calibration_questions")
        where = f"the {n} questions of the calibration split" if n else "the trial's dev questions"
        return {"value": float(value), "source": f"best F1 on {where}"}
    p = metrics.get("best_f1_thresh")
    if isinstance(p, (int, float)) and 0.0 < p < 1.0:
        return {"value": math.log(p / (1.0 - p)), "source": "the official best_f1_thresh of the trial's dev scores"}
    fixed = float(trial_config.get("null_score_diff_threshold", DataConfig.null_score_diff_threshold) or 0.0)
    return {"value": fixed, "source": "the trial's null_score_diff_threshold setting (not calibrated)"}


def _set_config_threshold(config_json: Path, value: float) -> None:
    """Store the threshold in the exported config.json (`NULL_THRESHOLD_KEY`; transformers keeps unknown keys as
    config attributes, so `model.config.null_score_diff_threshold` reads it back)."""
    from distilbo.evaluate import NULL_THRESHOLD_KEY

    cfg = json.loads(config_json.read_text(encoding="utf-8"))
    cfg[NULL_THRESHOLD_KEY] = value
    config_json.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _check_out(out: Path, trial_dir: Path | None, *, force: bool = False) -> None:
    """UserError unless `out` is new, an empty folder, or (with `force`) an earlier distilbo export; then its parent
    exists (when a trial folder is given)."""
    if trial_dir is not None and out.resolve().is_relative_to(trial_dir.resolve()):
        raise UserError(f"--out {out}: inside the trial folder {trial_dir}; pick a folder outside it")
    if out.exists():
        if not out.is_dir():
            raise UserError(f"--out {out}: exists and is not a folder; pick a new or empty folder")
        if any(out.iterdir()):
            if not (out / MARKER).is_file():
                raise UserError(f"--out {out}: exists, is not empty and is not an earlier distilbo export; pick a new "
                                "or empty folder (--force replaces only an earlier export)")
            if not force:
                raise UserError(f"--out {out}: holds an earlier export; pass --force to replace it, or pick a new "
                                "folder")
    if trial_dir is not None:
        out.parent.mkdir(parents=True, exist_ok=True)


def _config_base(trial_dir: Path, cfg: "Config | None") -> Path:
    """The folder the trial's config-relative locations resolve against: its config file's (from spec.json, which
    the search writes), else `cfg`'s, else the working directory."""
    spec = trial_dir / "spec.json"
    try:
        source = json.loads(spec.read_text(encoding="utf-8"))["config"]["source"]
    except (OSError, ValueError, KeyError, TypeError):
        source = None
    if isinstance(source, str) and source != "<defaults>":
        return Path(source).parent
    return cfg.base_dir if cfg is not None else Path.cwd()


def _model_refs(trial_config: dict[str, Any], base: Path) -> dict[str, dict[str, Any]]:
    """{"teacher": ref, "student_init": ref} with ref = {"name", "kind" (hub, package, folder, teacher),
    "location" (local path), "metrics" (its own dev scores when its folder records them)}."""
    teacher = model_ref(trial_config.get("teacher"), base)
    init = trial_config.get("student_init")
    return {"teacher": teacher,
            "student_init": dict(teacher, kind="teacher") if init in ("teacher", None) and teacher["name"] != "?"
            else model_ref(init, base)}


def model_ref(value: str | None, base: Path) -> dict[str, Any]:
    """How a model card names a model location so a reader can find it: a hub id as it is, `package:NAME` as it
    is, a local folder by its folder name (a config-relative path means nothing elsewhere) plus the dev scores the
    folder records (`metrics.json` of `distilbo evaluate`/an export, or `training_log.json` of `distilbo teacher`)."""
    from distilbo.config import resolve_location

    if not value:
        return {"name": "?", "kind": "unknown"}
    if value.startswith("package:"):
        return {"name": value, "kind": "package", "package": value[len("package:"):].replace("_", "-")}
    where = resolve_location(value, base=base)
    if where == value and not Path(value).expanduser().is_absolute():
        return {"name": value, "kind": "hub"}  # neither a folder here nor path-like: a hub id
    path = Path(where)
    return {"name": path.name, "kind": "folder", "location": str(path), "metrics": _folder_metrics(path)}


def _folder_metrics(folder: Path) -> dict[str, Any]:
    """exact/f1 (and how many questions) a model folder records about itself, or {}."""
    keys = ("exact", "f1", "total")
    candidates: list[Any] = []
    for name in ("metrics.json", "training_log.json"):
        try:
            d = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(d, dict):
            continue
        candidates.append(d)
        candidates.append(d.get("dev_metrics_final"))
        for series in ("curves", "dev_metrics_per_epoch"):
            if isinstance(d.get(series), list) and d[series]:
                candidates.append(d[series][-1])
    for c in candidates:
        if isinstance(c, dict) and isinstance(c.get("exact"), (int, float)):
            return {k: c[k] for k in keys if isinstance(c.get(k), (int, float))}
    return {}



def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise UserError(f"{path}: not valid JSON; the trial folder is damaged") from None
    return obj if isinstance(obj, dict) else {}




def _dev_data(cfg: "Config", tokenizer: Any) -> tuple[list[Example], Features]:
    """The config's dev examples and their windows (the config's lengths, cached like a trial's)."""
    from distilbo.data.squad import build_features, load_examples
    from distilbo._cache import cache_dir

    d = cfg.data
    examples = load_examples(cfg.path(d.dev_file), version_2_with_negative=d.version_2_with_negative,
                             max_samples=d.max_eval_samples)
    feats = build_features(examples, tokenizer, max_seq_length=d.max_seq_length, doc_stride=d.doc_stride,
                           max_query_length=d.max_query_length, cache_dir=cache_dir(cfg))
    return examples, feats




_SAMPLE_CONTEXT = ("The Thames is a river that flows through southern England, including London. At 215 miles "
                   "(346 km), it is the longest river entirely in England and the second longest in the United "
                   "Kingdom, after the Severn. It rises at Thames Head in Gloucestershire and flows into the North "
                   "Sea near Tilbury, Essex and Gravesend, Kent, via the Thames Estuary. ")


def _check_data(cfg: "Config | None", tokenizer: Any, trial_config: dict[str, Any],
                n_questions: int = 8) -> tuple[list[Example], Features]:
    """Questions for the ONNX check: the first dev questions of `cfg`, else built-in ones (one context spans
    several windows), tokenized with the config's (else the trial's) lengths."""
    from distilbo.data.squad import build_features, load_examples

    if cfg is not None:
        d = cfg.data
        examples = load_examples(cfg.path(d.dev_file), version_2_with_negative=d.version_2_with_negative,
                                 max_samples=n_questions)
        return examples, build_features(examples, tokenizer, max_seq_length=d.max_seq_length, doc_stride=d.doc_stride,
                                        max_query_length=d.max_query_length, cache_dir=None)
    qs = [("Which river is the longest entirely in England?", _SAMPLE_CONTEXT),
          ("Where does the Thames rise?", _SAMPLE_CONTEXT),
          ("Into which sea does it flow?", _SAMPLE_CONTEXT * 12)]
    examples = [Example(id=f"sample-{i}", title="sample", context=c, question=q) for i, (q, c) in enumerate(qs)]
    return examples, build_features(examples, tokenizer, cache_dir=None, **data_lengths(trial_config))


def quantized_metrics(folder: Path, dev: tuple[list[Example], Features], *, cfg: "Config") -> dict[str, Any]:
    """Dev-set scores, latency and file size of model.onnx (fp32) and model-int8.onnx in `folder`."""
    from distilbo.evaluate import evaluate_logits

    examples, feats = dev
    post = postprocess_settings(cfg.flat())
    out: dict[str, Any] = {"dev_file": cfg.data.dev_file, "questions": len(examples), "windows": len(feats),
                           "max_seq_length": cfg.data.max_seq_length, "doc_stride": cfg.data.doc_stride, **post,
                           "latency_batch_size": cfg.train.latency_batch_size, "threads": torch.get_num_threads(),
                           "quantization": "onnxruntime quantize_dynamic, QInt8 weights per channel, dynamic activations"}
    keys = ("exact", "f1", "HasAns_exact", "NoAns_exact", "HasAns_forced_exact", "HasAns_forced_f1", "best_exact")
    for variant, name in (("fp32", "model.onnx"), ("int8", "model-int8.onnx")):
        session = onnx_session(folder / name)
        t0 = time.perf_counter()
        start, end = onnx_logits(session, feats, batch_size=cfg.train.eval_batch_size)
        ev = evaluate_logits(examples, feats, start, end, **post)
        log.info("%s: exact %.2f on %d questions (%.0f s)", name, ev.metrics["exact"], len(examples),
                 time.perf_counter() - t0)
        out[variant] = {"file": name, "file_mb": (folder / name).stat().st_size / 2**20,
                        **{k: float(ev.metrics[k]) for k in keys if k in ev.metrics},
                        "latency_ms": onnx_latency(session, feats, batch_size=cfg.train.latency_batch_size,
                                                   repeats=cfg.train.latency_repeats)["latency_ms"]}
    out["exact_change_pts"] = out["int8"]["exact"] - out["fp32"]["exact"]
    out["speedup"] = out["fp32"]["latency_ms"] / out["int8"]["latency_ms"]
    out["size_ratio"] = out["int8"]["file_mb"] / out["fp32"]["file_mb"]
    return out


# ----------------------------------------------------------------------------------------------- answer
def answer(*, model: str, question: str, context: str, max_seq_length: int = DataConfig.max_seq_length, doc_stride: int = DataConfig.doc_stride,
           max_query_length: int = DataConfig.max_query_length, max_answer_length: int = DataConfig.max_answer_length, n_best_size: int = DataConfig.n_best_size,
           null_score_diff_threshold: float | None = None) -> dict[str, Any]:
    """`distilbo answer`: one question through the evaluation code path (build_features -> model_logits ->
    postprocess), so it answers exactly as evaluation does. `null_score_diff_threshold` None: the threshold the
    model ships with (a distilbo export's calibrated one, `evaluate.model_null_threshold`), else 0.

    Returns {answer, score, no_answer_probability, start, end, best_span}: `answer` is "" when the null score
    wins; `best_span` = context[start:end] is the best span even then, `score` its start + end logit."""
    from distilbo.data.squad import build_features
    from distilbo.evaluate import load_qa_model, load_tokenizer, model_logits, model_null_threshold
    from distilbo.qa.postprocess import best_spans, postprocess

    if not question.strip() or not context.strip():
        raise UserError("answer: --question and --context must not be empty")
    m, tok = load_qa_model(model), load_tokenizer(model)
    if null_score_diff_threshold is None:
        null_score_diff_threshold = model_null_threshold(m)
    ex = Example(id="q", title="", context=context, question=question)
    feats = build_features([ex], tok, max_seq_length=max_seq_length, doc_stride=doc_stride,
                           max_query_length=max_query_length, cache_dir=None)
    start, end = model_logits(m, feats, batch_size=16)
    preds = postprocess([ex], feats, start, end, n_best_size=n_best_size, max_answer_length=max_answer_length,
                        null_score_diff_threshold=null_score_diff_threshold, version_2_with_negative=True)
    score, s_tok, e_tok = best_spans(feats.offsets, feats.lengths, start, end, n_best_size=n_best_size,
                                     max_answer_length=max_answer_length)
    w = int(np.argmax(score))  # first window with the best span, as postprocess picks it
    if not np.isfinite(score[w]):
        return {"answer": "", "score": None, "no_answer_probability": 1.0, "null_margin": None,
                "null_threshold": float(null_score_diff_threshold), "start": None, "end": None, "best_span": ""}
    a, b = int(feats.offsets[w, s_tok[w], 0]), int(feats.offsets[w, e_tok[w], 1])
    assert context[a:b] == preds.forced["q"], "best_spans and postprocess disagree"
    return {"answer": preds.answers["q"], "score": float(score[w]), "no_answer_probability": preds.na_probs["q"],
            "null_margin": preds.margins["q"], "null_threshold": float(null_score_diff_threshold),
            "start": a, "end": b, "best_span": context[a:b]}


__all__ = ["export", "export_trial_dir", "find_trial", "answer", "export_onnx", "verify_onnx", "onnx_logits",
           "onnx_session", "quantize_onnx_int8", "quantized_metrics", "model_card", "usage_snippet",
           "SCENARIO_NAMES", "ExportCheckError", "scenario_picks", "require_export_extra", "model_ref"]
