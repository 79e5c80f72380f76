"""The report page as a browser renders it: headless Chromium runs the page's JS, then we read the DOM.

Run: python -m pytest tests/test_report_browser.py -q -m browser
Needs Debian's chromium at /usr/bin/chromium (`apt-get install -y chromium chromium-driver`); skipped without it.
Leaves a screenshot in test-artifacts/report.png (gitignored) to look at.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from _report_records import EVIL_FAIL, EVIL_NAME, EVIL_PARAM, FRONT, evil_records, write

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
