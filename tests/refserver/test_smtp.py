"""The clean reference SMTP server: what the conformance suites rely on."""

from __future__ import annotations

import base64
import hmac
import re

import pytest

from harness.refserver import ReferenceServer

from .conftest import Wire, send_mail, smtp_session, stored


def test_greeting_and_ehlo_keywords(server: ReferenceServer) -> None:
    with Wire(server.smtp_port) as w:
        code, lines = w.smtp()
        assert (code, lines) == (220, [b"mail.example.test ESMTP mailharness-ref"])
        w.send("EHLO client.test")
        raw = [w.line()]
        while raw[-1][:4] == b"250-":
            raw.append(w.line())
        assert [line[:4] for line in raw] == [b"250-"] * (len(raw) - 1) + [b"250 "]  # §4.2.1: one code throughout
        keywords = [line[4:] for line in raw]
        assert keywords[0] == b"mail.example.test"
        assert {b"SIZE 10485760", b"8BITMIME", b"PIPELINING", b"ENHANCEDSTATUSCODES", b"SMTPUTF8",
                b"STARTTLS"} <= set(keywords[1:])
        assert not [k for k in keywords if k.startswith(b"AUTH")]  # no AUTH in plaintext
        w.send("HELO client.test")
        assert w.smtp() == (250, [b"mail.example.test"])


def test_sequence_errors_and_syntax(server: ReferenceServer) -> None:
    with smtp_session(server.smtp_port, ehlo=None) as w:
        assert w.cmd("MAIL FROM:<a@remote.test>") == 503  # before EHLO
        assert w.cmd("NOOP") == 250 and w.cmd("RSET") == 250  # allowed before EHLO
        assert w.cmd("ehlo client.test") == 250  # verbs are case-insensitive
        assert w.cmd("RCPT TO:<alice@example.test>") == 503
        assert w.cmd("DATA") == 503
        assert w.cmd("MAIL FROM:garbage") == 501
        assert w.cmd("MAIL FROM:<a@bad_host.test>") == 501
        assert w.cmd("MAIL FROM:<a@remote.test> FOO=BAR") == 555
        assert w.cmd("MAIL FROM:<a@remote.test> SIZE=10485761") == 552
        assert w.cmd("mAiL fRoM:<a@remote.test> SIZE=100 BODY=8BITMIME") == 250
        assert w.cmd("MAIL FROM:<b@remote.test>") == 503  # nested
        assert w.cmd("DATA") == 503  # no recipient yet
        assert w.cmd("RCPT TO:<nobody@example.test>") == 550
        assert w.cmd("RCPT TO:<x@elsewhere.test>") == 550
        assert w.cmd("RCPT TO:<PostMaster>") == 250
        assert w.cmd("rcpt to:<postmaster@EXAMPLE.test>") == 250
        assert w.cmd("RSET now") == 501
        assert w.cmd("RSET") == 250
        assert w.cmd("DATA") == 503  # RSET dropped the envelope
        assert w.cmd("MAIL FROM:<>") == 250
        assert w.cmd("RCPT TO:<alice@example.test>") == 250
        assert w.cmd("EHLO again.test") == 250
        assert w.cmd("DATA") == 503  # a new EHLO reset the transaction
        assert w.cmd("NOOP hello") == 250
        assert w.cmd("XYZZY") == 500
        assert w.cmd("VRFY alice") == 252
        assert w.cmd("EXPN staff") == 502
        assert w.cmd("AUTH PLAIN") == 538  # never on plaintext
        assert w.cmd("RSET") == 250
        assert w.cmd("MAIL FROM:<jörg@remote.test>") == 553  # RFC 6531 needs the SMTPUTF8 parameter
        assert w.cmd("MAIL FROM:<jörg@remote.test> SMTPUTF8") == 250
        assert w.cmd("RCPT TO:<ßob@example.test>") == 550  # valid syntax, unknown user
        assert w.cmd("EHLO") == 501
        w.send("QUIT")
        assert w.code() == 221 and w.closed()


def test_every_reply_has_an_enhanced_code(server: ReferenceServer) -> None:
    with smtp_session(server.smtp_port) as w:
        for cmd in ("NOOP", "RSET", "MAIL FROM:<a@remote.test>", "RCPT TO:<bob@example.test>",
                    "RCPT TO:<nobody@example.test>", "VRFY x", "HELP", "XYZZY"):
            w.send(cmd)
            code, lines = w.smtp()
            assert re.match(rb"[245]\.\d{1,3}\.\d{1,3} ", lines[-1]), (cmd, lines)
            assert str(code)[0] == lines[-1][:1].decode()


def test_line_limits(server: ReferenceServer) -> None:
    with smtp_session(server.smtp_port) as w:
        assert w.cmd("NOOP " + "x" * 505) == 250  # 512 octets with CRLF
        w.send("NOOP " + "x" * 506)
        assert w.smtp() == (500, [b"5.5.6 Line too long"])
        w.send(b"NOOP " + b"x" * 40000 + b"\r\n")  # far beyond the buffer: drained, not kept
        assert w.code() == 500
        assert w.cmd("NOOP") == 250
        assert w.cmd(b"NOOP\nNOOP\r\n") == 500  # a bare LF does not end a command
        assert w.silent(0.2)


def test_pipelining_one_reply_per_command(server: ReferenceServer) -> None:
    with smtp_session(server.smtp_port) as w:
        w.send(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<nobody@example.test>\r\n"
               b"RCPT TO:<bob@example.test>\r\nDATA\r\n")
        assert [w.code() for _ in range(4)] == [250, 550, 250, 354]
        w.send(b"hello\r\n.\r\nNOOP\r\n")
        assert [w.code(), w.code()] == [250, 250]
        assert w.silent(0.2)


def test_delivery_trace_fields_and_exact_content(server: ReferenceServer) -> None:
    line998 = b"y" * 998 + b"\r\n"
    original = (b"Subject: test\r\nX-Eight: caf\xc3\xa9 \xff\r\n\r\n.leading dot\r\n..\r\n. \r\n"
                + line998 + b"last line \x80\r\n")
    wire = re.sub(rb"(?m)^\.", b"..", original)  # the client's dot-stuffing (RFC 5321 §4.5.2)
    with smtp_session(server.smtp_port, "EHLO client.test") as w:
        assert w.cmd("MAIL FROM:<sender@remote.test> BODY=8BITMIME") == 250
        assert w.cmd("RCPT TO:<alice@example.test>") == 250
        assert w.cmd("DATA") == 354
        w.send(wire + b".\r\n")
        code, lines = w.smtp()
        assert code == 250
        queue_id = lines[0].split()[-1].decode()
    (message,) = stored(server)
    return_path, received, content = message.split(b"\r\n", 2)
    assert return_path == b"Return-Path: <sender@remote.test>"
    assert re.fullmatch(
        rf"Received: from client\.test \(client\.test \[127\.0\.0\.1\]\) by mail\.example\.test "
        rf"\(mailharness-ref\) with ESMTP id {queue_id} for <alice@example\.test>; "
        r"\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}".encode(), received)
    assert content == original  # dot-unstuffed, otherwise byte-identical


def test_postmaster_goes_to_alice_and_null_sender(server: ReferenceServer) -> None:
    assert send_mail(server.smtp_port, b"Subject: pm\r\n\r\nx\r\n", rcpt="postmaster", sender="") == 250
    (message,) = stored(server)
    assert message.startswith(b"Return-Path: <>\r\n")
    assert b"for <postmaster@example.test>;" in message


def test_bare_lf_does_not_end_data_and_is_rejected(server: ReferenceServer) -> None:
    with smtp_session(server.smtp_port) as w:
        assert w.cmd("MAIL FROM:<a@remote.test>") == 250
        assert w.cmd("RCPT TO:<alice@example.test>") == 250
        assert w.cmd("DATA") == 354
        # A smuggling attempt: a bare-LF "end" followed by a second transaction.
        w.send(b"Subject: one\r\n\r\nx\n.\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
               b"DATA\r\nSubject: smuggled\r\n\r\n.\r\n")
        code, lines = w.smtp()
        assert (code, lines[-1][:5]) == (550, b"5.5.2")  # one verdict for the whole input
        assert w.silent(0.3)
        assert w.cmd("NOOP") == 250
    assert stored(server) == [] and stored(server, "bob") == []


@pytest.mark.parametrize("fake_end", [b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\r.\n", b"\n.\r",
                                      b"\n.\n", b"\r\n.\n", b"\r\n\x00.\r\n"])
def test_smuggling_matrix_yields_one_verdict(server: ReferenceServer, fake_end: bytes) -> None:
    with smtp_session(server.smtp_port) as w:
        assert w.cmd("MAIL FROM:<a@remote.test>") == 250
        assert w.cmd("RCPT TO:<alice@example.test>") == 250
        assert w.cmd("DATA") == 354
        w.send(b"Subject: one\r\n\r\nx" + fake_end + b"MAIL FROM:<evil@remote.test>\r\n"
               b"RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nhi\r\n.\r\n")
        codes = [w.code()]
        while not w.silent(0.2):
            codes.append(w.code())
    assert codes in ([550], [250])  # rejected for a bare CR/LF, or (NUL) one message
    assert stored(server, "bob") == []


def test_data_limits(server: ReferenceServer) -> None:
    with smtp_session(server.smtp_port) as w:
        for body, expect in [(b"y" * 1001 + b"\r\n", 500),  # §4.5.3.1.6: 1000 with CRLF
                             ((b"z" * 998 + b"\r\n") * (10 * 1024 * 1024 // 1000 + 1), 552),  # over SIZE
                             (b"", 250)]:  # an empty message is fine
            assert w.cmd("MAIL FROM:<a@remote.test>") == 250
            assert w.cmd("RCPT TO:<alice@example.test>") == 250
            assert w.cmd("DATA") == 354
            w.send(body + b".\r\n")
            assert w.code() == expect
    assert len(stored(server)) == 1


def test_dropped_connection_mid_data_delivers_nothing(server: ReferenceServer) -> None:
    with smtp_session(server.smtp_port) as w:
        assert w.cmd("MAIL FROM:<a@remote.test>") == 250
        assert w.cmd("RCPT TO:<alice@example.test>") == 250
        assert w.cmd("DATA") == 354
        w.send(b"Subject: half\r\n\r\nnot finished\r\n")
    with smtp_session(server.smtp_port) as w:  # the server is still fine
        assert w.cmd("NOOP") == 250
    assert stored(server) == []


def test_starttls_discards_injected_plaintext_and_resets_state(server: ReferenceServer) -> None:
    with smtp_session(server.smtp_port) as w:
        w.send(b"STARTTLS\r\nNOOP\r\n")
        assert w.code() == 220
        w.starttls()
        # The first reply inside TLS answers our EHLO, not the injected NOOP.
        w.send("EHLO client.test")
        code, lines = w.smtp()
        assert code == 250 and b"STARTTLS" not in lines and b"AUTH PLAIN LOGIN CRAM-MD5" in lines
        assert w.cmd("STARTTLS") == 503
    with smtp_session(server.smtp_port) as w:
        assert w.cmd("STARTTLS") == 220
        w.starttls()
        assert w.cmd("MAIL FROM:<a@remote.test>") == 503  # EHLO state was discarded


def _tls_session(srv: ReferenceServer) -> Wire:
    return smtp_session(srv.smtps_port, tls=True)


def test_auth_plain_login_and_errors(server: ReferenceServer) -> None:
    plain = base64.b64encode(b"\0alice\0alicepw").decode()
    with _tls_session(server) as w:
        assert w.cmd("AUTH FOO") == 504
        assert w.cmd("AUTH PLAIN =") == 535  # "=" is the empty initial response
        assert w.cmd("AUTH PLAIN !!!") == 501
        assert w.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong").decode()) == 535
        assert w.cmd("AUTH PLAIN") == 334
        assert w.cmd("*") == 501
        assert w.cmd("AUTH PLAIN") == 334
        assert w.cmd(plain) == 235
        assert w.cmd("AUTH PLAIN " + plain) == 503
        assert w.cmd("MAIL FROM:<alice@example.test>") == 250
        assert w.cmd("RCPT TO:<someone@elsewhere.test>") == 250  # authenticated: accepted, dropped
    with _tls_session(server) as w:
        assert w.cmd("MAIL FROM:<a@remote.test>") == 250
        assert w.cmd("AUTH PLAIN " + plain) == 503  # during a transaction
    with _tls_session(server) as w:
        assert w.cmd("AUTH LOGIN") == 334
        assert w.cmd(base64.b64encode(b"bob").decode()) == 334
        assert w.cmd(base64.b64encode(b"bobpw").decode()) == 235


def test_auth_cram_md5(server: ReferenceServer) -> None:
    with _tls_session(server) as w:
        w.send("AUTH CRAM-MD5")
        code, lines = w.smtp()
        assert code == 334
        challenge = base64.b64decode(lines[0])
        digest = hmac.new(b"alicepw", challenge, "md5").hexdigest()
        assert w.cmd(base64.b64encode(f"alice {digest}".encode()).decode()) == 235
    with _tls_session(server) as w:
        assert w.cmd("AUTH CRAM-MD5") == 334
        assert w.cmd("*") == 501


def test_implicit_tls_port_delivers_with_esmtpsa(server: ReferenceServer) -> None:
    with _tls_session(server) as w:
        assert w.cmd("AUTH PLAIN " + base64.b64encode(b"\0bob\0bobpw").decode()) == 235
        assert w.cmd("MAIL FROM:<bob@example.test>") == 250
        assert w.cmd("RCPT TO:<alice@example.test>") == 250
        assert w.cmd("DATA") == 354
        w.send(b"Subject: s\r\n\r\nx\r\n.\r\n")
        assert w.code() == 250
    (message,) = stored(server)
    assert b" with ESMTPSA id " in message


def test_unknown_defect_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="smtp-greeting-code"):
        ReferenceServer(defects=["no-such-defect"]).start()
