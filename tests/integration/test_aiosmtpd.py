"""The SMTP suites against a stock aiosmtpd server (its default SMTP class, an accept-all handler).

aiosmtpd has no POP3 side, so every round-trip check is skipped with the
reason; the rest must be judged (passed or failed), never end in ``error``
against this healthy server, and the verdicts that reflect documented aiosmtpd
behaviour are pinned.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from harness.protocol.protocols import Protocol
from harness.results import Status
from harness.scenario.loader import load_paths
from harness.scenario.runner import Runner, RunOptions
from harness.session import Limits
from harness.config.target import target_from_mapping

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
CHECKS = [c for f in load_paths([SCENARIOS]) for c in f.checks if c.protocol is Protocol.SMTP]


class AcceptAll:
    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001 - aiosmtpd's hook signature
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def aiosmtpd_run():
    port = _free_port()
    controller = Controller(AcceptAll(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        target = target_from_mapping({
            "name": "aiosmtpd", "smtp": {"host": "127.0.0.1", "port": port},
            "domain": "example.test",
            "users": [{"address": f"u{i}@example.test", "login": f"u{i}", "password": "pw"} for i in range(2)],
        })
        limits = Limits(read_timeout=5.0, reply_deadline=5.0)
        yield Runner(target, RunOptions(jobs=8, limits=limits)).run(CHECKS)
    finally:
        controller.stop()


def test_no_check_ends_in_error(aiosmtpd_run):
    errors = [(r.id, r.error_class, r.message[:120]) for r in aiosmtpd_run.checks if r.status is Status.ERROR]
    assert not errors, errors


def test_round_trips_are_skipped_without_pop3(aiosmtpd_run):
    by_id = {r.id: r for r in aiosmtpd_run.checks}
    skipped = by_id["roundtrip.plain-text"]
    assert skipped.status is Status.SKIPPED and "pop3" in skipped.message


def test_core_verdicts(aiosmtpd_run):
    by_id = {r.id: r.status for r in aiosmtpd_run.checks}
    judged = [s for s in by_id.values() if s in (Status.PASSED, Status.FAILED)]
    assert len(judged) >= 60
    # aiosmtpd gets these RFC 5321 basics right ...
    for check_id in ("smtp.greeting-220", "smtp.rcpt-before-mail", "smtp.quit", "smtp.rset-clears-transaction",
                     "smtp.null-reverse-path", "smtp.one-reply-per-command"):
        assert by_id[check_id] is Status.PASSED, check_id
    # ... and since 1.4.5 (CVE-2024-27305) a bare LF no longer ends DATA. Without POP3 the
    # smuggling checks are judged from the replies, never skipped.
    smuggling = [cid for cid in by_id if cid.startswith("security.smuggling-")]
    assert len(smuggling) >= 11
    assert all(by_id[cid] is Status.PASSED for cid in smuggling), {cid: by_id[cid] for cid in smuggling}
