"""Ctrl-C and SIGTERM (what a CI timeout sends) to ``mailharness load``: a report, no Locust left, the port free.

The Locust processes run in sessions of their own (so a terminal's Ctrl-C
reaches only the CLI); the CLI must stop them. They are found by their
parentage while the run is on (a walk over /proc from the CLI's PID), not by
name, and identified by PID and start time afterwards (a PID can be reused).
"""

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

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")]


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent PID, start time) of ``pid``, or None when it is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] == "Z":
        return None
    return int(fields[1]), fields[19]


def descendants(root: int) -> dict[int, str]:
    """Every living process below ``root``: PID -> start time."""
    parents: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parents[int(entry)] = st
    found: dict[int, str] = {}
    frontier = {root}
    while frontier:
        frontier = {pid for pid, (ppid, _) in parents.items() if ppid in frontier and pid not in found}
        found.update({pid: parents[pid][1] for pid in frontier})
    return found


def still_alive(procs: dict[int, str]) -> dict[int, str]:
    return {pid: start for pid, start in procs.items() if (st := _stat(pid)) is not None and st[1] == start}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    """Nobody listens on ``port`` and it can be bound again (SO_REUSEADDR: TIME_WAIT is not "held")."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def _locust_children(cli: subprocess.Popen[str], want: int, deadline: float) -> dict[int, str]:
    procs: dict[int, str] = {}
    while time.monotonic() < deadline and cli.poll() is None:
        procs.update(descendants(cli.pid))
        cmdlines = []
        for pid in procs:
            try:
                cmdlines.append(Path(f"/proc/{pid}/cmdline").read_bytes())
            except OSError:
                pass
        if sum(b"locust" in c for c in cmdlines) >= want:
            return procs
        time.sleep(0.2)
    raise AssertionError(f"the Locust processes did not start: {procs}")


def _wait_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not come up")


@pytest.mark.parametrize("mode", ["web", "headless", "headless-workers"])
def test_sigterm_writes_the_report_and_leaves_no_locust_process(tmp_path: Path, mode: str) -> None:
    out, port = tmp_path / "out", _free_port()
    args = [sys.executable, "-m", "harness", "load", str(PROFILES / "quick-pass.yaml"), "--out", str(out), "-q"]
    if mode == "web":
        args += ["--web", "--web-port", str(port), "--duration", "120s"]
    else:
        args += ["--duration", "60s"]         # far longer than the test: only the signal ends it
    if mode == "headless-workers":
        args += ["--workers", "1"]
    cli = subprocess.Popen(args, cwd=REPO, env=dict(os.environ), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        procs = _locust_children(cli, 2 if mode == "headless-workers" else 1, time.monotonic() + 30)
        if mode == "web":
            base = f"http://127.0.0.1:{port}"
            _wait_http(base + "/", time.monotonic() + 30)
            urllib.request.urlopen(urllib.request.Request(base + "/swarm", data=b"user_count=2&spawn_rate=2",
                                                          method="POST"), timeout=5).read()
        time.sleep(7 if mode == "headless-workers" else 3)    # some load, so there is something to report
        procs.update(descendants(cli.pid))
        t0 = time.monotonic()
        cli.send_signal(signal.SIGTERM)
        output, _ = cli.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.communicate()
    assert cli.returncode == (1 if mode == "web" else 143) or (mode == "web" and cli.returncode == 0), output
    assert "SIGTERM" in output and took < 30, (took, output)
    data = json.loads((out / "results.json").read_text())
    assert data["load"]["interrupted"] == "SIGTERM" and data["load"]["messages_sent"] > 0
    report = (out / "report.html").read_text()
    assert 'id="load"' in report and "stopped early (SIGTERM)" in report
    assert procs and not still_alive(procs), still_alive(procs)
    if mode == "web":
        assert _port_free(port)


def test_descendants_finds_a_grandchild() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
                              "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        while len(found := descendants(os.getpid())) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert child.pid in found and len(found) >= 2
    finally:
        for pid in descendants(child.pid):
            os.kill(pid, signal.SIGKILL)
        child.kill()
        child.wait()
    assert not still_alive({child.pid: found[child.pid]})
