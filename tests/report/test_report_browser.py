"""The HTML report in a real browser: headless Debian Chromium driven by Python playwright.

Never `playwright install` (it downloads a browser): the tests use /usr/bin/chromium and are skipped
when it or playwright is missing. Screenshots go to reports/test-artifacts/ (git-ignored) for a human
to look at; they are rewritten on every run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from harness.report import write_html
from report_samples import load_results, make_run, synthetic_run

CHROMIUM = Path(os.environ.get("MAILHARNESS_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "reports" / "test-artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api")
# In CI (.ci/run installs it) a missing browser is a failure, not a skip.
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                                reason=f"{CHROMIUM} not installed (ci/apt-install.sh chromium)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=ARGS, viewport={"width": 1280, "height": 900})
        yield ctx
        ctx.close()


class Opened:
    def __init__(self, ctx, path: Path) -> None:
        self.page = ctx.new_page()
        self.requests: list[str] = []
        self.console: list[str] = []
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        self.url = path.resolve().as_uri()
        started = time.perf_counter()
        self.page.goto(self.url, wait_until="load")
        self.wall_s = time.perf_counter() - started

    def load_ms(self) -> float:
        return self.page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")

    def visible(self, selector: str) -> bool:
        return self.page.locator(selector).first.is_visible()

    def shot(self, name: str, full_page: bool = False) -> Path:
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def assert_offline_and_clean(self) -> None:
        assert self.requests == [self.url], self.requests          # nothing but the file itself
        assert not [c for c in self.console if c.startswith(("error", "warning"))], self.console
        # The hash-locked CSP accepted our one stylesheet (else the banner would have no background).
        bg = self.page.evaluate("getComputedStyle(document.querySelector('.banner')).backgroundImage")
        assert "gradient" in bg


def _passing() -> dict:
    data = make_run().to_json()
    for c in data["checks"]:
        c["gated"] = False
    data["summary"]["gate"] = "passed"
    return data


def test_failing_run(browser, tmp_path):
    path = tmp_path / "failing.html"
    write_html(make_run(), path)
    page = Opened(browser, path)
    page.assert_offline_and_clean()
    verdict = page.page.locator("#verdict").inner_text()
    assert "Gate failed" in verdict
    assert "1 check at MUST failed: smtp.rcpt-before-mail" in page.page.locator(".why").inner_text()
    assert "1 check at MUST could not be judged (error): smtp.data-timeout" in page.page.locator(".why").inner_text()
    # The first failure card is on the first screen, with the reply that broke it.
    card = page.page.locator("#c-1")
    assert card.is_visible() and card.bounding_box()["y"] < 900
    assert "550 <script>alert(1)</script> {{ 7*7 }}" in card.inner_text()
    # one script, ours (allowed by its hash): it showed the toolbar, and the CSP let nothing else in
    assert page.page.evaluate("document.querySelectorAll('script').length") == 1
    assert page.visible("#tools")
    page.shot("failing-top.png")

    # Filtering: failed only, then passed only, then a level, then a suite.
    page.page.click("label[for=fs-failed]")
    assert page.visible("#row-1") and page.visible("#row-2")
    assert not page.visible("#row-0") and not page.visible("#row-3") and not page.visible("#row-4")
    page.page.locator("#checks").scroll_into_view_if_needed()
    page.shot("failing-filter-failed.png")
    page.page.click("label[for=fs-passed]")
    assert page.visible("#row-0") and not page.visible("#row-1")
    page.page.click("label[for=fs-all]")
    page.page.click("label[for=fl-may]")
    assert page.visible("#row-4") and not page.visible("#row-0") and not page.visible("#row-1")
    page.page.click("label[for=fl-all]")
    page.page.click("label[for=fu-2]")                  # pop3-core
    assert page.visible("#row-6") and not page.visible("#row-1")
    # Rows expand to the rule and the transcript.
    page.page.click("label[for=fu-all]")
    page.page.click("#row-6 > summary")
    assert "RETR 1" in page.page.locator("#row-6").inner_text()
    assert page.requests == [page.url]


def test_passing_run(browser, tmp_path):
    path = tmp_path / "passing.html"
    write_html(_passing(), path)
    page = Opened(browser, path)
    page.assert_offline_and_clean()
    assert "Gate passed" in page.page.locator("#verdict").inner_text()
    page.shot("passing-top.png")


def test_load_run(browser, tmp_path):
    path = tmp_path / "load.html"
    write_html([make_run(), load_results()], path, labels=["conformance.json", "load.json"])
    page = Opened(browser, path)
    page.assert_offline_and_clean()
    assert "load threshold messages lost == 0" in page.page.locator(".why").inner_text()
    charts = page.page.locator("#load svg.ch")
    assert charts.count() >= 5
    assert charts.first.bounding_box()["width"] > 300
    page.page.locator("#load").scroll_into_view_if_needed()
    page.page.locator("#load").screenshot(path=str(ARTIFACTS / "load-section.png"))


def test_baseline_diff(browser, tmp_path):
    old = make_run().to_json()
    old["checks"][1]["status"] = "passed"
    new = make_run().to_json()
    new["load"] = load_results()["load"]
    old["load"] = load_results(scale=0.6)["load"]
    path = tmp_path / "baseline.html"
    write_html(new, path, baseline=old, baseline_label="main/results.json")
    page = Opened(browser, path)
    page.assert_offline_and_clean()
    section = page.page.locator("#regressions")
    assert section.bounding_box()["y"] < 600                      # regressions come first
    assert "smtp.rcpt-before-mail" in section.inner_text()
    assert "Latency against the baseline" in section.inner_text()
    page.shot("baseline-top.png")
    page.page.click("label[for=fs-regressions]")
    assert page.visible("#row-1") and not page.visible("#row-3")   # data-timeout failed in the baseline too


def test_large_run_is_small_and_fast(browser, tmp_path):
    data = synthetic_run(200)
    path = tmp_path / "large.html"
    write_html(data, path)
    size = path.stat().st_size
    assert size < 2_000_000, size
    raw = len(json.dumps(data))
    loads = []
    for _ in range(3):
        page = Opened(browser, path)
        page.assert_offline_and_clean()
        loads.append(page.load_ms())
        page.page.close()
    best = min(loads)
    (ARTIFACTS / "large-run.txt").write_text(
        f"checks=200 html_bytes={size} results_json_bytes={raw} load_event_ms={[round(x) for x in loads]}\n")
    assert best < 1000, loads


def _dead_target(n: int = 105) -> dict:
    """What a silent target gives: every check blocked by the preflight with one cause."""
    data = synthetic_run(n)
    down = "preflight: SMTP 127.0.0.1:2525: greeting: no complete reply within 10 s"
    for c in data["checks"]:
        c.update(status="error", error_class="timeout", message=down, failures=[], transcript=[],
                 gated=c["level"] in ("MUST", "SECURITY"))
    data["summary"] = {"gate": "failed", "fail_on": ["MUST", "SECURITY"]}
    data["preflight"] = {"endpoints": [{"service": "smtp", "address": "127.0.0.1:2525", "ok": False, "usable": False,
                                        "error": "greeting: no complete reply within 10 s", "error_class": "timeout"}],
                         "logins": [], "delivery": None, "duration_s": 10.0}
    return data


def _note(name: str, text: str) -> None:
    with (ARTIFACTS / "first-screen.txt").open("a") as f:
        f.write(f"{name}: {text}\n")


def test_dead_target_first_screen_names_the_cause_and_the_fix(browser, tmp_path):
    path = tmp_path / "dead.html"
    write_html(_dead_target(), path)
    page = Opened(browser, path)
    page.assert_offline_and_clean()
    why = page.page.locator(".why").inner_text()
    assert "could not be judged (error)" in why and " failed:" not in why   # errors are not called failures
    cause = page.page.locator("ul.causes li").first
    assert cause.is_visible() and cause.bounding_box()["y"] < 900              # on the first screen
    text = cause.inner_text()
    assert "could not be judged (timeout): preflight: SMTP 127.0.0.1:2525" in text
    assert "Fix: is the server listening on 127.0.0.1:2525 and answering?" in text
    shot = page.shot("first-screen-dead-target.png")
    _note("dead target (105 checks)", f"screenshot {shot.stat().st_size} bytes, html {path.stat().st_size} bytes, "
                                      f"load {page.load_ms():.0f} ms")


def test_mixed_first_screen_security_first_and_toolbar_in_the_fragment(browser, tmp_path):
    data = synthetic_run(60)
    data["checks"][0]["transcript"] *= 1
    path = tmp_path / "mixed.html"
    write_html(data, path)
    page = Opened(browser, path)
    page.assert_offline_and_clean()
    headings = page.page.locator("h3.sev").all_inner_texts()
    assert headings[0].startswith("SECURITY") and headings[1].startswith("MUST")
    # banner ids link to their cards, and following one opens a closed card
    first = page.page.locator(".why a").first
    target = first.get_attribute("href")
    assert target.startswith("#c-")
    shot = page.shot("first-screen-mixed.png")
    # filters, search and collapse-all at the top; their state goes into the URL fragment
    page.page.click("#tools button[data-s=failed]")
    page.page.select_option("#t-level", "must")
    page.page.fill("#t-q", "check-054")
    url = page.page.evaluate("location.hash")
    assert url == "#f:s=failed&l=must&q=check-054", url
    visible = page.page.evaluate("[...document.querySelectorAll('details.card')].filter(e => e.offsetParent).map(e => e.id)")
    assert len(visible) == 1
    # the state survives a reload from the URL (a shared link)
    page.page.goto(page.url + "#f:s=passed&l=may", wait_until="load")
    page.page.reload(wait_until="load")
    rows = page.page.evaluate("[...document.querySelectorAll('details.chk')].filter(e => e.offsetParent).length")
    assert rows == sum(1 for c in data["checks"] if c["status"] == "passed" and c["level"] == "MAY")
    assert page.page.locator("#tools button[data-s=passed]").get_attribute("aria-pressed") == "true"
    page.page.goto(page.url, wait_until="load")
    page.page.click("#t-close")
    assert page.page.evaluate("[...document.querySelectorAll('details.card')].every(e => !e.open)")
    page.page.click("#t-open")
    assert page.page.evaluate("[...document.querySelectorAll('details.card')].every(e => e.open)")
    page.page.click("#t-close")
    page.page.evaluate(f"location.hash = {target!r}")
    assert page.page.evaluate(f"document.getElementById({target[1:]!r}).open")
    assert all(u.startswith(page.url) for u in page.requests)
    _note("mixed (60 checks)", f"screenshot {shot.stat().st_size} bytes, html {path.stat().st_size} bytes")


def test_600_checks_stay_small(browser, tmp_path):
    data = synthetic_run(600)
    path = tmp_path / "600.html"
    write_html(data, path)
    size = path.stat().st_size
    page = Opened(browser, path)
    page.assert_offline_and_clean()
    nodes = page.page.evaluate("document.getElementsByTagName('*').length")
    height = page.page.evaluate("document.documentElement.scrollHeight")
    load = page.load_ms()
    (ARTIFACTS / "large-600.txt").write_text(f"checks=600 html_bytes={size} dom_elements={nodes} "
                                             f"page_height_px={height} load_event_ms={load:.0f}\n")
    _note("600 checks", f"html {size} bytes, {nodes} DOM elements, {height} px, load {load:.0f} ms")
    # bounds on size and DOM, not on wall-clock (2 shared cores)
    assert size < 4_000_000, size
    assert nodes < 25_000, nodes
    # the first screen is the verdict and the causes, not 87,500 px of open transcripts
    assert page.page.evaluate("[...document.querySelectorAll('details.tx-box')].every(e => !e.open)")
    assert page.page.evaluate("document.querySelectorAll('details.card[open]').length") == 5
