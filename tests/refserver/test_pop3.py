"""The clean reference POP3 server, fed through the reference SMTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from harness.refserver import ReferenceServer

from .conftest import Wire, pop3_login, send_mail, stored, wait_for

MESSAGE = b"Subject: pop\r\n\r\n.starts with a dot\r\nline two\r\n..two dots\r\n"


def _wire(message: bytes) -> bytes:
    return re.sub(rb"(?m)^\.", b"..", message)


def _deliver(srv: ReferenceServer, n: int = 1, login: str = "alice") -> list[bytes]:
    for i in range(n):
        assert send_mail(srv.smtp_port, _wire(MESSAGE + f"n={i}\r\n".encode()), rcpt=f"{login}@example.test") == 250
    return stored(srv, login)


def test_greeting_timestamps_differ_and_apop(server: ReferenceServer) -> None:
    stamps = []
    for _ in range(2):
        with Wire(server.pop3_port) as w:
            greeting = w.line()
            assert greeting.startswith(b"+OK mailharness-ref POP3 ready <")
            stamps.append(re.search(rb"<[^>]+>", greeting).group(0).decode())
    assert stamps[0] != stamps[1]
    with Wire(server.pop3_port) as w:
        stamp = re.search(rb"<[^>]+>", w.line()).group(0).decode()
        w.send(f"APOP alice {hashlib.md5((stamp + 'wrong').encode()).hexdigest()}")
        assert w.line().startswith(b"-ERR [AUTH]")
        w.send(f"APOP alice {hashlib.md5((stamp + 'alicepw').encode()).hexdigest()}")
        assert w.line().startswith(b"+OK")


def test_authorization_state_rules(server: ReferenceServer) -> None:
    with Wire(server.pop3_port) as w:
        w.line()
        for cmd, expect in [("STAT", b"-ERR"), ("PASS alicepw", b"-ERR"), ("XYZZY", b"-ERR"),
                            ("USER alice", b"+OK"), ("PASS wrong", b"-ERR [AUTH]"),
                            ("PASS alicepw", b"-ERR"),  # PASS only right after USER
                            ("user alice", b"+OK"), ("pass alicepw", b"+OK"),
                            ("USER alice", b"-ERR"), ("STLS", b"-ERR"), ("NOOP", b"+OK")]:
            w.send(cmd)
            assert w.line().startswith(expect), cmd
        w.send("QUIT")
        assert w.line().startswith(b"+OK") and w.closed()


def test_capa_in_both_states(server: ReferenceServer) -> None:
    with Wire(server.pop3_port) as w:
        w.line()
        w.send("CAPA")
        assert w.line().startswith(b"+OK")
        caps = w.multi().split(b"\r\n")
        for cap in (b"TOP", b"UIDL", b"USER", b"RESP-CODES", b"PIPELINING", b"STLS",
                    b"SASL PLAIN LOGIN CRAM-MD5", b"IMPLEMENTATION mailharness-ref"):
            assert cap in caps
        w.send("USER alice\r\nPASS alicepw\r\nCAPA")  # pipelined
        assert w.line().startswith(b"+OK") and w.line().startswith(b"+OK")
        assert w.line().startswith(b"+OK") and w.multi().split(b"\r\n") == caps


def test_stat_list_retr_top_uidl(server: ReferenceServer) -> None:
    files = _deliver(server, 2)
    with pop3_login(server.pop3_port) as w:
        w.send("STAT\r\nLIST\r\nLIST 2\r\nLIST 3\r\nRETR 1\r\nTOP 1 1\r\nTOP 1 0\r\nUIDL\r\nRETR abc\r\nRETR 0")
        assert w.line() == f"+OK 2 {len(files[0]) + len(files[1])}".encode()
        assert w.line().startswith(b"+OK")
        assert w.multi() == f"1 {len(files[0])}\r\n2 {len(files[1])}".encode()
        assert w.line() == f"+OK 2 {len(files[1])}".encode()
        assert w.line().startswith(b"-ERR")
        assert w.line().startswith(b"+OK")
        retr = w.multi() + b"\r\n"
        assert b"\r\n..starts with a dot\r\n" in retr  # byte-stuffed on the wire
        assert re.sub(rb"(?m)^\.", b"", retr) == files[0]
        assert w.line().startswith(b"+OK")
        head = files[0].split(b"\r\n\r\n")[0]
        assert w.multi() == head + b"\r\n\r\n..starts with a dot"
        assert w.line().startswith(b"+OK") and w.multi() == head + b"\r\n"
        assert w.line().startswith(b"+OK")
        uids = [line.split() for line in w.multi().split(b"\r\n")]
        assert [u[0] for u in uids] == [b"1", b"2"] and uids[0][1] != uids[1][1]
        assert all(re.fullmatch(rb"[\x21-\x7e]{1,70}", u[1]) for u in uids)
        assert w.line().startswith(b"-ERR") and w.line().startswith(b"-ERR")
    with pop3_login(server.pop3_port) as w:  # unique-ids persist across sessions
        w.send("UIDL")
        assert w.line().startswith(b"+OK")
        assert [line.split() for line in w.multi().split(b"\r\n")] == uids


def test_dele_rset_drop_and_quit(server: ReferenceServer) -> None:
    files = _deliver(server, 2)
    with pop3_login(server.pop3_port) as w:
        w.send("DELE 1\r\nDELE 1\r\nRETR 1\r\nLIST 1\r\nSTAT\r\nRSET\r\nSTAT\r\nDELE 1")
        assert w.line().startswith(b"+OK")
        assert w.line().startswith(b"-ERR") and w.line().startswith(b"-ERR") and w.line().startswith(b"-ERR")
        assert w.line() == f"+OK 1 {len(files[1])}".encode()
        assert w.line().startswith(b"+OK")
        assert w.line() == f"+OK 2 {len(files[0]) + len(files[1])}".encode()
        assert w.line().startswith(b"+OK")
    # Dropped without QUIT: nothing is removed.
    assert len(stored(server)) == 2
    with pop3_login(server.pop3_port) as w:
        w.send("UIDL 2")
        uid2 = w.line().split()[-1]
        w.send("DELE 1\r\nQUIT")
        assert w.line().startswith(b"+OK") and w.line().startswith(b"+OK")
        assert w.closed()
    assert stored(server) == files[1:]
    _deliver(server, 1)
    with pop3_login(server.pop3_port) as w:
        w.send("UIDL")
        w.line()
        uids = [line.split()[1] for line in w.multi().split(b"\r\n")]
        assert uids[0] == uid2 and len(set(uids)) == 2  # a new message gets a new id


def test_maildrop_lock(server: ReferenceServer) -> None:
    with pop3_login(server.pop3_port) as first:
        with Wire(server.pop3_port) as second:
            second.line()
            second.send("USER alice\r\nPASS wrong\r\nUSER alice\r\nPASS alicepw")
            assert second.line().startswith(b"+OK") and second.line().startswith(b"-ERR [AUTH]")
            assert second.line().startswith(b"+OK")
            assert second.line().startswith(b"-ERR [IN-USE]")
        first.send("NOOP")
        assert first.line() == b"+OK"
    # The first session ended by a drop: its lock is released.
    assert wait_for(lambda: _can_login(server))


def _can_login(srv: ReferenceServer) -> bool:
    with Wire(srv.pop3_port) as w:
        w.line()
        w.send("USER alice\r\nPASS alicepw")
        w.line()
        return w.line().startswith(b"+OK")


def test_sasl(server: ReferenceServer) -> None:
    with Wire(server.pop3_port) as w:
        w.line()
        w.send("AUTH CRAM-MD5")
        challenge = base64.b64decode(w.line()[2:])
        w.send("*")
        assert w.line().startswith(b"-ERR")
        w.send("AUTH CRAM-MD5")
        challenge = base64.b64decode(w.line()[2:])
        digest = hmac.new(b"bobpw", challenge, "md5").hexdigest()
        w.send(base64.b64encode(f"bob {digest}".encode()).decode())
        assert w.line().startswith(b"+OK bob")
    with Wire(server.pop3_port) as w:
        w.line()
        w.send("AUTH PLAIN")
        assert w.line() == b"+ "
        w.send(base64.b64encode(b"\0alice\0alicepw").decode())
        assert w.line().startswith(b"+OK")


def test_stls_discards_injection_and_hides_stls(server: ReferenceServer) -> None:
    with Wire(server.pop3_port) as w:
        w.line()
        w.send(b"STLS\r\nUSER injected\r\n")
        assert w.line().startswith(b"+OK")
        w.starttls()
        w.send("CAPA")
        assert w.line().startswith(b"+OK capability")  # not the reply to the injected USER
        assert b"STLS" not in w.multi().split(b"\r\n")
        w.send("STLS")
        assert w.line().startswith(b"-ERR")
        w.send("PASS alicepw")  # the injected USER never ran
        assert w.line().startswith(b"-ERR")


def test_pop3s_and_long_lines(server: ReferenceServer) -> None:
    with Wire(server.pop3s_port, tls=True) as w:
        assert w.line().startswith(b"+OK")
        w.send("USER " + "a" * 250)  # 255 octets + CRLF
        assert w.line().startswith(b"+OK")
        w.send("NOOP " + "x" * 20000)
        assert w.line() == b"-ERR line too long"
        w.send("CAPA")
        assert w.line().startswith(b"+OK") and b"STLS" not in w.multi()


def test_empty_maildrop_and_bad_arguments(server: ReferenceServer) -> None:
    with pop3_login(server.pop3_port, "bob", "bobpw") as w:
        w.send("LIST\r\nUIDL\r\nSTAT\r\nTOP 1\r\nTOP 1 -1\r\nLIST 1\r\nDELE x\r\nRSET\r\nQUIT")
        assert w.line() == b"+OK 0 messages (0 octets)" and w.multi() == b""
        assert w.line().startswith(b"+OK") and w.multi() == b""
        assert w.line() == b"+OK 0 0"
        assert [w.line()[:4] for _ in range(4)] == [b"-ERR"] * 4
        assert w.line().startswith(b"+OK") and w.line().startswith(b"+OK")
        assert w.closed()
    with Wire(server.pop3_port) as w:
        w.line()
        w.send("QUIT")  # from AUTHORIZATION: no UPDATE state
        assert w.line().startswith(b"+OK") and w.closed()
