"""The Locust web UI in headless Chromium: start a swarm from the page, see SMTP rows and our tab."""

from __future__ import annotations

import json
import os
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
                page.fill("input[name=userCount]", "3")
                page.fill("input[name=spawnRate]", "3")
                page.click("button[type=submit]")
                table = page.locator("table").first
                table.get_by_text("DATA", exact=True).wait_for(timeout=20_000)
                text = table.inner_text()
                assert "SMTP" in text and "EHLO" in text
                page.get_by_role("tab", name="Mail verdicts").click()
                page.get_by_text("messages sent").wait_for(timeout=10_000)
                page.get_by_text("SMTP DATA p99").wait_for(timeout=10_000)
                assert "PASSED" in page.locator("table").first.inner_text()
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
