"""Collect `distilbo distill` runs (one folder each, holding metrics.json, trial_config.json, curves.jsonl) into
one small JSON for benchmarks/results, and print a line per run. Used by the student probes (small_students.sh,
large_students.sh, serving_curves.sh, ...). `--plot` also draws each run's dev curve (HasAns_forced_f1 against
epochs) beside the JSON, as NAME.png.

    python benchmarks/collect_runs.py RUN_DIR benchmarks/results/NAME.json [--plot]
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

KEYS = ("n_layers", "embedding_size", "hidden_dim", "learning_rate", "batch_size", "alpha_ce", "temperature",
        "layer_selection", "selection", "num_train_epochs", "max_train_samples", "max_transfer_samples",
        "vocab_size")


def main(run: pathlib.Path, out: pathlib.Path, plot: bool = False) -> None:
    rows = []
    for d in sorted(p for p in run.iterdir() if (p / "metrics.json").is_file()):
        m, c = json.loads((d / "metrics.json").read_text()), json.loads((d / "trial_config.json").read_text())
        points = [p for p in map(json.loads, (d / "curves.jsonl").read_text().splitlines())
                  if "HasAns_forced_f1" in p and "rung" not in p]  # a rung's score is on fewer questions
        curve = [round(p["HasAns_forced_f1"], 2) for p in points]
        rows.append({"name": d.name, "num_parameters": m["num_parameters"],
                     "start_HasAns_forced_f1": m.get("start_HasAns_forced_f1"),
                     "HasAns_forced_f1": m["HasAns_forced_f1"], "train_steps": m.get("train_steps"),
                     "train_seconds": m.get("train_seconds"), **{k: c.get(k) for k in KEYS}, "curve": curve,
                     "curve_epochs": [round(p.get("epoch", 0.0), 3) for p in points]})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out.write_text(json.dumps({"commit": commit, "rows": rows}, indent=1) + "\n")
    for r in rows:
        print(f"{r['name']:32s} {r['num_parameters'] / 1e6:5.2f}M  {r['start_HasAns_forced_f1']:5.1f} -> "
              f"{r['HasAns_forced_f1']:5.1f}")
    if plot:
        plot_curves(rows, out.with_suffix(".png"), title=f"{run.name} (commit {commit})")


def plot_curves(rows: list[dict], path: pathlib.Path, *, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        ax.plot(r["curve_epochs"], r["curve"], marker=".", label=f"{r['name']} ({r['num_parameters'] / 1e6:.1f}M)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("dev HasAns_forced_f1")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), plot="--plot" in sys.argv[3:])
