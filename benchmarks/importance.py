"""Which parameter group matters for each objective, with a bootstrap spread over trials (the reference's question).

    python benchmarks/importance.py --storage sqlite:///runs/cpu-squad2/study.db --study cpu-squad2 \
        --out benchmarks/results/cpu-squad2/importance.json

For each objective: Optuna's PED-ANOVA importance of every searched parameter on the completed, successful
trials, summed into the architecture / SGD / distillation groups (`distilbo.names.group_of`) as shares
of the total; repeated on `--boot` bootstrap resamples of the trials (drawn with replacement), which gives
each group's share a mean and a standard deviation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import optuna
from optuna.importance import PedAnovaImportanceEvaluator

from distilbo.names import group_of


def group_shares(trials: list, objective: int) -> dict[str, float]:
    study = optuna.create_study(directions=["maximize"])
    study.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions,
                                                value=t.values[objective]) for t in trials])
    imp = optuna.importance.get_param_importances(study, evaluator=PedAnovaImportanceEvaluator(), normalize=True)
    shares = {"architecture": 0.0, "SGD": 0.0, "distillation": 0.0}
    for p, v in imp.items():
        shares[group_of(p)] += v
    total = sum(shares.values()) or 1.0
    return {g: v / total for g, v in shares.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--storage", required=True)
    ap.add_argument("--study", required=True)
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=args.study, storage=args.storage)
    names = study.user_attrs.get("metric_names") or study.metric_names or [f"objective {i}" for i in
                                                                            range(len(study.directions))]
    trials = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
              if not t.user_attrs.get("failure") and not t.user_attrs.get("skipped")]
    rng = np.random.default_rng(0)
    result = {"date": time.strftime("%Y-%m-%d"), "study": args.study, "trials": len(trials), "boot": args.boot,
              "objectives": {}}
    for i, name in enumerate(names):
        point = group_shares(trials, i)
        boots = [group_shares([trials[j] for j in rng.integers(0, len(trials), len(trials))], i)
                 for _ in range(args.boot)]
        result["objectives"][name] = {g: {"share": point[g], "boot_mean": statistics.mean(b[g] for b in boots),
                                          "boot_sd": statistics.stdev(b[g] for b in boots)} for g in point}
        print(name, {g: f"{v['share']:.2f} +- {v['boot_sd']:.2f}" for g, v in result["objectives"][name].items()},
              flush=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
