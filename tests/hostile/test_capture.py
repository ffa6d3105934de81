"""``run --pcap``: every failed check gets a pcap that tshark decodes as SMTP/POP3.

Runs the CLI on the ``faults`` suite against the embedded server with a knob
that makes two checks fail, once with live capture (root only) and once with
pcaps synthesized from the transcript; then opens each pcap with tshark.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.capture import live_capture_possible, streams_from_transcript, synthesize_packets, write_pcap

ROOT = Path(__file__).resolve().parents[2]
TSHARK = shutil.which("tshark")
# .ci/run installs tshark: in CI a missing tshark is a failure, not a skip.
needs_tshark = pytest.mark.skipif(TSHARK is None and not os.environ.get("CI"),
                                  reason="tshark is not installed (apt-get install tshark)")


def tshark_fields(pcap: Path, port: int, proto: str, fields: list[str]) -> list[list[str]]:
    cmd = [TSHARK, "-r", str(pcap), "-d", f"tcp.port=={port},{proto}", "-Y", proto, "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def tcp_problems(pcap: Path) -> list[str]:
    """tshark's TCP analysis flags (lost segment, bad ack, ...): a sound seq/ack stream has none."""
    out = subprocess.run([TSHARK, "-r", str(pcap), "-Y", "tcp.analysis.flags && !tcp.analysis.window_update",
                          "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def run_cli(out: Path, live: bool) -> dict:
    env = dict(os.environ)        # harness as installed (the wheel in CI)
    if not live:
        env["MAILHARNESS_PCAP_LIVE"] = "0"
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "-k", "faults.", "-q", "--out", str(out),
                           "--pcap", "--defect", "smtp-deliver-on-disconnect"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


MODES = ["synthesized", "live"]


@needs_tshark
@pytest.mark.parametrize("method", MODES)
def test_failed_checks_get_decodable_pcaps(method: str, tmp_path: Path) -> None:
    if method == "live":
        ok, why = live_capture_possible(["127.0.0.1"])
        if not ok:
            pytest.skip(f"live capture not possible: {why}")
    data = run_cli(tmp_path, live=method == "live")
    smtp_port, pop3_port = data["target"]["smtp"]["port"], data["target"]["pop3"]["port"]
    failed = [c for c in data["checks"] if c["status"] in ("failed", "error")]
    assert len(failed) >= 2
    for c in data["checks"]:
        if c["status"] == "passed":
            assert "pcap" not in c, c["id"]        # --pcap alone: failed/error checks only
    for c in failed:
        assert c["pcap"] == f"pcap/{c['id']}.pcap" and c["pcap_method"] == method
        pcap = tmp_path / c["pcap"]
        assert pcap.is_file()
        rows = tshark_fields(pcap, smtp_port, "smtp", ["smtp.req.command", "smtp.response.code"])
        commands = {r[0] for r in rows if r and r[0]}
        codes = {r[1] for r in rows if len(r) > 1 and r[1]}
        assert {"EHLO", "MAIL", "RCPT", "DATA"} <= commands, (c["id"], commands)
        assert {"220", "250", "354"} <= codes, (c["id"], codes)
        # the verdict came from the POP3 side: its conversation is in the same pcap
        pop = tshark_fields(pcap, pop3_port, "pop", ["pop.request.command", "pop.response.indicator"])
        assert {"USER", "PASS"} <= {r[0] for r in pop if r and r[0]}, c["id"]
        assert "+OK" in {r[1] for r in pop if len(r) > 1}, c["id"]
        if method == "synthesized":
            assert tcp_problems(pcap) == [], c["id"]


@needs_tshark
def test_synthesized_pcap_of_split_command_reassembles(tmp_path: Path) -> None:
    """1-byte segments, a RST and a server FIN: seq/ack stay consistent, tshark reassembles the command."""
    t = [{"conn": "smtp", "dir": "*", "t": 0.0, "text": "", "note": "connect 127.0.0.1:2525"},
         {"conn": "smtp", "dir": "*", "t": 0.0, "text": "", "note": "connected from 127.0.0.1:50000 to 127.0.0.1:2525"},
         {"conn": "smtp", "dir": "S", "t": 0.01, "text": "220 hi\\r\\n", "note": ""}]
    t += [{"conn": "smtp", "dir": "C", "t": 0.02 + i / 1000, "text": ch, "note": ""}
          for i, ch in enumerate(["N", "O", "O", "P", "\\r", "\\n"])]
    t += [{"conn": "smtp", "dir": "S", "t": 0.1, "text": "250 OK\\r\\n", "note": ""},
          {"conn": "smtp", "dir": "*", "t": 0.2, "text": "", "note": "client reset the connection (RST)"}]
    streams = streams_from_transcript(t)
    assert [(s.client, s.server) for s in streams] == [(("127.0.0.1", 50000), ("127.0.0.1", 2525))]
    pcap = tmp_path / "x.pcap"
    write_pcap(pcap, synthesize_packets(streams))
    rows = tshark_fields(pcap, 2525, "smtp", ["smtp.req.command", "smtp.response.code"])
    assert ["NOOP", ""] in rows and ["", "250"] in rows and ["", "220"] in rows
    assert tcp_problems(pcap) == []
