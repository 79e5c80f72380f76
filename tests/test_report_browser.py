"""The report page as a browser renders it: headless Chromium runs the page's JS, then we read the DOM.

Run: python -m pytest tests/test_report_browser.py -q -m browser
Needs Debian's chromium at /usr/bin/chromium (`apt-get install -y chromium chromium-driver`); skipped without it.
Leaves screenshots in test-artifacts/ (gitignored) to look at: report.png, and for the layout test at 800 and
1400 px report-<width>.png (the whole page) and report-<width>-hover.png (the window with a point's tooltip).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from _report_records import (ACC, EVIL_FAIL, EVIL_NAME, EVIL_PARAM, FRONT, REAL_PARAMS, SHAPE_METRICS,
                             evil_records, real_records, write, write_real)

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: apt-get install -y chromium"),
]


def chromium(tmp_path: Path, *args: str) -> str:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=2000", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    paths, _ = write(tmp)
    return paths["html"]


def test_rendered_page_has_plot_tables_and_no_injection(report, tmp_path):
    dom = chromium(tmp_path, "--dump-dom", report.as_uri())
    assert re.search(r'<body[^>]*data-ready="1"', dom), "the page's script did not run to its end"
    svg = re.search(r'<svg id="frontier-plot".*?</svg>', dom, re.S).group(0)
    assert len(re.findall(r"<circle class=\"pt (?:front|feasible|infeasible)\"", svg)) == 10
    assert len(re.findall(r'<circle class="pt front"', svg)) == len(FRONT)
    scen = re.search(r'<table id="scenario-table">.*?</table>', dom, re.S).group(0)
    assert len(re.findall(r"<tr>", scen)) == 5 and "-22.5%" in scen and "+3.48 pts" in scen
    trials = re.search(r'<table id="trials-table">.*?</table>', dom, re.S).group(0)
    assert len(re.findall(r"<tr class=", trials)) == 14
    # injected strings stayed text: no extra script/img elements, the text is there escaped
    assert dom.count("<script") == 2 and len(re.findall(r"<img\b", dom)) == 1  # ours: JSON, JS, the PNG
    for raw in (EVIL_NAME, EVIL_PARAM, EVIL_FAIL):
        assert raw not in dom
    assert '<span id="study-name">&lt;script&gt;alert(1)&lt;/script&gt;</span>' in dom
    assert "&lt;img src=x onerror=alert(2)&gt;" in dom


def test_hash_sorts_trials_table(report, tmp_path):
    dom = chromium(tmp_path, "--dump-dom", report.as_uri() + "#sort=exact:desc")
    trials = re.search(r'<table id="trials-table">.*?</table>', dom, re.S).group(0)
    order = [int(n) for n in re.findall(r'<tr class="[^"]*" data-trial="(\d+)"', trials)]
    recs = {r["number"]: r for r in evil_records()}
    exact = [recs[n]["metrics"].get("exact") for n in order]
    known = [e for e in exact if e is not None]
    assert known == sorted(known, reverse=True) and exact[len(known):] == [None] * (14 - len(known))
    assert order[0] == 9  # the failed trial's pessimistic 99.0 is still a recorded value
    assert 'data-key="exact" class="metric" title="click to sort" data-dir="desc"' in trials


def test_screenshot(report, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    chromium(tmp_path, "--window-size=1280,2400", "--hide-scrollbars", f"--screenshot={shot}", report.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


# ---------------------------------------------------------------------------------------------- real hover & click
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver key of an element reference


class WebDriver:
    """The few W3C WebDriver calls the test needs, over plain HTTP to a local chromedriver."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.sid = ""

    def call(self, method: str, path: str, body: dict | None = None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=json.dumps(body or {}).encode() if method == "POST" else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())["value"]

    def session(self, profile: Path) -> None:
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--window-size=1280,1000"]
        caps = {"browserName": "chrome", "goog:chromeOptions": {"binary": str(CHROMIUM), "args": args}}
        self.sid = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]

    def s(self, method: str, path: str, body: dict | None = None):
        return self.call(method, f"/session/{self.sid}{path}", body)

    def find(self, css: str) -> dict:
        return self.s("POST", "/element", {"using": "css selector", "value": css})

    def js(self, script: str):
        return self.s("POST", "/execute/sync", {"script": script, "args": []})


@pytest.fixture()
def driver(tmp_path):
    if not CHROMEDRIVER.exists():
        pytest.skip("/usr/bin/chromedriver is absent: apt-get install -y chromium-driver")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(CHROMEDRIVER), f"--port={port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wd = WebDriver(port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if wd.call("GET", "/status").get("ready"):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "chromedriver did not start"
            time.sleep(0.2)
        wd.session(tmp_path / "wd-profile")
        yield wd
    finally:
        if wd.sid:
            try:
                wd.s("DELETE", "")
            except OSError:
                pass
        proc.terminate()
        proc.wait(timeout=30)


def test_hover_shows_tooltip_and_click_sorts(report, driver):
    driver.s("POST", "/url", {"url": report.as_uri()})
    assert driver.js("return document.body.dataset.ready") == "1"
    assert driver.js("return document.getElementById('tip').style.display") in ("", "none")
    point = driver.find('#frontier-plot circle.pt.front[data-trial="2"]')
    driver.s("POST", "/actions", {"actions": [{"type": "pointer", "id": "mouse",
                                               "parameters": {"pointerType": "mouse"},
                                               "actions": [{"type": "pointerMove", "duration": 0,
                                                            "origin": point, "x": 0, "y": 0}]}]})
    tip = driver.js("var t = document.getElementById('tip'); return [t.style.display, t.innerText];")
    assert tip[0] == "block"
    assert "trial 2 (frontier)" in tip[1] and "31000000" in tip[1] and "61.20" in tip[1]
    assert EVIL_PARAM in tip[1]  # shown as text...
    assert driver.js("return document.querySelectorAll('#tip img').length") == 0  # ...not as an element

    header = driver.find('#trials-table th[data-key="num_parameters"]')
    driver.s("POST", f"/element/{header[ELEMENT]}/click")
    order = driver.js("return Array.from(document.querySelectorAll('#trials-table tbody tr'))"
                      ".map(function(r){return Number(r.dataset.trial)})")
    sizes = {r["number"]: r["metrics"].get("num_parameters") for r in evil_records()}
    known = [sizes[n] for n in order if sizes[n] is not None]
    assert known == sorted(known) and sizes[order[-1]] is None  # ascending, the unmeasured trial last
    assert driver.js("return location.hash") == "#sort=num_parameters:asc"
    driver.s("POST", f"/element/{header[ELEMENT]}/click")  # a second click reverses
    first = driver.js("return document.querySelector('#trials-table tbody tr').dataset.trial")
    assert first == "12"


# ---------------------------------------------------------------------------------------------- layout at 800 / 1400 px
@pytest.fixture(scope="module")
def real_report(tmp_path_factory) -> Path:
    """A report as the CPU study writes it: HasAns_forced_f1 against size, 18 parameters, ~40 metrics, curves."""
    return write_real(tmp_path_factory.mktemp("browser-real"))["html"]


LAYOUT_JS = r"""
function box(e){ var r = e.getBoundingClientRect(); return {l: r.left, r: r.right, t: r.top, b: r.bottom, w: r.width}; }
function inside(a, b){ return a.l >= b.l - 1 && a.r <= b.r + 1 && a.t >= b.t - 1 && a.b <= b.b + 1; }
var body = document.body, cs = getComputedStyle(body);
var content = body.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
var svg = document.getElementById('frontier-plot'), sb = box(svg);
var legend = document.getElementById('frontier-legend'), lb = box(legend);
var view = {l: 0, r: document.documentElement.clientWidth, t: -1e9, b: 1e9};
var bad = [];
Array.prototype.forEach.call(svg.querySelectorAll('text'), function(t){
  if(!inside(box(t), sb)) bad.push('plot text: ' + t.textContent); });
Array.prototype.forEach.call(legend.querySelectorAll('li'), function(li){
  var tb = box(li.querySelector('.lg-text'));
  if(!inside(tb, lb) || !inside(tb, view) || li.scrollWidth > li.clientWidth + 1) bad.push('legend: ' + li.textContent); });
Array.prototype.forEach.call(document.querySelectorAll('svg.curve'), function(c){
  var cb = box(c);
  Array.prototype.forEach.call(c.querySelectorAll('text'), function(t){
    if(!inside(box(t), cb)) bad.push('curve text: ' + t.textContent); }); });
var sel = {front: 'circle.pt.front', feasible: 'circle.pt.feasible', infeasible: 'circle.pt.infeasible',
           baseline: '.pt.baseline', failed: '.pt.failed', threshold: 'line.threshold'};
var legendKinds = Array.prototype.map.call(legend.querySelectorAll('li'), function(li){
  return [li.dataset.kind, li.textContent, svg.querySelectorAll(sel[li.dataset.kind]).length]; });
return {content: content, plot: sb.w, bad: bad, legend: legendKinds,
        hscroll: document.documentElement.scrollWidth > document.documentElement.clientWidth};
"""

TIP_JS = r"""
var tip = document.getElementById('tip'), t = tip.getBoundingClientRect();
var p = document.querySelector('#frontier-plot .pt[data-trial="' + arguments[0] + '"]').getBoundingClientRect();
var names = Array.prototype.map.call(tip.querySelectorAll('td.k'), function(td){ return td.textContent; })
  .filter(function(n){ return n; });
return {display: tip.style.display, l: t.left, r: t.right, t: t.top, b: t.bottom, rows: tip.querySelectorAll('tr').length,
        W: document.documentElement.clientWidth, H: document.documentElement.clientHeight,
        cx: (p.left + p.right) / 2, cy: (p.top + p.bottom) / 2, names: names, text: tip.innerText};
"""


def _hover(driver, number: int) -> None:
    point = driver.find(f'#frontier-plot .pt[data-trial="{number}"]')
    driver.s("POST", "/actions", {"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                                               "actions": [{"type": "pointerMove", "duration": 0, "origin": point,
                                                            "x": 0, "y": 0}]}]})


@pytest.mark.parametrize("width", [800, 1100, 1400, 1600])
def test_layout_fits_at_width(real_report, driver, tmp_path, width):
    driver.s("POST", "/window/rect", {"width": width, "height": 900})
    driver.s("POST", "/url", {"url": real_report.as_uri()})
    assert driver.js("return document.body.dataset.ready") == "1"
    assert driver.js("return window.innerWidth") == width
    lay = driver.js(LAYOUT_JS)
    assert lay["bad"] == [], lay["bad"]  # every plot, legend and curve label inside its box, nothing cut
    assert not lay["hscroll"], "the page is wider than the window"
    assert lay["plot"] >= 0.6 * lay["content"], lay  # the plot follows the page width
    # one legend entry per kind of marker drawn, each with points (no "trial" entry without any)
    kinds = {k: (text, n) for k, text, n in lay["legend"]}
    assert set(kinds) == {"front", "feasible", "infeasible", "baseline", "failed", "threshold"}
    assert all(n > 0 for _, n in kinds.values())
    assert kinds["failed"][0] == "failed (OOM/timeout/crash) (2)"
    assert kinds["front"][0] == f"Pareto frontier ({len(FRONT)})"
    assert kinds["infeasible"][0] == f"below {ACC} ≥ 50 (1)"

    recs = {r["number"]: r for r in real_records()}
    drawn = [int(n) for n in driver.js("return Array.from(document.querySelectorAll('#frontier-plot .pt'))"
                                       ".map(function(e){return e.dataset.trial})")]
    assert sorted(drawn) == [n for n in range(14) if n != 11]  # all but the running trial, failures included
    for n in drawn:
        _hover(driver, n)
        tip = driver.js(TIP_JS.replace("arguments[0]", json.dumps(str(n))))
        where = f"trial {n} at {width}px: {tip}"
        assert tip["display"] == "block", where
        assert 0 <= tip["l"] and tip["r"] <= tip["W"] and 0 <= tip["t"] and tip["b"] <= tip["H"], where
        assert not (tip["l"] <= tip["cx"] <= tip["r"] and tip["t"] <= tip["cy"] <= tip["b"]), where  # point visible
        if n == 12 and tip["cx"] + 20 + (tip["r"] - tip["l"]) > tip["W"] - 8:  # no room right of the rightmost
            assert tip["r"] < tip["cx"], where  # point: the tooltip flips to its left
        if n == 9:  # the leftmost (a failure in the bottom lane): to its right, lifted to stay in the window
            assert tip["l"] > tip["cx"], where
        assert tip["rows"] <= 20, where  # a compact table, not 60 rows
        names = tip["names"]
        assert len(names) == len(set(names)), where  # each name once
        assert set(REAL_PARAMS) <= set(names) and "num_parameters" in names, where
        assert (ACC in names) == (ACC in recs[n]["metrics"]), where
        assert f"trial {n}" in tip["text"]
        if recs[n]["failure"]:
            assert "failed: " + recs[n]["failure"][:40] in tip["text"]
    assert set(SHAPE_METRICS) <= set(REAL_PARAMS)  # the duplicated names really were at risk

    # screenshots: the window with the tooltip of the top-right point, then the whole page
    ARTIFACTS.mkdir(exist_ok=True)
    _hover(driver, 12)
    hover = ARTIFACTS / f"report-{width}-hover.png"
    hover.write_bytes(base64.b64decode(driver.s("GET", "/screenshot")))
    page = ARTIFACTS / f"report-{width}.png"
    page.unlink(missing_ok=True)
    chromium(tmp_path, f"--window-size={width},3200", f"--screenshot={page}", real_report.as_uri())
    for shot in (hover, page):
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
