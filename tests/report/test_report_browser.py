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
    assert page.page.evaluate("document.querySelectorAll('script').length") == 0
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
