"""The Locust web UI in headless Chromium: start a swarm from the page, see SMTP rows and our tab."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.load.conftest import PROFILES, REPO

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "reports" / "test-artifacts"      # git-ignored; screenshots for a human
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
                                 reason="needs Debian's /usr/bin/chromium (ci/apt-install.sh chromium)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not come up")


def test_web_ui_swarm_shows_smtp_rows_and_mail_verdicts(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    out = tmp_path / "out"
    cli = subprocess.Popen([sys.executable, "-m", "harness", "load", str(PROFILES / "quick-pass.yaml"), "--web",
                            "--web-port", str(port), "--duration", "90s", "--out", str(out), "-q"],
                           cwd=REPO, env=dict(os.environ),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/", time.monotonic() + 30)
        with playwright.sync_playwright() as p:
            context = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                           headless=True, args=ARGS)
            try:
                page = context.new_page()
                page.goto(base + "/")
                # The start form carries the profile's shape (quick-pass: 4 users at 4/s) and the target.
                page.wait_for_selector("input[name=userCount]")
                assert page.input_value("input[name=userCount]") == "4"
                assert page.input_value("input[name=spawnRate]") == "4"
                assert re.fullmatch(r"smtp://127\.0\.0\.1:\d+", page.input_value("input[name=host]"))
                assert "no host" not in page.content().lower()
                page.screenshot(path=str(ARTIFACTS / "webui-form.png"))
                page.click("button[type=submit]")          # the prefilled values as they are
                table = page.locator("table").first
                table.get_by_text("DATA", exact=True).wait_for(timeout=20_000)
                text = table.inner_text()
                assert "SMTP" in text and "EHLO" in text
                page.get_by_role("tab", name="Mail verdicts").click()
                page.get_by_text("messages sent").wait_for(timeout=10_000)
                page.get_by_text("SMTP DATA p99").wait_for(timeout=10_000)
                tab = page.locator("table").first.inner_text()
                assert "PASSED" in tab and "VERDICT" in tab and "msgs/s" in tab and "sessions/s" in tab
                # the panel above the table: the verdict in colour, messages/s, the charts over time
                verdict = page.locator("#mh-verdict")
                verdict.wait_for(timeout=10_000)
                assert verdict.inner_text().startswith(("PASSED", "RUNNING"))
                assert verdict.evaluate("e => getComputedStyle(e).backgroundColor") in (
                    "rgb(26, 127, 55)", "rgb(154, 103, 0)")
                page.wait_for_function("() => document.querySelectorAll('#mailharness-panel polyline').length >= 2",
                                       timeout=15_000)
                assert float(page.inner_text("#mh-messages-per-s")) > 0
                assert "Messages and sessions per second" in page.inner_text("#mailharness-panel")
                cell = page.locator("td", has_text=re.compile("^PASSED$")).first
                assert cell.evaluate("e => getComputedStyle(e).color") == "rgb(26, 127, 55)"
                page.screenshot(path=str(ARTIFACTS / "webui-mail-verdicts.png"), full_page=True)
            finally:
                context.close()
        live = json.loads(urllib.request.urlopen(base + "/mailharness/load", timeout=5).read())
        assert live["messages_sent"] > 0 and "SMTP DATA" in live["phases"]
        urllib.request.urlopen(urllib.request.Request(base + "/stop", data=b"", method="POST"), timeout=5).read()
    finally:
        cli.send_signal(signal.SIGINT)          # the CLI stops Locust and writes results.json
        try:
            output, _ = cli.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            cli.kill()
            output, _ = cli.communicate()
    assert cli.returncode == 0, output
    data = json.loads((out / "results.json").read_text())
    assert data["load"]["messages_sent"] > 0 and data["load"]["gate"] == "passed"
    assert data["load"]["interrupted"] == "SIGINT" and (out / "report.html").exists()
