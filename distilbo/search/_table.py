"""The status table: what `distilbo status` prints for a study's records (`_records.records`).

    print(status_table(records(study), width=100))
"""

from __future__ import annotations

import re
import shutil
import textwrap
from typing import Any

from distilbo import progress
from distilbo.config import FIELD_SECTION
from distilbo.errors import UserError
from distilbo.search._outcome import FAILED, is_number


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.4g}"
    if isinstance(v, int) and abs(v) >= 100_000:
        return f"{v / 1e6:.2f}M"
    return str(v)


def _param_order(names: list[str]) -> list[str]:
    """Searched parameters, architecture ([student] settings) first, then [train], each in config order."""
    order = {n: i for i, n in enumerate(FIELD_SECTION)}
    rank = {"student": 0, "train": 1}
    return sorted(names, key=lambda n: (rank.get(FIELD_SECTION.get(n, ""), 2), order.get(n, len(order))))


def _misses(r: dict[str, Any]) -> list[str]:
    """The config constraints a trial that ran missed: `exact>=50 (exact 41.2)`."""
    out = []
    for name, v in (r.get("constraints") or {}).items():
        if name == FAILED or not is_number(v) or v <= 0:
            continue
        metric = re.split(r"[<>]=", name, maxsplit=1)[0]
        value = r["metrics"].get(metric)
        out.append(f"{name} ({metric} {_fmt(value)})" if value is not None else name)
    return out


def _stopped_note(r: dict[str, Any]) -> str:
    """`stopped at rung 1 (HasAns_forced_f1 31.2 on 200 q, 7 peers)`: the rung scores that stopped the trial."""
    k = r["stopped_at_rung"]
    rung = (r.get("rungs") or {}).get(k) or {}
    m = rung.get("metrics") or {}
    shown = [f"{name} {_fmt(m[name])}" for name in ("HasAns_forced_f1", "exact") if is_number(m.get(name))][:1]
    where = f" on {int(m['rung_questions'])} q" if is_number(m.get("rung_questions")) else ""
    peers = f", {rung['peers']} peers" if is_number(rung.get("peers")) else ""
    return f"stopped at rung {k}" + (f" ({shown[0]}{where}{peers})" if shown else "")


def _running_note(r: dict[str, Any]) -> str:
    """What a running trial is doing, from its progress.json: `training, epoch 1.25/2, step 120/400, loss 2.31`."""
    st = progress.read(r["trial_dir"]) if r.get("trial_dir") else None
    if st is None:
        return ""
    parts = [st["phase"]]
    if st["phase"] in ("training", "evaluating") and is_number(st.get("total_steps")):
        if is_number(st.get("epoch")) and is_number(st.get("epochs")):
            parts.append(f"epoch {st['epoch']:.2f}/{st['epochs']:g}")
        parts.append(f"step {st.get('step', 0)}/{st['total_steps']}")
        if is_number(st.get("loss")):
            parts.append(f"loss {st['loss']:.3g}")
    return ", ".join(parts)


NOTE_MIN = 12
"""Characters kept for the failure / note column (a fifth of the width on wider terminals) before parameter
columns are added (`status_table`)."""


def status_table(recs: list[dict[str, Any]], *, width: int | None = None, metrics: tuple[str, ...] = ("exact", "f1"),
                 columns: list[str] | None = None) -> str:
    """A text table for `distilbo status`, at most `width` characters wide (default: the terminal's width).

    Columns: #, status, `metrics` (the study's objectives first), params, latency, then one column per searched
    parameter, architecture first, as many as fit, and the failure / note (cut to what is left). `columns` (names
    of searched parameters and metrics) replaces everything between status and the note, in that order. `*` marks
    the baseline, `F` the Pareto front; a trial that ran but misses a constraint of the study is "ok (infeasible)"
    and its note names the constraint; a running trial's note is its progress (phase, epoch, step, loss)."""
    width = width or shutil.get_terminal_size().columns
    ok = [r["status"] == "ok" for r in recs]
    misses = [_misses(r) if good else [] for r, good in zip(recs, ok)]
    params = _param_order(list(dict.fromkeys(k for r in recs for k in r["params"])))

    def metric_col(k: str) -> list[str]:
        return [_fmt(r["metrics"].get(k)) if good else "" for r, good in zip(recs, ok)]

    def size_col() -> list[str]:
        return [f"{r['metrics']['num_parameters'] / 1e6:.2f}M" if is_number(r["metrics"].get("num_parameters"))
                else "" for r in recs]

    cols: dict[str, list[str]] = {
        "#": [f"{r['number']}{'*' if r['is_baseline'] else ''}{'F' if r['on_front'] else ''}" for r in recs],
        "status": ["ok (infeasible)" if miss else r["status"] for r, miss in zip(recs, misses)]}
    if columns is None:
        for k in dict.fromkeys(m for m in metrics if m not in ("num_parameters", "latency_ms")):
            cols[k] = metric_col(k)
        cols["params"], cols["lat_ms"] = size_col(), metric_col("latency_ms")
        fixed, optional = list(cols), params
    else:
        known = set().union(*(r["metrics"] for r in recs)) if recs else set()
        for k in columns:
            if k in params:
                cols[k] = [_fmt(r["params"].get(k)) for r in recs]
            elif k in ("params", "num_parameters"):
                cols[k] = size_col()
            elif k in known or k in metrics:
                cols[k] = metric_col(k)
            else:
                raise UserError(f"--columns {k}: not a column of this study; pick from the searched parameters "
                                f"({', '.join(params) or 'none'}) and the metrics ({', '.join(sorted(known)) or 'none'})")
        fixed, optional = list(cols), []
    for k in optional:
        cols[k] = [_fmt(r["params"].get(k)) for r in recs]
    notes = []
    for r, miss in zip(recs, misses):
        note = r["failure"] or (f"skipped: {r['skipped']}" if r["skipped"] else "") or (
            f"not run: {r['surplus']}" if r.get("surplus") else "") or (
            _stopped_note(r) if r.get("stopped_at_rung") is not None else "")
        if miss:
            note = "misses " + "; ".join(miss)
        elif r["status"] == "running":
            note = _running_note(r)
        notes.append(note)
    w = {k: max(len(k), *(len(c) for c in v)) if v else len(k) for k, v in cols.items()}

    def total(names: list[str]) -> int:
        return sum(w[k] for k in names) + 2 * (len(names) - 1)

    chosen = list(fixed)
    if columns is None:
        while len(chosen) > 2 and total(chosen) > width:
            chosen.pop()
    longest_note = max((len(n) for n in notes), default=0)
    reserve = min(max(NOTE_MIN, width // 5), longest_note) + 2 if longest_note else 0
    hidden = []
    for k in optional:
        if not hidden and total(chosen + [k]) + reserve <= width:
            chosen.append(k)
        else:
            hidden.append(k)
    room = width - total(chosen) - 2  # what is left for the last column, the failure / note
    if longest_note and room >= min(longest_note, 8):
        cols["failure / note"] = [n if len(n) <= room else n[:room - 3] + "..." for n in notes]
        w["failure / note"] = 0  # the last column: not padded
        chosen.append("failure / note")
    lines = ["  ".join(cells).rstrip() for cells in
             zip(*[[k.ljust(w[k])] + [c.ljust(w[k]) for c in cols[k]] for k in chosen])]
    if columns is None:
        lines = [ln[:width] for ln in lines]
    done = sum(r["state"] == "COMPLETE" or r["status"] == "stopped" for r in recs)
    failed = sum(r["status"] in ("failed", "interrupted") for r in recs)
    infeasible = sum(bool(m) for m in misses)
    stopped = sum(r["status"] == "stopped" for r in recs)
    foot = (f"{done} finished ({failed} failed{f', {infeasible} infeasible' if infeasible else ''}"
            f"{f', {stopped} stopped early' if stopped else ''}), "
            f"{sum(r['status'] == 'running' for r in recs)} running; * baseline, F Pareto front")
    lines += textwrap.wrap(foot, width)
    if hidden:
        more = f"not shown: {', '.join(hidden)} (a wider terminal, or --columns NAME,...)"
        for i in range(len(hidden) - 1, 0, -1):
            if len(more) <= width:
                break
            more = f"not shown: {', '.join(hidden[:i])} and {len(hidden) - i} more (--columns NAME,...)"
        lines.append(more[:width])
    return "\n".join(lines)
