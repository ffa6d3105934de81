"""Messages a user can act on (issue 11, part 5): file and line, the value a regex saw, what differed,
one class (``tls``) for a failed TLS handshake, with the server's plaintext if it sent some."""

from __future__ import annotations

import socket
import threading

import pytest

from harness.errors import TlsError
from harness.scenario.expect import judge, shown
from harness.scenario.model import Expect
from harness.scenario.steps_mail import _compare
from harness.protocol.replies import SmtpReply
from harness.wire.blocking import TcpStream
from harness.wire.stream import client_tls_context


def _reply(raw: bytes) -> SmtpReply:
    from harness.protocol.smtp import SmtpReplyReader
    reader = SmtpReplyReader()
    reader.receive_data(raw)
    return reader.next_event()


def test_failed_regex_shows_the_value():
    problems = judge(Expect(text=r"^2\.0\.0"), _reply(b"250 OK done\r\n"), {})
    assert problems and '"OK done"' in problems[0], problems


def test_shown_is_bounded_and_visible():
    assert shown("a\r\nb") == '"a\\r\\nb"'
    # bytes never show as a Python repr (b'...'): the transcript's escapes, undecodable octets as \xHH
    assert shown(b"250 OK\r\n\xff\x00") == '"250 OK\\r\\n\\xff\\x00"'
    assert "b'" not in shown(b"x")
    assert "(1000 characters)" in shown("x" * 1000)


HEAD = b"X-Harness-Id: m\r\nSubject: s\r\n"


def test_header_only_message_with_or_without_the_empty_line_is_the_same():
    assert _compare(HEAD, HEAD + b"\r\n") == []
    assert _compare(HEAD + b"\r\n", HEAD) == []


def test_only_that_difference_is_forgiven():
    assert _compare(HEAD, HEAD + b"\r\n\r\n")
    assert _compare(HEAD + b"\r\nbody\r\n", HEAD + b"\r\nbody\r\n\r\n")
    assert _compare(HEAD, HEAD + b"body\r\n")


def test_a_difference_names_the_line_and_both_versions():
    [problem] = _compare(HEAD + b"\r\nline one\r\nline two\r\n", HEAD + b"\r\nline one\r\nline 2\r\n")
    assert "line 5 differs" in problem and '"line two\\r\\n"' in problem and '"line 2\\r\\n"' in problem, problem


def _plaintext_server(answer: bytes | None) -> tuple[socket.socket, threading.Thread]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(4096)                 # the ClientHello
        if answer is None:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        else:
            conn.sendall(answer)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return srv, thread


@pytest.mark.parametrize("answer", [b"454 4.7.0 TLS not available right now\r\n", b"", None])
def test_failed_handshake_is_tls_with_the_plaintext(answer):
    srv, thread = _plaintext_server(answer)
    try:
        sock = socket.create_connection(srv.getsockname(), timeout=3)
        with pytest.raises(TlsError) as info:
            TcpStream(sock).start_tls(client_tls_context(), None, 3.0)
        assert info.value.error_class == "tls"
        if answer:
            assert "TLS not available right now" in str(info.value), str(info.value)
    finally:
        thread.join(3)
        srv.close()
