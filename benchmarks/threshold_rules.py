"""Which no-answer threshold should a student ship? Four rules on the same models, dev / test split / Danube (issue 34).

    python benchmarks/threshold_rules.py --config configs/cpu-squad2.toml \
        --models ../runs/quickstart/quickstart/exports/retain-size ../runs/quickstart/quickstart/exports/baseline \
        --out benchmarks/results/threshold_rules.json

The rules, each set on the dev questions only (the test split and the Danube paragraph never choose anything):
  zero      the model's own decision (null score above the best span -> ""): threshold 0
  best_f1   the official SQuAD 2.0 rule, the margin that maximizes F1 on dev (`distilbo.qa.calibrate`; what
            exports ship today)
  teacher   the margin at which the model answers the same share of dev questions as its teacher does with its own
            decision (threshold 0): the student keeps its teacher's operating point whatever its offset
  calibration  best F1 on the config's calibration split (`[data] calibration_file`, resampled to
            `calibration_unanswerable`; what the CPU config's trials ship since issue 34)
The teacher is scored too (its `teacher` rule is `zero`). Per model and rule: dev and test F1 (the official scores
at that threshold), the share answered, and the Danube answers (two answerable, two not).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from distilbo.config import load_config, parse_set
from distilbo.data.splits import calibration_examples, dev_examples, test_examples
from distilbo.data.squad import build_features
from distilbo.data.types import Example
from distilbo.evaluate import load_qa_model, load_tokenizer, model_logits
from distilbo.measure import cpu_info, set_threads
from distilbo.qa.calibrate import apply_threshold, calibrate, rate_threshold
from distilbo.qa.postprocess import postprocess
from distilbo.qa.squad_v2 import evaluate_examples

DANUBE = ("The Danube is Europe's second-longest river. It rises in the Black Forest in Germany and flows through "
          "Vienna, Bratislava, Budapest and Belgrade before emptying into the Black Sea. Vienna has about two million "
          "inhabitants.")
QUESTIONS = (("Into which sea does the Danube empty?", ["Black Sea"]), ("Where does the Danube rise?", ["Black Forest"]),
             ("Who designed the first bridge in Budapest?", []), ("What is the population of Belgrade?", []))


def predictions(model_dir: str, examples: list[Example], cfg) -> tuple[dict, dict]:
    model, tok = load_qa_model(model_dir), load_tokenizer(model_dir)
    d = cfg.data
    feats = build_features(examples, tok, max_seq_length=d.max_seq_length, doc_stride=d.doc_stride,
                           max_query_length=d.max_query_length, cache_dir=None)
    start, end = model_logits(model, feats, batch_size=cfg.train.eval_batch_size)
    p = postprocess(examples, feats, start, end)
    return p.forced, p.margins


def scored(examples: list[Example], forced: dict, margins: dict, threshold: float) -> dict:
    s = evaluate_examples(examples, apply_threshold(forced, margins, threshold))
    return {"f1": s["f1"], "exact": s["exact"], "answered": 100.0 * sum(m <= threshold for m in margins.values()) / len(margins)}


def one_model(name: str, model_dir: str, cfg, teacher_rate: float | None) -> dict:
    dev, test = dev_examples(cfg), test_examples(cfg)
    danube = [Example(id=f"d{i}", title="Danube", context=DANUBE, question=q,
                      answers=[{"text": a, "answer_start": DANUBE.index(a)} for a in golds], is_impossible=not golds)
              for i, (q, golds) in enumerate(QUESTIONS)]
    splits = {"dev": (dev, *predictions(model_dir, dev, cfg)), "test": (test, *predictions(model_dir, test, cfg)),
              "danube": (danube, *predictions(model_dir, danube, cfg))}
    _, dev_forced, dev_margins = splits["dev"]
    own_rate = sum(m <= 0.0 for m in dev_margins.values()) / len(dev_margins)
    rules = {"zero": 0.0, "best_f1": calibrate(dev, dev_forced, dev_margins).threshold,
             "teacher": rate_threshold(dev_margins, own_rate if teacher_rate is None else teacher_rate)}
    calib = calibration_examples(cfg)
    if calib is not None:
        rules["calibration"] = calibrate(calib, *predictions(model_dir, calib, cfg)).threshold
    out = {"model": name, "path": model_dir, "dev_answered_at_0": 100.0 * own_rate, "rules": {}}
    for rule, thr in rules.items():
        row = {"threshold": thr}
        for split in ("dev", "test"):
            row[split] = scored(*splits[split], thr)
        ex, forced, margins = splits["danube"]
        row["danube"] = [{"question": e.question, "gold": [a["text"] for a in e.answers], "best_span": forced[e.id],
                          "margin": margins[e.id], "answer": forced[e.id] if margins[e.id] <= thr else ""} for e in ex]
        row["danube_ok"] = (any(r["answer"] in r["gold"] for r in row["danube"] if r["gold"])
                            and any(r["answer"] == "" for r in row["danube"] if not r["gold"]))
        out["rules"][rule] = row
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/cpu-squad2.toml")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--models", nargs="+", default=[])
    ap.add_argument("--out", default="benchmarks/results/threshold_rules.json")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    set_threads(args.threads)
    cfg = load_config(args.config, parse_set(args.overrides))
    teacher = one_model("teacher", str(cfg.path(cfg.models.teacher)), cfg, None)
    rows = [teacher]
    rate = teacher["dev_answered_at_0"] / 100.0
    for m in args.models:
        rows.append(one_model(Path(m).name if Path(m).name != "model" else Path(m).parent.name, m, cfg, rate))
        Path(args.out).write_text(json.dumps({"cpu": cpu_info()["name"], "models": rows}, indent=1) + "\n")
    Path(args.out).write_text(json.dumps({"cpu": cpu_info()["name"], "models": rows}, indent=1) + "\n")
    print("model | rule threshold | dev F1 (answered) | test F1 (answered) | Danube answers")
    for r in rows:
        for rule, x in r["rules"].items():
            d = " / ".join(repr(a["answer"]) for a in x["danube"])
            print(f"{r['model']} | {rule} {x['threshold']:.2f} | {x['dev']['f1']:.2f} ({x['dev']['answered']:.0f}%) | "
                  f"{x['test']['f1']:.2f} ({x['test']['answered']:.0f}%) | {d} {'OK' if x['danube_ok'] else ''}",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
