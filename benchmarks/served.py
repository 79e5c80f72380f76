"""Served models: the teacher, the baseline student and the CPU study's frontier students in every serving runtime,
side by side in one process (issue 15).

    python benchmarks/served.py                                   # the committed CPU study, 600 dev questions
    python benchmarks/served.py --run runs/cpu-squad2 --rounds 5 --questions 300

For each model x runtime (`distilbo.serve`: pytorch fp32, pytorch-bf16 autocast, ONNX Runtime fp32, ONNX Runtime
int8 with per-channel weights): accuracy on the first `--questions` dev questions of configs/cpu-squad2.toml
(official rules; `HasAns_forced_f1` is the study's objective; each model reads dev through its own tokenizer, so a
trimmed-vocabulary student has more windows) and latency at batch 1 and batch 32 on the dev set's
first rows (median of `--repeats` after warm-up, the same batch `measure.latency_ms` times). Latency is measured in
`--rounds` rounds that visit every model x runtime in turn, and each cell reports the median over rounds plus the
spread (max - min) / median, so a load change on this shared machine hits every cell alike; the load average is
recorded before and after. Speedups are ratios against the teacher in PyTorch fp32 at the same batch size.
Writes benchmarks/results/served.json and prints a markdown table for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
RUNTIMES = ("pytorch", "pytorch-bf16", "onnx", "onnx-int8")
KEYS = ("exact", "f1", "HasAns_forced_f1")


def models(run: Path, study: str, frontier_json: Path, teacher: str) -> list[tuple[str, str, dict]]:
    """(name, model folder, facts) for the teacher, trial 0 (the baseline) and the frontier trials."""
    front = json.loads(frontier_json.read_text())
    trials = [int(p["number"]) for p in front["front"]]
    out = [("teacher", teacher, {})]
    for n in [0] + [t for t in trials if t != 0]:
        folder = run / study / "trials" / f"{n:04d}"
        m = json.loads((folder / "metrics.json").read_text())
        out.append(("baseline (trial 0)" if n == 0 else f"frontier trial {n}", str(folder / "model"),
                    {"trial": n, "study_HasAns_forced_f1": m.get("HasAns_forced_f1")}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(REPO / "configs/cpu-squad2.toml"))
    ap.add_argument("--run", default=str(REPO / "runs/cpu-squad2"), help="the study's out folder")
    ap.add_argument("--study", default="cpu-squad2")
    ap.add_argument("--frontier", default=str(REPO / "benchmarks/results/cpu-squad2/frontier.json"))
    ap.add_argument("--questions", type=int, default=600)
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0: all cores")
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/served.json"))
    a = ap.parse_args()

    from _bench_io import machine

    from distilbo.config import load_config
    from distilbo.data.squad import build_features, load_examples, tokenizer_fingerprint
    from distilbo.evaluate import evaluate_logits, load_qa_model, load_tokenizer
    from distilbo.measure import set_threads
    from distilbo.serve import ONNX_FILES, _Onnx, serve

    set_threads(a.threads)
    cfg = load_config(a.config)
    d = cfg.data
    batches = [int(b) for b in a.batches.split(",")]
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    examples = load_examples(cfg.path(d.dev_file), version_2_with_negative=d.version_2_with_negative,
                             max_samples=a.questions)
    rows, served, tmp = [], {}, tempfile.TemporaryDirectory(prefix="distilbo-served-")
    by_tokenizer: dict[str, object] = {}  # dev features per tokenizer: a trimmed-vocabulary student has its own
    for name, location, facts in models(Path(a.run), a.study, Path(a.frontier), cfg.path(cfg.models.teacher)):
        model = load_qa_model(location).eval()
        tok = load_tokenizer(location)
        key = tokenizer_fingerprint(tok)
        if key not in by_tokenizer:
            by_tokenizer[key] = build_features(examples, tok, max_seq_length=d.max_seq_length,
                                               doc_stride=d.doc_stride, max_query_length=d.max_query_length,
                                               cache_dir=None)
        feats = by_tokenizer[key]
        params = sum(p.numel() for p in model.parameters())
        for rt in RUNTIMES:
            folder = Path(tmp.name) / f"{len(served)}"
            s = serve(model, rt, folder=folder, example=feats, check=rt == "onnx")
            start, end = s.logits(feats, batch_size=64)
            ev = evaluate_logits(examples, feats, start, end, version_2_with_negative=d.version_2_with_negative)
            row = {"model": name, "location": location, "params": params, "runtime": rt, "windows": len(feats), **facts,
                   **{k: round(float(ev.metrics[k]), 2) for k in KEYS}, "latency": {}}
            print(f"{name:22s} {rt:13s} HasAns_forced_f1 {row['HasAns_forced_f1']:6.2f}", flush=True)
            # ONNX Runtime keeps each session's peak arena (GBs after batch-64 inference): keep the file, and
            # open a fresh session for each latency measurement (36 live sessions ran out of 24 GiB)
            served[len(rows)] = (s if rt in ("pytorch", "pytorch-bf16") else (rt, folder / ONNX_FILES[rt]), feats)
            del s
            rows.append(row)
    times: dict[tuple[int, int], list[float]] = {}
    for r in range(a.rounds):
        for i, (s, feats) in served.items():
            live_s = s if not isinstance(s, tuple) else _Onnx(s[1], runtime=s[0], files={})
            for b in batches:
                lat = live_s.latency(feats, batch_size=b, repeats=a.repeats, warmup=3)
                times.setdefault((i, b), []).append(lat["batch_ms_median"])
            del live_s
        print(f"latency round {r + 1}/{a.rounds} done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    for (i, b), ts in times.items():
        med = statistics.median(ts)
        rows[i]["latency"][str(b)] = {"ms_per_question": med / b, "batch_ms_median": med,
                                      "spread": (max(ts) - min(ts)) / med, "questions_per_s": 1000.0 * b / med}
    ref = {b: rows[0]["latency"][str(b)]["ms_per_question"] for b in batches}  # teacher, pytorch fp32
    for row in rows:
        for b in batches:
            row["latency"][str(b)]["speedup_vs_teacher_fp32"] = ref[b] / row["latency"][str(b)]["ms_per_question"]
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(
        packages=("torch", "onnxruntime", "transformers"), watch=("../distilbo/serve.py", "../distilbo/export.py")),
        "threads": torch.get_num_threads(), "questions": len(examples), "windows": rows[0]["windows"],
        "dev_file": d.dev_file, "max_seq_length": d.max_seq_length, "repeats": a.repeats, "rounds": a.rounds,
        "load_before": load_before, "load_after": os.getloadavg(), "seconds": time.perf_counter() - t_start,
        "rows": rows}
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(table(out))


def table(out: dict) -> str:
    """The markdown table for benchmarks/README.md."""
    bs = sorted(out["rows"][0]["latency"], key=int)
    head = ["model", "params", "runtime", "HasAns_forced_f1", "exact"]
    for b in bs:
        head += [f"ms/q @{b} (spread)", f"x teacher @{b}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in out["rows"]:
        cells = [r["model"], f"{r['params'] / 1e6:.2f}M", r["runtime"], f"{r['HasAns_forced_f1']:.2f}", f"{r['exact']:.2f}"]
        for b in bs:
            lat = r["latency"][b]
            cells += [f"{lat['ms_per_question']:.2f} ({lat['spread']:.0%})", f"{lat['speedup_vs_teacher_fp32']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--table":
        print(table(json.loads(Path(sys.argv[2] if len(sys.argv) > 2 else REPO / "benchmarks/results/served.json").read_text())))
    else:
        main()
