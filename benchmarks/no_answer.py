"""Why students abstain more than their teacher: the answer/no-answer decision of the teacher and of confirmed
students, on the dev questions and the held-out test split (issue 34).

    python benchmarks/no_answer.py --config configs/cpu-squad2.toml --set out=../runs/cpu-squad2 \
        --out benchmarks/results/no_answer.json

For the teacher (scored here) and every confirmation run of the config's study (read from its run folder:
`na_probs.json` on dev, `metrics.json`), per split:
  answered_at_0   share of questions answered with the raw rule (null score beats the best span -> "")
  auc             how well the null margin (null - best span score) ranks answerable above unanswerable questions
                  (0.5 = chance): the decision's quality, whatever its offset
  threshold       the best-F1 margin on dev (`distilbo.qa.calibrate`), applied unchanged to test
  calibrated_f1   F1 with that threshold; floor_f1 = F1 of answering "" everywhere (the unanswerable share)
A student whose auc matches the teacher's but whose answered_at_0 is far lower only needs its threshold (what an
export now ships); one whose auc is near 0.5 did not learn the decision.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from distilbo.config import load_config, parse_set
from distilbo.data.splits import dev_examples, test_examples
from distilbo.data.squad import build_features
from distilbo.evaluate import load_qa_model, load_tokenizer, model_logits
from distilbo.measure import cpu_info, set_threads
from distilbo.qa.calibrate import apply_threshold, calibrate
from distilbo.qa.postprocess import postprocess
from distilbo.qa.squad_v2 import evaluate_examples


def auc(margins: dict[str, float], examples: list) -> float:
    """P(margin of an answerable < margin of an unanswerable question), ties half: the Mann-Whitney AUC of the null
    margin as a no-answer score."""
    pos = np.array([margins[e.id] for e in examples if not e.answers])  # unanswerable: should have high margins
    neg = np.array([margins[e.id] for e in examples if e.answers])
    pos, neg = np.nan_to_num(pos, posinf=1e9), np.nan_to_num(neg, posinf=1e9)
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def decision(examples: list, forced: dict, margins: dict, threshold: float | None) -> dict[str, float]:
    """The decision's figures on one split; `threshold` None calibrates on this split (dev)."""
    thr = calibrate(examples, forced, margins).threshold if threshold is None else threshold
    at = evaluate_examples(examples, apply_threshold(forced, margins, thr))
    raw = apply_threshold(forced, margins, 0.0)
    return {"questions": len(examples), "answered_at_0": 100.0 * sum(bool(a) for a in raw.values()) / len(examples),
            "auc": auc(margins, examples), "threshold": thr, "calibrated_f1": at["f1"],
            "calibrated_answered": 100.0 * sum(m <= thr for m in margins.values()) / len(examples),
            "floor_f1": 100.0 * sum(not e.answers for e in examples) / len(examples)}


def teacher(cfg) -> dict:
    path = cfg.path(cfg.models.teacher)
    model, tok = load_qa_model(path), load_tokenizer(path)
    d = cfg.data
    out = {}
    threshold = None
    for split, examples in (("dev", dev_examples(cfg)), ("test", test_examples(cfg))):
        feats = build_features(examples, tok, max_seq_length=d.max_seq_length, doc_stride=d.doc_stride,
                               max_query_length=d.max_query_length, cache_dir=None)
        start, end = model_logits(model, feats, batch_size=cfg.train.eval_batch_size)
        p = postprocess(examples, feats, start, end)
        out[split] = decision(examples, p.forced, p.margins, threshold)
        threshold = out["dev"]["threshold"]
    return out


def students(cfg) -> list[dict]:
    """Dev decision of every confirmation run with a na_probs.json; test figures from its metrics.json."""
    examples = dev_examples(cfg)
    rows = []
    folder = Path(cfg.run.out) / cfg.run.study / "confirm"
    for run in sorted(folder.glob("*-seed*")):
        try:
            probs = json.loads((run / "na_probs.json").read_text())
            preds = json.loads((run / "predictions.json").read_text())
            m = json.loads((run / "metrics.json").read_text())
        except (OSError, ValueError):
            continue
        margins = {q: (math.inf if p >= 1.0 else -math.inf if p <= 0.0 else math.log(p / (1 - p)))
                   for q, p in probs.items()}
        # predictions.json holds the raw answers; the forced spans are not stored, so the dev AUC is what is new here
        trial, seed = run.name.split("-seed")
        rows.append({"trial": int(trial), "seed": int(seed), "num_parameters": m.get("num_parameters"),
                     "dev": {"answered_at_0": m.get("answered_pct"), "auc": auc(margins, examples),
                             "threshold": m.get("null_threshold"), "calibrated_f1": m.get("calibrated_f1"),
                             "calibrated_answered": m.get("calibrated_answered_pct"),
                             "HasAns_forced_f1": m.get("HasAns_forced_f1"),
                             "raw_answered_recount": 100.0 * sum(bool(a) for a in preds.values()) / len(preds)},
                     "test": {"calibrated_f1": m.get("test_calibrated_f1"),
                              "calibrated_answered": m.get("test_calibrated_answered_pct"),
                              "HasAns_forced_f1": m.get("test_HasAns_forced_f1")}})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/cpu-squad2.toml")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--out", default="benchmarks/results/no_answer.json")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--teacher-from", default=None, help="reuse the teacher's figures of an earlier --out file")
    args = ap.parse_args(argv)
    set_threads(args.threads)
    cfg = load_config(args.config, parse_set(args.overrides))
    known = json.loads(Path(args.teacher_from).read_text())["teacher"] if args.teacher_from else None
    doc = {"cpu": cpu_info()["name"], "teacher": known or teacher(cfg), "students": students(cfg)}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    t = doc["teacher"]
    print(f"teacher: dev auc {t['dev']['auc']:.3f}, answered at 0 {t['dev']['answered_at_0']:.1f}%, calibrated F1 "
          f"{t['dev']['calibrated_f1']:.2f} (floor {t['dev']['floor_f1']:.2f}); test {t['test']['calibrated_f1']:.2f} "
          f"(floor {t['test']['floor_f1']:.2f}), auc {t['test']['auc']:.3f}", file=sys.stderr)
    for r in doc["students"]:
        print(f"trial {r['trial']} seed {r['seed']}: dev auc {r['dev']['auc']:.3f}, answered at 0 "
              f"{r['dev']['answered_at_0']:.1f}%, calibrated F1 {r['dev']['calibrated_f1']:.2f}; test "
              f"{r['test']['calibrated_f1']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
