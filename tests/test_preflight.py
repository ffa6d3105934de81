"""What the preflight blocks, as a table: a broken part ends exactly the checks that depend on it."""

from __future__ import annotations

import pytest

from harness.protocol.protocols import Protocol
from harness.results import Status
from harness.scenario.preflight import Canary, CheckNeeds, Login, Preflight, Probe

SMTP_ONLY = CheckNeeds(frozenset({"smtp"}), Protocol.SMTP, pop3_login=False, delivery=False)
ROUND_TRIP = CheckNeeds(frozenset({"smtp", "pop3"}), Protocol.SMTP, pop3_login=True, delivery=True)
POP3_LOGIN = CheckNeeds(frozenset({"pop3"}), Protocol.POP3, pop3_login=True, delivery=False)
POP3_NO_LOGIN = CheckNeeds(frozenset({"pop3"}), Protocol.POP3, pop3_login=False, delivery=False)
IMPLICIT = CheckNeeds(frozenset({"smtps"}), Protocol.SMTP, pop3_login=False, delivery=False)


def _probe(service: str, stage: str | None = None, cls: str = "timeout") -> Probe:
    probe = Probe(service, "127.0.0.1:1")
    if stage:
        probe.error, probe.error_class, probe.stage = f"{stage}: boom", cls, stage
    return probe


def _pre(smtp: str | None = None, pop3: str | None = None, logins: tuple[bool, ...] = (True,),
         canary: str = "delivered") -> Preflight:
    pre = Preflight(probes={"smtp": _probe("smtp", smtp), "pop3": _probe("pop3", pop3)})
    pre.logins = [Login(f"u{i}", ok, "+OK" if ok else "-ERR no") for i, ok in enumerate(logins)]
    pre.canary = Canary(canary, "not in alice's mailbox" if canary != "delivered" else "ok")
    return pre


@pytest.mark.parametrize("pre,needs,expected", [
    (_pre(), ROUND_TRIP, None),
    (_pre(smtp="greeting"), SMTP_ONLY, (Status.ERROR, "timeout", "preflight: SMTP 127.0.0.1:1: greeting: boom")),
    (_pre(smtp="connect", pop3="connect"), ROUND_TRIP, (Status.ERROR, "timeout", "preflight: SMTP")),
    (_pre(smtp="connect", pop3="connect"), POP3_LOGIN, (Status.ERROR, "timeout", "preflight: POP3")),
    # past the greeting a failure is a finding of the checks that use it, not a blocker
    (_pre(smtp="EHLO"), SMTP_ONLY, None),
    (_pre(pop3="CAPA"), POP3_LOGIN, None),
    # the implicit-TLS endpoint is not probed: a dead plaintext port does not block it
    (_pre(smtp="connect"), IMPLICIT, None),
    (_pre(logins=(False, False)), POP3_LOGIN, (Status.ERROR, None, "preflight: no POP3 login works")),
    (_pre(logins=(False, False)), POP3_NO_LOGIN, None),
    (_pre(logins=(False, True)), POP3_LOGIN, None),
    (_pre(canary="missing"), ROUND_TRIP, (Status.ERROR, "delivery", "preflight: not in alice's mailbox")),
    (_pre(canary="refused"), ROUND_TRIP, (Status.ERROR, "delivery", "preflight:")),
    (_pre(canary="missing"), SMTP_ONLY, None),
    (_pre(canary="missing"), POP3_LOGIN, None),
    (_pre(canary="not-run"), ROUND_TRIP, None),
])
def test_blocker(pre: Preflight, needs: CheckNeeds, expected: tuple | None) -> None:
    got = pre.blocker(needs)
    if expected is None:
        assert got is None, got
    else:
        assert got is not None
        assert (got.status, got.error_class) == expected[:2]
        assert got.message.startswith(expected[2]), got.message


def test_lines_say_what_was_found() -> None:
    pre = _pre(smtp="greeting", canary="missing")
    pre.probes["pop3"].greeting, pre.probes["pop3"].capabilities = "+OK ready", ("TOP", "UIDL")
    lines = pre.lines()
    assert lines[0] == "preflight: SMTP 127.0.0.1:1: FAILED (timeout): greeting: boom"
    assert lines[1].startswith("preflight: POP3 127.0.0.1:1: +OK ready") and "extensions: TOP UIDL" in lines[1]
    assert lines[2] == "preflight: POP3 logins: 1 of 1 ok"
    assert lines[3] == "preflight: delivery (smtp): MISSING: not in alice's mailbox"
