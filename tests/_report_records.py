"""Hand-built trial records with known answers (and a report written from them), shared by tests/test_report.py and tests/test_report_browser.py.

Objectives: maximize exact, minimize num_parameters; constraint exact >= 50. Sizes are in parameters.

    #   size        exact   what it is
    0   40.0M       60.00   baseline; dominated by 13
    1   40.2M       63.48   frontier; within baseline + 1%  -> "retain size": +0.5 %, +3.48 pts
    2   31.0M       61.20   frontier; best at >= 1% smaller -> "minimize size, maximize perf": -22.5 %, +1.20 pts
    3   20.0M       59.60   frontier; tie with 8; smallest with exact >= 59.5 -> "retain perf": -50 %, -0.40 pts
    4   12.0M       55.00   frontier (smallest feasible)
    5    8.0M       45.00   infeasible (exact < 50): would be on the front otherwise
    6   35.0M       58.00   dominated by 2
    7   45.0M       62.00   dominated by 1
    8   20.0M       59.60   frontier (tie with 3)
    9    1.0M       99.00   FAILED (OOM) although Optuna holds COMPLETE with these values: never a result
    10  25.0M       -       FAILED (timeout), state FAIL
    11  -           -       RUNNING
    12  50.0M       66.00   frontier (largest, best exact): above the "retain size" bound
    13  39.8M       63.00   frontier; inside baseline - 1%, so not "minimize size"
"""

from __future__ import annotations

from pathlib import Path

from distilbo.report.frontier import scenario_table
from distilbo.report.html import write_report

OBJECTIVES = [{"metric": "exact", "direction": "maximize"}, {"metric": "num_parameters", "direction": "minimize"}]
CONSTRAINTS = [{"metric": "exact", "min": 50.0}]
FRONT = [1, 2, 3, 4, 8, 12, 13]


def _rec(number: int, size: float | None, exact: float | None, *, state: str = "COMPLETE",
         failure: str | None = None, baseline: bool = False, params: dict | None = None) -> dict:
    metrics = {}
    if size is not None:
        metrics["num_parameters"] = int(size)
    if exact is not None:
        metrics.update(exact=exact, f1=exact + 3.0, latency_ms=size / 1e6 * 0.5 if size else None)
    feasible = failure is None and state == "COMPLETE" and exact is not None and exact >= 50.0
    curves = []
    if state == "COMPLETE" and failure is None:
        curves = [{"step": s, "loss": 3.0 / (1 + s / 10)} for s in (10, 20, 30, 40)]
        curves += [{"epoch": e, "exact": exact - (2 - e), "f1": exact + 3 - (2 - e)} for e in (1, 2)]
    return {"number": number, "state": state, "failure": failure, "is_baseline": baseline, "feasible": feasible,
            "params": params or {"n_layers": 1 + number % 6, "learning_rate": 1e-4 * (1 + number),
                                 "temperature": 2.0},
            "metrics": metrics, "curves": curves, "trial_dir": None if failure else f"trials/{number}"}


def records() -> list[dict]:
    return [
        _rec(0, 40_000_000, 60.00, baseline=True),
        _rec(1, 40_200_000, 63.48),
        _rec(2, 31_000_000, 61.20),
        _rec(3, 20_000_000, 59.60),
        _rec(4, 12_000_000, 55.00),
        _rec(5, 8_000_000, 45.00),
        _rec(6, 35_000_000, 58.00),
        _rec(7, 45_000_000, 62.00),
        _rec(8, 20_000_000, 59.60),
        dict(_rec(9, 1_000_000, 99.00, failure="OOM: CUDA out of memory"), feasible=True),  # Optuna's view
        _rec(10, 25_000_000, None, state="FAIL", failure="timeout after 600 s"),
        _rec(11, None, None, state="RUNNING"),
        _rec(12, 50_000_000, 66.00),
        _rec(13, 39_800_000, 63.00),
    ]


# Importances (exact: architecture 55 %, SGD 30 %, distillation 15 %) and hostile strings for the escaping
# tests: a study name, a param value, a failure text and a metric name.
IMP = {"exact": {"n_layers": 0.30, "dim": 0.25, "learning_rate": 0.30, "temperature": 0.15},
       "num_parameters": {"n_layers": 0.7, "dim": 0.3}}

EVIL_NAME = "<script>alert(1)</script>"
EVIL_PARAM = "<img src=x onerror=alert(2)>"
EVIL_FAIL = "</script><script>alert(3)</script>"
EVIL_METRIC = "we<ird>&"


def evil_records() -> list[dict]:
    recs = records()
    recs[2]["params"]["activation"] = EVIL_PARAM
    recs[9]["failure"] = EVIL_FAIL
    recs[4]["metrics"][EVIL_METRIC] = 1.5
    return recs


def write(tmp_path: Path, recs: list[dict] | None = None, name: str = EVIL_NAME) -> tuple[dict[str, Path], list[dict]]:
    """write_report into tmp_path/report with hostile strings; -> (paths, scenario rows)."""
    recs = recs if recs is not None else evil_records()
    scen = scenario_table(recs, objectives=OBJECTIVES, constraints=CONSTRAINTS)
    paths = write_report(recs, out_dir=tmp_path / "report", study_name=name, objectives=OBJECTIVES,
                         constraints=CONSTRAINTS, scenarios=scen, importances=IMP,
                         importance_spread={"exact": {"n_layers": 0.01}}, storage_label='sqlite:///"><b>x</b>')
    return paths, scen


# ---------------------------------------------------------------------------------------------- a realistic study
# The same 14 trials as a real CPU study records them: the accuracy objective is HasAns_forced_f1 (a long name that
# used to clip the legend), 18 searched parameters, ~40 metrics of which n_layers, dim, hidden_dim and batch_size
# repeat parameters (the trial records the built student's shape), and curves.jsonl rows as distill/train.py writes
# them: {"step", "epoch", "loss", "soft", "hard", "lr"} every 10 steps and dev rows {"epoch", "step", <metrics>}.
ACC = "HasAns_forced_f1"
REAL_OBJECTIVES = [{"metric": ACC, "direction": "maximize"}, {"metric": "num_parameters", "direction": "minimize"}]
REAL_CONSTRAINTS = [{"metric": ACC, "min": 50.0}]
REAL_PARAMS = ("adam_epsilon", "alpha_ce", "attention_dropout", "batch_size", "beta_1", "beta_2", "dim", "dropout",
               "hidden_dim", "initializer_range", "learning_rate", "n_heads", "n_layers", "qa_dropout",
               "selection_seed", "temperature", "warmup_steps", "weight_decay")
SHAPE_METRICS = ("batch_size", "dim", "hidden_dim", "n_layers")  # recorded as metrics too


def real_curves(final: float, steps: int = 200, eval_steps: int = 50) -> list[dict]:
    rows = []
    for s in range(10, steps + 1, 10):
        soft, hard = 2.5 / (1 + s / 40), 4.0 / (1 + s / 60)
        rows.append({"step": s, "epoch": round(s / steps, 4), "loss": 0.7 * soft + 0.3 * hard, "soft": soft,
                     "hard": hard, "lr": 2e-4 * (1 - s / steps)})
        if s % eval_steps == 0:
            score = final - 12.0 * (1 - s / steps) ** 2
            rows.append({"epoch": round(s / steps, 4), "step": s, "exact": score - 4, "f1": score - 1,
                         "HasAns_exact": score - 6, "HasAns_forced_exact": score - 5, ACC: score})
    return rows


def real_records() -> list[dict]:
    recs = records()
    for r in recs:
        n, m = r["number"], r["metrics"]
        shape = {"batch_size": 8 + 4 * (n % 4), "dim": 384 - 48 * (n % 3), "hidden_dim": 1536 - 256 * (n % 4),
                 "n_layers": 1 + n % 6}
        r["params"] = {"adam_epsilon": 1e-8, "alpha_ce": 0.3 + 0.05 * n, "attention_dropout": 0.01 * n,
                       "beta_1": 0.9, "beta_2": 0.98 + 0.001 * n, "dropout": 0.02 * n, "initializer_range": 0.02,
                       "learning_rate": 3e-5 * (1 + n), "n_heads": 12, "qa_dropout": 0.1, "selection_seed": 40 + n,
                       "temperature": 1.0 + 0.2 * n, "warmup_steps": 10 * n, "weight_decay": 0.01, **shape}
        if "exact" in m:
            acc = m.pop("exact")
            m.pop("f1", None)
            m.update({ACC: acc, "exact": acc - 4, "f1": acc - 1, "HasAns_exact": acc - 6, "HasAns_f1": acc - 2,
                      "HasAns_forced_exact": acc - 5, "HasAns_total": 498, "NoAns_exact": 50.0, "NoAns_f1": 50.0,
                      "NoAns_total": 518, "best_exact": 51.0, "best_exact_thresh": 0.0, "best_f1": 51.0,
                      "best_f1_thresh": 0.0, "total": 1016, "batch_ms_max": 96.6, "batch_ms_median": 54.4,
                      "batch_ms_min": 24.4, "device": "cpu", "eval_seconds": 65.0, "examples_per_second": 15.6,
                      "n_heads_effective": 12, "num_non_embedding_parameters": int(m["num_parameters"] * 0.3),
                      "num_train_features": 1362, "peak_memory_mb": 1766.3, "repeats": 20, "seq_length": 166,
                      "teacher_logits_cached": True, "threads": 1, "train_features_per_second": 4.1,
                      "train_seconds": 331.2, "train_steps": 200, "trial_seconds": 527.2, "warmup": 3, **shape})
            if r["curves"]:
                r["curves"] = real_curves(acc)
    recs[9]["failure"] = "out of memory: DefaultCPUAllocator: not enough memory: you tried to allocate 1.2 GB"
    recs[10]["failure"] = "timeout after 600 s"
    return recs


def write_real(tmp_path: Path, name: str = "cpu-squad2") -> dict[str, Path]:
    """write_report of real_records() with the CPU study's objectives (y: HasAns_forced_f1) -> paths."""
    recs = real_records()
    scen = scenario_table(recs, metric=ACC, objectives=REAL_OBJECTIVES, constraints=REAL_CONSTRAINTS)
    return write_report(recs, out_dir=tmp_path / "report", study_name=name, objectives=REAL_OBJECTIVES,
                        constraints=REAL_CONSTRAINTS, scenarios=scen, importances=None, x_metric="num_parameters",
                        y_metric=ACC)
