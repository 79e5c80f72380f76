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
