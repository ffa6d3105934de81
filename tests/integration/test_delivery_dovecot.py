"""Dovecot without its MTA: messages written into the Maildir it reads, and a mailbox someone else filled.

Started with ci/servers/start.sh like tests/integration/test_real_servers.py
(fixed loopback ports); the target has no SMTP section. With
``delivery: {maildir: /home/mh{login}/Maildir}`` every POP3 check judges as
the SMTP-fed run does; with ``delivery: existing`` on a mailbox of 20 varied
messages the read-only checks judge those messages and the mailbox keeps
the same messages and the same UIDLs.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from harness.protocol.protocols import Protocol
from harness.results import Status
from harness.scenario.runner import Runner, RunOptions
from harness.session import Limits, open_connection
from harness.config.target import Target, target_from_mapping
from harness.transcript import Transcript
from tests.field.maildrops import fill, fingerprint, varied_messages
from tests.integration.test_real_servers import CHECKS, _start, _stop_at_end  # noqa: F401 - stops the servers

POP3_CHECKS = [c for c in CHECKS if c.protocol is Protocol.POP3]
INSPECTING = {"pop3.octet-counts", "pop3.byte-stuffing", "pop3.top", "pop3.uidl-stable"}


def _run(target: Target):
    return Runner(target, RunOptions(jobs=8, limits=Limits(read_timeout=10.0, reply_deadline=10.0))).run(POP3_CHECKS)


def _pop3_only(target: Target, delivery: object, users: int) -> Target:
    data = target.to_json()
    for key in ("smtp", "smtps", "smtp_auth"):
        data.pop(key, None)
    data["users"] = [{"address": u.address, "login": u.login, "password": u.password} for u in target.users[:users]]
    data["delivery"] = delivery
    return target_from_mapping(data, "dovecot alone")


def _uidls(target: Target) -> list[str]:
    user = target.users[0]
    conn = open_connection("uidl", "pop3", target.pop3.host, target.pop3.port, Transcript([]))  # type: ignore[union-attr]
    with contextlib.closing(conn):
        assert conn.read_response(False, 10).ok
        for line in (f"USER {user.login}", f"PASS {user.password}"):
            assert conn.command(line, 10).ok  # type: ignore[union-attr]
        listing = conn.command("UIDL", 10)
        conn.command("QUIT", 10)
    return sorted(line.decode().split()[1] for line in listing.body or ())  # type: ignore[union-attr]


def test_dovecot_fed_through_its_maildir_judges_as_fed_by_smtp():
    target = _start()
    fed = {r.id: r.status for r in _run(target).checks}
    run = _run(_pop3_only(target, {"maildir": "/home/mh{login}/Maildir"}, users=4))
    assert run.preflight["delivery"]["status"] == "delivered", run.preflight
    got = {r.id: r.status for r in run.checks}
    assert got == fed, {k: (fed[k].value, got[k].value) for k in got if got[k] != fed[k]}
    assert sum(s is Status.PASSED for s in got.values()) >= 60


def test_dovecot_existing_mailbox_is_read_and_left_alone():
    target = _start()
    user = target.users[-1]
    box = Path(f"/home/mh{user.login}/Maildir")
    fill(box, varied_messages(20))
    alone = _pop3_only(target, "existing", users=len(target.users))
    alone = target_from_mapping({**alone.to_json(), "users": [{"address": user.address, "login": user.login,
                                                              "password": user.password}]}, "dovecot existing")
    before, uidls = fingerprint(box), _uidls(alone)
    run = _run(alone)
    assert "holds 20 messages" in run.preflight["delivery"]["message"], run.preflight
    by_id = {r.id: r for r in run.checks}
    for check_id in INSPECTING:
        assert by_id[check_id].status is Status.PASSED, (check_id, by_id[check_id].message)
    errors = [(r.id, r.message) for r in run.checks if r.status is Status.ERROR]
    assert not errors, errors
    assert fingerprint(box) == before
    assert _uidls(alone) == uidls
