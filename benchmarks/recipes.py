"""Recipe comparisons at one fixed student shape, several seeds each, at the CPU experiment's fidelity.

    nohup python benchmarks/recipes.py > /tmp/recipes.log 2>&1 &      # resumable; -> results/recipes.json

Answers three questions of issue 10 / 15 with real trials (`run_trial`, the code a search trial runs):
  * does the teacher help?       `distill` (alpha_ce/T of the study's best trial) against `hard` (alpha_ce 0)
  * does the transfer set help?  `distill` against `distill+transfer` (the unlabeled questions, soft loss only)
  * is bf16 training safe?       `distill` (bf16 autocast, the default on AMX CPUs) against `distill-fp32`
Each variant runs seeds 0, 1, 2 (data order and fresh-weight init). Results land in the JSON after every run,
so an interrupted script continues where it stopped. Runs go two at a time, one thread each (2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "cpu-squad2.toml"
UNLABELED = ROOT.parent / "shared" / "data" / "squad2" / "unlabeled.json"

SHAPE = {"n_layers": 3, "dim": 384, "hidden_dim": 1536, "n_heads": 12, "layer_selection": "stride", "selection": "seed"}
# SGD settings and (defaults of) alpha_ce / T: those of the committed CPU study's best trial (trial 39)
SGD = {"learning_rate": 5e-4, "batch_size": 32, "warmup_ratio": 0.1, "beta_1": 0.8, "beta_2": 0.999,
       "weight_decay": 1e-6, "adam_epsilon": 1e-6, "dropout": 0.0, "attention_dropout": 0.0, "qa_dropout": 0.24}


def variants(alpha_ce: float, temperature: float, transfer: int) -> dict[str, dict]:
    distill = {**SHAPE, **SGD, "alpha_ce": alpha_ce, "temperature": temperature}
    return {
        "distill": distill,
        "hard": {**distill, "alpha_ce": 0.0},
        "distill-fp32": {**distill, "precision": "fp32"},
        "distill+transfer": {**distill, "transfer_file": str(UNLABELED), "max_transfer_samples": transfer},
    }


def run_one(name: str, settings: dict, seed: int, out: str) -> dict:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from distilbo.config import load_config
    from distilbo.distill.trial import run_trial

    cfg = load_config(CONFIG, {k: str(v) for k, v in {**settings, "seed": seed, "num_threads": 1}.items()})
    t0 = time.time()
    m = run_trial(cfg, Path(out) / f"{name}-seed{seed}", progress=False)
    keep = ("HasAns_forced_f1", "HasAns_forced_exact", "exact", "f1", "num_parameters", "train_seconds",
            "train_features_per_second", "num_train_features", "num_transfer_features")
    return {"variant": name, "seed": seed, **{k: m[k] for k in keep if k in m}, "wall_seconds": time.time() - t0}


def summarize(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name in dict.fromkeys(r["variant"] for r in rows):
        v = [r["HasAns_forced_f1"] for r in rows if r["variant"] == name]
        sp = [r["train_features_per_second"] for r in rows if r["variant"] == name]
        out[name] = {"n": len(v), "mean": statistics.mean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0,
                     "values": v, "train_features_per_second": statistics.mean(sp)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alpha-ce", type=float, default=1.0)
    ap.add_argument("--temperature", type=float, default=1.36)
    ap.add_argument("--transfer", type=int, default=2000, help="transfer-set questions for distill+transfer")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="variants to run (default: all)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/recipes.json"))
    ap.add_argument("--runs", default=str(ROOT.parent / "runs" / "recipes"))
    args = ap.parse_args()
    path = Path(args.out)
    doc = json.loads(path.read_text()) if path.exists() else {"rows": []}
    doc.update(date=time.strftime("%Y-%m-%d"), config=str(CONFIG.relative_to(ROOT)), shape=SHAPE, sgd=SGD,
               alpha_ce=args.alpha_ce, temperature=args.temperature, transfer_questions=args.transfer)
    done = {(r["variant"], r["seed"]) for r in doc["rows"]}
    todo = [(n, s, seed) for n, s in variants(args.alpha_ce, args.temperature, args.transfer).items()
            if not args.only or n in args.only for seed in range(args.seeds) if (n, seed) not in done]
    print(f"{len(todo)} runs to do", flush=True)
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {pool.submit(run_one, n, s, seed, args.runs): (n, seed) for n, s, seed in todo}
        for f in futures:
            try:
                row = f.result()
            except Exception as e:  # noqa: BLE001 - record and go on
                print(f"{futures[f]} failed: {e}", file=sys.stderr, flush=True)
                continue
            doc["rows"].append(row)
            doc["summary"] = summarize(doc["rows"])
            path.write_text(json.dumps(doc, indent=1))
            print(row, flush=True)
    print(json.dumps(doc.get("summary", {}), indent=1))


if __name__ == "__main__":
    main()
