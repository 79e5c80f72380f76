"""How much of a student's spread is seeds and how much is numerics (issue 34): one committed trial retrained with
its own seed under other numeric paths, beside its confirmation runs (other seeds).

    python benchmarks/spread.py --config configs/cpu-squad2.toml --set out=../runs/cpu-squad2 --trial 38 \
        --out benchmarks/results/spread.json

Runs (each `distilbo.distill.trial.run_trial_with_test` in a child process, like a confirmation run), all with the
trial's own seed, so only the arithmetic differs from the search's draw:
    bf16-1t   bf16 autocast training (this CPU's AMX/AVX512-BF16 kernels), 1 thread: the search's path on this CPU
    fp32-1t   fp32 training, 1 thread
    bf16-2t   bf16 autocast, 2 threads (another reduction order)
Results are appended to --out per trial and variant (a rerun skips what is there); the seeds' spread comes from the
study's confirmation runs (`distilbo confirm`), read beside them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from distilbo.config import load_config, parse_set
from distilbo.search.confirm import trial_config, confirmation_runs
from distilbo.search.runner import run_child
from distilbo.search.study import TrialFailure, load_study, records, study_dir

VARIANTS = {"bf16-1t": {"precision": "bf16", "num_threads": 1}, "fp32-1t": {"precision": "fp32", "num_threads": 1},
            "bf16-2t": {"precision": "bf16", "num_threads": 2}}
KEYS = ("HasAns_forced_f1", "calibrated_f1", "test_HasAns_forced_f1", "test_calibrated_f1", "train_precision",
        "torch_threads", "hardware", "train_seconds")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="configs/cpu-squad2.toml")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--trial", type=int, action="append", required=True)
    ap.add_argument("--variant", action="append", choices=list(VARIANTS), default=None)
    ap.add_argument("--out", default="benchmarks/results/spread.json")
    args = ap.parse_args(argv)
    cfg = load_config(args.config, parse_set(args.overrides))
    study = load_study(cfg)
    by_number = {r["number"]: r for r in records(study, curves=False)}
    out = Path(args.out)
    doc = json.loads(out.read_text()) if out.is_file() else {"runs": {}}
    for number in args.trial:
        rec = by_number[number]
        seed = int(rec["params"].get("seed", cfg.run.seed))
        for name in args.variant or list(VARIANTS):
            key = f"{number}:{name}"
            if key in doc["runs"]:
                continue
            tcfg = trial_config(cfg, rec, seed).with_overrides(VARIANTS[name], origin=f"spread {name}")
            run_dir = study_dir(cfg, study) / "spread" / f"{number:04d}-{name}"
            print(f"spread: trial {number} {name} ...", file=sys.stderr, flush=True)
            try:
                m = run_child(tcfg, run_dir, trial_fn="distilbo.distill.trial:run_trial_with_test")
                doc["runs"][key] = {"trial": number, "variant": name, "seed": seed, **{k: m.get(k) for k in KEYS}}
            except TrialFailure as e:
                doc["runs"][key] = {"trial": number, "variant": name, "failure": str(e)}
            print(f"spread: trial {number} {name}: {doc['runs'][key]}", file=sys.stderr, flush=True)
            out.write_text(json.dumps(doc, indent=1) + "\n")
        doc.setdefault("draws", {})[str(number)] = {k: rec["metrics"].get(k) for k in KEYS}
        doc.setdefault("seeds", {})[str(number)] = [
            {"seed": r["seed"], **{k: r["metrics"].get(k) for k in KEYS}}
            for r in confirmation_runs(study) if r["trial"] == number and r["state"] == "ok"]
        out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
