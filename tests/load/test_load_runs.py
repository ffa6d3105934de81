"""Real headless load runs against the embedded reference server (each a CLI subprocess)."""

from __future__ import annotations

import pytest

from tests.load.conftest import BUNDLED, PROFILES

pytestmark = pytest.mark.slow


def _shape_ok(data: dict) -> dict:
    assert data["tool"] == "mailharness" and data["checks"] == []
    assert {"version", "started", "target", "summary"} <= data.keys()
    assert all(u["password"] == "****" for u in data["target"]["users"])
    load = data["load"]
    for key in ("duration_s", "messages_sent", "messages_per_s", "failures", "phases", "messages_verified",
                "messages_lost", "delivery_latency_ms", "thresholds"):
        assert key in load, key
    for row in load["phases"].values():
        assert {"requests", "failures", "rps", "p50", "p95", "p99", "max"} <= row.keys()
    for t in load["thresholds"]:
        assert {"name", "value", "limit", "verdict"} <= t.keys()
    return load


def test_headless_run_passes_its_thresholds(load_run) -> None:
    code, data, output = load_run(str(PROFILES / "quick-pass.yaml"))
    assert code == 0, output
    load = _shape_ok(data)
    assert load["messages_sent"] > 10 and load["failures"] == 0
    assert {"SMTP connect", "SMTP banner", "SMTP EHLO", "SMTP MAIL", "SMTP RCPT", "SMTP DATA", "SMTP QUIT"} <= \
        load["phases"].keys()
    assert load["phases"]["SMTP DATA"]["requests"] == load["messages_sent"]
    assert data["summary"]["gate"] == "passed" and all(t["verdict"] == "passed" for t in load["thresholds"])
    assert "gate: PASSED" in output


def test_crossed_threshold_exits_1(load_run) -> None:
    code, data, output = load_run(str(PROFILES / "quick-fail.yaml"), "--duration", "2s")
    assert code == 1, output
    failed = [t for t in data["load"]["thresholds"] if t["verdict"] == "failed"]
    assert [t["name"] for t in failed] == ["messages/s (minimum)"]
    assert data["summary"]["gate"] == "failed"


def test_round_trip_without_loss(load_run) -> None:
    code, data, output = load_run(str(BUNDLED / "roundtrip.yaml"), "--duration", "4s")
    assert code == 0, output
    load = data["load"]
    assert load["messages_sent"] > 20
    assert load["messages_verified"] == load["messages_sent"]
    assert (load["messages_lost"], load["messages_corrupted"], load["messages_duplicated"]) == (0, 0, 0)
    lat = load["delivery_latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert "POP3 RETR" in load["phases"]


@pytest.mark.parametrize("defect", ["smtp-data-line-truncate", "smtp-8bit-strip"])
def test_round_trip_detects_altered_mail(load_run, defect: str) -> None:
    code, data, output = load_run(str(BUNDLED / "roundtrip.yaml"), "--duration", "3s", "--defect", defect)
    assert code == 1, output
    load = data["load"]
    assert load["messages_corrupted"] > 0 and load["messages_corrupted"] == load["messages_sent"]
    assert any(t["name"] == "corrupted messages" and t["verdict"] == "failed" for t in load["thresholds"])


def test_round_trip_detects_lost_mail(load_run) -> None:
    profile = str(PROFILES / "roundtrip-abort.yaml")
    code, data, output = load_run(profile, "--defect", "pop3-dele-immediate")
    assert code == 1, output
    load = data["load"]
    assert load["messages_lost"] > 0 and load["sessions"].get("aborted", 0) > 0
    assert [t["name"] for t in load["thresholds"] if t["verdict"] == "failed"] == ["lost messages"]


def test_two_workers_merge_their_histograms(load_run) -> None:
    code, data, output = load_run(str(PROFILES / "quick-pass.yaml"), "--workers", "2", "--users", "6")
    assert code == 0, output
    load = _shape_ok(data)
    assert load["workers"] == 2 and load["messages_sent"] > 10
    # Our merged HDR counts equal Locust's own aggregated counts from its CSV.
    import csv
    with open(load["locust_csv"], newline="") as fh:
        rows = {f"{r['Type']} {r['Name']}": int(r["Request Count"]) for r in csv.DictReader(fh) if r["Type"]}
    assert rows == {name: p["requests"] for name, p in load["phases"].items()}


def test_open_model_counts_sessions_it_could_not_start(load_run, tmp_path) -> None:
    profile = tmp_path / "arrival.yaml"
    profile.write_text("duration: 3s\nshape: {kind: arrival, rate: 400/s, max_in_flight: 2}\n"
                       "users: [{kind: smtp}]\nthresholds: {max_not_started: 0}\n")
    code, data, output = load_run(str(profile))
    assert code == 1, output
    sessions = data["load"]["sessions"]
    assert sessions["started"] > 10 and sessions["not_started"] > 0


def _locust_policies(root_pid: int) -> dict[int, int]:
    """Scheduling policy of every Locust process below ``root_pid`` (read from /proc while they run)."""
    import os
    found: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
            if b"locust" in cmdline and ppid in (root_pid, *found):
                found[int(entry)] = os.sched_getscheduler(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.parametrize("sched", ["batch", "normal"])
def test_locust_processes_run_under_the_requested_scheduling_policy(tmp_path, sched: str) -> None:
    import os
    import subprocess
    import sys
    import time

    from tests.load.conftest import REPO
    proc = subprocess.Popen([sys.executable, "-m", "harness", "load", str(PROFILES / "quick-pass.yaml"), "--workers",
                             "1", "--users", "2", "--duration", "4s", "--sched", sched, "--out", str(tmp_path / "o"),
                             "-q"], cwd=REPO, env=dict(os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    policies: dict[int, int] = {}        # the last policy seen per process: set at import, so look until the end
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            policies.update(_locust_policies(proc.pid))
    finally:
        assert proc.wait(timeout=60) == 0
    want = os.SCHED_BATCH if sched == "batch" else os.SCHED_OTHER
    assert len(policies) >= 2, policies            # the master and its worker
    assert set(policies.values()) == {want}, policies
