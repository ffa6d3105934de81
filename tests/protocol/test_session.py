"""Connection over MockStream (deadlines, transcript, STARTTLS, POP3 modes) and the TCP transport on loopback."""

from __future__ import annotations

import base64
import errno
import os
import socket
import ssl
import struct
import threading
import time

import pytest

from harness.errors import (
    ConnectionClosed,
    ConnectionReset,
    ConnectRefused,
    Oversize,
    RemoteProtocolError,
    Timeout,
    TlsError,
    TransportError,
)
from harness.protocol.replies import Pop3Response
from harness.session import Connection, Limits, open_connection
from harness.transcript import MASK, Transcript
from harness.wire.blocking import TcpStream, connect_tcp
from harness.wire.mock import MockStream
from harness.wire.stream import client_tls_context, map_exceptions

from .conftest import IO_TIMEOUT, FakeClock, LoopbackServer

DEFAULT_LIMITS = Limits()


def make(protocol: str, chunks: list, *, limits: Limits = DEFAULT_LIMITS, clock: FakeClock | None = None,
         transcript: Transcript | None = None) -> Connection:
    transcript = transcript if transcript is not None else Transcript(clock=FakeClock(0.001))
    kwargs = {"clock": clock} if clock is not None else {}
    return Connection(protocol, protocol, MockStream(chunks), transcript, limits, **kwargs)


def wire(conn: Connection) -> list[tuple[str, bytes]]:
    return [(ex.direction, ex.raw) for ex in conn.transcript.exchanges if ex.direction != "*"]


def notes(conn: Connection) -> list[str]:
    return [ex.note for ex in conn.transcript.exchanges if ex.direction == "*"]


# -- SMTP over MockStream ----------------------------------------------------------------------

def test_smtp_reply_read_across_chunks_is_recorded_exactly() -> None:
    chunks = [b"250-mail.exa", b"mple.test\r\n250-SIZE 100\r", b"\n250 8BITMIME\r\n"]
    conn = make("smtp", chunks)
    reply = conn.read_reply()
    assert (reply.code, reply.lines) == (250, (b"mail.example.test", b"SIZE 100", b"8BITMIME"))
    assert wire(conn) == [("S", c) for c in chunks]
    assert b"".join(raw for _, raw in wire(conn)) == reply.raw


def test_command_records_client_and_server_bytes_in_order() -> None:
    conn = make("smtp", [b"220 hi\r\n", b"250-host\r\n250 PIPELINING\r\n", b"250 2.1.0 ok\r\n"])
    assert conn.read_reply().code == 220
    reply = conn.ehlo("client.test")
    assert reply.code == 250 and conn.capabilities is not None and "PIPELINING" in conn.capabilities
    conn.send(b"MAIL FROM:<a@b.test>\n", note="bare LF on purpose")       # sent exactly as given
    assert conn.read_reply().enhanced is not None
    assert wire(conn) == [("S", b"220 hi\r\n"), ("C", b"EHLO client.test\r\n"),
                          ("S", b"250-host\r\n250 PIPELINING\r\n"), ("C", b"MAIL FROM:<a@b.test>\n"),
                          ("S", b"250 2.1.0 ok\r\n")]
    assert conn.stream.written == [b"EHLO client.test\r\n", b"MAIL FROM:<a@b.test>\n"]
    assert [ex.note for ex in conn.transcript.exchanges][3] == "bare LF on purpose"
    times = [ex.t for ex in conn.transcript.exchanges]
    assert times == sorted(times)


def test_pipelined_replies_in_one_read_are_returned_one_by_one() -> None:
    conn = make("smtp", [b"250 a\r\n250 b\r\n354 c\r\n"])
    assert [conn.read_reply().code for _ in range(3)] == [250, 250, 354]
    assert len(conn.stream.written) == 0 and len(wire(conn)) == 1


def test_per_reply_deadline_with_a_dripping_server() -> None:
    clock = FakeClock(step=1.0)
    stream_chunks = [b"2"] * 1000                      # one byte per read, never a whole line
    conn = make("smtp", stream_chunks, clock=clock, limits=Limits(read_timeout=1.0, reply_deadline=5.0))
    with pytest.raises(Timeout, match="5 s"):
        conn.read_reply()
    reads = 1000 - len(conn.stream._chunks)
    assert 1 <= reads <= 5                             # stopped by the deadline, not by the data


def test_explicit_timeout_overrides_the_reply_deadline() -> None:
    conn = make("smtp", [b"2"] * 100, clock=FakeClock(step=1.0), limits=Limits(reply_deadline=50.0))
    with pytest.raises(Timeout, match="2 s"):
        conn.read_reply(timeout=2.0)
    assert 100 - len(conn.stream._chunks) <= 2


def test_read_timeout_from_the_stream_propagates() -> None:
    conn = make("smtp", [b"220 par", Timeout("read: timed out")])
    with pytest.raises(Timeout):
        conn.read_reply()


def test_eof_is_connection_closed() -> None:
    conn = make("smtp", [])
    with pytest.raises(ConnectionClosed):
        conn.read_reply()
    assert conn.closed and "connection closed by server" in notes(conn)


def test_eof_mid_reply_is_remote_protocol_error() -> None:
    conn = make("smtp", [b"250-first\r\n"])
    with pytest.raises(RemoteProtocolError):
        conn.read_reply()


def test_oversize_line_from_the_server() -> None:
    conn = make("smtp", [b"x" * 100] * 5, limits=Limits(max_line=200))
    with pytest.raises(Oversize):
        conn.read_reply()


def test_server_violations_become_findings() -> None:
    conn = make("smtp", [b"250-a\n251 b\r\n"])
    conn.read_reply()
    # a greeting of 250 is also not a code RFC 5321 §4.3.2 lists for the greeting
    assert [v.rule for v in conn.findings] == ["bare-lf", "multiline-code-mismatch", "unlisted-reply"]


@pytest.mark.parametrize("protocol, chunks, command, findings", [
    ("smtp", [b"220 hi\r\n", b"354 go ahead\r\n"], "NOOP", ["INFO unlisted-reply"]),
    ("smtp", [b"220 hi\r\n", b"250 ok\r\n"], "NOOP", []),
    ("smtp", [b"220 hi\r\n", b"503 not now\r\n"], "RCPT TO:<a@b.test>", []),
    ("pop3", [b"+OK hi\r\n", b"+OK 1 10\r\n"], "STAT", ["INFO unlisted-reply"]),   # STAT before login
    ("pop3", [b"+OK hi\r\n", b"-ERR log in first\r\n"], "STAT", []),
])
def test_unlisted_reply_is_an_info_finding(protocol: str, chunks: list, command: str, findings: list) -> None:
    conn = make(protocol, chunks)
    conn.read_any()
    conn.command(command)       # sent out of sequence on purpose: the session does not refuse it
    assert [f"{v.level} {v.rule}" for v in conn.findings] == findings
    assert all(not v.local for v in conn.findings)


def test_wrong_reader_for_the_protocol() -> None:
    with pytest.raises(TypeError):
        make("pop3", [b"+OK\r\n"]).read_reply()
    with pytest.raises(TypeError):
        make("smtp", [b"250 ok\r\n"]).read_response()
    with pytest.raises(ValueError):
        Connection("x", "imap", MockStream(), Transcript())


# -- the engine without a transcript (the load users) and its SMTP fast path --------------------

def test_without_a_transcript_replies_are_read_and_nothing_is_recorded() -> None:
    stream = MockStream([b"220 hi\r\n", b"250-a\r\n250 b\r\n"])
    conn = Connection("load", "smtp", stream, None, DEFAULT_LIMITS)
    assert conn.read_reply().code == 220
    assert conn.command("EHLO x").lines == (b"a", b"b")
    conn.close()
    assert stream.written == [b"EHLO x\r\n"] and stream.closed and conn.transcript is None


def test_read_frame_returns_pipelined_replies_one_at_a_time_unparsed() -> None:
    conn = Connection("load", "smtp", MockStream([b"250 ok\r\n250-x\r\n25", b"0 y\r\n354 go\r\n"]), None)
    assert [conn.read_frame() for _ in range(3)] == [(250, b"250 ok\r\n"), (250, b"250-x\r\n250 y\r\n"),
                                                    (354, b"354 go\r\n")]
    with pytest.raises(ConnectionClosed):
        conn.read_frame()


def test_read_frame_keeps_the_deadline_and_the_size_bounds() -> None:
    conn = make("smtp", [b"250-a\r\n"] * 50, clock=FakeClock(1.0), limits=Limits(reply_deadline=5.0))
    with pytest.raises(Timeout, match="within 5 s"):
        conn.read_frame()
    conn = Connection("load", "smtp", MockStream([b"250-" + b"a" * 200]), None, Limits(max_line=100))
    with pytest.raises(Oversize):
        conn.read_frame()
    conn = Connection("load", "smtp", MockStream([b"250-a\r\n" * 5]), None, Limits(max_reply_lines=3))
    with pytest.raises(Oversize):
        conn.read_frame()


# -- silence, close, STARTTLS ------------------------------------------------------------------

def test_expect_silence_nothing_arrives() -> None:
    conn = make("smtp", [Timeout("read: timed out")], clock=FakeClock(0.1))
    assert conn.expect_silence(1.0) == b""
    assert not conn.closed


def test_expect_silence_returns_what_arrived_and_feeds_the_reader() -> None:
    conn = make("smtp", [b"250 unsolicited\r\n", Timeout("read: timed out")], clock=FakeClock(0.1))
    assert conn.expect_silence(1.0) == b"250 unsolicited\r\n"
    assert conn.read_reply().lines == (b"unsolicited",)            # buffered, not lost
    assert wire(conn) == [("S", b"250 unsolicited\r\n")]


def test_expect_silence_sees_the_server_close() -> None:
    conn = make("smtp", [], clock=FakeClock(0.1))
    assert conn.expect_silence(1.0) == b""
    assert conn.closed


def test_expect_silence_ends_at_its_deadline() -> None:
    conn = make("smtp", [b"."] * 100, clock=FakeClock(step=1.0))
    got = conn.expect_silence(3.0)
    assert 1 <= len(got) <= 3


@pytest.mark.parametrize("chunks, closed", [
    ([b"421 4.4.2 bye\r\n"], True),                                   # reply then FIN
    ([ConnectionReset("read: connection reset by peer")], True),      # RST
    ([Timeout("read: timed out")], False),
    ([b"x"] * 50, False),                                             # chatty until the deadline
])
def test_wait_closed(chunks: list, closed: bool) -> None:
    conn = make("smtp", chunks, clock=FakeClock(step=1.0))
    assert conn.wait_closed(3.0) is closed
    assert conn.closed is closed
    if chunks[0] == b"421 4.4.2 bye\r\n":
        assert wire(conn) == [("S", b"421 4.4.2 bye\r\n")]


def test_start_tls_discards_and_returns_buffered_plaintext() -> None:
    conn = make("smtp", [b"220 2.0.0 go ahead\r\n250 injected before TLS\r\n", b"250-tls.host\r\n250 AUTH PLAIN\r\n"])
    conn.capabilities = object()    # type: ignore[assignment]   # learnt before TLS
    assert conn.read_reply().code == 220
    leftover = conn.start_tls()
    assert leftover == b"250 injected before TLS\r\n"
    assert conn.stream.tls_started and conn.capabilities is None
    assert any("plaintext octets before TLS discarded" in n for n in notes(conn))
    assert "TLS established (TLSv1.3)" in notes(conn)
    assert conn.ehlo("client.test").lines == (b"tls.host", b"AUTH PLAIN")   # the injected reply is gone


def test_start_tls_with_nothing_buffered() -> None:
    conn = make("smtp", [b"220 go ahead\r\n"])
    conn.read_reply()
    assert conn.start_tls() == b""
    assert not any("discarded" in n for n in notes(conn))


def test_close_and_abort() -> None:
    conn = make("smtp", [])
    conn.abort()
    assert conn.stream.aborted and conn.closed and "client reset the connection (RST)" in notes(conn)
    conn2 = make("smtp", [])
    conn2.close()
    assert conn2.stream.closed and "client closed the connection" in notes(conn2)


# -- POP3 over MockStream ----------------------------------------------------------------------

def test_pop3_send_line_sets_multiline_mode() -> None:
    retr = b"+OK 12 octets\r\n..dot\r\nbody\r\n.\r\n"
    conn = make("pop3", [retr, b"+OK 1 12\r\n", b"+OK 1 12\r\n"])
    conn.send_line("RETR 1")
    response = conn.read_response()
    assert response.body == (b".dot\r\n", b"body\r\n") and response.stuffed_lines == 1
    assert response.raw == retr
    conn.send_line("STAT")                       # single line: the reader must not wait for a body
    assert conn.read_response().text == b"1 12"
    conn.send_line(b"LIST 1")
    assert conn.read_response().body is None


def test_pop3_read_response_multiline_override() -> None:
    conn = make("pop3", [b"+OK\r\nline\r\n.\r\n"])
    assert conn.read_response(multiline=True).body == (b"line\r\n",)


def test_pop3_capa_sets_capabilities() -> None:
    conn = make("pop3", [b"+OK\r\nUSER\r\nSASL PLAIN\r\n.\r\n"])
    response = conn.capa()
    assert isinstance(response, Pop3Response) and conn.capabilities.has("SASL=PLAIN")
    assert conn.stream.written == [b"CAPA\r\n"]


def test_pop3_err_on_retr_reads_no_body() -> None:
    conn = make("pop3", [b"-ERR no such message\r\n+OK next\r\n"])
    response = conn.command("RETR 9")
    assert response.ok is False and response.body is None
    conn.send_line("NOOP")
    assert conn.read_response().text == b"next"


# -- transcript: secrets and size bound ---------------------------------------------------------

def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_secrets_are_masked_in_json_and_text() -> None:
    password = "s3cret-Pass"
    plain = b64(b"\0alice\0" + password.encode())
    transcript = Transcript(secrets=[password], clock=FakeClock(0.001))
    transcript.add_secret(plain)
    transcript.add_secret(b64(password.encode()))
    conn = make("pop3", [b"+OK\r\n", b"+ \r\n", b"+OK echo s3cret-Pass\r\n"], transcript=transcript)
    conn.command(f"PASS {password}")
    conn.command("AUTH PLAIN")
    conn.command(plain)
    conn.send_line(b64(password.encode()))
    dumped = repr(transcript.to_json()) + transcript.render_text()
    for secret in (password, plain, b64(password.encode())):
        assert secret not in dumped
    assert f"C: PASS {MASK}\\r\\n" in transcript.render_text()
    assert f"S: +OK echo {MASK}\\r\\n" in transcript.render_text()
    assert [e["text"] for e in transcript.to_json() if e["dir"] == "C"][2:] == [f"{MASK}\\r\\n"] * 2
    # the in-memory raw bytes stay exact
    assert transcript.exchanges[0].raw == b"PASS s3cret-Pass\r\n"


def test_longest_secret_is_masked_first_and_short_ones_are_ignored() -> None:
    transcript = Transcript(secrets=["ab", "pass", "password1"], clock=FakeClock(0.001))
    transcript.record("smtp", "C", b"ab password1 pass\r\n")
    assert transcript.to_json()[0]["text"] == f"ab {MASK} {MASK}\\r\\n"


def test_rendered_text_escapes_control_bytes() -> None:
    transcript = Transcript(clock=FakeClock(0.001))
    transcript.record("smtp", "S", b"250-a\r\n250 b\x1b[31m\r\n")
    transcript.event("smtp", "TLS handshake")
    assert transcript.render_text().splitlines() == ["S: 250-a\\r\\n", "S: 250 b\\x1b[31m\\r\\n",
                                                     "-- TLS handshake"]


def test_transcript_size_bound_truncates_with_one_event() -> None:
    transcript = Transcript(clock=FakeClock(0.001), max_bytes=64)
    conn = make("smtp", [b"250-" + b"a" * 40 + b"\r\n", b"250-" + b"b" * 40 + b"\r\n",
                         b"250-" + b"c" * 40 + b"\r\n", b"250 end\r\n"], transcript=transcript)
    assert conn.read_reply().code == 250          # the reply itself is intact
    assert transcript.truncated
    truncation = [n for n in notes(conn) if "truncated" in n]
    assert len(truncation) == 1
    kept = [raw for _, raw in wire(conn)]
    assert kept[0] == b"250-" + b"a" * 40 + b"\r\n"
    assert sum(map(len, kept)) <= 64
    assert "transcript truncated" in transcript.render_text()


# -- the transport: exception mapping and MockStream -----------------------------------------------

@pytest.mark.parametrize("raised, expected", [
    (TimeoutError("timed out"), Timeout),          # socket.timeout is this class since 3.10
    (OSError(errno.ETIMEDOUT, "connect timed out"), Timeout),   # OSError picks TimeoutError by errno
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), ConnectRefused),
    (ConnectionResetError(errno.ECONNRESET, "reset"), ConnectionReset),
    (BrokenPipeError(errno.EPIPE, "pipe"), ConnectionReset),
    (ConnectionAbortedError(errno.ECONNABORTED, "aborted"), ConnectionReset),
    (ssl.SSLError(1, "bad record"), TlsError),
    (socket.gaierror(-2, "Name or service not known"), ConnectRefused),
    (OSError(errno.EBADF, "bad fd"), ConnectionClosed),
    (Oversize("kept"), Oversize),
])
def test_map_exceptions(raised: Exception, expected: type) -> None:
    with pytest.raises(expected) as info, map_exceptions("read"):
        raise raised
    assert isinstance(info.value, TransportError)
    if not isinstance(raised, TransportError):
        assert info.value.__cause__ is raised and str(info.value).startswith("read")


def test_map_exceptions_leaves_harness_bugs_alone() -> None:
    with pytest.raises(KeyError), map_exceptions("read"):
        raise KeyError("bug")


def test_mock_stream_honours_max_bytes_and_ends_with_eof() -> None:
    stream = MockStream([b"abcdef", ConnectionReset("boom")])
    assert stream.read(4, 1.0) == b"abcd"
    assert stream.read(4, 1.0) == b"ef"
    with pytest.raises(ConnectionReset):
        stream.read(4, 1.0)
    assert stream.read(4, 1.0) == b""
    stream.close()
    with pytest.raises(ConnectionClosed):
        stream.write(b"x", 1.0)


# -- real sockets on 127.0.0.1 --------------------------------------------------------------------

def open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


FAST = Limits(read_timeout=0.3, reply_deadline=1.0, write_timeout=1.0, connect_timeout=IO_TIMEOUT)


def test_tcp_round_trip(loopback) -> None:
    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        conn.sendall(b"220-loopback\r\n")
        time.sleep(0.05)
        conn.sendall(b"220 ready\r\n")
        server.result = conn.recv(100)
        conn.sendall(b"221 bye\r\n")

    server = loopback(handler)
    transcript = Transcript()
    conn = open_connection("smtp", "smtp", "127.0.0.1", server.port, transcript, limits=FAST)
    try:
        assert conn.read_reply().lines == (b"loopback", b"ready")
        assert conn.command("QUIT").code == 221
        assert conn.wait_closed(1.0)
    finally:
        conn.close()
    server.close()
    assert server.error is None and server.result == b"QUIT\r\n"
    assert transcript.exchanges[0].note == f"connect 127.0.0.1:{server.port}"


def test_connection_refused() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()                                      # nothing listens there any more
    transcript = Transcript()
    with pytest.raises(ConnectRefused):
        open_connection("smtp", "smtp", "127.0.0.1", port, transcript, limits=FAST)
    assert any(ex.note.startswith("connect failed") for ex in transcript.exchanges)


def test_silent_server_times_out_within_the_read_timeout(loopback) -> None:
    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        server.release.wait(IO_TIMEOUT)

    server = loopback(handler)
    stream = connect_tcp("127.0.0.1", server.port, IO_TIMEOUT)
    conn = Connection("smtp", "smtp", stream, Transcript(), FAST)
    started = time.monotonic()
    try:
        with pytest.raises(Timeout):
            conn.read_reply()
    finally:
        conn.close()
    assert time.monotonic() - started < 1.5
    server.close()


def test_server_reset_is_reset_or_closed(loopback) -> None:
    connected = threading.Event()

    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        connected.wait(IO_TIMEOUT)      # reset only after connect() returned, or connect() reports it
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    server = loopback(handler)
    stream = connect_tcp("127.0.0.1", server.port, IO_TIMEOUT)
    connected.set()
    conn = Connection("smtp", "smtp", stream, Transcript(), FAST)
    try:
        with pytest.raises((ConnectionReset, ConnectionClosed)):
            conn.read_reply()
    finally:
        conn.close()
    server.close()


def test_abort_makes_the_peer_see_a_reset(loopback) -> None:
    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        conn.sendall(b"220 hi\r\n")
        try:
            server.result = conn.recv(100)
        except OSError as exc:
            server.result = exc

    server = loopback(handler)
    stream = connect_tcp("127.0.0.1", server.port, IO_TIMEOUT)
    conn = Connection("smtp", "smtp", stream, Transcript(), FAST)
    assert conn.read_reply().code == 220
    conn.abort()
    server.close()
    assert isinstance(server.result, ConnectionResetError), server.result


def test_shutdown_write_sends_a_fin(loopback) -> None:
    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        server.result = conn.recv(100)
        conn.sendall(b"221 closing\r\n")

    server = loopback(handler)
    stream = connect_tcp("127.0.0.1", server.port, IO_TIMEOUT)
    conn = Connection("smtp", "smtp", stream, Transcript(), FAST)
    try:
        conn.shutdown_write()
        assert conn.read_reply().code == 221
    finally:
        conn.close()
    server.close()
    assert server.result == b""


def test_implicit_tls_against_plaintext_is_tls_error(loopback) -> None:
    def handler(conn: socket.socket, server: LoopbackServer) -> None:
        conn.sendall(b"220 plaintext SMTP, not TLS\r\n" * 4)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass

    fds_before = open_fds()
    server = loopback(handler)
    transcript = Transcript()
    with pytest.raises(TlsError) as info:
        open_connection("smtps", "smtp", "127.0.0.1", server.port, transcript, implicit_tls=True,
                        tls_context=client_tls_context(), limits=FAST)
    server.close()
    assert "(implicit TLS)" in transcript.exchanges[0].note
    assert transcript.exchanges[-1].note.startswith("connect failed")
    # Regression: the SSLSocket that took over the fd was left open (alive as long as the
    # exception's traceback), leaking one descriptor per failed handshake.
    if fds_before is not None:
        assert open_fds() <= fds_before, info.value


def test_tcp_stream_read_after_close_is_a_transport_error(loopback) -> None:
    server = loopback(lambda conn, srv: srv.release.wait(IO_TIMEOUT))
    stream = connect_tcp("127.0.0.1", server.port, IO_TIMEOUT)
    assert isinstance(stream, TcpStream) and stream.tls_version is None
    stream.close()
    with pytest.raises(TransportError):
        stream.read(10, 0.2)
    server.close()


def test_verifying_tls_names_the_host_for_starttls_and_ip_targets():
    """With tls_verify the handshake is judged (a self-signed certificate is a tls error), never a harness bug."""
    import ssl

    from harness.errors import TlsError
    from harness.refserver import ReferenceServer
    from harness.wire.blocking import connect_tcp
    from harness.wire.stream import client_tls_context

    with ReferenceServer() as server:
        stream = connect_tcp("127.0.0.1", server.smtp_port, 5.0)
        try:
            assert stream.read(4096, 5.0).startswith(b"220")
            stream.write(b"EHLO c.test\r\nSTARTTLS\r\n", 5.0)
            buf = b""
            while b"\r\n220" not in buf and not buf.startswith(b"220 2"):
                buf += stream.read(4096, 5.0)
            with pytest.raises(TlsError, match="CERTIFICATE_VERIFY_FAILED"):
                stream.start_tls(client_tls_context(verify=True), None, 5.0)
        finally:
            stream.close()
        # and a context that trusts nothing still refuses the certificate for the IP, not for want of a name
        ctx = ssl.create_default_context()
        with pytest.raises(TlsError, match="CERTIFICATE_VERIFY_FAILED"):
            connect_tcp("127.0.0.1", server.smtps_port, 5.0, tls_context=ctx)
