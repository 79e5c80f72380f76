"""distilbo's search against its strongest open peer: BoTorch's qLogNEHVI run directly, as BoTorch's own
multi-objective tutorials run it, plus random search, on BoTorch's own test problems.

    python benchmarks/peer.py                                     # 3 problems x 6 methods x seeds 0-9, 30 evaluations
    nohup nice -n 10 python benchmarks/peer.py --seeds 5 > /tmp/peer-a.log 2>&1 &        # seeds 0-4
    nohup nice -n 10 python benchmarks/peer.py --seed-start 5 > /tmp/peer-b.log 2>&1 &   # seeds 5-9, same JSON
    python benchmarks/peer.py --report                            # table + plot from the JSON, no new runs
    python benchmarks/peer.py --problems branin_currin --methods qlognehvi distilbo-gp --seeds 1 --evals 8 \
        --out /tmp/peer-smoke.json                                # a smoke test

Problems (botorch.test_functions.multi_objective, negated so both objectives are maximized; hypervolume against
each problem's own `ref_point`, on the true noise-free values of the feasible, non-failed points):

    branin_currin   BraninCurrin, 2 inputs, 2 objectives, no failures.
    c2dtlz2         C2DTLZ2(dim=6, num_objectives=2), BoTorch's constrained problem: a point is feasible when
                    evaluate_slack >= 0; infeasible points count for nothing in the hypervolume.
    dtlz2_fail      DTLZ2(dim=6, num_objectives=2) with a FAILURE REGION: an evaluation at x0 + x1 > 1.3 raises
                    (like an out-of-memory) and returns nothing. The region is the triangle with legs 0.7, 24.5% of
                    the box; it cuts the Pareto set (x1..x5 = 0.5) at x0 > 0.8, so the part of the front with the
                    largest second objective is reachable only with x1 < 0.5 (a worse g). Every method learns only
                    "this point failed": no objective values, no margin.

Methods, each sequential (one evaluation at a time), the same budget (`--evals`, default 30, start-up included):

    distilbo-botorch  distilbo with `[search] sampler = "botorch"` (distilbo/search/_botorch.py).
    distilbo-*-ref    the same with thresholds at the problem's reference point (`obj_j >= ref_j` as `min`
                      constraints, `make_config`): the information qlognehvi gets; botorch's sampler takes the
                      bounds as its hypervolume reference point (otherwise it infers one from the data, as Ax).
    distilbo-gp       distilbo with `sampler = "gp"`: Optuna's GPSampler behind a scrambled-Sobol start-up.
                      (distilbo's start-up is Optuna's QMCSampler, whose first trial comes from its RandomSampler:
                      1 random + 4 Sobol points, the first the same as random search's with that seed.)
    qlognehvi         BoTorch directly: 5 scrambled Sobol points (SobolEngine seeded by the seed), then per step one
                      SingleTaskGP per outcome (inputs in [0,1]^d, Standardize, fit_gpytorch_mll on a ModelListGP),
                      objectives on the successful points only; C2DTLZ2: a GP on -slack as an outcome constraint;
                      dtlz2_fail: a GP on the failure indicator (1 failed / 0 ok) over all evaluated points as the
                      outcome constraint indicator - 0.5 <= 0; qLogNoisyExpectedHypervolumeImprovement (X_baseline =
                      the successful points, prune_baseline=True, SobolQMCNormalSampler(128)) maximized by
                      optimize_acqf(q=1, num_restarts=10, raw_samples=512, batch_limit 5, maxiter 200), as the
                      tutorials multi_objective_bo and constrained_multi_objective_bo. While fewer than 2 points
                      succeeded the next point is the next Sobol point.
    random            distilbo with `sampler = "random"` (Optuna's RandomSampler: no Sobol start-up).

distilbo runs the real user path: `distilbo.search.runner.run_search` with a callable trial function (in-process,
the same failure recording as a child-process trial), a Config built in code (`make_config`), a throw-away
SQLite study. The problem's inputs x0..x5 are six float config fields searched on [0, 1] (`FIELDS`, in that
order); the trial function reads them back from the trial's config, returns obj0, obj1 (and slack) or raises
RuntimeError("out of memory (benchmark failure region)"). distilbo's studies are scored from their trials'
params (recomputed noise-free), exactly as BoTorch's points; a trial with user attr `failure` or `skipped` counts
as failed.

Seconds per suggestion = (wall time of the study - time inside the evaluations) / evaluations: for distilbo that
includes study creation, SQLite and Optuna's bookkeeping, for qlognehvi model fitting and acquisition
optimization. The same in this process's CPU time (`cpu_seconds_per_suggestion`, the "cpu s" column) does not
count waiting for a core, so it stays comparable on a busy machine. `suggest_seconds` in the JSON holds each
step's wall time (the gap before each evaluation). BoTorch's fused qLogEHVI C++ kernel (JIT-compiled on a
machine's first use) is loaded before the timed runs (`warm_up`).

Results: `--out` (default benchmarks/results/peer.json): setup and machine (platform, cpu count, load average at
start, commit), then runs[problem][method][seed] = {hv after each evaluation, failed, failed after the start-up,
infeasible, seconds per suggestion, every point}; written after each (problem, method, seed) run (re-read, merged
under a lock, replaced atomically), so a rerun skips what is done and two processes (`--seed-start`) can share
the file. `--report` prints the table (mean HV and sd after 10/20/30 evaluations, HV at the last evaluation as %
of qLogNEHVI's, failed evaluations after the start-up, seconds per suggestion) and writes the plot next to the
JSON (peer.png: mean HV vs evaluation per method, one panel per problem, 25-75% band).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # one core per process, before numpy
    os.environ[_var] = "1"

import argparse
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _bench_io import load_json, machine, study_config, update_json  # noqa: E402

RESULTS = HERE / "results"
PROBLEMS = ("branin_currin", "c2dtlz2", "dtlz2_fail")
METHODS = ("distilbo-botorch", "distilbo-botorch-ref", "distilbo-gp", "distilbo-gp-ref", "qlognehvi", "random")
SAMPLER = {"distilbo-botorch": "botorch", "distilbo-botorch-ref": "botorch", "distilbo-gp": "gp",
           "distilbo-gp-ref": "gp", "random": "random"}
"""distilbo's `[search] sampler` of each distilbo method."""
STARTUP = 5
"""Sobol start-up points of every model-based method."""
FIELDS = ("dropout", "attention_dropout", "qa_dropout", "alpha_ce", "initializer_range", "weight_decay")
"""The float config fields that carry x0..x5 (each valid on all of [0, 1]), in input order."""
CHECKPOINTS = (10, 20, 30)
"""Evaluations after which the table reports the mean HV."""
FAILURE = "out of memory (benchmark failure region)"
MC_SAMPLES, NUM_RESTARTS, RAW_SAMPLES = 128, 10, 512
"""qLogNEHVI's settings, those of BoTorch's multi-objective tutorials."""


# ---------------------------------------------------------------------------------------------- problems
@dataclass
class Problem:
    name: str
    fn: Any  # a botorch MultiObjectiveTestProblem built with negate=True
    constrained: bool = False
    fails: Callable[[list[float]], bool] | None = None

    @property
    def dim(self) -> int:
        return self.fn.dim

    @property
    def n_obj(self) -> int:
        return self.fn.num_objectives

    def truth(self, x: list[float]) -> tuple[list[float], float | None]:
        """Noise-free objective values (maximized) and the constraint slack (None when unconstrained) at x."""
        X = torch.tensor([x], dtype=torch.double)
        y = self.fn(X, noise=False)[0].tolist()
        slack = float(self.fn.evaluate_slack(X, noise=False)[0, 0]) if self.constrained else None
        return y, slack

    def evaluate(self, x: list[float]) -> dict[str, float]:
        """One evaluation, as a trial function would return it; raises in the failure region."""
        if self.fails is not None and self.fails(x):
            raise RuntimeError(FAILURE)
        y, slack = self.truth(x)
        out = {f"obj{i}": v for i, v in enumerate(y)}
        if slack is not None:
            out["slack"] = slack
        return out


def failure_region(x: list[float]) -> bool:
    """dtlz2_fail's failure region: x0 + x1 > 1.3 (24.5% of the unit box)."""
    return x[0] + x[1] > 1.3


def make_problem(name: str) -> Problem:
    from botorch.test_functions.multi_objective import C2DTLZ2, DTLZ2, BraninCurrin

    if name == "branin_currin":
        return Problem(name, BraninCurrin(negate=True))
    if name == "c2dtlz2":
        return Problem(name, C2DTLZ2(dim=6, num_objectives=2, negate=True), constrained=True)
    if name == "dtlz2_fail":
        return Problem(name, DTLZ2(dim=6, num_objectives=2, negate=True), fails=failure_region)
    raise ValueError(name)


# ---------------------------------------------------------------------------------------------- scoring
def hypervolume(problem: Problem, ys: list[list[float]]) -> float:
    """Hypervolume of the points `ys` (maximized) against the problem's reference point."""
    from botorch.utils.multi_objective.box_decompositions.dominated import (
        DominatedPartitioning,
    )

    if not ys:
        return 0.0
    Y = torch.tensor(ys, dtype=torch.double)
    return float(DominatedPartitioning(ref_point=problem.fn.ref_point, Y=Y).compute_hypervolume())


def score(problem: Problem, xs: list[list[float]], failed: list[bool]) -> dict[str, Any]:
    """Every point (recomputed noise-free from x) and the HV curve after each evaluation; the same for all
    methods. A failed or infeasible point counts for nothing."""
    points, good, curve = [], [], []
    for x, bad in zip(xs, failed):
        y, slack = (None, None) if bad else problem.truth(x)
        feasible = not bad and (slack is None or slack >= 0.0)
        if feasible:
            good.append(y)
        points.append({"x": [round(v, 6) for v in x], "y": y and [round(v, 6) for v in y],
                       "slack": None if slack is None else round(slack, 6), "failed": bad, "feasible": feasible})
        curve.append(round(hypervolume(problem, good), 6))
    after = failed[STARTUP:]
    return {"hv": curve, "failed": sum(failed), "failed_after_startup": sum(after),
            "infeasible": sum(not p["failed"] and not p["feasible"] for p in points),
            "infeasible_after_startup": sum(not p["failed"] and not p["feasible"] for p in points[STARTUP:]),
            "unexpected_failures": sum(bad and not (problem.fails and problem.fails(x)) for x, bad in zip(xs, failed)),
            "points": points}


class Clock:
    """Wall and CPU time of a run and of each evaluation in it: what is not evaluation is suggestion."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []  # (start, end) wall time of each evaluation
        self.eval_cpu = 0.0
        self.t0, self.cpu0 = time.perf_counter(), time.process_time()

    def evaluation(self, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args), timed."""
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args)
        finally:
            self.calls.append((start, time.perf_counter()))
            self.eval_cpu += time.process_time() - cpu

    def summary(self) -> dict[str, Any]:
        """Seconds per suggestion = (wall time - evaluation time) / evaluations; CPU seconds alike (the machine
        may be shared: CPU time does not count waiting for a core); `suggest_seconds`: the gap before each."""
        wall, cpu = time.perf_counter() - self.t0, time.process_time() - self.cpu0
        calls = sorted(self.calls)
        evaluating = sum(end - start for start, end in calls)
        gaps = [start - (calls[i - 1][1] if i else self.t0) for i, (start, _) in enumerate(calls)]
        n = max(1, len(calls))
        return {"seconds": round(wall, 3), "eval_seconds": round(evaluating, 4),
                "seconds_per_suggestion": round((wall - evaluating) / n, 4),
                "cpu_seconds_per_suggestion": round((cpu - self.eval_cpu) / n, 4),
                "suggest_seconds": [round(g, 4) for g in gaps]}


# ---------------------------------------------------------------------------------------------- distilbo
def make_config(problem: Problem, sampler: str, seed: int, run_dir: Path, *, n_trials: int,
                thresholds: bool = False) -> Any:
    """The problem as a distilbo study: x0.. on FIELDS in [0, 1], objectives obj0/obj1 maximized, slack >= 0 for
    the constrained problem, 5 start-up trials, no baseline trial. `thresholds`: also `obj_j >= ref_j` at the
    problem's reference point (what a user writes as a threshold, e.g. exact >= 50: the botorch sampler takes
    such bounds as its hypervolume reference, so it gets the reference point qlognehvi is given)."""
    cfg = study_config(study=f"peer-{problem.name}-{sampler}-{seed}", seed=seed, run_dir=run_dir)
    s = cfg.search
    s.sampler = sampler
    s.n_trials = n_trials
    s.n_startup_trials = STARTUP
    s.baseline = False
    objectives = [f"obj{i}" for i in range(problem.n_obj)]
    s.metrics = objectives + (["slack"] if problem.constrained else [])
    s.objectives = [{"metric": m, "direction": "maximize"} for m in objectives]
    s.constraints = [{"metric": "slack", "min": 0.0}] if problem.constrained else []
    if thresholds:
        s.constraints += [{"metric": m, "min": float(r)} for m, r in zip(objectives, problem.fn.ref_point.tolist())]
    s.space = {name: {"type": "float", "low": 0.0, "high": 1.0} for name in FIELDS[: problem.dim]}
    cfg.validate()
    return cfg


def run_distilbo(problem: Problem, method: str, seed: int, *, evals: int) -> dict[str, Any]:
    from optuna.trial import TrialState

    from distilbo.search.runner import run_search

    names = FIELDS[: problem.dim]
    with tempfile.TemporaryDirectory(prefix=f"distilbo-peer-{problem.name}-{method}-{seed}-") as tmp:
        cfg = make_config(problem, SAMPLER[method], seed, Path(tmp), n_trials=evals, thresholds=method.endswith("-ref"))
        clock = Clock()

        def trial_fn(tcfg: Any, trial_dir: Path) -> dict[str, float]:  # x read back from the trial's config
            return clock.evaluation(problem.evaluate, [float(tcfg.get(n)) for n in names])

        study = run_search(cfg, n_trials=evals, workers=1, trial_fn=trial_fn, estimate_fn=None, progress=False)
        timed = clock.summary()
        trials = sorted((t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE),
                        key=lambda t: t.number)
        xs = [[float(t.params[n]) for n in names] for t in trials]
        failed = [bool(t.user_attrs.get("failure") or t.user_attrs.get("skipped")) for t in trials]
        reasons = sorted({str(t.user_attrs.get("failure"))[:80] for t in trials if t.user_attrs.get("failure")})
        del study  # close the SQLite engine before the folder goes
    return {**score(problem, xs, failed), **timed, "failure_reasons": reasons}


# ---------------------------------------------------------------------------------------------- BoTorch
def outcome_at_most(index: int, bound: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """BoTorch's outcome-constraint callable for `outcome[index] <= bound` (<= 0 is feasible)."""
    return lambda Z: Z[..., index] - bound


def qlognehvi_candidate(problem: Problem, X: torch.Tensor, Y: torch.Tensor, slack: torch.Tensor,
                        failed: torch.Tensor) -> torch.Tensor:
    """The next point (1 x d in [0,1]^d) by qLogNEHVI, as BoTorch's multi-objective tutorials: one SingleTaskGP
    per outcome (objectives and slack on the successful points, the failure indicator on all), fitted together."""
    from botorch.acquisition.multi_objective.logei import (
        qLogNoisyExpectedHypervolumeImprovement,
    )
    from botorch.acquisition.multi_objective.objective import (
        IdentityMCMultiOutputObjective,
    )
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import ModelListGP, SingleTaskGP
    from botorch.models.transforms.outcome import Standardize
    from botorch.optim import optimize_acqf
    from botorch.sampling.normal import SobolQMCNormalSampler
    from gpytorch.mlls.sum_marginal_log_likelihood import SumMarginalLogLikelihood

    ok = ~failed
    models = [SingleTaskGP(X[ok], Y[ok][:, i:i + 1], outcome_transform=Standardize(m=1)) for i in range(problem.n_obj)]
    constraints = []
    if problem.constrained:  # the constrained tutorial's outcome: -slack <= 0 is feasible
        models.append(SingleTaskGP(X[ok], -slack[ok].unsqueeze(-1), outcome_transform=Standardize(m=1)))
        constraints.append(outcome_at_most(len(models) - 1, 0.0))
    if problem.fails is not None:
        models.append(SingleTaskGP(X, failed.double().unsqueeze(-1), outcome_transform=Standardize(m=1)))
        constraints.append(outcome_at_most(len(models) - 1, 0.5))
    model = ModelListGP(*models)
    fit_gpytorch_mll(SumMarginalLogLikelihood(model.likelihood, model))
    acq = qLogNoisyExpectedHypervolumeImprovement(
        model=model, ref_point=problem.fn.ref_point.tolist(), X_baseline=X[ok], prune_baseline=True,
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([MC_SAMPLES])),
        objective=IdentityMCMultiOutputObjective(outcomes=list(range(problem.n_obj))) if constraints else None,
        constraints=constraints or None)
    bounds = torch.stack([torch.zeros(problem.dim), torch.ones(problem.dim)]).double()
    candidate, _ = optimize_acqf(acq, bounds=bounds, q=1, num_restarts=NUM_RESTARTS, raw_samples=RAW_SAMPLES,
                                 options={"batch_limit": 5, "maxiter": 200}, sequential=True)
    return candidate.detach()


def run_qlognehvi(problem: Problem, seed: int, *, evals: int) -> dict[str, Any]:
    """Sobol start-up, then one qLogNEHVI step per evaluation; the problem's bounds are the unit box."""
    from torch.quasirandom import SobolEngine

    assert torch.equal(problem.fn.bounds, torch.stack([torch.zeros(problem.dim), torch.ones(problem.dim)]).double())
    torch.manual_seed(seed)
    sobol = SobolEngine(problem.dim, scramble=True, seed=seed)
    X, Y, slack, failed = [], [], [], []
    fallbacks: list[str] = []
    clock = Clock()
    for step in range(evals):
        x = sobol.draw(1, dtype=torch.double)
        if step >= STARTUP and len(failed) - sum(failed) >= 2:
            try:
                x = qlognehvi_candidate(problem, torch.cat(X), torch.tensor(Y, dtype=torch.double),
                                        torch.tensor(slack, dtype=torch.double), torch.tensor(failed))
            except Exception as e:  # noqa: BLE001  (a fit or optimizer error: the Sobol point, recorded)
                fallbacks.append(f"step {step}: {type(e).__name__}: {str(e)[:120]}")
        try:
            out = clock.evaluation(problem.evaluate, x[0].tolist())
        except RuntimeError:
            out = None
        X.append(x)
        failed.append(out is None)
        Y.append([out[f"obj{i}"] for i in range(problem.n_obj)] if out else [0.0] * problem.n_obj)
        slack.append(out.get("slack", 0.0) if out else 0.0)
    timed = clock.summary()
    xs = [x[0].tolist() for x in X]
    return {**score(problem, xs, failed), **timed, "fallbacks": fallbacks}


def warm_up() -> dict[str, Any]:
    """Imports and BoTorch's fused qLogEHVI C++ kernel, loaded once per process before any timed run: BoTorch
    JIT-compiles it on its first use on a machine (minutes; cached in ~/.cache/torch_extensions after that) and
    loads it on the first acquisition function of each process; without this the first qlognehvi or
    distilbo-botorch run of a process would carry that cost."""
    import importlib

    t = time.perf_counter()
    for module in ("botorch.fit", "botorch.optim", "botorch.models", "distilbo.search.runner"):
        importlib.import_module(module)
    from botorch.acquisition.multi_objective import logei

    load_kernel = getattr(logei, "_try_load_fused_kernel", None)  # private, BoTorch 0.18
    if load_kernel is not None:
        load_kernel()
    return {"seconds": round(time.perf_counter() - t, 1), "fused_kernel": getattr(logei, "_C", None) is not None}


def run_one(problem_name: str, method: str, seed: int, *, evals: int) -> dict[str, Any]:
    problem = make_problem(problem_name)
    load = os.getloadavg()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BoTorch's and Optuna's numerical/experimental notices, per step
        out = run_qlognehvi(problem, seed, evals=evals) if method == "qlognehvi" else \
            run_distilbo(problem, method, seed, evals=evals)
    return {**out, "load_avg_at_start": round(load, 2)}


# ---------------------------------------------------------------------------------------------- results
def save_run(path: Path, setup: dict[str, Any], key: tuple[str, str, str] | None, run: dict[str, Any] | None) -> None:
    """Put one run (or, with `key=None`, a process's start: its machine and load average) into the JSON that
    other processes on other seeds share (`update_json`: under a lock, re-read, replaced atomically)."""

    def change(data: dict[str, Any]) -> None:
        data["setup"] = setup
        if key is None:
            data.setdefault("processes", []).append({"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                                     "command": setup["command"], "machine": setup["machine"]})
        else:
            problem, method, seed = key
            data.setdefault("runs", {}).setdefault(problem, {}).setdefault(method, {})[seed] = run
            data["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")

    update_json(path, change)


def make_setup(args: argparse.Namespace) -> dict[str, Any]:
    problems = {}
    for name in PROBLEMS:
        p = make_problem(name)
        problems[name] = {"class": type(p.fn).__name__, "dim": p.dim, "objectives": p.n_obj, "negated": True,
                          "ref_point": p.fn.ref_point.tolist(), "max_hv": float(getattr(p.fn, "_max_hv", float("nan"))),
                          "constraint": "evaluate_slack >= 0" if p.constrained else None,
                          "failure_region": "x0 + x1 > 1.3 (24.5% of the box)" if p.fails else None}
    return {"evals": args.evals, "n_startup": STARTUP, "fields": list(FIELDS), "problems": problems,
            "qlognehvi": {"mc_samples": MC_SAMPLES, "num_restarts": NUM_RESTARTS, "raw_samples": RAW_SAMPLES},
            "machine": machine(packages=("torch", "botorch", "gpytorch", "optuna"), watch=("../distilbo/search", "peer.py")),
            "command": " ".join(["python", "benchmarks/peer.py", *sys.argv[1:]])}


# ---------------------------------------------------------------------------------------------- report
def curves(runs: dict[str, Any]) -> np.ndarray:
    n = min(len(r["hv"]) for r in runs.values())
    return np.array([r["hv"][:n] for r in runs.values()])


def mean_of(runs: dict[str, Any], key: str) -> float:
    return float(np.mean([r.get(key, np.nan) for r in runs.values()]))


def summarize(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (problem, method): mean/sd HV at the checkpoints, % of qLogNEHVI's final HV, failures, time."""
    rows = []
    for problem, methods in data.get("runs", {}).items():
        peer = methods.get("qlognehvi")
        peer_final = float(curves(peer)[:, -1].mean()) if peer else None
        for method in METHODS:
            runs = methods.get(method)
            if not runs:
                continue
            c = curves(runs)
            at = {k: (float(c[:, k - 1].mean()), float(c[:, k - 1].std(ddof=1)) if len(c) > 1 else 0.0)
                  for k in checkpoints(c.shape[1])}
            final = float(c[:, -1].mean())
            rows.append({"problem": problem, "method": method, "seeds": len(runs), "evals": c.shape[1], "hv_at": at,
                         "pct_of_qlognehvi": 100 * final / peer_final if peer_final else None,
                         "failed_after_startup": mean_of(runs, "failed_after_startup"),
                         "infeasible_after_startup": mean_of(runs, "infeasible_after_startup"),
                         "s_per_suggestion": mean_of(runs, "seconds_per_suggestion"),
                         "cpu_s_per_suggestion": mean_of(runs, "cpu_seconds_per_suggestion")})
    return rows


def checkpoints(evals: int) -> list[int]:
    """The table's evaluations: 10, 20, 30 as far as the runs go, and the last one."""
    return sorted({k for k in CHECKPOINTS if k <= evals} | {evals})


def print_table(rows: list[dict[str, Any]], setup: dict[str, Any]) -> None:
    cols = sorted(set().union(*(r["hv_at"] for r in rows)))
    hv_heads = " ".join(f"{'HV@' + str(k) + ' (sd)':>17s}" for k in cols)
    head = (f"{'problem':14s} {'method':20s} {'seeds':>5s} {hv_heads}"
            + f" {'% qLogNEHVI':>11s} {'failed>5':>8s} {'infeas>5':>8s} {'s/suggest':>9s} {'cpu s':>7s}")
    print(head)
    print("-" * len(head))
    last = None
    for r in rows:
        if last is not None and r["problem"] != last:
            print()
        last = r["problem"]
        cells = []
        for k in cols:
            mean_sd = r["hv_at"].get(k)
            cells.append(f"{mean_sd[0]:9.4g} ({mean_sd[1]:5.2g})" if mean_sd else f"{'-':>17s}")
        pct = f"{r['pct_of_qlognehvi']:10.1f}%" if r["pct_of_qlognehvi"] is not None else f"{'-':>11s}"
        print(f"{r['problem']:14s} {r['method']:20s} {r['seeds']:5d} " + " ".join(cells)
              + f" {pct} {r['failed_after_startup']:8.2f} {r['infeasible_after_startup']:8.2f}"
              f" {r['s_per_suggestion']:9.3f} {r['cpu_s_per_suggestion']:7.3f}")
    evals = {r["evals"] for r in rows}
    print(f"% qLogNEHVI: mean HV at the last evaluation ({', '.join(map(str, sorted(evals)))}) over qLogNEHVI's; "
          f"failed>5 / infeas>5: mean failed / infeasible evaluations after the {STARTUP} start-up points; "
          "s/suggest: (study wall time - evaluation time) / evaluations; cpu s: the same in this process's CPU "
          "time (the part not spent waiting for a core on a shared machine).")
    maxhv = {name: p["max_hv"] for name, p in setup.get("problems", {}).items()}
    if maxhv:
        print("max HV (BoTorch's _max_hv): " + ", ".join(f"{k} {v:.4g}" for k, v in maxhv.items()))


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"distilbo-botorch": "#d62728", "distilbo-botorch-ref": "#ff9896", "distilbo-gp": "#1f77b4",
              "distilbo-gp-ref": "#aec7e8", "qlognehvi": "#2ca02c", "random": "#7f7f7f"}
    problems = [p for p in PROBLEMS if data["runs"].get(p)]
    fig, axes = plt.subplots(1, len(problems), figsize=(5 * len(problems), 4.2), dpi=120, squeeze=False)
    for ax, problem in zip(axes[0], problems):
        for method in METHODS:
            runs = data["runs"][problem].get(method)
            if not runs:
                continue
            c = curves(runs)
            x = np.arange(1, c.shape[1] + 1)
            ax.plot(x, c.mean(axis=0), color=colors[method], lw=2, label=f"{method} ({len(runs)} seeds)")
            ax.fill_between(x, np.percentile(c, 25, axis=0), np.percentile(c, 75, axis=0), color=colors[method],
                            alpha=0.18, lw=0)
        max_hv = data.get("setup", {}).get("problems", {}).get(problem, {}).get("max_hv")
        if max_hv is not None and np.isfinite(max_hv):
            ax.axhline(max_hv, color="k", ls=":", lw=1, label="max HV (BoTorch)")
        ax.axvline(STARTUP + 0.5, color="k", ls="--", lw=0.6, alpha=0.5)
        ax.set_title(problem, fontsize=10)
        ax.set_xlabel("evaluation")
        ax.set_ylabel("hypervolume (true values)")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=7)
    fig.suptitle("distilbo vs BoTorch qLogNEHVI vs random: mean HV, 25-75% band", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def report(path: Path) -> None:
    data = load_json(path)
    if not any(m for m in data.get("runs", {}).values()):
        print(f"no runs in {path}")
        return
    print_table(summarize(data), data.get("setup", {}))
    plot(data, path.with_suffix(".png"))
    print(f"plot: {path.with_suffix('.png')}")


# ---------------------------------------------------------------------------------------------- main
def todo_list(args: argparse.Namespace, done: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(problem, method, seed) not in the JSON yet, seed by seed (early results cover every method)."""
    methods = list(args.methods)
    return [(p, m, seed) for seed in range(args.seed_start, args.seeds) for p in args.problems for m in methods
            if str(seed) not in done.get(p, {}).get(m, {})]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1")
    ap.add_argument("--seed-start", type=int, default=0,
                    help="run only seeds >= this (split the seeds over two processes writing the same JSON)")
    ap.add_argument("--evals", type=int, default=30, help="evaluations per run, the 5 start-up points included")
    ap.add_argument("--out", type=Path, default=RESULTS / "peer.json")
    ap.add_argument("--report", action="store_true", help="only print the table and plot from the JSON")
    args = ap.parse_args(argv)
    if args.report:
        report(args.out)
        return 0
    torch.set_num_threads(1)  # one core per process: two processes side by side on the 2-core machine
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("distilbo").setLevel(logging.WARNING)
    setup = make_setup(args)
    todo = todo_list(args, load_json(args.out).get("runs", {}))
    print(f"{len(todo)} runs to do ({args.evals} evaluations each) -> {args.out}", flush=True)
    if not todo:
        report(args.out)
        return 0
    setup["machine"]["warm_up"] = warm_up()
    save_run(args.out, setup, None, None)
    t0 = time.time()
    for i, (problem, method, seed) in enumerate(todo, 1):
        if str(seed) in load_json(args.out).get("runs", {}).get(problem, {}).get(method, {}):
            continue  # the other process did it meanwhile
        res = run_one(problem, method, seed, evals=args.evals)
        res["commit"] = setup["machine"]["commit"]
        save_run(args.out, setup, (problem, method, str(seed)), res)
        print(f"[{i}/{len(todo)}] {problem} {method} seed {seed}: HV {res['hv'][-1]:.4g}, failed {res['failed']} "
              f"({res['failed_after_startup']} after start-up), infeasible {res['infeasible']}, "
              f"{res['seconds_per_suggestion']:.3f} s/suggestion ({res['cpu_seconds_per_suggestion']:.3f} CPU s); "
              f"elapsed {(time.time() - t0) / 60:.1f} min", flush=True)
    report(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
