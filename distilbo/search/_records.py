"""A study's trials as plain records, one dict per trial, with the one Pareto front (`distilbo.pareto`) marked:
what `status`, `report`, `export` and the checkpoint pruning read.

    recs = records(study)             # [{number, state, status, params, metrics, ..., on_front, curves, rungs}, ...]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from distilbo.pareto import pareto_front
from distilbo.search._outcome import INTERRUPTED


def _feasible(t: FrozenTrial) -> bool:
    return t.state == TrialState.COMPLETE and all(v <= 0.0 for v in t.constraints.values())


def _read_curves(trial_dir: str | None) -> list[dict]:
    path = Path(trial_dir) / "curves.jsonl" if trial_dir else None
    if path is None or not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a kill
    return rows


def records(study: optuna.Study, *, curves: bool = True) -> list[dict[str, Any]]:
    """One plain dict per trial, by number: {number, state, status, params, metrics, values, constraints, failure,
    skipped, is_baseline, feasible, on_front, datetime_start, duration_s, trial_dir, curves, surplus, stopped_at_rung,
    rungs}.

    `status` is "ok", "failed", "skipped", "interrupted", "running", "waiting", "stopped" (stopped early at rung
    `stopped_at_rung`; `rungs` holds {K: {metrics, continued, peers}} of every rung it reached) or "pruned" (a trial
    two workers started at once beyond the budget, never run; `surplus` says why); a recorded failure has state COMPLETE
    (pessimistic values) and `failure` set; an Optuna FAIL without a reason gets INTERRUPTED."""
    trials = study.get_trials(deepcopy=False)
    out = []
    for t in trials:
        ua = t.user_attrs
        failure = ua.get("failure") or (INTERRUPTED if t.state == TrialState.FAIL else None)
        if t.state == TrialState.COMPLETE:
            status = "skipped" if ua.get("skipped") else "failed" if failure else "ok"
        elif t.state == TrialState.FAIL:
            status = "interrupted" if failure.startswith("worker died") or failure == INTERRUPTED else "failed"
        elif "stopped_at_rung" in ua:
            status = "stopped"
        else:
            status = t.state.name.lower()
        duration = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        out.append({
            "number": t.number, "state": t.state.name, "status": status, "params": dict(t.params),
            "metrics": dict(ua.get("metrics") or {}), "values": list(t.values) if t.values else None,
            "constraints": dict(t.constraints), "failure": failure, "skipped": ua.get("skipped"),
            "is_baseline": bool(ua.get("is_baseline", False)), "feasible": _feasible(t),
            "on_front": False,
            "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None, "duration_s": duration,
            "trial_dir": ua.get("trial_dir"), "curves": _read_curves(ua.get("trial_dir")) if curves else [],
            "surplus": ua.get("surplus"), "stopped_at_rung": ua.get("stopped_at_rung"),
            "rungs": {int(k[5:]): v for k, v in ua.items() if k.startswith("rung_") and k[5:].isdigit()},
        })
    # the one front (distilbo.pareto): finished trials, Optuna's constraints as `feasible`, the study's objectives
    objectives = study.user_attrs.get("objectives") or []
    if objectives:
        for r in pareto_front([r for r in out if r["status"] == "ok"], objectives, []):
            r["on_front"] = True
    return out


def front_records(study: optuna.Study) -> list[dict[str, Any]]:
    """Records of the feasible, non-dominated trials (`distilbo.pareto.pareto_front` over `records`)."""
    return [r for r in records(study) if r["on_front"]]
