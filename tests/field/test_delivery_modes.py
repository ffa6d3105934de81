"""POP3 without the SMTP side: ``delivery: {maildir: ...}`` and ``delivery: existing`` on the embedded server.

With a Maildir path every POP3 check runs and judges as the SMTP-fed run
does; with ``existing`` the read-only checks judge what is already in the
maildrop, the rest are skipped with the reason, and the mailbox is left as it
was (same files, same contents, same UIDLs).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.protocol.protocols import Protocol
from harness.refserver import ReferenceServer
from harness.results import Status
from harness.scenario.delivery import EXISTING_SKIP
from harness.scenario.loader import load_paths
from harness.scenario.runner import Runner, RunOptions
from harness.session import Limits
from harness.config.target import target_from_mapping
from tests.field.maildrops import fill, fingerprint, varied_messages

ROOT = Path(__file__).resolve().parents[2]
POP3_CHECKS = [c for f in load_paths([ROOT / "scenarios"]) for c in f.checks if c.protocol is Protocol.POP3]
INSPECTING = {"pop3.octet-counts", "pop3.byte-stuffing", "pop3.top", "pop3.uidl-stable"}
LIMITS = Limits(read_timeout=3.0, reply_deadline=3.0)


def _pop3_only(server: ReferenceServer, delivery: object, users: int = 12) -> dict:
    mapping = server.target()
    out = {"pop3": mapping["pop3"], "pop3s": mapping["pop3s"], "domain": mapping["domain"],
           "users": mapping["users"][:users], "delivery": delivery}
    return out


def _run(mapping: dict):
    return Runner(target_from_mapping(mapping), RunOptions(jobs=8, limits=LIMITS)).run(POP3_CHECKS)


def test_maildir_delivery_runs_every_pop3_check_with_the_smtp_fed_verdicts() -> None:
    with ReferenceServer() as server:
        fed = {r.id: r.status for r in _run(server.target()).checks}
        run = _run(_pop3_only(server, {"maildir": f"{server.maildir}/{{login}}"}))
    assert run.preflight["delivery"]["status"] == "delivered", run.preflight
    assert run.preflight["delivery"]["mode"] == "maildir"
    got = {r.id: r.status for r in run.checks}
    assert got == fed
    assert all(s is Status.PASSED for s in got.values()), [(r.id, r.message) for r in run.checks
                                                          if r.status is not Status.PASSED]


@pytest.fixture()
def prefilled():
    with ReferenceServer() as server:
        box = Path(server.maildir) / "alice"
        fill(box, varied_messages(20))
        yield server, box


def _uidls(box: Path) -> set[str]:
    return {p.name.split(":")[0] for sub in ("new", "cur") for p in (box / sub).iterdir()}


def test_existing_reads_without_changing_the_maildrop(prefilled) -> None:
    server, box = prefilled
    before, names = fingerprint(box), _uidls(box)
    run = _run(_pop3_only(server, "existing", users=1))
    assert "holds 20 messages" in run.preflight["delivery"]["message"]
    by_id = {r.id: r for r in run.checks}
    for check_id in INSPECTING:
        assert by_id[check_id].status is Status.PASSED, (check_id, by_id[check_id].message)
        assert "inspecting 20 message(s)" in str(by_id[check_id].transcript)
    own = [r for r in run.checks if r.message == EXISTING_SKIP]
    assert len(own) > 20 and all(r.status is Status.SKIPPED for r in own)
    assert not [r for r in run.checks if r.status in (Status.FAILED, Status.ERROR)], \
        [(r.id, r.message) for r in run.checks if r.status in (Status.FAILED, Status.ERROR)]
    assert fingerprint(box) == before and _uidls(box) == names


def test_existing_messages_are_judged(tmp_path: Path) -> None:
    """A server that does not byte-stuff fails on messages it did not get from us.

    (A lone "." line left unstuffed ends the response early: what follows is then no reply at
    all, a protocol-violation error. Lines that start with a dot and go on show the defect.)
    """
    messages = [m for m in varied_messages(10) if b"\r\n.\r\n" not in m]
    messages.append(b"From: a@example.test\r\nSubject: dots\r\n\r\n.a\r\n..b\r\n")
    with ReferenceServer(defects=["pop3-no-byte-stuffing", "pop3-octets-lf"]) as server:
        fill(Path(server.maildir) / "alice", messages)
        run = _run(_pop3_only(server, "existing", users=1))
    by_id = {r.id: r for r in run.checks}
    assert by_id["pop3.byte-stuffing"].status is Status.FAILED, by_id["pop3.byte-stuffing"].message
    assert "not byte-stuffed" in by_id["pop3.byte-stuffing"].message
    assert by_id["pop3.octet-counts"].status is Status.FAILED, by_id["pop3.octet-counts"].message


def test_existing_on_an_empty_maildrop_skips_the_readers() -> None:
    with ReferenceServer() as server:
        run = _run(_pop3_only(server, "existing", users=1))
    by_id = {r.id: r for r in run.checks}
    for check_id in INSPECTING:
        assert (by_id[check_id].status, by_id[check_id].message) == \
            (Status.SKIPPED, "the maildrop is empty: no message to read")
