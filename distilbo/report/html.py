"""The study report: one self-contained HTML page, a static frontier PNG, a CSV of every trial and a JSON of the front.

    from distilbo.report.html import write_report
    paths = write_report(records, out_dir=run_dir / "report", study_name="cpu-squad2",
                         objectives=cfg.search.objectives, constraints=cfg.search.constraints,
                         scenarios=scenario_table(records, objectives=..., constraints=...),
                         importances={"exact": {"n_layers": 0.6, ...}}, storage_label="sqlite:///runs/x/study.db")
    paths["html"]  # runs/x/report/report.html: open it in any browser, offline

Files written into `out_dir` (each atomically: a temporary file, then os.replace, so a kill never leaves half a file):
    report.html   interactive frontier (inline SVG scaled to the page width, 800-1600 px and beyond; its legend is
                  HTML beside or below it and lists only the kinds of marker drawn; failed trials are red crosses in
                  a lane along the bottom; hover or focus a point for a compact tooltip of its objective and main
                  metrics and its searched parameters, each once, placed beside the point inside the window; click
                  a point for its table row), scenario table, sortable table of every trial (click a header;
                  `report.html#sort=exact:desc` opens sorted), training curves of the frontier trials (loss by
                  step and the dev score of the plotted accuracy metric by step, from curves.jsonl), parameter
                  importance with a plain sentence
    frontier.png  the same frontier as a static image (matplotlib, Agg)
    trials.csv    one row per trial: number, state, failure, is_baseline, feasible, on_front, stopped_at_rung
                  (early stopping: the rung a trial was stopped at, else empty), params, metrics
                  (feasible = finished without failure and within the constraints)
    frontier.json objectives, constraints, frontier trials (params + metrics) and the scenario rows; with
                  confirmation runs (`distilbo confirm`) also `confirmed`: each confirmed trial's mean +- sd over
                  its seeds on dev and the test split, and whether it holds on the confirmed front

With confirmed records (`report.confirmed.confirmed_records`) the PNG draws their means with +- sd error bars and
the confirmed front, the scenario table shows mean +- sd (n seeds) and the test split, and a "Confirmed frontier"
section lists every confirmed trial beside its single search draw.

Every string that comes from the study (names, parameter values, failure messages, the storage label, metric
names) is HTML-escaped; JSON embedded in <script> has `<`, `>` and `&` written as \\u003c, \\u003e, \\u0026.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from distilbo._io import write_atomic
from distilbo.names import group_of
from distilbo.pareto import is_failure, is_success, meets_constraints, metric_value, non_dominated_mask, pareto_front
from distilbo.report.frontier import importance_sentence

Record = dict[str, Any]

GROUP_COLORS = {"architecture": "#4c72b0", "SGD": "#dd8452", "distillation": "#55a868"}
FRONT_COLOR, POINT_COLOR, PALE_COLOR, BASE_COLOR, FAIL_COLOR = "#1f5fbf", "#6b7280", "#c9ccd1", "#f59e0b", "#d62728"
CONFIRMED_COLOR = "#111827"


# ---------------------------------------------------------------------------------------------- small helpers
def _e(value: Any) -> str:
    """HTML-escape any value (quotes too, so it is safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf by None and anything JSON cannot hold by its str()."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(f):
        return None
    return int(f) if hasattr(value, "dtype") and "int" in str(value.dtype) else f


def _script_json(value: Any) -> str:
    """JSON that is safe inside <script>: no `<`, `>` or `&` can close the element or open a comment."""
    text = json.dumps(_json_safe(value), ensure_ascii=False, allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _remove_stale_tmp(folder: Path) -> None:
    """Delete `.NAME.PID.tmp` files `write_atomic` left when process PID was killed (it is no longer running)."""
    for tmp in folder.glob(".*.*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (PermissionError, OSError):
            pass  # alive (someone else's) or not ours to judge


def _fmt(value: Any) -> str:
    """Readable cell text: 31,000,000 / 63.48 / 3.2e-05 / text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) >= 1e4:
            return f"{int(value):,}"
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _fmt_change(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:+.1f}%" if unit == "%" else f"{value:+.2f} pts"


def _millions(v: float | None) -> str:
    return "—" if v is None else f"{v / 1e6:.2f}M"


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _describe(record: Record, x_metric: str, y_metric: str) -> str:
    """Plain-text tooltip for an SVG <title> (escaped by the caller)."""
    tags = []
    if record.get("is_baseline"):
        tags.append("baseline")
    if record.get("_front"):
        tags.append("frontier")
    lines = [f"trial {record.get('number')}" + (f" ({', '.join(tags)})" if tags else "")]
    y, x = metric_value(record, y_metric), metric_value(record, x_metric)
    lines.append(f"{y_metric} {_fmt(y) or '—'} · {_millions(x)} {x_metric}")
    if record.get("failure"):
        lines.append(f"failed: {record['failure']}")
    params = record.get("params") or {}
    lines.extend(f"{k} = {_fmt(v)}" for k, v in sorted(params.items()))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- classification
def _classify(records: Sequence[Record], objectives, constraints, x_metric: str, y_metric: str) -> dict[str, list]:
    front_ids = {id(r) for r in pareto_front(records, objectives, constraints)}
    out: dict[str, list] = {"front": [], "feasible": [], "infeasible": [], "failed": [], "other": []}
    for r in records:
        r["_front"] = id(r) in front_ids
        if is_failure(r):
            out["failed"].append(r)
        elif not is_success(r, [x_metric, y_metric]):
            out["other"].append(r)
        elif r["_front"]:
            out["front"].append(r)
        elif meets_constraints(r, constraints):
            out["feasible"].append(r)
        else:
            out["infeasible"].append(r)
    return out


def _step_points(front: list[Record], x_metric: str, y_metric: str) -> list[tuple[float, float]]:
    """The front points that are also non-dominated in the plotted (x smaller, y larger) plane, sorted by x."""
    pts = [(metric_value(r, x_metric), metric_value(r, y_metric)) for r in front]
    pts = [p for p in pts if p[0] is not None and p[1] is not None]
    if not pts:
        return []
    import numpy as np

    mask = non_dominated_mask(np.array([(x, -y) for x, y in pts]))
    return sorted({p for p, m in zip(pts, mask) if m})


def _threshold(constraints, y_metric: str) -> float | None:
    mins = [float(c["min"]) for c in constraints if c.get("metric") == y_metric and c.get("min") is not None]
    return max(mins) if mins else None


# ---------------------------------------------------------------------------------------------- PNG
def frontier_png(records: Sequence[Record], *, objectives, constraints, study_name: str,
                 x_metric: str = "num_parameters", y_metric: str = "exact",
                 confirmed: Sequence[Record] | None = None) -> bytes:
    """The frontier as PNG bytes (matplotlib Agg, no pyplot state); `confirmed` records (mean metrics with a
    `confirmed` entry) are drawn as mean +- sd error bars, joined to their search draw, with the confirmed front."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups = _classify(list(records), objectives, constraints, x_metric, y_metric)
    fig = Figure(figsize=(9.5, 5.2), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)

    def xy(rs: list[Record]) -> tuple[list[float], list[float]]:
        return ([metric_value(r, x_metric) / 1e6 for r in rs], [metric_value(r, y_metric) for r in rs])

    thr = _threshold(constraints, y_metric)
    pale = [r for r in groups["infeasible"] if not r.get("is_baseline")]
    if pale:
        label = f"below {y_metric} ≥ {thr:g}" if thr is not None else "infeasible"
        ax.scatter(*xy(pale), s=28, color=PALE_COLOR, alpha=0.7, label=label, zorder=2)
    others = [r for r in groups["feasible"] if not r.get("is_baseline")]
    if others:
        ax.scatter(*xy(others), s=30, color=POINT_COLOR, alpha=0.8, label="dominated", zorder=3)
    steps = _step_points(groups["front"], x_metric, y_metric)
    if steps:
        ax.step([x / 1e6 for x, _ in steps], [y for _, y in steps], where="post", color=FRONT_COLOR,
                lw=1.4, alpha=0.8, zorder=3)
    front = [r for r in groups["front"] if not r.get("is_baseline")]
    if front:
        ax.scatter(*xy(front), s=52, color=FRONT_COLOR, edgecolor="white", lw=0.8, label="Pareto frontier", zorder=4)
    base = next((r for r in records if r.get("is_baseline") and is_success(r, [x_metric, y_metric])), None)
    if base is not None:
        bx, by = metric_value(base, x_metric) / 1e6, metric_value(base, y_metric)
        ax.scatter([bx], [by], marker="*", s=260, color=BASE_COLOR, edgecolor="black", lw=0.7,
                   label="baseline", zorder=5)
        ax.annotate(f"baseline (trial {base.get('number')})", (bx, by), xytext=(8, 8), textcoords="offset points",
                    fontsize=9)
    if thr is not None:
        ax.axhline(thr, color=FAIL_COLOR, lw=0.8, ls="--", alpha=0.6, zorder=1)
        ax.annotate(f"{y_metric} ≥ {thr:g}", (0.995, thr), xycoords=("axes fraction", "data"), ha="right",
                    va="bottom", fontsize=8, color=FAIL_COLOR)
    if confirmed:
        _confirmed_png(ax, confirmed, records, objectives=objectives, constraints=constraints, x_metric=x_metric,
                       y_metric=y_metric)
    failed = [r for r in groups["failed"] if metric_value(r, x_metric) is not None]
    if failed:
        ax.scatter([metric_value(r, x_metric) / 1e6 for r in failed], [0.03] * len(failed), marker="x", s=40,
                   color=FAIL_COLOR, transform=ax.get_xaxis_transform(), clip_on=False,
                   label=f"failed (OOM/timeout/crash) ({len(failed)})", zorder=5)
    all_x = [metric_value(r, x_metric) / 1e6 for r in groups["front"] + groups["feasible"] + groups["infeasible"]
             + failed]
    if all_x:  # failures sit on an axis-blended transform, which autoscaling ignores
        lo, hi = min(all_x), max(all_x)
        pad = (hi - lo) * 0.05 or 1.0
        ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(f"{x_metric} (millions)")
    ax.set_ylabel(f"{y_metric} (dev, %)" if y_metric in ("exact", "f1") else y_metric)
    title = f"{study_name}: {y_metric} vs {x_metric}".replace("$", r"\$")
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)  # off the data
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _confirmed_png(ax: Any, confirmed: Sequence[Record], records: Sequence[Record], *, objectives, constraints,
                   x_metric: str, y_metric: str) -> None:
    """Confirmed means +- sd (black diamonds), a thin line from each search draw to its mean, the confirmed front."""
    draws = {r.get("number"): metric_value(r, y_metric) for r in records}
    pts = [r for r in confirmed if metric_value(r, x_metric) is not None and metric_value(r, y_metric) is not None]
    if not pts:
        return
    xs = [metric_value(r, x_metric) / 1e6 for r in pts]
    ys = [metric_value(r, y_metric) for r in pts]
    sds = [(r["confirmed"]["stats"].get(y_metric) or {}).get("sd", 0.0) for r in pts]
    for x, y, r in zip(xs, ys, pts):
        d = draws.get(r.get("number"))
        if d is not None:
            ax.plot([x, x], [d, y], color=CONFIRMED_COLOR, lw=0.7, alpha=0.5, zorder=5)
    ns = sorted({(r["confirmed"]["stats"].get(y_metric) or {}).get("n", 0) for r in pts})
    n_txt = "/".join(str(n) for n in ns)
    ax.errorbar(xs, ys, yerr=sds, fmt="D", ms=5, color=CONFIRMED_COLOR, ecolor=CONFIRMED_COLOR, elinewidth=1,
                capsize=3, label=f"confirmed mean ± sd ({n_txt} seeds)", zorder=6)
    steps = _step_points(pareto_front(pts, objectives, constraints), x_metric, y_metric)
    if steps:
        ax.step([x / 1e6 for x, _ in steps], [y for _, y in steps], where="post", color=CONFIRMED_COLOR, lw=1.0,
                ls="--", alpha=0.8, label="confirmed frontier", zorder=5)


# ---------------------------------------------------------------------------------------------- SVG frontier
# The plot is drawn in a fixed coordinate system (viewBox PLOT_W x PLOT_H) and scaled by the browser to the width of
# its box (CSS: width 100%, height auto), so it follows the page width from a phone to a wide monitor. Its legend
# is HTML next to it (beside when there is room, below when not): text wraps there and is never clipped.
PLOT_W, PLOT_H = 900, 430


def _legend_symbol(kind: str) -> str:
    """A small inline SVG drawn like the plot's marker of `kind`."""
    body = {
        "front": '<line class="step" x1="0" x2="18" y1="7" y2="7"/><circle class="lg front" cx="9" cy="7" r="5"/>',
        "feasible": '<circle class="lg feasible" cx="9" cy="7" r="4.5"/>',
        "infeasible": '<circle class="lg infeasible" cx="9" cy="7" r="4.5"/>',
        "baseline": '<polygon class="lg baseline" points="9,0 10.9,4.4 15.7,4.8 12,8 13.1,12.7 9,10.2 4.9,12.7 6,8 '
                    '2.3,4.8 7.1,4.4"/>',
        "failed": '<path class="lg failed" d="M4,2L14,12M4,12L14,2"/>',
        "threshold": '<line class="threshold" x1="0" x2="18" y1="7" y2="7"/>',
    }[kind]
    return f'<svg class="lg-sym" width="18" height="14" viewBox="0 0 18 14" aria-hidden="true">{body}</svg>'


def _legend_html(groups: dict[str, list], records: Sequence[Record], *, thr: float | None, x_metric: str,
                 y_metric: str) -> str:
    """One entry per kind of marker actually drawn (none for an empty kind), with its count."""
    def n_plain(cls: str) -> int:
        return sum(1 for r in groups[cls] if not r.get("is_baseline"))

    failed_all = len(groups["failed"])
    failed_drawn = sum(1 for r in groups["failed"] if metric_value(r, x_metric) is not None)
    base = next((r for r in groups["front"] + groups["feasible"] + groups["infeasible"] if r.get("is_baseline")), None)
    items = []
    if n_plain("front"):
        items.append(("front", f"Pareto frontier ({n_plain('front')})"))
    if n_plain("feasible"):
        items.append(("feasible", f"feasible, dominated ({n_plain('feasible')})"))
    if n_plain("infeasible"):
        what = f"below {y_metric} ≥ {thr:g}" if thr is not None else "outside the constraints"
        items.append(("infeasible", f"{what} ({n_plain('infeasible')})"))
    if base is not None:
        items.append(("baseline", f"baseline (trial {base.get('number')})"))
    if failed_drawn:
        extra = f"; {failed_all - failed_drawn} without {x_metric} not drawn" if failed_all > failed_drawn else ""
        items.append(("failed", f"failed (OOM/timeout/crash) ({failed_drawn}{extra})"))
    if thr is not None and groups["front"] + groups["feasible"] + groups["infeasible"]:  # the line is drawn
        items.append(("threshold", f"constraint {y_metric} ≥ {thr:g}"))
    lis = "".join(f'<li class="lg-item" data-kind="{k}">{_legend_symbol(k)}<span class="lg-text">{_e(t)}</span></li>'
                  for k, t in items)
    return f'<ul id="frontier-legend" aria-label="legend">{lis}</ul>' if items else ""


def _frontier_svg(groups: dict[str, list], records: Sequence[Record], *, constraints, x_metric: str,
                  y_metric: str, svg_id: str = "frontier-plot", confirmed: Sequence[Record] | None = None) -> str:
    """The frontier chart: `y_metric` against `x_metric` (parameter counts in millions, other metrics as they are);
    `confirmed` records are drawn as dark diamonds at their mean with a +- sd bar, over the single draws."""
    W, H, L, R, T, B = PLOT_W, PLOT_H, 62, 14, 14, 50
    scale, unit = (1e6, " (millions)") if "param" in x_metric else (1.0, "")
    plotted = groups["front"] + groups["feasible"] + groups["infeasible"]
    failed = [r for r in groups["failed"] if metric_value(r, x_metric) is not None]
    xs = [metric_value(r, x_metric) / scale for r in plotted + failed]
    ys = [metric_value(r, y_metric) for r in plotted]
    thr = _threshold(constraints, y_metric)
    if thr is not None and ys:
        ys = ys + [thr]
    bars = [(metric_value(r, x_metric) / scale, metric_value(r, y_metric),
             (r["confirmed"]["stats"].get(y_metric) or {}).get("sd", 0.0), r) for r in confirmed or []
            if metric_value(r, x_metric) is not None and metric_value(r, y_metric) is not None]
    if ys:
        ys = ys + [y + d for _, y, sd, _ in bars for d in (-sd, sd)]
    if not xs:
        return (f'<svg id="{svg_id}" class="plot" viewBox="0 0 {W} 60" role="img" '
                f'aria-label="no trials to plot"><text x="20" y="36">No finished trial has both metrics yet.'
                f'</text></svg>')
    x0, x1 = min(xs), max(xs)
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    px, py = (x1 - x0) * 0.05 or 1.0, (y1 - y0) * 0.08 or 1.0
    x0, x1, y0, y1 = x0 - px, x1 + px, y0 - py, y1 + py
    lane = 28 if failed else 0  # failed trials get their own tinted lane at the bottom, below every score
    pw, ph = W - L - R, H - T - B
    dh = ph - lane  # the data region above the lane

    def sx(v: float) -> float:
        return L + (v - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return T + (1 - (v - y0) / (y1 - y0)) * dh

    out = [f'<svg id="{svg_id}" class="plot" viewBox="0 0 {W} {H}" preserveAspectRatio="xMidYMid meet" '
           f'role="img" aria-label="{_e(y_metric)} versus {_e(x_metric)} for every trial">']
    for t in _nice_ticks(x0, x1, 8):
        out.append(f'<line class="grid" x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{T}" y2="{T + ph}"/>'
                   f'<text class="tick" x="{sx(t):.1f}" y="{T + ph + 17}" text-anchor="middle">{t:g}</text>')
    for t in _nice_ticks(y0, y1, 6) if ys else []:
        out.append(f'<line class="grid" x1="{L}" x2="{L + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>'
                   f'<text class="tick" x="{L - 7}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    if not ys:
        out.append(f'<text class="axis" x="{L + pw / 2}" y="{T + dh / 2:.1f}" text-anchor="middle">'
                   f'No finished trial has both metrics yet; only failures to show.</text>')
    if lane:
        out.append(f'<rect class="fail-lane" x="{L}" y="{T + dh}" width="{pw}" height="{lane}"/>'
                   f'<text class="fail-label" x="{L - 7}" y="{T + dh + lane / 2 + 4:.1f}" text-anchor="end">'
                   f'failed</text>')
    out.append(f'<rect class="frame" x="{L}" y="{T}" width="{pw}" height="{ph}"/>')
    out.append(f'<text class="axis" x="{L + pw / 2}" y="{H - 10}" text-anchor="middle">{_e(x_metric)}{unit}'
               f'</text>')
    out.append(f'<text class="axis" transform="translate(16 {T + dh / 2:.1f}) rotate(-90)" text-anchor="middle">'
               f'{_e(y_metric)}</text>')
    if thr is not None and ys:
        out.append(f'<line class="threshold" x1="{L}" x2="{L + pw}" y1="{sy(thr):.1f}" y2="{sy(thr):.1f}"/>'
                   f'<text class="thr-label" x="{L + pw - 5}" y="{sy(thr) - 5:.1f}" text-anchor="end">'
                   f'{_e(y_metric)} ≥ {thr:g}</text>')
    steps = _step_points(groups["front"], x_metric, y_metric)
    if steps:
        d = [f"M{sx(steps[0][0] / scale):.1f},{sy(steps[0][1]):.1f}"]
        for (_, ya), (xb, yb) in zip(steps, steps[1:]):
            d.append(f"H{sx(xb / scale):.1f}V{sy(yb):.1f}")
        out.append(f'<path class="step" d="{"".join(d)}"/>')

    def point(r: Record, cls: str, radius: float) -> str:
        x, y = sx(metric_value(r, x_metric) / scale), sy(metric_value(r, y_metric))
        n = _e(r.get("number"))
        tip = f"<title>{_e(_describe(r, x_metric, y_metric))}</title>"
        if r.get("is_baseline"):
            pts = " ".join(f"{x + (10 if k % 2 == 0 else 4.5) * math.sin(k * math.pi / 5):.1f},"
                           f"{y - (10 if k % 2 == 0 else 4.5) * math.cos(k * math.pi / 5):.1f}" for k in range(10))
            right = x > L + pw * 0.85  # near the right edge: label on the left, so it stays inside the plot
            lx, anchor = (x - 13, "end") if right else (x + 13, "start")
            ly = max(y - 9, T + 12)
            return (f'<polygon class="pt baseline" data-trial="{n}" tabindex="0" points="{pts}">{tip}</polygon>'
                    f'<text class="base-label" x="{lx:.1f}" y="{ly:.1f}" text-anchor="{anchor}">baseline</text>')
        return (f'<circle class="pt {cls}" data-trial="{n}" tabindex="0" cx="{x:.1f}" cy="{y:.1f}" '
                f'r="{radius}">{tip}</circle>')

    for cls, rad in (("infeasible", 4.5), ("feasible", 5), ("front", 6.5)):
        out.extend(point(r, cls, rad) for r in groups[cls])
    for x, y, sd, r in bars:  # confirmed: mean +- sd over seeds
        cx, cy = sx(x), sy(y)
        stats = r["confirmed"]["stats"].get(y_metric) or {}
        tip = (f"trial {r.get('number')} confirmed: {y_metric} {y:.2f} ± {sd:.2f} over {stats.get('n', '?')} seeds "
               f"(search draw {stats.get('draw')})")
        out.append(f'<line class="conf-bar" x1="{cx:.1f}" x2="{cx:.1f}" y1="{sy(y - sd):.1f}" y2="{sy(y + sd):.1f}"/>'
                   f'<path class="conf-pt" d="M{cx:.1f},{cy - 6:.1f}L{cx + 6:.1f},{cy:.1f}L{cx:.1f},{cy + 6:.1f}'
                   f'L{cx - 6:.1f},{cy:.1f}Z"><title>{_e(tip)}</title></path>')
    for r in failed:
        x, y = sx(metric_value(r, x_metric) / scale), T + dh + lane / 2
        out.append(f'<path class="pt failed" data-trial="{_e(r.get("number"))}" tabindex="0" '
                   f'd="M{x - 6:.1f},{y - 6:.1f}L{x + 6:.1f},{y + 6:.1f}M{x - 6:.1f},{y + 6:.1f}L{x + 6:.1f},{y - 6:.1f}">'
                   f'<title>{_e(_describe(r, x_metric, y_metric))}</title></path>')
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------- curves
CURVE_W, CURVE_H = 320, 180


def _curve_svg(series: list[tuple[float, float]], *, kind: str, xlabel: str, ylabel: str, title: str,
               x_range: tuple[float, float] | None = None, thr: float | None = None) -> str:
    """A small line plot (kind "loss": a line; kind "dev": points joined by a line, each with a <title>)."""
    if not series:
        return ""
    W, H, L, R, T, B = CURVE_W, CURVE_H, 46, 10, 24, 34
    pts = sorted(series)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = x_range if x_range else (min(xs), max(xs))
    x0, x1 = min(x0, min(xs)), max(x1, max(xs))
    y0, y1 = min(ys), max(ys)
    if thr is not None and y0 - (y1 - y0) <= thr <= y1 + (y1 - y0):  # show the constraint when it is near
        y0, y1 = min(y0, thr), max(y1, thr)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    pad = (y1 - y0) * 0.08 or 0.5
    y0, y1 = y0 - pad, y1 + pad
    pw, ph = W - L - R, H - T - B

    def sx(v: float) -> float:
        return L + (v - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return T + (1 - (v - y0) / (y1 - y0)) * ph

    out = [f'<svg class="curve" data-kind="{kind}" viewBox="0 0 {W} {H}" role="img" aria-label="{_e(title)}">',
           f'<text class="ctitle" x="{L}" y="15">{_e(title)}</text>']
    for t in _nice_ticks(y0, y1, 4):
        out.append(f'<line class="grid" x1="{L}" x2="{L + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}"/>'
                   f'<text class="tick" x="{L - 5}" y="{sy(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    for t in _nice_ticks(x0, x1, 4):
        out.append(f'<text class="tick" x="{sx(t):.1f}" y="{T + ph + 14}" text-anchor="middle">{t:g}</text>')
    out.append(f'<rect class="frame" x="{L}" y="{T}" width="{pw}" height="{ph}"/>')
    out.append(f'<text class="tick" x="{L + pw / 2}" y="{H - 4}" text-anchor="middle">{_e(xlabel)}</text>')
    if thr is not None and y0 <= thr <= y1:
        out.append(f'<line class="threshold" x1="{L}" x2="{L + pw}" y1="{sy(thr):.1f}" y2="{sy(thr):.1f}"/>')
    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
    out.append(f'<polyline class="cline {kind}" points="{coords}"><title>{_e(ylabel)}</title></polyline>')
    if kind == "dev":
        out.extend(f'<circle class="cpt" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3">'
                   f'<title>{_e(xlabel)} {_fmt(x)}: {_e(ylabel)} {_fmt(y)}</title></circle>' for x, y in pts)
    out.append("</svg>")
    return "".join(out)


def _curves_html(record: Record, *, y_metric: str = "exact", thr: float | None = None) -> str:
    """Training loss by step and the dev scores of `y_metric` by step (by epoch for rows without a step), from the
    record's curve rows (curves.jsonl: {"step", "epoch", "loss", "soft", "hard", "lr"} and {"epoch", "step",
    "exact", "f1", ...})."""
    loss: list[tuple[float, float]] = []
    dev_step: list[tuple[float, float]] = []
    dev_epoch: list[tuple[float, float]] = []
    for row in record.get("curves") or []:
        if not isinstance(row, Mapping):
            continue
        step, epoch = _num_or_none(row.get("step")), _num_or_none(row.get("epoch"))
        if "loss" in row:
            if step is not None and _num_or_none(row["loss"]) is not None:
                loss.append((step, float(row["loss"])))
        elif _num_or_none(row.get(y_metric)) is not None:
            if step is not None:
                dev_step.append((step, float(row[y_metric])))
            elif epoch is not None:
                dev_epoch.append((epoch, float(row[y_metric])))
    dev_by_epoch = not dev_step and bool(dev_epoch)  # an older trial's rows: dev scores by epoch only
    dev = dev_epoch if dev_by_epoch else dev_step
    xs = [p[0] for p in loss] + ([] if dev_by_epoch else [p[0] for p in dev])
    x_range = (0.0, max(xs)) if xs else None
    parts = [_curve_svg(loss, kind="loss", xlabel="step", ylabel="training loss", title="training loss",
                        x_range=x_range),
             _curve_svg(dev, kind="dev", xlabel="epoch" if dev_by_epoch else "step", ylabel=y_metric,
                        title=f"dev {y_metric}", x_range=None if dev_by_epoch else x_range, thr=thr)]
    if not any(parts):
        return '<p class="muted">no training curve recorded</p>'
    if not parts[1]:
        parts[1] = f'<p class="muted">no dev {_e(y_metric)} recorded during training</p>'
    return '<div class="cplots">' + "".join(p for p in parts if p) + "</div>"


def _num_or_none(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# ---------------------------------------------------------------------------------------------- tables
def _columns(records: Sequence[Record], objectives) -> tuple[list[str], list[str]]:
    obj = [o["metric"] for o in objectives]
    metrics = sorted({k for r in records for k in (r.get("metrics") or {})} - set(obj))
    present = {k for r in records for k in (r.get("metrics") or {})}
    params = sorted({k for r in records for k in (r.get("params") or {})})
    return [m for m in obj if m in present] + metrics, params


def _feasible(r: Record, constraints) -> bool:
    """Feasible for the report: finished without failure and every constraint met (a failed trial never is,
    whatever Optuna's pessimistic values say)."""
    return is_success(r) and meets_constraints(r, constraints)


FIXED = ("number", "state", "failure", "is_baseline", "feasible", "on_front", "stopped_at_rung")


def _csv_names(metrics: list[str], params: list[str]) -> tuple[list[str], list[str]]:
    """Plain names as CSV headers, prefixed (param:/metric:) only where they would collide."""
    taken = set(FIXED)
    p_names = [f"param:{p}" if p in taken or p in metrics else p for p in params]
    m_names = [f"metric:{m}" if m in taken or m in params else m for m in metrics]
    return p_names, m_names


def trials_csv(records: Sequence[Record], *, objectives, constraints) -> str:
    front_ids = {id(r) for r in pareto_front(records, objectives, constraints)}
    metrics, params = _columns(records, objectives)
    p_names, m_names = _csv_names(metrics, params)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(FIXED) + p_names + m_names)
    for r in sorted(records, key=lambda r: r.get("number", 0)):
        p, m = r.get("params") or {}, r.get("metrics") or {}
        w.writerow([r.get("number"), r.get("state"), r.get("failure") or "", bool(r.get("is_baseline")),
                    _feasible(r, constraints), id(r) in front_ids,
                    "" if r.get("stopped_at_rung") is None else r["stopped_at_rung"]]
                   + [p.get(k, "") for k in params] + [m.get(k, "") for k in metrics])
    return buf.getvalue()


def frontier_json(records: Sequence[Record], *, study_name: str, objectives, constraints, scenarios,
                  confirmed: Sequence[Record] | None = None, marks: Mapping[int, str] | None = None) -> str:
    front = sorted(pareto_front(records, objectives, constraints), key=lambda r: r.get("number", 0))
    doc = {"study": study_name, "objectives": list(objectives), "constraints": list(constraints),
           "front": [{"number": r.get("number"), "is_baseline": bool(r.get("is_baseline")),
                      "params": r.get("params") or {}, "metrics": r.get("metrics") or {},
                      "trial_dir": r.get("trial_dir")} for r in front],
           "scenarios": list(scenarios)}
    if confirmed:
        doc["confirmed"] = [{"number": r.get("number"), "is_baseline": bool(r.get("is_baseline")),
                             "mark": (marks or {}).get(r.get("number")), "seeds": r["confirmed"]["seeds"],
                             "stats": {k: {f: v[f] for f in ("mean", "sd", "n", "draw")}
                                       for k, v in r["confirmed"]["stats"].items()}}
                            for r in sorted(confirmed, key=lambda r: r.get("number", 0))]
    return json.dumps(_json_safe(doc), indent=2, allow_nan=False) + "\n"


def _pm(mean: Any, sd: Any, n: Any = None) -> str:
    """"59.42 ± 0.31 (3)" for a confirmed value, the plain value otherwise, "—" when there is none."""
    if mean is None:
        return "—"
    if sd is None:
        return format(mean, ".2f")
    return f"{mean:.2f} ± {sd:.2f}" + (f" ({n})" if n else "")


def _scenario_html(scenarios: Sequence[Mapping[str, Any]], *, metric: str = "exact") -> str:
    confirmed = any(s.get("n_seeds") for s in scenarios)
    rows = []
    for s in scenarios:
        trial = s.get("trial")
        test = (f"<td class=num>{_pm(s.get('test_value'), s.get('test_sd'), s.get('test_n'))}</td>"
                f"<td class=num>{_pm(s.get('test_calibrated_f1'), s.get('test_calibrated_f1_sd'))}</td>"
                if confirmed else "")
        rows.append(
            "<tr>" f"<td>{_e(s.get('scenario'))}</td>"
            f"<td class=num>{'—' if trial is None else _e(trial)}</td>"
            f"<td class=num>{_millions(s.get('size'))}</td>"
            f"<td class=num>{_pm(s.get('value'), s.get('value_sd'), s.get('n_seeds'))}</td>{test}"
            f"<td class=num>{_fmt_change(s.get('size_change_pct'), '%')}</td>"
            f"<td class=num>{_fmt_change(s.get('value_change_pts'), 'pts')}</td>"
            f"<td>{_e(s.get('note'))}</td></tr>")
    head_value = f"{_e(metric)} (dev{', mean ± sd (seeds)' if confirmed else ''})"
    head_test = (f"<th>{_e(metric)} (test)</th><th>calibrated F1 (test)</th>" if confirmed else "")
    return ('<div class="hscroll"><table id="scenario-table"><thead><tr><th>Scenario</th><th>Trial</th><th>Parameters</th>'
            f'<th>{head_value}</th>{head_test}<th>Size change</th><th>{_e(metric)} change</th><th>Note</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div>")


def _confirmed_html(confirmed: Sequence[Record], marks: Mapping[int, str], *, x_metric: str, y_metric: str) -> str:
    """Every confirmed trial: its single search draw beside its mean +- sd over seeds, on dev and the test split."""
    if not confirmed:
        return ('<p class="muted">Not confirmed: every value above is one training run (a draw). Run <code>distilbo '
                'confirm</code> to retrain the frontier with more seeds and score it on the held-out test split.</p>')

    def cell(r: Record, name: str) -> str:
        st = r["confirmed"]["stats"].get(name)
        return f"<td class=num>{_pm(st['mean'], st['sd'], st['n']) if st else '—'}</td>"

    rows = []
    for r in sorted(confirmed, key=lambda r: (metric_value(r, x_metric) or 0, r.get("number", 0))):
        st = r["confirmed"]["stats"].get(y_metric) or {}
        draw = st.get("draw")
        rows.append(f"<tr><td class=num>{_e(r.get('number'))}{' (baseline)' if r.get('is_baseline') else ''}</td>"
                    f"<td class=num>{_millions(metric_value(r, x_metric))}</td>"
                    f"<td class=num>{'—' if draw is None else format(draw, '.2f')}</td>"
                    + cell(r, y_metric) + cell(r, f"test_{y_metric}") + cell(r, "calibrated_f1")
                    + cell(r, "test_calibrated_f1") + cell(r, "test_calibrated_answered_pct")
                    + f"<td>{_e(marks.get(r.get('number'), ''))}</td></tr>")
    return ('<p class="muted">Each trial retrained with more seeds (its search draw included in the mean; the test '
            'split only in the reruns: the search never scores it). Calibrated F1: answers with the no-answer '
            'threshold each run set on dev (best F1), the threshold an export ships. The scenarios above pick from '
            'these means.</p><div class="hscroll"><table id="confirmed-table"><thead><tr><th>Trial</th>'
            f'<th>{_e(x_metric)}</th><th>{_e(y_metric)} (search draw)</th><th>{_e(y_metric)} dev</th>'
            f'<th>{_e(y_metric)} test</th><th>calibrated F1 dev</th><th>calibrated F1 test</th>'
            '<th>answered % test</th><th>on the confirmed front?</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div>")


def _trials_html(records: Sequence[Record], metrics: list[str], params: list[str], constraints) -> str:
    head = ["#", "state", "baseline", "feasible", "frontier", "failure"] + metrics + params
    keys = ["number", "state", "is_baseline", "feasible", "on_front", "failure"] + metrics + params
    kinds = ["", "", "", "", "", ""] + ["metric"] * len(metrics) + ["param"] * len(params)
    ths = "".join(f'<th data-key="{_e(k)}" class="{c}" title="click to sort">{_e(h)}</th>'
                  for h, k, c in zip(head, keys, kinds))
    body = []
    for r in sorted(records, key=lambda r: r.get("number", 0)):
        cls = "failed" if is_failure(r) else ("front" if r.get("_front") else "")
        state = r.get("state") if r.get("stopped_at_rung") is None else f"stopped at rung {r['stopped_at_rung']}"
        cells = [(r.get("number"), _fmt(r.get("number"))), (state, state),
                 (int(bool(r.get("is_baseline"))), "★" if r.get("is_baseline") else ""),
                 (int(_feasible(r, constraints)), "yes" if _feasible(r, constraints) else "no"),
                 (int(bool(r.get("_front"))), "●" if r.get("_front") else "")]
        fail = r.get("failure") or ""
        short = fail if len(fail) <= 120 else fail[:117] + "…"
        tds = [f'<td data-v="{_e(v)}">{_e(t)}</td>' for v, t in cells]
        tds.append(f'<td data-v="{_e(fail)}" title="{_e(fail)}">{_e(short)}</td>')
        m, p = r.get("metrics") or {}, r.get("params") or {}
        for k in metrics:
            v = m.get(k)
            tds.append(f'<td class=num data-v="{_e("" if _num_or_none(v) is None else v)}">{_e(_fmt(v))}</td>')
        for k in params:
            v = p.get(k)
            tds.append(f'<td data-v="{_e("" if v is None else v)}">{_e(_fmt(v))}</td>')
        body.append(f'<tr class="{cls}" data-trial="{_e(r.get("number"))}">' + "".join(tds) + "</tr>")
    return (f'<div class="scroll"><table id="trials-table"><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _importance_html(importances: Mapping[str, Mapping[str, float]] | None,
                     spread: Mapping[str, Mapping[str, float]] | None, n_trials: int) -> str:
    if not importances:
        return ('<p class="muted">Parameter importance was not computed for this report '
                '(it needs several completed trials with varied parameters).</p>')
    blocks = []
    for obj, imp in importances.items():
        total = sum(max(float(v), 0.0) for v in imp.values()) or 1.0
        rows = []
        for p, v in sorted(imp.items(), key=lambda kv: -float(kv[1])):
            share = max(float(v), 0.0) / total
            g = group_of(p)
            sd = (spread or {}).get(obj, {}).get(p)
            sd_txt = f" ± {float(sd) / total:.0%}" if sd is not None else ""
            rows.append(f'<div class="bar-row"><span class="bar-name">{_e(p)}</span>'
                        f'<span class="bar-track"><span class="bar" style="width:{share * 100:.1f}%;'
                        f'background:{GROUP_COLORS.get(g, "#888")}"></span></span>'
                        f'<span class="bar-val">{share:.0%}{_e(sd_txt)} <small>{_e(g)}</small></span></div>')
        blocks.append(f'<div class="imp"><h3>{_e(obj)}</h3>{"".join(rows)}</div>')
    legend = " ".join(f'<span class="chip" style="background:{c}"></span>{_e(g)}' for g, c in GROUP_COLORS.items())
    sentence = importance_sentence(importances, n_trials=n_trials, spread=spread)
    return (f'<p class="sentence" id="importance-sentence">{_e(sentence)}</p><p class="muted">{legend}</p>'
            f'<div class="imps">{"".join(blocks)}</div>')


# ---------------------------------------------------------------------------------------------- tooltip data
TIP_METRICS = ("exact", "f1", "HasAns_forced_f1", "HasAns_forced_exact", "HasAns_exact", "HasAns_f1", "NoAns_exact",
               "num_parameters", "latency_ms", "peak_memory_mb", "train_seconds", "trial_seconds")
"""Metrics a point's tooltip shows (after the objectives and constrained metrics), when the trial has them; the
trials table has every metric."""

_GROUP_ORDER = {"architecture": 0, "distillation": 1, "SGD": 2}


def _tip_entry(r: Record, *, objectives, constraints, x_metric: str, y_metric: str) -> dict[str, Any]:
    """What a point's tooltip shows: the searched parameters (architecture, distillation, SGD) and the trial's
    objective, constrained and main accuracy/cost metrics, each name once (a metric that repeats a parameter, such
    as the n_layers the trial records, is left out: the parameter is shown)."""
    params = r.get("params") or {}
    ordered = dict(sorted(params.items(), key=lambda kv: (_GROUP_ORDER.get(group_of(kv[0]), 3), kv[0])))
    m = r.get("metrics") or {}
    wanted = ([y_metric, x_metric] + [o["metric"] for o in objectives] + [c["metric"] for c in constraints]
              + list(TIP_METRICS))
    shown: dict[str, Any] = {}
    for k in wanted:
        if k in m and k not in shown and k not in params:
            shown[k] = m[k]
    return {"number": r.get("number"), "state": r.get("state"), "failure": r.get("failure"),
            "is_baseline": bool(r.get("is_baseline")), "on_front": bool(r.get("_front")), "metrics": shown,
            "params": ordered, "n_metrics": len(m)}


# ---------------------------------------------------------------------------------------------- page
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1320px;padding:0 16px;color:#1f2937}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
h3{font-size:14px;margin:8px 0}.muted{color:#6b7280}.meta span{margin-right:16px}
table{border-collapse:collapse;font-size:13px}th,td{padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:left;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}#scenario-table th{white-space:normal;vertical-align:bottom}
#scenario-table td:first-child{white-space:normal;min-width:140px}#scenario-table td:last-child{white-space:normal;min-width:240px}
#trials-table th{cursor:pointer;position:sticky;top:0;background:#f9fafb}#trials-table th.param{color:#4b5563}
#trials-table th[data-dir=asc]::after{content:" ▲"}#trials-table th[data-dir=desc]::after{content:" ▼"}
#trials-table tr.front td{background:#eef4ff}#trials-table tr.failed td{color:#b91c1c}
#trials-table tr.flash td{background:#fde68a}
.scroll{overflow:auto;max-height:560px;border:1px solid #e5e7eb}.hscroll{overflow-x:auto}
.figure{display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px 24px}
.plotbox{flex:1 1 620px;min-width:0}svg.plot{display:block;width:100%;height:auto}
#frontier-legend{flex:0 0 250px;list-style:none;margin:0;padding:6px 0;font-size:13px;min-width:0}
#frontier-legend li{display:flex;align-items:flex-start;gap:6px;margin:0 0 6px;overflow-wrap:anywhere}
.lg-sym{flex:none;margin-top:3px}
@media (max-width:960px){#frontier-legend{flex:1 1 100%;display:flex;flex-wrap:wrap;gap:2px 20px;padding:0}
#frontier-legend li{margin:0}}
svg text{fill:#374151}svg.plot text{font-size:14px}svg.plot .tick{font-size:13px}
.grid{stroke:#eef0f3}.frame{fill:none;stroke:#9ca3af}
.axis{font-size:14px}.step{fill:none;stroke:#1f5fbf;stroke-width:1.6;opacity:.8}
.threshold{stroke:#d62728;stroke-width:1.2;stroke-dasharray:5 4;opacity:.7}.thr-label{fill:#d62728}
.conf-bar{stroke:#111827;stroke-width:1.4}.conf-pt{fill:#111827;stroke:#fff;stroke-width:.8}
.fail-lane{fill:#fdecec}svg text.fail-label{fill:#b91c1c;font-weight:600}
.pt{cursor:pointer}.front{fill:#1f5fbf;stroke:#fff;stroke-width:1}.feasible{fill:#6b7280;opacity:.85}
.infeasible{fill:#c9ccd1;stroke:#9ca3af;stroke-width:.6}.baseline{fill:#f59e0b;stroke:#000;stroke-width:.8}
.failed{stroke:#d62728;stroke-width:3;stroke-linecap:round;fill:none}.lg.failed{stroke-width:2.4}
.pt:hover,.pt:focus,.pt.hot{stroke:#111;stroke-width:2.5;outline:none}.pt.failed:hover,.pt.failed:focus,.pt.failed.hot{stroke:#7f1d1d;stroke-width:4}
svg text.base-label{font-size:13px}
.figure+details{margin-top:10px}
#tip{position:fixed;left:0;top:0;pointer-events:none;background:#111827;color:#f9fafb;padding:7px 10px;border-radius:6px;
font-size:12px;line-height:1.35;max-width:min(500px,calc(100vw - 16px));max-height:calc(100vh - 16px);overflow:hidden;
display:none;z-index:9;box-shadow:0 4px 14px rgba(0,0,0,.3)}
#tip table{font-size:12px;border-collapse:collapse}#tip td{border:0;padding:0 4px 0 0;color:#f9fafb;white-space:nowrap}
#tip td.k{color:#9ca3af}#tip td.v{padding-right:16px;font-variant-numeric:tabular-nums;max-width:150px;overflow:hidden;text-overflow:ellipsis}
#tip .tsec{margin:5px 0 1px;color:#93c5fd;font-size:11px;text-transform:uppercase;letter-spacing:.04em}
#tip .tfail{color:#fca5a5;white-space:normal;margin-top:2px}#tip .tfoot{color:#9ca3af;margin-top:5px;font-size:11px}
.curves{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:12px}
.card{border:1px solid #e5e7eb;border-radius:6px;padding:8px;min-width:0}.card h3{margin:0 0 4px}
.cplots{display:grid;grid-template-columns:1fr 1fr;gap:8px}svg.curve{display:block;width:100%;height:auto}
svg.curve text{font-size:11px}svg.curve .ctitle{font-size:12px;font-weight:600}
.cline{fill:none;stroke-width:1.6}.cline.loss{stroke:#1f5fbf}.cline.dev{stroke:#dd8452}.cpt{fill:#dd8452}
.imps{display:flex;flex-wrap:wrap;gap:24px}.imp{min-width:min(420px,100%)}.bar-row{display:flex;align-items:center;gap:8px;margin:2px 0}
.bar-name{width:150px;overflow:hidden;text-overflow:ellipsis}.bar-track{flex:1;background:#f3f4f6;height:12px;min-width:160px}
.bar{display:block;height:12px}.bar-val{width:190px}.chip{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
.sentence{font-size:15px;background:#f9fafb;padding:8px 12px;border-left:3px solid #4c72b0}
details img{max-width:100%;height:auto}
"""

JS = r"""
(function(){
  var data = JSON.parse(document.getElementById('trial-data').textContent);
  var tip = document.getElementById('tip');
  var svg = document.getElementById('frontier-plot');
  // the custom tooltip replaces the browser's own (<title>, kept in the file for readers without scripts)
  Array.prototype.forEach.call(svg.querySelectorAll('.pt'), function(el){
    var t = el.querySelector('title');
    if(t){ el.setAttribute('aria-label', t.textContent); el.removeChild(t); }
  });
  function fmt(v){
    if(typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4);
    return String(v);
  }
  function grid(entries){
    // a compact table: two name/value pairs per row (one on a narrow window), filled column by column
    var cols = window.innerWidth >= 640 ? 2 : 1, rows = Math.ceil(entries.length / cols);
    var tb = document.createElement('table');
    for(var i = 0; i < rows; i++){
      var tr = tb.insertRow();
      for(var c = 0; c < cols; c++){
        var e = entries[c * rows + i];
        var k = tr.insertCell(), v = tr.insertCell();
        k.className = 'k'; v.className = 'v';
        if(e){ k.textContent = e[0]; v.textContent = fmt(e[1]); }
      }
    }
    return tb;
  }
  function section(title, obj){
    var keys = Object.keys(obj || {});
    if(!keys.length) return;
    var h = document.createElement('div'); h.className = 'tsec'; h.textContent = title; tip.appendChild(h);
    tip.appendChild(grid(keys.map(function(k){ return [k, obj[k]]; })));
  }
  function place(el){
    // beside the point (right, else left), else below/above it; always inside the window, never over the point
    var r = el.getBoundingClientRect(), cx = (r.left + r.right) / 2, cy = (r.top + r.bottom) / 2;
    var W = document.documentElement.clientWidth, H = document.documentElement.clientHeight, m = 8;
    var w = tip.offsetWidth, h = tip.offsetHeight, gx = r.width / 2 + 14, gy = r.height / 2 + 14;
    function clamp(v, lo, hi){ return Math.max(lo, Math.min(v, hi)); }
    var cands = [[cx + gx, cy - h / 2, 'x'], [cx - gx - w, cy - h / 2, 'x'],
                 [cx - w / 2, cy + gy, 'y'], [cx - w / 2, cy - gy - h, 'y']];
    var pick = null;
    for(var i = 0; i < cands.length && !pick; i++){
      var c = cands[i];
      if(c[2] === 'x' && c[0] >= m && c[0] + w <= W - m) pick = [c[0], clamp(c[1], m, H - h - m)];
      if(c[2] === 'y' && c[1] >= m && c[1] + h <= H - m) pick = [clamp(c[0], m, W - w - m), c[1]];
    }
    if(!pick){  // a window too small for any side: the side with more room
      var x = (W - cx > cx) ? cx + gx : cx - gx - w;
      pick = [clamp(x, m, Math.max(m, W - w - m)), clamp(cy - h / 2, m, Math.max(m, H - h - m))];
    }
    tip.style.left = Math.round(pick[0]) + 'px'; tip.style.top = Math.round(pick[1]) + 'px';
  }
  function centre(e){ var r = e.getBoundingClientRect(); return [(r.left + r.right) / 2, (r.top + r.bottom) / 2]; }
  function others(el){
    // trials drawn within a few pixels of this one (ties hide each other otherwise)
    var c = centre(el), out = [];
    Array.prototype.forEach.call(svg.querySelectorAll('.pt[data-trial]'), function(e){
      if(e === el) return;
      var d = centre(e);
      if(Math.abs(d[0] - c[0]) < 4 && Math.abs(d[1] - c[1]) < 4) out.push(e.getAttribute('data-trial'));
    });
    return out;
  }
  var current = null;
  function show(ev){
    var el = ev.target.closest ? ev.target.closest('[data-trial]') : null;
    if(!el || !el.classList.contains('pt')) return;
    if(el === current && tip.style.display === 'block') return;
    var t = data[el.getAttribute('data-trial')]; if(!t) return;
    if(current) current.classList.remove('hot');
    current = el; el.classList.add('hot');
    tip.textContent = '';
    var h = document.createElement('b');
    h.textContent = 'trial ' + t.number + (t.is_baseline ? ' (baseline)' : '') + (t.on_front ? ' (frontier)' : '');
    tip.appendChild(h);
    if(t.failure){
      var f = document.createElement('div'); f.className = 'tfail';
      f.textContent = 'failed: ' + (t.failure.length > 160 ? t.failure.slice(0, 157) + '…' : t.failure);
      tip.appendChild(f);
    }
    var here = others(el);
    if(here.length){
      var o = document.createElement('div'); o.className = 'tfoot';
      o.textContent = 'here too (drawn underneath): trial ' + here.join(', trial ');
      tip.appendChild(o);
    }
    section('metrics', t.metrics);
    section('searched parameters', t.params);
    if(t.n_metrics > Object.keys(t.metrics || {}).length){
      var foot = document.createElement('div'); foot.className = 'tfoot';
      foot.textContent = 'all ' + t.n_metrics + ' metrics: click the point for its row in the trials table';
      tip.appendChild(foot);
    }
    tip.style.left = '0px'; tip.style.top = '0px'; tip.style.display = 'block';
    place(el);
  }
  function hide(){ tip.style.display = 'none'; if(current) current.classList.remove('hot'); current = null; }
  svg.addEventListener('mouseover', show); svg.addEventListener('mousemove', show);
  svg.addEventListener('mouseout', function(ev){
    if(!ev.relatedTarget || !current || !current.contains(ev.relatedTarget)) hide();
  });
  svg.addEventListener('focusin', show); svg.addEventListener('focusout', hide);
  window.addEventListener('scroll', hide, {passive: true}); window.addEventListener('resize', hide);

  var table = document.getElementById('trials-table');
  svg.addEventListener('click', function(ev){
    var el = ev.target.closest ? ev.target.closest('.pt[data-trial]') : null;
    if(!el) return;
    var row = table.querySelector('tbody tr[data-trial="' + el.getAttribute('data-trial') + '"]');
    if(!row) return;
    hide(); row.scrollIntoView({block: 'center'}); row.classList.add('flash');
    setTimeout(function(){ row.classList.remove('flash'); }, 1500);
  });
  var ths = table.tHead.rows[0].cells;
  function sortBy(key, dir){
    var idx = -1;
    for(var i = 0; i < ths.length; i++){ ths[i].removeAttribute('data-dir'); if(ths[i].getAttribute('data-key') === key) idx = i; }
    if(idx < 0) return false;
    ths[idx].setAttribute('data-dir', dir);
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var vals = rows.map(function(r){ return r.cells[idx].getAttribute('data-v'); });
    var numeric = vals.every(function(v){ return v === '' || !isNaN(Number(v)); });
    var sign = dir === 'asc' ? 1 : -1;
    var order = rows.map(function(r, i){ return i; });
    order.sort(function(a, b){
      var va = vals[a], vb = vals[b];
      if(va === '' && vb === '') return a - b;
      if(va === '') return 1; if(vb === '') return -1;
      var c = numeric ? Number(va) - Number(vb) : va.localeCompare(vb);
      return c === 0 ? a - b : sign * c;
    });
    order.forEach(function(i){ body.appendChild(rows[i]); });
    return true;
  }
  Array.prototype.forEach.call(ths, function(th){
    th.addEventListener('click', function(){
      var dir = th.getAttribute('data-dir') === 'asc' ? 'desc' : 'asc';
      var key = th.getAttribute('data-key');
      if(sortBy(key, dir)) history.replaceState(null, '', '#sort=' + encodeURIComponent(key) + ':' + dir);
    });
  });
  var m = /^#sort=(.+):(asc|desc)$/.exec(location.hash);
  if(m) sortBy(decodeURIComponent(m[1]), m[2]);
  document.body.dataset.ready = '1';
})();
"""


def report_html(records: Sequence[Record], *, study_name: str, objectives, constraints, scenarios,
                importances=None, importance_spread=None, storage_label: str = "", png: bytes | None = None,
                x_metric: str = "num_parameters", y_metric: str = "exact", confirmed: Sequence[Record] | None = None,
                marks: Mapping[int, str] | None = None) -> str:
    """The report page as a string (see the module docstring)."""
    records = list(records)
    groups = _classify(records, objectives, constraints, x_metric, y_metric)
    metrics, params = _columns(records, objectives)
    n_ok = sum(1 for r in records if is_success(r))
    counts = {"trials": len(records), "completed": n_ok, "failed": len(groups["failed"]),
              "feasible": sum(1 for r in records if is_success(r) and meets_constraints(r, constraints)),
              "on the frontier": len(groups["front"]),
              "stopped early": sum(1 for r in records if r.get("stopped_at_rung") is not None),
              "running/other": sum(1 for r in records if not is_failure(r) and not is_success(r)
                                   and r.get("stopped_at_rung") is None)}
    if not counts["stopped early"]:
        del counts["stopped early"]
    obj_txt = ", ".join(f"{o.get('direction', 'minimize')} {o['metric']}" for o in objectives)
    con_txt = ", ".join(
        " and ".join(([f"{c['metric']} ≥ {c['min']:g}"] if c.get("min") is not None else [])
                     + ([f"{c['metric']} ≤ {c['max']:g}"] if c.get("max") is not None else []))
        for c in constraints) or "none"
    tip_data = {str(r.get("number")): _tip_entry(r, objectives=objectives, constraints=constraints,
                                                 x_metric=x_metric, y_metric=y_metric) for r in records}
    thr = _threshold(constraints, y_metric)
    front_sorted = sorted(groups["front"], key=lambda r: (metric_value(r, x_metric) or 0, r.get("number", 0)))
    cards = "".join(
        f'<div class="card"><section id="curves-trial-{_e(r.get("number"))}" data-trial="{_e(r.get("number"))}">'
        f'<h3>trial {_e(r.get("number"))}{" (baseline)" if r.get("is_baseline") else ""} · '
        f'{_millions(metric_value(r, x_metric))} · {_e(y_metric)} {_fmt(metric_value(r, y_metric))}</h3>'
        f'{_curves_html(r, y_metric=y_metric, thr=thr)}</section></div>' for r in front_sorted)
    png_html = ""
    if png:
        png_html = (f'<details><summary>Static image (frontier.png)</summary><img alt="frontier" width="1140" '
                    f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}"></details>')
    extra_charts = ""  # each further minimized objective (latency_ms, ...) gets its own chart against y_metric
    for o in objectives:
        m = o["metric"]
        if m in (x_metric, y_metric) or o.get("direction", "minimize") != "minimize":
            continue
        g = _classify(records, objectives, constraints, m, y_metric)
        extra_charts += (f'<h2>Frontier: {_e(y_metric)} vs {_e(m)}</h2>\n<p class="muted">The same trials and the '
                         f'same frontier (every objective counts), drawn against {_e(m)}.</p>\n<div class="figure">'
                         f'<div class="plotbox">{_frontier_svg(g, records, constraints=constraints, x_metric=m, y_metric=y_metric, svg_id=f"plot-{_e(m)}")}'
                         f'</div></div>\n')
    groups = _classify(records, objectives, constraints, x_metric, y_metric)  # `_front` marks as for the main chart
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    storage = f'<span>storage: <code>{_e(storage_label)}</code></span>' if storage_label else ""
    confirmed_caption = (" Dark diamonds with bars: the confirmed trials' mean ± sd over their seeds (table "
                         "\"Confirmed frontier\" below)." if confirmed else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>distilbo report: {_e(study_name)}</title><style>{CSS}</style></head>
<body>
<h1>distilbo study <span id="study-name">{_e(study_name)}</span></h1>
<p class="meta muted"><span>objectives: {_e(obj_txt)}</span><span>constraints: {_e(con_txt)}</span>{storage}<span>written {now}</span></p>
<p class="meta">{" ".join(f"<span><b>{v}</b> {_e(k)}</span>" for k, v in counts.items())}</p>

<h2>Frontier: {_e(y_metric)} vs {_e(x_metric)}</h2>
<p class="muted">Every finished trial; hover or focus a point for its metrics and searched parameters, click it for
its row in the trials table. Failed trials (out of memory, time-out, crash) are red ✕ in the lane along the bottom, at
their parameter count; trials below the constraint are pale.{confirmed_caption}</p>
<div class="figure"><div class="plotbox">{_frontier_svg(groups, records, constraints=constraints, x_metric=x_metric,
                                                        y_metric=y_metric, confirmed=confirmed)}</div>
{_legend_html(groups, records, thr=thr, x_metric=x_metric, y_metric=y_metric)}</div>
{png_html}
{extra_charts}
<h2>Scenarios</h2>
{_scenario_html(scenarios, metric=y_metric)}

<h2>Confirmed frontier</h2>
{_confirmed_html(confirmed or [], marks or {}, x_metric=x_metric, y_metric=y_metric)}

<h2>Parameter importance</h2>
{_importance_html(importances, importance_spread, n_ok)}

<h2>Training curves of the frontier trials</h2>
<p class="muted">Training loss by optimizer step and the dev {_e(y_metric)} measured during training (the dashed line
is the constraint), by parameter count.</p>
<div class="curves" id="curves">{cards or '<p class="muted">No trial on the frontier yet.</p>'}</div>

<h2>All trials</h2>
<p class="muted">Click a column header to sort; frontier rows are tinted, failures red.</p>
{_trials_html(records, metrics, params, constraints)}

<div id="tip" role="tooltip"></div>
<script type="application/json" id="trial-data">{_script_json(tip_data)}</script>
<script>{JS}</script>
</body></html>
"""


def write_report(records: Sequence[Record], *, out_dir: str | Path, study_name: str, objectives, constraints,
                 scenarios, importances=None, importance_spread=None, storage_label: str = "",
                 x_metric: str = "num_parameters", y_metric: str = "exact", confirmed: Sequence[Record] | None = None,
                 marks: Mapping[int, str] | None = None) -> dict[str, Path]:
    """Write report.html, frontier.png, trials.csv and frontier.json into `out_dir` (created if needed), each
    atomically (temporary files a killed writer left are removed). Returns {"html", "png", "csv", "json"} -> path.
    The records are not modified."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(out)
    recs = [dict(r) for r in records]  # _classify tags copies with _front
    paths = {"png": out / "frontier.png", "html": out / "report.html", "csv": out / "trials.csv",
             "json": out / "frontier.json"}
    png = frontier_png(recs, objectives=objectives, constraints=constraints, study_name=study_name,
                       x_metric=x_metric, y_metric=y_metric, confirmed=confirmed)
    write_atomic(paths["png"], png, fsync=True)
    write_atomic(paths["csv"], trials_csv(recs, objectives=objectives, constraints=constraints), fsync=True)
    write_atomic(paths["json"], frontier_json(recs, study_name=study_name, objectives=objectives,
                                               constraints=constraints, scenarios=scenarios, confirmed=confirmed,
                                               marks=marks), fsync=True)
    page = report_html(recs, study_name=study_name, objectives=objectives, constraints=constraints,
                       scenarios=scenarios, importances=importances, importance_spread=importance_spread,
                       storage_label=storage_label, png=png, x_metric=x_metric, y_metric=y_metric,
                       confirmed=confirmed, marks=marks)
    write_atomic(paths["html"], page, fsync=True)
    return paths
