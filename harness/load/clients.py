"""Lean SMTP and POP3 load clients over the harness's own protocol core and transport.

No second client: replies are parsed by ``protocol.smtp.SmtpReplyReader`` /
``protocol.pop3.Pop3ResponseReader`` and bytes move through
``transport.TcpStream``, exactly as in the conformance runner. What is
different is cost: no transcript, command bytes precomputed once per session
kind, one ``sendall`` per command (message + terminator in one write), a
connect to a pre-resolved address (no resolver call per session), and
TCP_NODELAY.

Every phase calls ``fire(request_type, name, response_time_ms, length, exc)``
once: the Locust process turns it into ``events.request`` plus an HDR record;
the CLI's prefill and drain pass a plain recorder. An unexpected reply is a
failure carrying the reply (``UnexpectedReply``); a transport error is a
failure carrying the classified ``TransportError``. Either ends the session
(``SessionAborted``), after being reported once.

Plain blocking sockets: under Locust's gevent monkey patching they cooperate.
This module imports neither locust nor gevent.
"""

from __future__ import annotations

import base64
import hashlib
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.errors import ConnectionClosed, Timeout, TransportError
from harness.load.profile import Messages, UserMix
from harness.message import MARKER_HEADER, dot_stuff, find_marker, strip_trace
from harness.protocol.common import CLOSED, NEED_DATA
from harness.protocol.pop3 import Pop3ResponseReader
from harness.protocol.replies import Pop3Response, SmtpReply
from harness.protocol.smtp import SmtpReplyReader
from harness.transport import TcpStream, client_tls_context, map_exceptions

__all__ = [
    "Endpoint",
    "Fire",
    "MessageFactory",
    "Pop3LoadClient",
    "SessionAborted",
    "SessionContext",
    "SmtpLoadClient",
    "UnexpectedReply",
    "pop3_session",
    "resolve",
    "smtp_session",
]

Fire = Callable[[str, str, float, int, "BaseException | None"], None]


class UnexpectedReply(Exception):
    """The server answered a phase with a reply of the wrong code/status (a load *failure*)."""

    def __init__(self, phase: str, reply: SmtpReply | Pop3Response) -> None:
        self.phase = phase
        self.reply = reply
        super().__init__(f"{phase}: unexpected reply {str(reply)[:200]!r}")


class SessionAborted(Exception):
    """A phase failed (already reported through ``fire``); the session ends here."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    family: int
    sockaddr: tuple
    tls: str = "none"


def resolve(host: str, port: int, tls: str = "none") -> Endpoint:
    """Resolve once per process; sessions then connect to the address without a resolver."""
    host = host.strip("[]")
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return Endpoint(info[0], info[4], tls)


def _connect(ep: Endpoint, timeout: float) -> TcpStream:
    with map_exceptions(f"connect to {ep.sockaddr[0]}:{ep.sockaddr[1]}"):
        sock = socket.socket(ep.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(ep.sockaddr)
        except BaseException:
            sock.close()
            raise
    stream = TcpStream(sock)
    if ep.tls == "implicit":
        try:
            stream = stream.start_tls(client_tls_context(), None, timeout)
        except TransportError:
            stream.close()
            raise
    return stream


# -- messages -----------------------------------------------------------------------------

_WORDS = (b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf", b"hotel", b"india",
          b"juliet", b"kilo", b"lima", b"mike", b"november", b"oscar", b"papa", b"quebec", b"romeo")
_EIGHT_BIT = "\u00e9t\u00e9 gr\u00fc\u00df \u00e6\u00f8\u00e5 ".encode("utf-8")


def _body(size: int, line_length: int, eight_bit: bool, rng: random.Random) -> bytes:
    """About ``size`` octets of CRLF lines, each ``line_length`` long (the last may be shorter)."""
    out = bytearray()
    while len(out) < size:
        line = bytearray()
        if eight_bit:
            line += _EIGHT_BIT
        while len(line) < line_length:
            line += rng.choice(_WORDS) + b" "
        line = line[:line_length].rstrip(b" .") or b"x"
        out += line + b"\r\n"
    return bytes(out)


class MessageFactory:
    """Messages for load: a fresh id per message, bodies precomputed per size class.

    The message starts with the ``X-Harness-Id`` marker (so ``strip_trace`` and
    ``find_marker`` of harness/message.py find it after the server's trace
    fields), and its digest is ``sha256(message)``, which equals
    ``message.body_digest`` of the retrieved copy when nothing was altered.
    """

    def __init__(self, spec: Messages, id_prefix: str, sender: str, seed: int = 0) -> None:
        self.spec = spec
        self.prefix = id_prefix
        self.sender = sender
        self._seq = 0
        rng = random.Random(seed)
        self._sizes = [s for s, _ in spec.sizes]
        self._weights = [w for _, w in spec.sizes]
        self._bodies = {s: _body(max(s - 260, 10), spec.line_length, spec.eight_bit, rng) for s in self._sizes}
        self._rng = rng

    def next(self, recipients: Sequence[str]) -> tuple[str, bytes, bytes]:
        """(id, message, wire bytes for DATA: dot-stuffed plus the ``.`` terminator)."""
        self._seq += 1
        mid = f"{self.prefix}.{self._seq}"
        size = self._sizes[0] if len(self._sizes) == 1 else self._rng.choices(self._sizes, self._weights)[0]
        head = (f"{MARKER_HEADER}: {mid}\r\nFrom: <{self.sender}>\r\nTo: {', '.join(f'<{r}>' for r in recipients)}"
                f"\r\nSubject: mailharness load {mid}\r\nMessage-ID: <{mid}@mailharness.test>\r\n"
                f"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n").encode("ascii")
        if self.spec.eight_bit:
            head += b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        message = head + b"\r\n" + self._bodies[size]
        return mid, message, dot_stuff(message) + b".\r\n"

    @staticmethod
    def digest(message: bytes) -> str:
        return hashlib.sha256(strip_trace(message)).hexdigest()


# -- clients ------------------------------------------------------------------------------

class _Client:
    rtype = ""

    def __init__(self, endpoint: Endpoint, fire: Fire, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.fire = fire
        self.timeout = timeout
        self.stream: TcpStream | None = None

    def _fail(self, name: str, t0: float, exc: BaseException) -> SessionAborted:
        self.fire(self.rtype, name, (time.perf_counter() - t0) * 1000.0, 0, exc)
        return SessionAborted(str(exc))

    def connect(self) -> None:
        t0 = time.perf_counter()
        try:
            self.stream = _connect(self.endpoint, self.timeout)
        except TransportError as exc:
            raise self._fail("connect", t0, exc) from None
        self.fire(self.rtype, "connect", (time.perf_counter() - t0) * 1000.0, 0, None)

    def _read(self, reader: SmtpReplyReader | Pop3ResponseReader, t0: float) -> SmtpReply | Pop3Response:
        assert self.stream is not None
        while True:
            event = reader.next_event()
            if event is NEED_DATA:
                remaining = t0 + self.timeout - time.perf_counter()
                if remaining <= 0:
                    raise Timeout(f"no complete reply within {self.timeout:g} s")
                reader.receive_data(self.stream.read(65536, remaining))
                continue
            if event is CLOSED:
                raise ConnectionClosed("connection closed by the server while waiting for a reply")
            return event  # type: ignore[return-value]

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def abort(self) -> None:
        if self.stream is not None:
            self.stream.abort()
            self.stream = None


class SmtpLoadClient(_Client):
    rtype = "SMTP"

    def __init__(self, endpoint: Endpoint, fire: Fire, timeout: float = 10.0) -> None:
        super().__init__(endpoint, fire, timeout)
        self.reader = SmtpReplyReader()

    def phase(self, name: str, data: bytes | None, expect: tuple[int, ...], length: int = 0) -> SmtpReply:
        t0 = time.perf_counter()
        try:
            if data is not None:
                assert self.stream is not None
                self.stream.write(data, self.timeout)
            reply = self._read(self.reader, t0)
        except TransportError as exc:
            raise self._fail(name, t0, exc) from None
        assert isinstance(reply, SmtpReply)
        if reply.code not in expect:
            raise self._fail(name, t0, UnexpectedReply(name, reply))
        self.fire(self.rtype, name, (time.perf_counter() - t0) * 1000.0, length or len(reply.raw), None)
        return reply

    def data(self, message_wire: bytes) -> SmtpReply:
        """DATA, 354, the message and its terminator in one write, 250: one ``DATA`` request."""
        t0 = time.perf_counter()
        try:
            assert self.stream is not None
            self.stream.write(b"DATA\r\n", self.timeout)
            go = self._read(self.reader, t0)
            assert isinstance(go, SmtpReply)
            if go.code != 354:
                raise self._fail("DATA", t0, UnexpectedReply("DATA", go))
            self.stream.write(message_wire, self.timeout)
            reply = self._read(self.reader, t0)
        except TransportError as exc:
            raise self._fail("DATA", t0, exc) from None
        assert isinstance(reply, SmtpReply)
        if reply.code != 250:
            raise self._fail("DATA", t0, UnexpectedReply("DATA", reply))
        self.fire(self.rtype, "DATA", (time.perf_counter() - t0) * 1000.0, len(message_wire), None)
        return reply

    def starttls(self, ehlo: bytes) -> None:
        self.phase("STARTTLS", b"STARTTLS\r\n", (220,))
        t0 = time.perf_counter()
        try:
            assert self.stream is not None
            self.stream = self.stream.start_tls(client_tls_context(), None, self.timeout)
        except TransportError as exc:
            raise self._fail("TLS", t0, exc) from None
        self.fire(self.rtype, "TLS", (time.perf_counter() - t0) * 1000.0, 0, None)
        self.reader = SmtpReplyReader()
        self.phase("EHLO", ehlo, (250,))


class Pop3LoadClient(_Client):
    rtype = "POP3"

    def __init__(self, endpoint: Endpoint, fire: Fire, timeout: float = 10.0) -> None:
        super().__init__(endpoint, fire, timeout)
        self.reader = Pop3ResponseReader()

    def phase(self, name: str, data: bytes | None, multiline: bool = False) -> Pop3Response:
        t0 = time.perf_counter()
        self.reader.expect(multiline)
        try:
            if data is not None:
                assert self.stream is not None
                self.stream.write(data, self.timeout)
            response = self._read(self.reader, t0)
        except TransportError as exc:
            raise self._fail(name, t0, exc) from None
        assert isinstance(response, Pop3Response)
        if response.ok is not True:
            raise self._fail(name, t0, UnexpectedReply(name, response))
        self.fire(self.rtype, name, (time.perf_counter() - t0) * 1000.0, len(response.raw), None)
        return response


# -- sessions -----------------------------------------------------------------------------

@dataclass(slots=True)
class SessionContext:
    """What a session needs, whoever drives it (a Locust user, an arrival generator, the CLI)."""

    smtp: Endpoint | None
    pop3: Endpoint | None
    fire: Fire
    factory: MessageFactory | None
    recipients: tuple[str, ...]                      # SMTP RCPT addresses to rotate through
    mailboxes: tuple[tuple[str, str], ...]           # POP3 (login, password)
    client_name: str = "load.mailharness.test"
    smtp_auth: tuple[str, str] | None = None
    timeout: float = 10.0
    verify: bool = False
    id_prefix: str = ""                              # ids of this run start with it
    on_sent: Callable[[str, float, str], None] | None = None
    on_seen: Callable[[str | None, float, str | None], None] | None = None
    on_message: Callable[[], None] | None = None
    rng: random.Random = field(default_factory=random.Random)
    _rcpt_next: int = 0

    def next_recipients(self, n: int) -> list[str]:
        out = []
        for _ in range(n):
            out.append(self.recipients[self._rcpt_next % len(self.recipients)])
            self._rcpt_next += 1
        return out


def smtp_session(ctx: SessionContext, mix: UserMix) -> int:
    """One SMTP connection: banner, EHLO, [STARTTLS], [AUTH], n × (MAIL, RCPT…, DATA), QUIT.

    Returns the number of messages accepted. Failures are reported through
    ``ctx.fire``; they end the session but are not raised.
    """
    assert ctx.smtp is not None and ctx.factory is not None
    client = SmtpLoadClient(ctx.smtp, ctx.fire, ctx.timeout)
    ehlo = f"EHLO {ctx.client_name}\r\n".encode("ascii")
    body8 = " BODY=8BITMIME" if ctx.factory.spec.eight_bit else ""
    mail = f"MAIL FROM:<{ctx.factory.sender}>{body8}\r\n".encode("ascii")
    accepted = 0
    try:
        client.connect()
        client.phase("banner", None, (220,))
        client.phase("EHLO", ehlo, (250,))
        if mix.starttls or ctx.smtp.tls == "starttls":
            client.starttls(ehlo)
        if mix.auth and ctx.smtp_auth:
            token = base64.b64encode(f"\0{ctx.smtp_auth[0]}\0{ctx.smtp_auth[1]}".encode()).decode()
            client.phase("AUTH", f"AUTH PLAIN {token}\r\n".encode("ascii"), (235,))
        for _ in range(mix.messages_per_session):
            rcpts = ctx.next_recipients(mix.recipients)
            mid, message, wire = ctx.factory.next(rcpts)
            digest = MessageFactory.digest(message) if ctx.verify else ""
            client.phase("MAIL", mail, (250,))
            for r in rcpts:
                client.phase("RCPT", f"RCPT TO:<{r}>\r\n".encode("ascii"), (250, 251))
            client.data(wire)
            accepted += 1
            if ctx.on_message:
                ctx.on_message()
            if ctx.verify and ctx.on_sent:
                ctx.on_sent(mid, time.time(), digest)
        client.phase("QUIT", b"QUIT\r\n", (221,))
    except SessionAborted:
        pass
    finally:
        client.close()
    return accepted


def _inspect(ctx: SessionContext, message: bytes) -> tuple[str | None, str]:
    mid = find_marker(message)
    if mid is not None and ctx.id_prefix and not mid.startswith(ctx.id_prefix):
        mid = None
    return mid, MessageFactory.digest(message)


def pop3_session(ctx: SessionContext, mix: UserMix, mailbox: tuple[str, str], *, abort: bool = False) -> int:
    """One POP3 connection: banner, USER, PASS, STAT, LIST, RETR [+DELE] each (bounded), QUIT.

    With ``abort`` the session resets the connection after its DELEs instead
    of sending QUIT, like a client that crashed before saving: those messages
    are *not* counted as seen, and a conformant server must keep them
    (RFC 1939 §6), so a later session sees them again.
    Returns the number of messages retrieved.
    """
    assert ctx.pop3 is not None
    client = Pop3LoadClient(ctx.pop3, ctx.fire, ctx.timeout)
    login, password = mailbox
    got: list[tuple[str | None, float, str]] = []
    committed = False
    try:
        client.connect()
        client.phase("banner", None)
        client.phase("USER", f"USER {login}\r\n".encode())
        client.phase("PASS", f"PASS {password}\r\n".encode())
        client.phase("STAT", b"STAT\r\n")
        listing = client.phase("LIST", b"LIST\r\n", multiline=True)
        numbers = [int(line.split()[0]) for line in (listing.body or ()) if line.split()[:1] and line.split()[0].isdigit()]
        for n in numbers[: mix.max_retrieve]:
            r = client.phase("RETR", b"RETR %d\r\n" % n, multiline=True)
            if ctx.verify:
                mid, digest = _inspect(ctx, r.body_bytes)
                got.append((mid, time.time(), digest))
            if mix.dele:
                client.phase("DELE", b"DELE %d\r\n" % n)
        if abort:
            client.abort()
            return 0
        client.phase("QUIT", b"QUIT\r\n")
        committed = True
    except SessionAborted:
        pass
    finally:
        client.close()
    # A sighting counts only when the session committed (QUIT +OK): before
    # that, the server may legitimately hand the same message out again.
    if committed and ctx.on_seen:
        for mid, t, digest in got:
            ctx.on_seen(mid, t, digest)
    return len(got)
