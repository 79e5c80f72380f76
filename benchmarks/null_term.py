"""Does distilling the no-answer margin make students track their teacher's answer/no-answer decision? (issue 34)

    python benchmarks/null_term.py --config configs/cpu-squad2.toml --set out=../runs/cpu-squad2 \
        --trials 0 8 38 --seed 1 --alpha-null 1.0 --runs ../runs/null-term          # train (resumable)
    python benchmarks/null_term.py --config configs/cpu-squad2.toml --set out=../runs/cpu-squad2 \
        --runs ../runs/null-term --out benchmarks/results/null_term.json --report     # the table

Each run is a committed study trial's configuration (its params, another seed, `[train] alpha_null` set), trained
with `run_trial_with_test` into RUNS/<trial>-seed<s>-null<alpha>/ (the student kept in model/). The same trial and
seed without the term is the study's own confirmation run (RUNS of `distilbo confirm`, alpha_null 0), so each row
pairs one seed with and without it. Per run, on the dev questions (and the test split where said):
  answered_at_0    share of questions the raw rule answers (null score below the best span)
  agree_teacher    share of questions where student and teacher make the same raw decision (teacher: 100)
  margin_gap       median |student margin - teacher margin| over the dev questions, in score units
  auc              the margin as a no-answer score (0.5 = chance; teacher 0.57 on dev, 0.78 on test)
  threshold, calibrated_f1, test_calibrated_f1, HasAns_forced_f1 (span quality: does the term cost any?)
  danube           the four questions of issue 34, answered with the run's own dev threshold
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from distilbo.config import load_config, parse_set
from distilbo.data.splits import dev_examples
from distilbo.data.squad import build_features
from distilbo.evaluate import load_qa_model, load_tokenizer, model_logits
from distilbo.measure import cpu_info, set_threads
from distilbo.qa.postprocess import postprocess
from distilbo.search.confirm import trial_config
from distilbo.search.study import load_study, records, study_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from no_answer import auc  # noqa: E402
from threshold_rules import DANUBE, QUESTIONS  # noqa: E402

def train(cfg, runs: Path, trials: list[int], seed: int, alpha: float) -> None:
    from distilbo.distill.trial import run_trial_with_test

    by_number = {r["number"]: r for r in records(load_study(cfg), curves=False)}
    for number in trials:
        run = runs / f"{number:04d}-seed{seed}-null{alpha:g}"
        if (run / "metrics.json").exists():
            print(f"trial {number} seed {seed} alpha_null {alpha:g}: done already", file=sys.stderr)
            continue
        tcfg = trial_config(cfg, by_number[number], seed).with_overrides({"alpha_null": alpha}, origin="null_term.py")
        print(f"trial {number} seed {seed} alpha_null {alpha:g}: training into {run}", file=sys.stderr)
        run_trial_with_test(tcfg, run, progress=False)


def margins_of(run: Path) -> dict[str, float]:
    """Per-question null margins from a run's na_probs.json (sigmoid of the margin, as the official script reads)."""
    probs = json.loads((run / "na_probs.json").read_text())
    return {q: (math.inf if p >= 1.0 else -math.inf if p <= 0.0 else math.log(p / (1 - p))) for q, p in probs.items()}


def teacher_margins(cfg) -> dict[str, float]:
    path = cfg.path(cfg.models.teacher)
    model, tok = load_qa_model(path), load_tokenizer(path)
    d, examples = cfg.data, dev_examples(cfg)
    feats = build_features(examples, tok, max_seq_length=d.max_seq_length, doc_stride=d.doc_stride,
                           max_query_length=d.max_query_length, cache_dir=None)
    start, end = model_logits(model, feats, batch_size=cfg.train.eval_batch_size)
    return postprocess(examples, feats, start, end).margins


def danube(model_dir: Path) -> list[dict]:
    from distilbo.export import answer

    out = []
    for q, golds in QUESTIONS:
        a = answer(model=str(model_dir), question=q, context=DANUBE)
        out.append({"question": q, "gold": golds[0] if golds else "", "answer": a["answer"], "best_span": a["best_span"],
                    "margin": a["null_margin"], "threshold": a["null_threshold"]})
    return out


def row(cfg, run: Path, alpha: float, teacher: dict[str, float]) -> dict:
    examples = dev_examples(cfg)
    m = json.loads((run / "metrics.json").read_text())
    mine = margins_of(run)
    ids = [e.id for e in examples]
    s = np.nan_to_num(np.array([mine[i] for i in ids]), posinf=1e9, neginf=-1e9)
    t = np.nan_to_num(np.array([teacher[i] for i in ids]), posinf=1e9, neginf=-1e9)
    out = {"run": run.name, "alpha_null": alpha, "hardware": m.get("hardware"),
           "answered_at_0": float(100 * (s < 0).mean()), "agree_teacher": float(100 * ((s < 0) == (t < 0)).mean()),
           "margin_gap": float(np.median(np.abs(s - t))), "auc": auc(mine, examples),
           **{k: m.get(k) for k in ("null_threshold", "calibrated_f1", "calibrated_answered_pct", "HasAns_forced_f1",
                                    "test_calibrated_f1", "test_calibrated_answered_pct", "test_HasAns_forced_f1")}}
    if (run / "model").is_dir():
        out["danube"] = danube(run / "model")
    return out


def report(cfg, runs: Path, out: Path) -> None:
    teacher = teacher_margins(cfg)
    t = np.nan_to_num(np.array(list(teacher.values())), posinf=1e9)
    rows = []
    confirm = study_dir(cfg, load_study(cfg)) / "confirm"
    for run in sorted(runs.glob("*-seed*-null*")):
        if not (run / "metrics.json").exists():
            continue
        trial, rest = run.name.split("-seed")
        seed, alpha = rest.split("-null")
        r = row(cfg, run, float(alpha), teacher)
        r.update(trial=int(trial), seed=int(seed))
        rows.append(r)
        paired = confirm / f"{trial}-seed{seed}"
        if (paired / "metrics.json").exists() and not any(r["run"] == paired.name for r in rows):
            p = row(cfg, paired, 0.0, teacher)
            p.update(trial=int(trial), seed=int(seed))
            rows.append(p)
    doc = {"cpu": cpu_info()["name"], "note": "runs named 'NNNN-seedS' are the study's confirmation runs (alpha_null 0, "
           "threshold set on dev); 'NNNN-seedS-nullA' ran here (alpha_null A; null0 with the calibration split)", "teacher": {"answered_at_0": float(100 * (t < 0).mean()),
                                                   "auc": auc(teacher, dev_examples(cfg))}, "runs": rows}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"teacher: answered at 0 {doc['teacher']['answered_at_0']:.1f}%, auc {doc['teacher']['auc']:.3f}")
    print("trial seed alpha_null | answered@0 agree gap auc | thr cal_f1 test_cal_f1 | forced_f1 test_forced | danube")
    for r in sorted(rows, key=lambda r: (r["trial"], r["seed"], r["alpha_null"])):
        d = " / ".join(repr(a["answer"]) for a in r.get("danube", [])) or "-"
        print(f"{r['trial']:>4} {r['seed']} {r['alpha_null']:g} | {r['answered_at_0']:.1f} {r['agree_teacher']:.1f} "
              f"{r['margin_gap']:.2f} {r['auc']:.3f} | {r['null_threshold']:.2f} {r['calibrated_f1']:.2f} "
              f"{r['test_calibrated_f1']:.2f} | {r['HasAns_forced_f1']:.2f} {r['test_HasAns_forced_f1']:.2f} | {d}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/cpu-squad2.toml")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--runs", default="../runs/null-term")
    ap.add_argument("--trials", type=int, nargs="*", default=[0, 8, 38])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--alpha-null", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report", action="store_true", help="write the table instead of training")
    ap.add_argument("--out", default="benchmarks/results/null_term.json")
    args = ap.parse_args(argv)
    set_threads(args.threads)
    cfg = load_config(args.config, parse_set(args.overrides))
    runs = Path(args.runs)
    if args.report:
        report(cfg, runs, Path(args.out))
    else:
        train(cfg, runs, args.trials, args.seed, args.alpha_null)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
