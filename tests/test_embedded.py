"""run_target: the target file, or the embedded reference server for the length of the block."""

from __future__ import annotations

import io
import socket

import pytest

from harness.embedded import EMBEDDED_NAME, run_target
from harness.errors import ScenarioError


def _greeting(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(5)
        return sock.recv(512)


def test_target_file_is_loaded_and_nothing_started(tmp_path):
    path = tmp_path / "target.yaml"
    path.write_text("name: lab\nsmtp: {host: 127.0.0.1, port: 2525}\n", encoding="utf-8")
    announce = io.StringIO()
    with run_target(path, announce=announce) as target:
        assert (target.name, target.smtp.port) == ("lab", 2525)
    assert announce.getvalue() == ""


def test_no_file_and_not_embedded_is_an_empty_target():
    with run_target(None, embedded=False) as target:
        assert target.smtp is None and target.users == ()


def test_embedded_server_runs_inside_the_block_only():
    announce = io.StringIO()
    with run_target(None, defects=["smtp-greeting-code"], announce=announce) as target:
        assert target.to_json()["name"] == EMBEDDED_NAME          # what results.json and the baseline see
        port = target.smtp.port
        assert f"{EMBEDDED_NAME} with defects smtp-greeting-code: SMTP 127.0.0.1:{port}," in announce.getvalue()
        assert _greeting(port)[:1] in b"0123456789"
    with pytest.raises(OSError):
        _greeting(port)


@pytest.mark.parametrize("path, embedded, defects, message", [
    (None, True, ["no-such-knob"], "unknown defect name(s): no-such-knob"),
    ("target.yaml", True, ["smtp-greeting-code"], "--defect only applies to the embedded server"),
    (None, False, ["smtp-greeting-code"], "--defect only applies to the embedded server"),
])
def test_defect_problems_are_scenario_errors(path, embedded, defects, message):
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        with run_target(path, defects=defects, embedded=embedded):
            pass
