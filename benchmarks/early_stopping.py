"""Early stopping on the full-scale surrogate (issue 14): hypervolume against training compute (epochs trained,
summed), the real distilbo search with and without rungs, side by side in one run.

    python benchmarks/early_stopping.py --methods random random-es tpe --seeds 10     # cheap ones, minutes
    nohup python benchmarks/early_stopping.py --seeds 10 > /tmp/es.log 2>&1 &           # all; the GP ones take hours
    python benchmarks/early_stopping.py --report                                         # summary + plot, no runs

Methods: `gp` (the default search) and `random` and `tpe` at full fidelity (every trial 3 epochs, 40 trials), and
`gp-es` / `random-es` with `[search] rungs = [1/3, 2/3]` (after epochs 1 and 2), `rung_eta = 3`, `rung_min_peers = 3`,
`rung_questions = 2000` (`distilbo.search.early_stop`; `random-es` is MOASHA's setting: random search with
non-dominated successive halving). The ES studies get `--es-trials` trials (default 80): their budget is compute,
not trials. The config, space, surrogate and scoring are search_efficiency.py's: HV of the trials that finished
with TRUE (noise-free) exact >= 50, in (exact, params M), against (50, 165.6M).

Learning curves. `surrogate.py` models the final exact after 3 epochs; no published per-epoch dev curves for
distilled SQuAD 2.0 students were found, so the curve is an assumption, chosen for the one property that
matters here (a rung ranks trials imperfectly, because the learning rate sets the pace, not only the end):
    exact(f) = FLOOR + (final - FLOOR) * g(f) / g(1),  g(f) = 1 - exp(-f / tau),  f = fraction of the 3 epochs
    tau = TAU * (LR_OPT / lr) ** TAU_LR_EXP, clipped to [TAU_MIN, TAU_MAX]
At the optimal learning rate a student has 82% of its final gain over the floor after epoch 1 and 97% after
epoch 2; at a tenth of it, 52% and 82%, so a slow learner can be stopped although it would have ended on the
front. A rung observation adds the surrogate's seed noise and the sampling noise of `rung_questions` dev
questions (50 / sqrt(n) EM points).

Compute: a finished trial costs 3 epochs, a trial stopped at rung k costs 3 * rungs[k], an out-of-memory trial
0.05 (it fails on its first steps), a trial skipped by the size estimate 0. Printed: each method's mean HV at
the compute of 40 full trials (120 epochs), and the compute at which `gp-es` reaches `gp`'s own mean 40-trial HV
(goal: <= 50%, 60 epochs). Results: benchmarks/results/early_stopping.json (resumable per study) and .png.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import surrogate as S  # noqa: E402
from _bench_io import load_json, machine, update_json  # noqa: E402
from search_efficiency import REF_EXACT, hypervolume_2d, make_config  # noqa: E402

RESULTS = HERE / "results"
EPOCHS = 3.0
RUNGS = [1 / 3, 2 / 3]
TAU = 0.2
"""Pace of learning at the optimal learning rate, as a fraction of the 3 epochs (82% of the gain after epoch 1)."""
TAU_LR_EXP = 0.5
"""How the pace scales with the learning rate: tau ~ (LR_OPT / lr) ** 0.5 (10x smaller lr -> 3.2x slower)."""
TAU_MIN, TAU_MAX = 0.05, 2.0
RUNG_QUESTIONS = 2000
OOM_EPOCHS = 0.05
METHODS = {"gp": ("gp", False), "gp-es": ("gp", True), "random": ("random", False),
           "random-es": ("random", True), "tpe": ("tpe", False), "gp-es-ff": ("gp", True), "random-es-ff": ("random", True)}
FEASIBLE_FIRST = {"gp-es-ff", "random-es-ff"}
"""ES methods whose rungs rank the trials that meet the threshold first (`rung_feasible_first = true`, tried on
2026-12-04 and left off by default); `gp-es` / `random-es` rank by the objectives alone (the default)."""


# ---------------------------------------------------------------------------------------------- learning curves
def tau_of(params: dict[str, Any]) -> float:
    lr = float(S._p(params, "learning_rate"))
    return min(max(TAU * (S.LR_OPT / lr) ** TAU_LR_EXP, TAU_MIN), TAU_MAX)


def exact_at(params: dict[str, Any], fraction: float) -> float:
    """Noise-free dev exact after `fraction` of the 3 epochs (1.0: `surrogate.true_exact`)."""
    final = S.true_exact(params)
    tau = tau_of(params)
    g = (1 - math.exp(-fraction / tau)) / (1 - math.exp(-1 / tau))
    return S.FLOOR + (final - S.FLOOR) * g


def rung_noise_sd(questions: int = RUNG_QUESTIONS) -> float:
    return math.hypot(S.NOISE_SD, 50.0 / math.sqrt(questions))


def es_trial_fn(cfg: Any, trial_dir: Path) -> dict[str, Any]:
    """`surrogate.surrogate_trial_fn` trained in stages: at each rung it reports its (noisy) exact so far and stops
    when the search says so (StoppedAtRung)."""
    from distilbo.search.early_stop import StoppedAtRung, report_rung

    out = S.surrogate_trial_fn(cfg, trial_dir)  # MemoryError for an out-of-memory config, before any rung
    p = S.params_from_config(cfg)
    key = json.dumps({"seed": cfg.run.seed, "trial": Path(trial_dir).name, "params": p, "rungs": True},
                     sort_keys=True, default=str)
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    for k, f in enumerate(cfg.search.rungs):
        seen = exact_at(p, f) + rung_noise_sd(cfg.search.rung_questions) * float(rng.standard_normal())
        if not report_rung(trial_dir, k, {"exact": seen, "num_parameters": out["num_parameters"]}):
            raise StoppedAtRung(k)
    return out


# ---------------------------------------------------------------------------------------------- one study
def score(study: Any, cfg: Any) -> dict[str, Any]:
    """Per trial in order: epochs it cost, and after it the cumulative epochs and the HV so far."""
    from optuna.trial import TrialState

    from distilbo.search.study import is_finished

    defaults = S.params_from_config(cfg)
    trials = sorted((t for t in study.get_trials(deepcopy=False) if is_finished(t)), key=lambda t: t.number)
    points, rows, spent = [], [], 0.0
    for t in trials:
        p = {**defaults, **t.params}
        failure = t.user_attrs.get("failure") or ""
        stopped = t.user_attrs.get("stopped_at_rung")
        if t.user_attrs.get("skipped"):
            cost = 0.0
        elif failure:
            cost = OOM_EPOCHS
        elif stopped is not None:
            cost = EPOCHS * cfg.search.rungs[int(stopped)]
        else:
            cost = EPOCHS
        spent += cost
        params_m = S.num_parameters(int(p["n_layers"]), dim=int(p["dim"]), hidden_dim=int(p["hidden_dim"])) / 1e6
        if t.state == TrialState.COMPLETE and not failure and not t.user_attrs.get("skipped"):
            true = S.true_exact(p)
            if true >= REF_EXACT:
                points.append((true, params_m))
        rows.append({"number": t.number, "epochs": round(cost, 3), "spent": round(spent, 3),
                     "hv": round(hypervolume_2d(points), 3), "stopped_at_rung": stopped, "failure": failure[:60] or None})
    return {"trials": rows, "epochs": round(spent, 3), "stopped": sum(r["stopped_at_rung"] is not None for r in rows),
            "completed": sum(r["stopped_at_rung"] is None and not r["failure"] for r in rows)}


def run_one(method: str, seed: int, *, trials: int, es_trials: int) -> dict[str, Any]:
    from distilbo.search.runner import run_search

    sampler, es = METHODS[method]
    n = es_trials if es else trials
    with tempfile.TemporaryDirectory(prefix=f"distilbo-es-{method}-{seed}-") as tmp:
        cfg = make_config(sampler, seed, Path(tmp), n_trials=n)
        if es:
            cfg = cfg.with_overrides({"rungs": RUNGS, "rung_eta": 3.0, "rung_min_peers": 3,
                                      "rung_questions": RUNG_QUESTIONS,
                                      "rung_feasible_first": method in FEASIBLE_FIRST})
        t0 = time.time()
        study = run_search(cfg, n_trials=n, workers=1, trial_fn=es_trial_fn if es else S.surrogate_trial_fn,
                           estimate_fn=S.surrogate_estimate, progress=False)
        out = score(study, cfg)
        del study
    out["seconds"] = round(time.time() - t0, 1)
    return out


# ---------------------------------------------------------------------------------------------- summary
def hv_at(run: dict[str, Any], epochs: float) -> float:
    """The run's HV once it had spent `epochs` (the last trial that fits)."""
    hv = 0.0
    for r in run["trials"]:
        if r["spent"] > epochs + 1e-9:
            break
        hv = r["hv"]
    return hv


def summarize(data: dict[str, Any], *, full: float = 40 * EPOCHS) -> dict[str, Any]:
    grid = np.linspace(0, full, 121)
    out: dict[str, Any] = {"grid_epochs": [round(float(g), 2) for g in grid], "methods": {}}
    for m, runs in data["runs"].items():
        if not runs:
            continue
        curves = np.array([[hv_at(r, g) for g in grid] for r in runs.values()])
        out["methods"][m] = {"seeds": len(runs), "mean_hv": [round(float(v), 2) for v in curves.mean(axis=0)],
                             "mean_hv_at_full": round(float(curves[:, -1].mean()), 1),
                             "mean_hv_at_half": round(float(curves[:, len(grid) // 2].mean()), 1),
                             "mean_stopped": round(float(np.mean([r["stopped"] for r in runs.values()])), 1),
                             "mean_completed": round(float(np.mean([r["completed"] for r in runs.values()])), 1),
                             "mean_seconds": round(float(np.mean([r["seconds"] for r in runs.values()])), 1)}
    for base, es in (("gp", "gp-es"), ("random", "random-es"), ("gp", "gp-es-ff"), ("random", "random-es-ff")):
        if base in out["methods"] and es in out["methods"]:
            target = out["methods"][base]["mean_hv_at_full"]
            mean = out["methods"][es]["mean_hv"]
            reach = next((float(g) for g, v in zip(grid, mean) if v >= target), None)
            out["methods"][es]["epochs_to_full_fidelity_hv"] = reach
            out["methods"][es]["compute_share"] = None if reach is None else round(reach / full, 3)
    return out


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    styles = {"gp": ("C0", "-"), "gp-es": ("C0", "--"), "random": ("C2", "-"), "random-es": ("C2", "--"),
              "tpe": ("C1", "-"), "gp-es-ff": ("C3", "--"), "random-es-ff": ("C4", "--"), "gp-es-blind": ("C7", ":")}
    for m, s in summary["methods"].items():
        c, ls = styles.get(m, ("k", ":"))
        ax.plot(summary["grid_epochs"], s["mean_hv"], color=c, linestyle=ls, label=f"{m} ({s['seeds']} seeds)")
    ax.set_xlabel("training compute (epochs, summed over trials; 120 = 40 full trials)")
    ax.set_ylabel("hypervolume (true exact x params M)")
    ax.set_title("Early stopping on the full-scale surrogate: mean hypervolume vs compute")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1")
    ap.add_argument("--seed-start", type=int, default=0,
                    help="run only seeds >= this (split the seeds over two processes writing the same JSON)")
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--es-trials", type=int, default=80)
    ap.add_argument("--out", type=Path, default=RESULTS / "early_stopping.json")
    ap.add_argument("--report", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("distilbo").setLevel(logging.WARNING)
    import optuna
    import torch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)
    data = load_json(a.out)
    data.setdefault("runs", {})
    if not a.report:
        data["setup"] = {"trials": a.trials, "es_trials": a.es_trials, "rungs": RUNGS, "rung_eta": 3.0,
                         "rung_min_peers": 3, "rung_questions": RUNG_QUESTIONS, "tau": TAU, "tau_lr_exp": TAU_LR_EXP,
                         "machine": machine(), "command": "python benchmarks/early_stopping.py " + " ".join(argv or sys.argv[1:])}
        todo = [(m, s) for s in range(a.seed_start, a.seeds) for m in a.methods if str(s) not in data["runs"].get(m, {})]
        print(f"{len(todo)} studies to run", flush=True)
        for i, (m, s) in enumerate(todo, 1):
            if str(s) in load_json(a.out).get("runs", {}).get(m, {}):
                continue  # the other process did it meanwhile
            res = run_one(m, s, trials=a.trials, es_trials=a.es_trials)
            res["commit"] = data["setup"]["machine"].get("commit")

            def change(d: dict[str, Any], m=m, s=s, res=res) -> None:
                d.setdefault("runs", {}).setdefault(m, {})[str(s)] = res
                d["setup"] = data["setup"]

            update_json(a.out, change)
            data["runs"].setdefault(m, {})[str(s)] = res
            print(f"[{i}/{len(todo)}] {m} seed {s}: {res['seconds']:.0f} s, {res['epochs']:.0f} epochs, "
                  f"{res['stopped']} stopped, HV {res['trials'][-1]['hv']:.0f}", flush=True)
        data = load_json(a.out)
    summary = summarize(data)
    update_json(a.out, lambda d: d.update(summary=summary))
    plot(summary, a.out.with_suffix(".png"))
    for m, s in summary["methods"].items():
        extra = (f", reaches {s['epochs_to_full_fidelity_hv']} epochs = {s['compute_share']:.0%} of 40 full trials"
                 if s.get("compute_share") is not None else
                 (", never reaches the full-fidelity HV" if "compute_share" in s else ""))
        print(f"{m:10s} seeds {s['seeds']:2d}: HV at 60 epochs {s['mean_hv_at_half']:7.1f}, at 120 {s['mean_hv_at_full']:7.1f}, "
              f"stopped {s['mean_stopped']}, completed {s['mean_completed']}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
