"""Every defect knob changes the one behaviour it names.

Each row is (probe, clean expectation, defective expectation). The probe runs
against a fresh clean server and a fresh server with only that knob on.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import pytest

from harness.refserver import DEFECTS, ReferenceServer
from harness.refserver.defects import BASE_DEFECTS

from .conftest import Wire, pop3_login, send_mail, smtp_session, stored

Probe = Callable[[ReferenceServer], Any]
PLAIN = base64.b64encode(b"\0alice\0alicepw").decode()


# ----- SMTP probes -----------------------------------------------------------

def _code_after(*commands: str, ehlo: str | None = "EHLO client.test") -> Probe:
    """The reply code of the last of ``commands`` (earlier replies are read and ignored)."""
    def probe(srv: ReferenceServer) -> int:
        with smtp_session(srv.smtp_port, ehlo) as w:
            codes = [w.cmd(c) for c in commands]
            return codes[-1]
    return probe


def _greeting_code(srv: ReferenceServer) -> int:
    with Wire(srv.smtp_port) as w:
        return w.code()


def _helo_lines(srv: ReferenceServer) -> str:
    with smtp_session(srv.smtp_port, ehlo=None) as w:
        w.send("HELO client.test")
        return "single" if len(w.smtp()[1]) == 1 else "multi"


def _ehlo_line_codes(srv: ReferenceServer) -> set[bytes]:
    with Wire(srv.smtp_port) as w:
        w.code()
        w.send("EHLO client.test")
        codes = set()
        while True:
            line = w.line()
            codes.add(line[:3])
            if line[3:4] != b"-":
                return codes


def _noop_extra_reply(srv: ReferenceServer) -> bool:
    with smtp_session(srv.smtp_port) as w:
        w.cmd("NOOP")
        return not w.silent(0.3)


def _quit_got_221(srv: ReferenceServer) -> bool:
    with smtp_session(srv.smtp_port) as w:
        w.send("QUIT")
        w.closed(1.0)
        return w.buf.startswith(b"221 ")


def _quit_closes(srv: ReferenceServer) -> bool:
    with smtp_session(srv.smtp_port) as w:
        assert w.cmd("QUIT") == 221
        return w.closed(0.5)


def _stored_after(body: bytes) -> Probe:
    def probe(srv: ReferenceServer) -> bytes:
        assert send_mail(srv.smtp_port, body) == 250
        (message,) = stored(srv)
        return message
    return probe


def _kept_dots(srv: ReferenceServer) -> bool:
    return b"\r\n..x\r\n" in _stored_after(b"Subject: d\r\n\r\n..x\r\n")(srv)


def _has_received(srv: ReferenceServer) -> bool:
    return b"\r\nReceived: from client.test " in b"\r\n" + _stored_after(b"Subject: t\r\n\r\nx\r\n")(srv)


def _has_return_path(srv: ReferenceServer) -> bool:
    return _stored_after(b"Subject: t\r\n\r\nx\r\n")(srv).startswith(b"Return-Path: <sender@remote.test>\r\n")


def _long_line_intact(srv: ReferenceServer) -> bool:
    line = b"z" * 900 + b"\r\n"
    return line in _stored_after(b"Subject: t\r\n\r\n" + line)(srv)


def _eight_bit_intact(srv: ReferenceServer) -> bool:
    return b"caf\xc3\xa9 \xff" in _stored_after(b"Subject: t\r\n\r\ncaf\xc3\xa9 \xff\r\n")(srv)


def _smuggled_messages(srv: ReferenceServer) -> int:
    with smtp_session(srv.smtp_port) as w:
        assert w.cmd("MAIL FROM:<a@remote.test>") == 250
        assert w.cmd("RCPT TO:<alice@example.test>") == 250
        assert w.cmd("DATA") == 354
        w.send(b"Subject: one\r\n\r\nx\r\n.\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
               b"DATA\r\nSubject: smuggled\r\n\r\nhi\r\n.\r\n")
        while not w.silent(0.3):
            w.code()
    return len(stored(srv, "bob"))


def _starttls_first_reply_is_ehlo(srv: ReferenceServer) -> bool:
    with smtp_session(srv.smtp_port) as w:
        w.send(b"STARTTLS\r\nNOOP\r\n")
        assert w.code() == 220
        w.starttls()
        w.send("EHLO client.test")
        return len(w.smtp()[1]) > 1


def _after_starttls(*commands: str) -> Probe:
    def probe(srv: ReferenceServer) -> int:
        with smtp_session(srv.smtp_port) as w:
            assert w.cmd("STARTTLS") == 220
            w.starttls()
            return [w.cmd(c) for c in commands][-1]
    return probe


def _starttls_readvertised(srv: ReferenceServer) -> bool:
    with smtp_session(srv.smtp_port) as w:
        assert w.cmd("STARTTLS") == 220
        w.starttls()
        w.send("EHLO client.test")
        return b"STARTTLS" in w.smtp()[1]


def _smtps_code_after(*commands: str) -> Probe:
    def probe(srv: ReferenceServer) -> int:
        with smtp_session(srv.smtps_port, tls=True) as w:
            return [w.cmd(c) for c in commands][-1]
    return probe


def _plaintext_auth(srv: ReferenceServer) -> tuple[bool, int]:
    with smtp_session(srv.smtp_port, ehlo=None) as w:
        w.send("EHLO client.test")
        advertised = any(line.startswith(b"AUTH ") for line in w.smtp()[1])
        return advertised, w.cmd("AUTH PLAIN " + PLAIN)


# ----- POP3 probes -----------------------------------------------------------

MESSAGE = b"Subject: p\r\n\r\n..dot line\r\nl2\r\nl3\r\n"


def _with_mail(n: int, probe: Callable[[ReferenceServer], Any]) -> Probe:
    def run(srv: ReferenceServer) -> Any:
        for _ in range(n):
            assert send_mail(srv.smtp_port, MESSAGE) == 250
        return probe(srv)
    return run


def _pop3_status(*commands: str, login: bool = True) -> Probe:
    """The status line of the last command (earlier lines and bodies are not read on purpose)."""
    def probe(srv: ReferenceServer) -> bytes:
        if login:
            w = pop3_login(srv.pop3_port)
        else:
            w = Wire(srv.pop3_port)
            w.line()
        with w:
            status = b""
            for c in commands:
                w.send(c)
                status = w.line()
            return status[:4]
    return probe


def _greeting(srv: ReferenceServer) -> bytes:
    with Wire(srv.pop3_port) as w:
        return w.line()[:3]


def _retr_stuffed(srv: ReferenceServer) -> bool:
    with pop3_login(srv.pop3_port) as w:
        w.send("RETR 1")
        w.line()
        return b"\r\n..dot line\r\n" in w.multi()


def _files_after_dele_then(action: str) -> Probe:
    def probe(srv: ReferenceServer) -> int:
        with pop3_login(srv.pop3_port) as w:
            w.send("DELE 1")
            assert w.line().startswith(b"+OK")
            if action == "QUIT":
                w.send("QUIT")
                w.closed()
        return len(stored(srv))
    return probe


def _stat_count(*before: str) -> Probe:
    def probe(srv: ReferenceServer) -> bytes:
        with pop3_login(srv.pop3_port) as w:
            for c in before:
                w.send(c)
                w.line()
            w.send("STAT")
            return w.line().split()[1]
    return probe


def _list_size_exact(srv: ReferenceServer) -> bool:
    with pop3_login(srv.pop3_port) as w:
        w.send("LIST 1")
        return int(w.line().split()[2]) == len(stored(srv)[0])


def _uidl_stable(srv: ReferenceServer) -> bool:
    uids = []
    for _ in range(2):
        with pop3_login(srv.pop3_port) as w:
            w.send("UIDL 1\r\nQUIT")
            uids.append(w.line().split()[2])
            w.line()
            w.closed()
    return uids[0] == uids[1]


def _stays_after_bad_pass(srv: ReferenceServer) -> bytes:
    with Wire(srv.pop3_port) as w:
        w.line()
        w.send("USER alice\r\nPASS wrong")
        w.line()
        w.line()
        try:
            w.send("USER alice")
            return w.line(1.0)[:3]
        except (ConnectionError, OSError):
            return b"closed"


def _top_zero_body(srv: ReferenceServer) -> bytes:
    with pop3_login(srv.pop3_port) as w:
        w.send("TOP 1 0")
        w.line()
        return (w.multi() + b"\r\n").split(b"\r\n\r\n", 1)[1]


def _second_login(srv: ReferenceServer) -> bytes:
    with pop3_login(srv.pop3_port), Wire(srv.pop3_port) as second:
        second.line()
        second.send("USER alice\r\nPASS alicepw")
        second.line()
        return second.line()[:12]


def _stls_first_reply(srv: ReferenceServer) -> bytes:
    with Wire(srv.pop3_port) as w:
        w.line()
        w.send(b"STLS\r\nUSER alice\r\n")
        w.line()
        w.starttls()
        w.send("CAPA")
        return w.line()


def _capa_after_stls_has_stls(srv: ReferenceServer) -> bool:
    with Wire(srv.pop3_port) as w:
        w.line()
        w.send("STLS")
        w.line()
        w.starttls()
        w.send("CAPA")
        w.line()
        return b"STLS" in w.multi().split(b"\r\n")


def _capa_terminated(srv: ReferenceServer) -> bool:
    with Wire(srv.pop3_port) as w:
        w.line()
        w.send("CAPA")
        w.line()
        try:
            w.multi(0.5)
            return True
        except TimeoutError:
            return False


def _timestamps_differ(srv: ReferenceServer) -> bool:
    stamps = []
    for _ in range(2):
        with Wire(srv.pop3_port) as w:
            stamps.append(re.search(rb"<[^>]+>", w.line()).group(0))
    return stamps[0] != stamps[1]


def _first_list_number(srv: ReferenceServer) -> bytes:
    with pop3_login(srv.pop3_port) as w:
        w.send("LIST")
        w.line()
        return w.multi().split()[0]


# ----- the table -------------------------------------------------------------

TABLE: dict[str, tuple[Probe, Any, Any]] = {
    "smtp-greeting-code": (_greeting_code, 220, 250),
    "smtp-helo-multiline": (_helo_lines, "single", "multi"),
    "smtp-case-sensitive": (_code_after("mail FROM:<a@remote.test>"), 250, 500),
    "smtp-rcpt-before-mail": (_code_after("RCPT TO:<alice@example.test>"), 503, 250),
    "smtp-data-without-rcpt": (_code_after("MAIL FROM:<a@remote.test>", "RCPT TO:<nobody@example.test>", "DATA"), 503, 354),
    "smtp-mail-syntax-accepted": (_code_after("MAIL FROM:garbage"), 501, 250),
    "smtp-null-sender-rejected": (_code_after("MAIL FROM:<>"), 250, 553),
    "smtp-postmaster-rejected": (_code_after("MAIL FROM:<a@remote.test>", "RCPT TO:<Postmaster>"), 250, 550),
    "smtp-rset-keeps-envelope": (_code_after("MAIL FROM:<a@remote.test>", "RCPT TO:<bob@example.test>", "RSET", "DATA"), 503, 354),
    "smtp-ehlo-keeps-envelope": (_code_after("MAIL FROM:<a@remote.test>", "RCPT TO:<bob@example.test>", "EHLO again.test", "DATA"), 503, 354),
    "smtp-extra-reply": (_noop_extra_reply, False, True),
    "smtp-bad-multiline": (_ehlo_line_codes, {b"250"}, {b"250", b"251"}),
    "smtp-quit-no-221": (_quit_got_221, True, False),
    "smtp-quit-no-close": (_quit_closes, True, False),
    "smtp-no-dot-unstuffing": (_kept_dots, False, True),
    "smtp-bare-lf-end": (_smuggled_messages, 0, 1),
    "smtp-no-trace": (_has_received, True, False),
    "smtp-no-return-path": (_has_return_path, True, False),
    "smtp-vrfy-250": (_code_after("VRFY nosuchuser-4f1c"), 252, 250),
    "smtp-code-out-of-range": (_code_after("NOOP"), 250, 199),
    "smtp-short-line-limit": (_code_after("NOOP " + "x" * 400), 250, 500),
    "smtp-data-line-truncate": (_long_line_intact, True, False),
    "smtp-starttls-injection": (_starttls_first_reply_is_ehlo, True, False),
    "smtp-starttls-keeps-state": (_after_starttls("MAIL FROM:<a@remote.test>"), 503, 250),
    "smtp-starttls-readvertise": (_starttls_readvertised, False, True),
    "smtp-auth-cancel": (_smtps_code_after("AUTH PLAIN", "*"), 501, 535),
    "smtp-auth-twice": (_smtps_code_after("AUTH PLAIN " + PLAIN, "AUTH PLAIN " + PLAIN), 503, 235),
    "smtp-auth-plaintext": (_plaintext_auth, (False, 538), (True, 235)),
    "smtp-unknown-command-250": (_code_after("XYZZY"), 500, 250),
    "smtp-open-relay": (_code_after("MAIL FROM:<a@remote.test>", "RCPT TO:<x@elsewhere.test>"), 550, 250),
    "smtp-8bit-strip": (_eight_bit_intact, True, False),
    "smtp-size-ignored": (_code_after("MAIL FROM:<a@remote.test> SIZE=10485761"), 552, 250),
    "pop3-lowercase-status": (_greeting, b"+OK", b"+ok"),
    "pop3-no-byte-stuffing": (_with_mail(1, _retr_stuffed), True, False),
    "pop3-dele-immediate": (_with_mail(1, _files_after_dele_then("drop")), 1, 0),
    "pop3-rset-ignored": (_with_mail(1, _stat_count("DELE 1", "RSET")), b"1", b"0"),
    "pop3-stat-counts-deleted": (_with_mail(2, _stat_count("DELE 1")), b"1", b"2"),
    "pop3-octets-lf": (_with_mail(1, _list_size_exact), True, False),
    "pop3-uidl-unstable": (_with_mail(1, _uidl_stable), True, False),
    "pop3-transaction-before-auth": (_pop3_status("STAT", login=False), b"-ERR", b"+OK "),
    "pop3-pass-without-user": (_pop3_status("PASS alicepw", login=False), b"-ERR", b"+OK "),
    "pop3-bad-pass-disconnect": (_stays_after_bad_pass, b"+OK", b"closed"),
    "pop3-dele-twice-ok": (_with_mail(1, _pop3_status("DELE 1", "DELE 1")), b"-ERR", b"+OK "),
    "pop3-retr-deleted-ok": (_with_mail(1, _pop3_status("DELE 1", "RETR 1")), b"-ERR", b"+OK "),
    "pop3-top-whole": (_with_mail(1, _top_zero_body), b"", b"..dot line\r\nl2\r\nl3\r\n"),
    "pop3-quit-no-update": (_with_mail(1, _files_after_dele_then("QUIT")), 0, 1),
    "pop3-no-lock": (_second_login, b"-ERR [IN-USE", b"+OK alice ha"),
    "pop3-stls-injection": (_stls_first_reply, b"+OK capability list follows", b"+OK send PASS"),
    "pop3-stls-readvertise": (_capa_after_stls_has_stls, False, True),
    "pop3-missing-terminator": (_capa_terminated, True, False),
    "pop3-apop-fixed-timestamp": (_timestamps_differ, True, False),
    "pop3-numbering-from-zero": (_with_mail(1, _first_list_number), b"1", b"0"),
}


def test_table_covers_every_base_defect() -> None:
    # Knobs added with the full suites are proven by the checks that name them
    # (tests/integration/test_check_defects.py); these are probed here too.
    assert sorted(TABLE) == sorted(BASE_DEFECTS)


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_registry_entry(name: str) -> None:
    defect = DEFECTS[name]
    # esmtp-* knobs are SMTP-server bugs too
    assert defect.name == name and defect.protocol == {"esmtp": "smtp"}.get(name.split("-")[0], name.split("-")[0])
    assert defect.description.endswith(".") and "\n" not in defect.description


@pytest.mark.parametrize("name", sorted(TABLE))
def test_defect_changes_its_behaviour(name: str) -> None:
    probe, clean, defective = TABLE[name]
    with ReferenceServer() as srv:
        assert probe(srv) == clean, "clean server"
    with ReferenceServer(defects=[name]) as srv:
        assert probe(srv) == defective, f"with {name}"
