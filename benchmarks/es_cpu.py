"""Early stopping on real trials (issue 14, item 4): read the two CPU studies `es_cpu.sh` ran side by side (the
default search without rungs, and with one rung at 1/3 of the epoch), and compare them at the same CPU time:
hypervolume against CPU-hours, HV per CPU-hour at the budget, and the frontier each found.

    python benchmarks/es_cpu.py                      # reads runs/es-cpu/{full,rungs}/study.db
    python benchmarks/es_cpu.py --out-dir runs/es-cpu --budget 4500

Both studies ran one worker with one thread, so wall-clock seconds are CPU-seconds. A study's clock starts at its
first trial's start; a trial counts from the moment it completed (finished, failed or stopped), and only if that
was within the budget (`--budget`, default es_cpu.sh's TIMEOUT), so a run resumed after a kill, or the trial a
study finished after its timeout, is cut back to the same budget for both. Hypervolume: the trials that finished
and clear the config's threshold, in (-HasAns_forced_f1, params in M), against (-20, 22.57M): the threshold and
the teacher's size, the largest student in the space. Stopped trials never count (they are never on a frontier).
Results: benchmarks/results/es_cpu.json and es_cpu.png.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _bench_io import machine  # noqa: E402

from distilbo.config import load_config  # noqa: E402
from distilbo.pareto import hypervolume_2d, non_dominated_mask  # noqa: E402
from distilbo.search.study import load_study, records  # noqa: E402

CONFIG = HERE.parent / "configs" / "cpu-squad2.toml"
METRIC = "HasAns_forced_f1"
THRESHOLD = 20.0
REF = (-THRESHOLD, 22.57)
STUDIES = {"full": "es-cpu-full", "rungs": "es-cpu-rungs"}


def _ts(s: str) -> float:
    return dt.datetime.fromisoformat(s).timestamp()


def study_rows(out_dir: Path, name: str, study: str) -> list[dict[str, Any]]:
    """One row per trial that ran: {number, status, start_s, end_s, f1, params_m, feasible}, seconds since the
    study's first trial started."""
    cfg = load_config(CONFIG, {"out": str(out_dir / name), "study": study})
    recs = [r for r in records(load_study(cfg), curves=False) if r["datetime_start"] and r["duration_s"] is not None]
    t0 = min(_ts(r["datetime_start"]) for r in recs)
    rows = []
    for r in recs:
        start = _ts(r["datetime_start"]) - t0
        m = r["metrics"]
        rows.append({"number": r["number"], "status": r["status"], "params": r["params"], "start_s": round(start, 1),
                     "end_s": round(start + r["duration_s"], 1), "f1": m.get(METRIC),
                     "params_m": m["num_parameters"] / 1e6 if m.get("num_parameters") else None,
                     "feasible": bool(r["feasible"]) and r["status"] == "ok" and (m.get(METRIC) or 0) >= THRESHOLD,
                     "stopped_at_rung": r["stopped_at_rung"], "is_baseline": r["is_baseline"],
                     "rung_f1": {k: v.get("metrics", {}).get(METRIC) for k, v in r["rungs"].items()}})
    return sorted(rows, key=lambda r: r["end_s"])


def hv_at(rows: list[dict[str, Any]], t: float) -> float:
    pts = [(-r["f1"], r["params_m"]) for r in rows if r["feasible"] and r["end_s"] <= t]
    return hypervolume_2d(pts, REF) if pts else 0.0


def front(rows: list[dict[str, Any]], t: float) -> list[dict[str, Any]]:
    """The non-dominated feasible trials completed by `t`, smallest first."""
    pool = [r for r in rows if r["feasible"] and r["end_s"] <= t]
    if not pool:
        return []
    keep = non_dominated_mask(np.array([(-r["f1"], r["params_m"]) for r in pool]))
    return sorted((r for r, k in zip(pool, keep) if k), key=lambda r: r["params_m"])


def summarize(rows: list[dict[str, Any]], budget: float) -> dict[str, Any]:
    done = [r for r in rows if r["end_s"] <= budget]
    counts: dict[str, int] = {}
    for r in done:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    hv = hv_at(rows, budget)
    ends = sorted({r["end_s"] for r in done})
    return {"hv": round(hv, 3), "hv_per_cpu_hour": round(hv / (budget / 3600), 3), "counts": counts,
            "feasible": sum(r["feasible"] for r in done),
            "best_f1": max((round(r["f1"], 2) for r in done if r["feasible"]), default=None),
            "front": [{"number": r["number"], "params_m": round(r["params_m"], 3), "f1": round(r["f1"], 2)}
                      for r in front(rows, budget)],
            "curve": [[round(t / 3600, 4), round(hv_at(rows, t), 3)] for t in ends],
            "trials": rows}


def paired(full: list[dict[str, Any]], rungs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trials the two studies ran with the same settings (both are seeded alike, so their start-up points agree):
    what the rung said of each against where it ended without rungs."""
    out = []
    for r in rungs:
        twin = next((f for f in full if f["params"] == r["params"] and f["status"] == "ok"), None)
        if twin is not None and r["rung_f1"]:
            out.append({"number": r["number"], "params_m": round(r["params_m"], 3), "status": r["status"],
                        "rung_f1": round(next(iter(r["rung_f1"].values())), 2), "final_f1_without_rungs":
                        round(twin["f1"], 2), "final_f1": None if r["f1"] is None else round(r["f1"], 2)})
    return out


def time_to(curve: list[list[float]], hv: float) -> float | None:
    """CPU-hours at which a curve first reaches `hv`."""
    return next((h for h, v in curve if v >= hv - 1e-9), None)


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    budget_h = summary["budget_s"] / 3600
    for (name, s), color in zip(summary["studies"].items(), ("tab:blue", "tab:orange")):
        xs = [0.0] + [h for h, _ in s["curve"]] + [budget_h]
        ys = [0.0] + [v for _, v in s["curve"]] + [s["hv"]]
        ax1.step(xs, ys, where="post", color=color, label=f"{name}: HV {s['hv']:.0f} at {budget_h:.2f} CPU-h")
        rows = [r for r in s["trials"] if r["end_s"] <= summary["budget_s"] and r["f1"] is not None and r["params_m"]]
        ok = [r for r in rows if r["status"] == "ok"]
        ax2.scatter([r["params_m"] for r in ok], [r["f1"] for r in ok], s=14, color=color, alpha=0.45)
        stopped = [r for r in s["trials"] if r["status"] == "stopped" and r["end_s"] <= summary["budget_s"]
                   and r["params_m"] and r["rung_f1"].get(r["stopped_at_rung"]) is not None]
        if stopped:
            ax2.scatter([r["params_m"] for r in stopped], [r["rung_f1"][r["stopped_at_rung"]] for r in stopped],
                        s=18, marker="x", color=color, alpha=0.6, label=f"{name}: stopped, at the rung score")
        fr = s["front"]
        ax2.step([p["params_m"] for p in fr], [p["f1"] for p in fr], where="post", color=color, marker="o",
                 label=f"{name} frontier ({len(fr)} points)")
    ax1.set(xlabel="CPU-hours (one worker, one thread)", ylabel=f"hypervolume ({METRIC} x params M)",
            title="Hypervolume against CPU time")
    ax1.legend(loc="lower right", fontsize=8)
    ax2.axhline(THRESHOLD, color="grey", lw=0.8, ls="--")
    ax2.set(xlabel="parameters (M)", ylabel=f"{METRIC} (300 dev questions)", title="Finished trials and frontiers")
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", type=Path, default=HERE.parent / "runs" / "es-cpu")
    ap.add_argument("--budget", type=float, default=4500.0, help="CPU-seconds per study (es_cpu.sh's TIMEOUT)")
    ap.add_argument("--results", type=Path, default=HERE / "results" / "es_cpu.json")
    args = ap.parse_args()
    rows = {name: study_rows(args.out_dir, name, study) for name, study in STUDIES.items()}
    studies = {name: summarize(rows[name], args.budget) for name in STUDIES}
    full, rungs = studies["full"], studies["rungs"]
    summary = {"machine": machine(packages=("optuna", "botorch", "torch"), watch=("../distilbo", "es_cpu.py")),
               "budget_s": args.budget, "ref": REF, "threshold": THRESHOLD, "studies": studies,
               "rungs_reach_full_hv_at_h": time_to(rungs["curve"], full["hv"]),
               "full_reach_rungs_hv_at_h": time_to(full["curve"], rungs["hv"]),
               "paired": paired(rows["full"], rows["rungs"])}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(summary, indent=1) + "\n")
    plot(summary, args.results.with_suffix(".png"))
    for name, s in studies.items():
        print(f"{name:6s} HV {s['hv']:8.2f} ({s['hv_per_cpu_hour']:.1f} per CPU-h), best {s['best_f1']}, "
              f"{s['counts']}, {s['feasible']} feasible, front: "
              + ", ".join(f"#{p['number']} {p['params_m']:.2f}M {p['f1']:.1f}" for p in s["front"]))
    for p in summary["paired"]:
        print(f"same settings: #{p['number']} {p['params_m']:.2f}M rung {p['rung_f1']:.1f} -> {p['status']} "
              f"(final {p['final_f1']}); without rungs {p['final_f1_without_rungs']:.1f}")
    print(f"rungs reach full's HV at {summary['rungs_reach_full_hv_at_h']} CPU-h; full reaches rungs' HV at "
          f"{summary['full_reach_rungs_hv_at_h']} CPU-h (budget {args.budget / 3600:.2f})")


if __name__ == "__main__":
    main()
