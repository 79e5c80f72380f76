"""Tests for distilbo/report/frontier.py and distilbo/report/html.py against hand-computed answers.

Run: python -m pytest tests/test_report.py -q   (the rendered page is checked in tests/test_report_browser.py)
The records and their known front/scenarios are listed in tests/_report_records.py.
"""

from __future__ import annotations

import csv
import itertools
import json
import re

import numpy as np
import pytest

from _report_records import (ACC, CONSTRAINTS, EVIL_FAIL, EVIL_METRIC, EVIL_NAME, EVIL_PARAM, FRONT, IMP, OBJECTIVES,
                             REAL_PARAMS, SHAPE_METRICS, evil_records, real_curves, real_records, records, write,
                             write_real)
from distilbo.report import html as report_html
from distilbo.pareto import hypervolume, hypervolume_2d, objective_matrix, pareto_front
from distilbo.report.frontier import SCENARIOS, importance_sentence, scenario_table


def numbers(recs):
    return sorted(r["number"] for r in recs)


# ---------------------------------------------------------------------------------------------- front
def test_front_matches_hand_list():
    assert numbers(pareto_front(records(), OBJECTIVES, CONSTRAINTS)) == FRONT


def test_front_excludes_failed_even_when_it_would_dominate_and_keeps_ties():
    front = numbers(pareto_front(records(), OBJECTIVES, CONSTRAINTS))
    assert 9 not in front  # failed OOM with pessimistic-looking "best" values and feasible=True
    assert 3 in front and 8 in front  # identical points: neither dominates the other
    assert 5 not in front  # infeasible (exact 45 < 50)
    # without the constraint (and the record's feasible flag) the small trial joins the front
    recs = records()
    recs[5]["feasible"] = True
    assert 5 in numbers(pareto_front(recs, OBJECTIVES, []))
    assert 5 not in numbers(pareto_front(recs, OBJECTIVES, CONSTRAINTS))


def test_front_respects_direction():
    both_max = [{"metric": "exact", "direction": "maximize"}, {"metric": "num_parameters", "direction": "maximize"}]
    assert numbers(pareto_front(records(), both_max, CONSTRAINTS)) == [12]  # largest and most accurate
    only_size = [{"metric": "num_parameters", "direction": "minimize"}]
    assert numbers(pareto_front(records(), only_size, CONSTRAINTS)) == [4]


def test_front_three_objectives_against_brute_force():
    rng = np.random.default_rng(0)
    recs = []
    for i in range(40):  # bigger models score higher (a real trade-off), with noise and ties
        size = int(rng.integers(1, 10))
        recs.append({"number": i, "state": "COMPLETE", "failure": None, "feasible": True, "is_baseline": False,
                     "params": {}, "metrics": {"exact": float(np.round(50 + 1.5 * size + rng.normal(0, 2))),
                                               "num_parameters": size * 1_000_000,
                                               "latency_ms": float(rng.integers(1, 6))}})
    objs = [{"metric": "exact", "direction": "maximize"}, {"metric": "num_parameters", "direction": "minimize"},
            {"metric": "latency_ms", "direction": "minimize"}]

    def dominates(a, b):
        ka = (a["exact"], -a["num_parameters"], -a["latency_ms"])
        kb = (b["exact"], -b["num_parameters"], -b["latency_ms"])
        return all(x >= y for x, y in zip(ka, kb)) and ka != kb

    expected = [r["number"] for r in recs if not any(dominates(o["metrics"], r["metrics"]) for o in recs)]
    got = numbers(pareto_front(recs, objs, []))
    assert got == sorted(expected)
    assert 3 <= len(got) < 40  # the data set really tests something


# ---------------------------------------------------------------------------------------------- hypervolume
def test_hypervolume_2d_hand_area():
    # staircase 3 + 2 + 1; (3,3) is dominated, (5,0) lies outside the reference box
    assert hypervolume_2d([(1, 3), (2, 2), (3, 1), (3, 3), (5, 0)], (4, 4)) == pytest.approx(6.0)
    assert hypervolume_2d([], (4, 4)) == 0.0


def test_hypervolume_of_the_front_hand_area():
    front = pareto_front(records(), OBJECTIVES, CONSTRAINTS)
    pts = objective_matrix(front, OBJECTIVES) / np.array([1.0, 1e6])  # (-exact, size in millions)
    # strips by size: [12,20) 5, [20,31) 9.6, [31,39.8) 11.2, [39.8,40.2) 13, [40.2,50) 13.48, [50,60) 16
    hand = 5 * 8 + 9.6 * 11 + 11.2 * 8.8 + 13 * 0.4 + 13.48 * 9.8 + 16 * 10
    assert hand == pytest.approx(541.464)
    assert hypervolume_2d(pts, (-50.0, 60.0)) == pytest.approx(hand)
    assert hypervolume(pts, (-50.0, 60.0)) == pytest.approx(hand)


def _hv_inclusion_exclusion(points, ref):
    total = 0.0
    n = len(points)
    for k in range(1, n + 1):
        for subset in itertools.combinations(range(n), k):
            corner = np.max(points[list(subset)], axis=0)
            total += (-1) ** (k + 1) * np.prod(np.clip(ref - corner, 0, None))
    return total


def test_hypervolume_nd_hand_and_reference():
    assert hypervolume([(0, 0, 0)], (1, 2, 3)) == pytest.approx(6.0)
    # two boxes 2*2*1 and 1*1*2 overlapping in a unit cube
    assert hypervolume([(0, 0, 1), (1, 1, 0)], (2, 2, 2)) == pytest.approx(5.0)
    rng = np.random.default_rng(1)
    for d in (3, 4):
        pts = rng.random((7, d))
        ref = np.full(d, 1.1)
        assert hypervolume(pts, ref) == pytest.approx(_hv_inclusion_exclusion(pts, ref))


# ---------------------------------------------------------------------------------------------- scenarios
def by_name(rows):
    assert [r["scenario"] for r in rows] == list(SCENARIOS)
    return {r["scenario"]: r for r in rows}


def test_scenario_rows_hand_computed():
    rows = by_name(scenario_table(records(), objectives=OBJECTIVES, constraints=CONSTRAINTS))
    base = rows["baseline"]
    assert (base["trial"], base["size"], base["value"]) == (0, 40_000_000, 60.0)
    assert base["size_change_pct"] == pytest.approx(0.0) and base["value_change_pts"] == pytest.approx(0.0)

    r = rows["retain size, maximize performance"]  # 40.2M <= 40.4M; 12 (66.0) is too big
    assert r["trial"] == 1
    assert r["size_change_pct"] == pytest.approx(0.5) and r["value_change_pts"] == pytest.approx(3.48)

    r = rows["minimize size, maximize performance"]  # 13 (39.8M) is not 1% smaller; 2 is the best below 39.6M
    assert r["trial"] == 2
    assert r["size_change_pct"] == pytest.approx(-22.5) and r["value_change_pts"] == pytest.approx(1.2)

    r = rows["minimize size, retain performance"]  # exact >= 59.5: 3 and 8 tie at 20M; lower number wins
    assert r["trial"] == 3
    assert r["size_change_pct"] == pytest.approx(-50.0) and r["value_change_pts"] == pytest.approx(-0.4)
    assert all(row["note"] and row["metric"] == "exact" for row in rows.values())


def test_scenario_with_no_trial_and_other_tolerances():
    rows = by_name(scenario_table(records(), size_tolerance=0.8, exact_tolerance=0.0,
                                  objectives=OBJECTIVES, constraints=CONSTRAINTS))
    r = rows["minimize size, maximize performance"]  # needs <= 8M on the front: only the infeasible trial 5
    assert r["trial"] is None and r["size"] is None and r["size_change_pct"] is None
    assert r["note"].startswith("no trial")
    assert rows["retain size, maximize performance"]["trial"] == 12  # <= 72M: best exact overall
    r = rows["minimize size, retain performance"]  # exact >= 60.0: smallest is 2 (31M)
    assert r["trial"] == 2 and r["size_change_pct"] == pytest.approx(-22.5)


def test_scenarios_without_baseline():
    recs = records()
    recs[0]["is_baseline"] = False
    rows = by_name(scenario_table(recs, objectives=OBJECTIVES, constraints=CONSTRAINTS))
    assert rows["baseline"]["trial"] is None and "no baseline" in rows["baseline"]["note"]
    for row in rows.values():
        assert row["size_change_pct"] is None and row["value_change_pts"] is None
    assert rows["retain size, maximize performance"]["trial"] == 12
    assert "no baseline" in rows["retain size, maximize performance"]["note"]
    assert rows["minimize size, maximize performance"]["trial"] is None
    assert rows["minimize size, retain performance"]["trial"] == 4


def test_scenarios_with_failed_baseline():
    recs = records()
    recs[0].update(failure="crash: segfault", feasible=False)
    rows = by_name(scenario_table(recs, objectives=OBJECTIVES, constraints=CONSTRAINTS))
    assert rows["baseline"]["trial"] == 0 and "failed: crash: segfault" in rows["baseline"]["note"]
    assert rows["retain size, maximize performance"]["value_change_pts"] is None


# ---------------------------------------------------------------------------------------------- importance
def test_importance_sentence_names_dominant_group_and_trial_count():
    s = importance_sentence(IMP, n_trials=12)
    # exact: architecture 0.55, SGD 0.30, distillation 0.15
    assert "for exact, architecture parameters carry 55%" in s.lower()
    assert "SGD 30%" in s and "distillation 15%" in s
    assert "for num_parameters, architecture parameters carry 100%" in s
    assert "12 completed trials" in s and "hint" in s  # few trials -> a caution
    assert "stability is unknown" in s
    assert s.count(".") == 1 and s.endswith(").")  # one sentence


def test_importance_sentence_stability_from_spread():
    tight = {"exact": {p: 0.01 for p in IMP["exact"]}}
    wide = {"exact": {"n_layers": 0.15, "dim": 0.15, "learning_rate": 0.15, "temperature": 0.0}}
    assert "held across bootstrap reruns" in importance_sentence(IMP, n_trials=40, spread=tight)
    s = importance_sentence(IMP, n_trials=40, spread=wide)  # lead 0.25 <= sqrt(2)*0.15 + 0.15
    assert "not stable" in s and "hint" not in s
    # a custom grouping flips the dominant group
    s = importance_sentence({"exact": IMP["exact"]}, {"n_layers": "SGD", "dim": "SGD"}, n_trials=40)
    assert s.startswith("For exact, SGD parameters carry 85%")
    assert "not computed" in importance_sentence({}, n_trials=0)


# ---------------------------------------------------------------------------------------------- HTML & files
def test_html_escapes_every_user_string(tmp_path):
    paths, _ = write(tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    for raw in (EVIL_NAME, EVIL_PARAM, EVIL_FAIL, "<ird>", '"><b>x</b>', "alert(2)>"):
        assert raw not in page, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page  # table cell / tooltip title
    assert "\\u003cimg src=x onerror=alert(2)\\u003e" in page  # inside the embedded JSON
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(3)" in page
    assert "we&lt;ird&gt;&amp;" in page
    assert page.count("<script") == 2 and page.count("</script>") == 2  # only our own two
    # the embedded JSON still round-trips to the original strings
    blob = re.search(r'<script type="application/json" id="trial-data">(.*?)</script>', page, re.S).group(1)
    data = json.loads(blob)
    assert data["2"]["params"]["activation"] == EVIL_PARAM and data["9"]["failure"] == EVIL_FAIL


def test_html_structure_and_self_contained(tmp_path):
    paths, _ = write(tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    assert not re.search(r'(?:src|href)\s*=\s*"(?!data:|#)', page)  # nothing fetched from anywhere
    assert "<link" not in page and "@import" not in page
    svg = re.search(r'<svg id="frontier-plot".*?</svg>', page, re.S).group(0)
    # 11 successful trials with both metrics: the baseline is a star, the other 10 are circles
    assert len(re.findall(r'<circle class="pt (?:front|feasible|infeasible)" data-trial', svg)) == 10
    assert len(re.findall(r'<circle class="pt front"', svg)) == len(FRONT)
    assert len(re.findall(r'class="pt baseline" data-trial="0"', svg)) == 1
    assert sorted(re.findall(r'class="pt failed" data-trial="(\d+)"', svg)) == ["10", "9"]
    assert svg.count("<title>") >= 13
    table = re.search(r'<table id="scenario-table">.*?</table>', page, re.S).group(0)
    assert table.count("<tr>") == 1 + 4
    for cell in ("+3.48 pts", "-22.5%", "+0.5%", "-0.40 pts", "40.00M"):
        assert cell in table
    trials = re.search(r'<table id="trials-table">.*?</table>', page, re.S).group(0)
    assert len(re.findall(r"<tr class=", trials)) == 14
    assert len(re.findall(r'<div class="card">', page)) == len(FRONT)  # curves of each frontier trial
    assert page.count('<svg class="curve"') == 2 * len(FRONT)
    assert 'id="importance-sentence"' in page and "architecture parameters carry" in page
    assert "data:image/png;base64," in page


def test_csv_and_json_recount(tmp_path):
    recs = evil_records()
    paths, scen = write(tmp_path, recs)
    rows = list(csv.DictReader(paths["csv"].open(encoding="utf-8")))
    assert [int(r["number"]) for r in rows] == list(range(14))
    assert sorted(int(r["number"]) for r in rows if r["on_front"] == "True") == FRONT
    assert [r["number"] for r in rows if r["failure"]] == ["9", "10"]
    assert rows[9]["failure"] == EVIL_FAIL  # CSV keeps the raw text
    assert rows[0]["is_baseline"] == "True" and rows[5]["feasible"] == "False"
    assert [r["number"] for r in rows if r["feasible"] == "True"] == [str(n) for n in (0, 1, 2, 3, 4, 6, 7, 8, 12, 13)]
    assert rows[9]["feasible"] == "False"  # failed, although the record (Optuna's view) says feasible
    for r, rec in zip(rows, recs):
        assert r["exact"] == ("" if "exact" not in rec["metrics"] else str(rec["metrics"]["exact"]))
        assert r["n_layers"] == str(rec["params"]["n_layers"])
    assert rows[2]["activation"] == EVIL_PARAM and rows[4][EVIL_METRIC] == "1.5"
    assert {"num_parameters", "latency_ms", "f1", "learning_rate", "temperature"} <= set(rows[0])

    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert doc["study"] == EVIL_NAME and doc["objectives"] == OBJECTIVES and doc["constraints"] == CONSTRAINTS
    assert [t["number"] for t in doc["front"]] == FRONT
    t2 = next(t for t in doc["front"] if t["number"] == 2)
    assert t2["metrics"]["num_parameters"] == 31_000_000 and t2["params"]["activation"] == EVIL_PARAM
    assert doc["scenarios"] == json.loads(json.dumps(scen))


def test_png_written(tmp_path):
    import matplotlib.image

    paths, _ = write(tmp_path)
    data = paths["png"].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = matplotlib.image.imread(paths["png"])
    assert img.shape[0] > 400 and img.shape[1] > 800
    assert img[..., :3].std() > 0.05  # not a blank canvas


def test_write_is_atomic_and_records_untouched(tmp_path, monkeypatch):
    recs = evil_records()
    before = json.dumps(recs, sort_keys=True)
    paths, _ = write(tmp_path, recs, name="first")
    assert json.dumps(recs, sort_keys=True) == before  # no "_front" tag leaked into the caller's records
    old = {k: p.read_bytes() for k, p in paths.items()}

    calls = {"n": 0}

    def failing_fsync(fd):
        calls["n"] += 1
        if calls["n"] == 4:  # the 4th file (report.html) dies mid-write
            raise OSError("disk full")

    monkeypatch.setattr(report_html.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        write(tmp_path, name="second")
    assert paths["html"].read_bytes() == old["html"]  # the old page is intact, never half-written
    assert b"second" not in paths["html"].read_bytes()
    assert sorted(p.name for p in paths["html"].parent.iterdir()) == sorted(
        ["frontier.json", "frontier.png", "report.html", "trials.csv"])  # no temporary file left behind


def test_report_with_nothing_to_show(tmp_path):
    only_failed = [r for r in records() if r["failure"]]
    for name, recs in (("empty", []), ("failed", only_failed)):
        rows = by_name(scenario_table(recs, objectives=OBJECTIVES, constraints=CONSTRAINTS))
        assert all(r["trial"] is None and r["note"] for r in rows.values())
        paths = report_html.write_report(recs, out_dir=tmp_path / name, study_name=name, objectives=OBJECTIVES,
                                         constraints=CONSTRAINTS, scenarios=list(rows.values()))
        page = paths["html"].read_text(encoding="utf-8")
        assert 'id="frontier-plot"' in page and "No trial on the frontier yet." in page
        assert len(re.findall(r'class="pt failed"', page)) == len(recs)
        assert len(list(csv.DictReader(paths["csv"].open()))) == len(recs)
        assert json.loads(paths["json"].read_text())["front"] == []


def _trial_data(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="trial-data">(.*?)</script>', page, re.S).group(1))


def test_tooltip_data_lists_metrics_and_each_parameter_once(tmp_path):
    page = write_real(tmp_path)["html"].read_text(encoding="utf-8")
    data = _trial_data(page)
    recs = real_records()
    assert sorted(data, key=int) == [str(r["number"]) for r in recs]
    for rec in recs:
        tip = data[str(rec["number"])]
        names = list(tip["metrics"]) + list(tip["params"])
        assert len(names) == len(set(names)), rec["number"]  # each name once
        assert tip["params"] == rec["params"] and sorted(tip["params"]) == sorted(REAL_PARAMS)
        for shape in SHAPE_METRICS:  # recorded as metric and parameter: shown once, as the parameter
            assert shape in tip["params"] and shape not in tip["metrics"]
        for k, v in tip["metrics"].items():
            assert rec["metrics"][k] == v
        for k in (ACC, "num_parameters", "exact", "f1", "latency_ms", "peak_memory_mb"):
            assert (k in tip["metrics"]) == (k in rec["metrics"])
        assert list(tip["metrics"])[:2] == [k for k in (ACC, "num_parameters") if k in rec["metrics"]]
        assert len(names) <= 32 and tip["n_metrics"] == len(rec["metrics"])  # compact; the table has all 40
        assert tip["failure"] == rec["failure"]
    assert len(recs[1]["metrics"]) >= 40  # the page really had that many to leave out


def test_curves_section_has_loss_and_dev_objective_for_each_frontier_trial(tmp_path):
    page = write_real(tmp_path)["html"].read_text(encoding="utf-8")
    section = page[page.index('<div class="curves" id="curves">'):page.index("<h2>All trials</h2>")]
    recs = {r["number"]: r for r in real_records()}
    cards = re.findall(r'<section id="curves-trial-(\d+)" data-trial="\d+">(.*?)</section>', section, re.S)
    assert sorted(int(n) for n, _ in cards) == FRONT  # frontier trials only, ordered by size
    sizes = [recs[int(n)]["metrics"]["num_parameters"] for n, _ in cards]
    assert sizes == sorted(sizes)
    for n, card in cards:
        rec = recs[int(n)]
        rows = real_curves(rec["metrics"][ACC])
        loss = re.search(r'<svg class="curve" data-kind="loss".*?<polyline class="cline loss" points="([^"]+)"',
                         card, re.S).group(1)
        pts = [tuple(map(float, p.split(","))) for p in loss.split()]
        assert len(pts) == sum(1 for r in rows if "loss" in r) == 20
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(pts, pts[1:]))  # later steps, lower loss (SVG y down)
        dev = re.search(r'<svg class="curve" data-kind="dev".*?</svg>', card, re.S).group(0)
        assert f"dev {ACC}" in dev and "dev exact" not in dev  # the report's accuracy objective
        want = [f"step {r['step']}: {ACC} {r[ACC]:.4g}" for r in rows if ACC in r]
        assert re.findall(r'<circle class="cpt"[^>]*><title>([^<]*)</title>', dev) == want and len(want) == 4
        assert want[-1].endswith(f"{rec['metrics'][ACC]:.4g}")  # the last dev point is the trial's result
        # the constraint line (>= 50) where it is near the scores: trial 4 crosses it, trial 12 stays far above
        assert ('<line class="threshold"' in dev) == (n != "12"), n
    # a frontier trial without a dev row of the objective says so instead of drawing an empty plot
    recs2 = real_records()
    recs2[2]["curves"] = [r for r in recs2[2]["curves"] if "loss" in r]
    recs2[4]["curves"] = []
    page2 = report_html.report_html(recs2, study_name="s", objectives=[{"metric": ACC, "direction": "maximize"},
                                                                       {"metric": "num_parameters",
                                                                        "direction": "minimize"}],
                                    constraints=[{"metric": ACC, "min": 50.0}], scenarios=[], y_metric=ACC)
    card2 = re.search(r'id="curves-trial-2".*?</section>', page2, re.S).group(0)
    assert 'data-kind="loss"' in card2 and 'data-kind="dev"' not in card2 and f"no dev {ACC} recorded" in card2
    assert "no training curve recorded" in re.search(r'id="curves-trial-4".*?</section>', page2, re.S).group(0)


def test_legend_lists_only_drawn_kinds(tmp_path):
    page = write_real(tmp_path)["html"].read_text(encoding="utf-8")
    legend = re.search(r'<ul id="frontier-legend".*?</ul>', page, re.S).group(0)
    items = dict(re.findall(r'<li class="lg-item" data-kind="(\w+)">.*?<span class="lg-text">(.*?)</span>', legend))
    assert items == {"front": f"Pareto frontier ({len(FRONT)})", "feasible": "feasible, dominated (2)",
                     "infeasible": f"below {ACC} ≥ 50 (1)", "baseline": "baseline (trial 0)",
                     "failed": "failed (OOM/timeout/crash) (2)", "threshold": f"constraint {ACC} ≥ 50"}
    svg = re.search(r'<svg id="frontier-plot".*?</svg>', page, re.S).group(0)
    assert len(re.findall(r'class="pt failed"', svg)) == 2 and 'class="fail-lane"' in svg
    # only the frontier and the baseline (dominated, but drawn as the star): no "feasible"/"failed" entries
    only = [r for r in records() if r["number"] in FRONT or r["is_baseline"]]
    page = report_html.report_html(only, study_name="s", objectives=OBJECTIVES, constraints=CONSTRAINTS, scenarios=[])
    legend = re.search(r'<ul id="frontier-legend".*?</ul>', page, re.S).group(0)
    assert re.findall(r'data-kind="(\w+)"', legend) == ["front", "baseline", "threshold"]
    assert 'class="fail-lane"' not in page
    # the plot scales with the page: a viewBox, no fixed pixel size
    svg = re.search(r'<svg id="frontier-plot"[^>]*>', page).group(0)
    assert "viewBox=" in svg and "width=" not in svg and "height=" not in svg


def test_frontier_module_stays_pure():
    import subprocess
    import sys

    code = ("import sys, distilbo.report.frontier as f; "
            "print(sorted(m for m in ('optuna', 'torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_latency_objective_gets_its_own_chart():
    """Three objectives (latency_ms = 0.5 ms per million parameters in the hand records, so the 3-D front is the
    2-D one): a second chart of exact against latency_ms, same points, same frontier, no '(millions)' axis."""
    from _report_records import CONSTRAINTS, FRONT, OBJECTIVES, records
    from distilbo.report.html import report_html

    three = OBJECTIVES + [{"metric": "latency_ms", "direction": "minimize"}]
    page = report_html(records(), study_name="s", objectives=three, constraints=CONSTRAINTS, scenarios=[])
    svg = re.search(r'<svg id="plot-latency_ms".*?</svg>', page, re.S).group(0)
    assert len(re.findall(r'<circle class="pt (?:front|feasible|infeasible)" data-trial', svg)) == 10
    assert len(re.findall(r'<circle class="pt front"', svg)) == len(FRONT)
    assert ">latency_ms</text>" in svg and "(millions)" not in svg
    assert "Frontier: exact vs latency_ms" in page
    two = report_html(records(), study_name="s", objectives=OBJECTIVES, constraints=CONSTRAINTS, scenarios=[])
    assert "plot-latency_ms" not in two
