"""Collect `distilbo distill` runs (one folder each, holding metrics.json, trial_config.json, curves.jsonl) into
one small JSON for benchmarks/results, and print a line per run. Used by small_students.sh and large_students.sh.

    python benchmarks/collect_runs.py RUN_DIR benchmarks/results/NAME.json
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

KEYS = ("n_layers", "embedding_size", "hidden_dim", "learning_rate", "batch_size", "alpha_ce", "temperature",
        "layer_selection", "selection", "num_train_epochs", "max_train_samples", "max_transfer_samples",
        "vocab_size")


def main(run: pathlib.Path, out: pathlib.Path) -> None:
    rows = []
    for d in sorted(p for p in run.iterdir() if (p / "metrics.json").is_file()):
        m, c = json.loads((d / "metrics.json").read_text()), json.loads((d / "trial_config.json").read_text())
        curve = [round(json.loads(line)["HasAns_forced_f1"], 2) for line in (d / "curves.jsonl").read_text().splitlines()
                 if '"HasAns_forced_f1"' in line]
        rows.append({"name": d.name, "num_parameters": m["num_parameters"],
                     "start_HasAns_forced_f1": m.get("start_HasAns_forced_f1"),
                     "HasAns_forced_f1": m["HasAns_forced_f1"], "train_steps": m.get("train_steps"),
                     "train_seconds": m.get("train_seconds"), **{k: c.get(k) for k in KEYS}, "curve": curve})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out.write_text(json.dumps({"commit": commit, "rows": rows}, indent=1) + "\n")
    for r in rows:
        print(f"{r['name']:32s} {r['num_parameters'] / 1e6:5.2f}M  {r['start_HasAns_forced_f1']:5.1f} -> "
              f"{r['HasAns_forced_f1']:5.1f}")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
