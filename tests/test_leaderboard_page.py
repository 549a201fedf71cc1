"""The leaderboard page as a reader sees it, in headless Chromium (Debian's ``chromium``; .ci/run
installs it when missing): built from committed results, served over HTTP, a column sorted by a
real mouse click, the CSV and plot links followed, no request leaving the page's own server, and
a screenshot (docs/figures/leaderboard-page.png, shown in docs/worked-example.md, refreshed with
RAO_BENCH_UPDATE_SCREENSHOT=1)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from tests.cdp import Browser, chromium_path

REPO = Path(__file__).resolve().parents[1]
SUBMISSIONS = REPO / "leaderboard" / "submissions"
TASKS = ("supply_chain/Serial-v2", "power_grid/IEEE33-v2")  # two tasks keep the build short
SCREENSHOT = REPO / "docs" / "figures" / "leaderboard-page.png"

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="chromium is not installed and could not be: `apt-get install -y chromium` "
           "(.ci/run does this when it is missing)")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from bench.leaderboard import main_leaderboard

    root = tmp_path_factory.mktemp("page")
    sub, out = root / "submissions", root / "site"
    for task in TASKS:
        shutil.copytree(SUBMISSIONS / task, sub / task)
    assert main_leaderboard(str(sub), str(out)) == 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(out)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", out
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def browser():
    b = Browser(width=1400, height=900)
    try:
        b.call("Page.enable")
        b.call("Network.enable")
        yield b
    finally:
        b.close()


COLUMN = """(function(sel, name){
  var t = document.querySelector(sel), heads = Array.prototype.map.call(t.tHead.rows[0].cells,
      function(c){ return c.textContent.replace(/[\\u25B2\\u25BC]/g, '').trim(); });
  var i = heads.indexOf(name);
  return Array.prototype.map.call(t.tBodies[0].rows, function(r){ return r.cells[i].textContent; });
})(%r, %r)"""


def test_page_sorts_links_and_screenshot(site, browser):
    base, out = site
    browser.goto(base + "index.html")
    # accessible structure: every table has a caption; headers carry their scope
    shape = browser.eval("""Array.prototype.map.call(document.querySelectorAll('table'), function(t){
        return [!!t.caption && t.caption.textContent.length > 0,
                Array.prototype.every.call(t.tHead.querySelectorAll('th'), function(h){
                    return h.getAttribute('scope') === 'col'; }),
                Array.prototype.every.call(t.tBodies[0].rows, function(r){
                    return r.querySelector('th[scope=row]') !== null; })]; })""")
    assert shape and all(all(flags) for flags in shape), shape
    assert browser.eval("getComputedStyle(document.querySelector('thead th')).position") == "sticky"
    # compact by default: the full-width tables sit in closed <details>
    assert browser.eval("document.querySelectorAll('details:not([open]) table').length") > 0

    section = "#" + "supply_chain__Serial-v2"
    table = f"{section} table.sortable"
    browser.eval(f"document.querySelector('{section}').scrollIntoView()")
    # the committed picture is refreshed only on request, so a test run never edits tracked files
    shot = SCREENSHOT if os.environ.get("RAO_BENCH_UPDATE_SCREENSHOT") == "1" else out / "page.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # sort by V with real clicks: ascending, then descending; '—' and text stay last
    v = lambda: [float(c.split()[0]) for c in browser.eval(COLUMN % (table, "V ↑ [95% CI]"))]  # noqa: E731
    before = v()
    browser.click(f"{table} thead th:nth-child(5) button")
    assert v() == sorted(before)
    assert browser.eval(f"document.querySelector('{table} thead th:nth-child(5)').getAttribute('aria-sort')") \
        == "ascending"
    browser.click(f"{table} thead th:nth-child(5) button")
    assert v() == sorted(before, reverse=True)
    entries = browser.eval(COLUMN % (table, "entry"))
    browser.click(f"{table} thead th:nth-child(2) button")  # a text column sorts alphabetically
    by_name = browser.eval(COLUMN % (table, "entry"))
    assert sorted(by_name) == sorted(entries) and by_name[0] == min(entries, key=str.lower)

    # the CSV link: same origin, the task's rows, metadata columns included
    href = browser.eval(f"document.querySelector('{section} a[href$=\".csv\"]').href")
    text = browser.eval(f"fetch({href!r}).then(function(r){{ return r.ok ? r.text() : 'HTTP ' + r.status; }})")
    assert text.startswith("rank,tied,status,name,"), text[:80]
    assert "description,authors,url" in text.splitlines()[0]
    assert all(e.rsplit(" v", 1)[0] in text for e in entries)

    # the plot link: a click opens the PNG itself, full size
    link = f"{section} figure a"
    png = browser.eval(f"document.querySelector('{link}').href")
    requests = _requests(browser)
    browser.events.clear()
    browser.click(link)
    browser.wait_event("Page.loadEventFired")
    assert browser.eval("location.href") == png
    assert browser.eval("document.contentType") == "image/png"
    assert browser.eval("document.images[0].naturalWidth") >= 800

    # nothing was fetched from anywhere but the page's own server
    urls = requests + _requests(browser)
    assert base + "index.html" in urls and png in urls
    assert all(u.startswith(base) or u.startswith("data:") for u in urls), urls


def _requests(browser: Browser) -> list[str]:
    return [e["params"]["request"]["url"] for e in browser.events
            if e.get("method") == "Network.requestWillBeSent"]
