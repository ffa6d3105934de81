"""Lean SMTP and POP3 load clients over the harness's own protocol core.

No second protocol implementation to judge servers with: an SMTP reply is
split on the wire in a per-connection ``bytearray`` (complete at its first
line that is not a ``NNN-`` continuation; only the code is parsed), and a
reply with an unexpected code is re-parsed by ``protocol.smtp.SmtpReplyReader``
for the failure message; POP3 responses go through
``protocol.pop3.Pop3ResponseReader``. What is different from the conformance
runner is cost: no transcript, command bytes precomputed once per process
(``SessionContext.commands``), bodies dot-stuffed once per size class, one
write per command or pipelined group (RFC 2920, when the profile asks and
the server advertises it), 64 KB reads, a connect to a pre-resolved address
(no resolver call per session) and TCP_NODELAY. Errors are classified by
``transport.map_exceptions`` on the error path only. The connection comes
from ``SessionContext.connect``: ``connect_lean`` (a blocking socket with its
timeout set once, for the CLI's prefill and drain) or, in the Locust
processes, ``hubio.connect`` (raw non-blocking sockets on gevent's hub).

Every phase calls ``fire(request_type, name, response_time_ms, length, exc)``
once: the Locust process turns it into ``events.request`` plus an HDR record;
the CLI's prefill and drain pass a plain recorder. An unexpected reply is a
failure carrying the reply (``UnexpectedReply``); a transport error is a
failure carrying the classified ``TransportError``. Either ends the session
(``SessionAborted``), after being reported once.

This module imports neither locust nor gevent.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import (
    ConnectionClosed,
    Oversize,
    RemoteProtocolError,
    Timeout,
    TransportError,
)
from harness.load.profile import Messages, UserMix
from harness.message import MARKER_HEADER, dot_stuff, find_marker, strip_trace
from harness.protocol.common import CLOSED, NEED_DATA
from harness.protocol.pop3 import Pop3ResponseReader
from harness.protocol.replies import Pop3Response, SmtpReply
from harness.protocol.smtp import SmtpReplyReader
from harness.wire.blocking import connect_endpoint as connect_lean
from harness.wire.stream import Connector, Endpoint, Stream, client_tls_context, resolve

__all__ = [
    "Connector",
    "Endpoint",
    "Fire",
    "MessageFactory",
    "Pop3LoadClient",
    "SessionAborted",
    "SessionContext",
    "SmtpLoadClient",
    "UnexpectedReply",
    "connect_lean",
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
        # The header lines never start with "." (field names), so the wire form is the header plus the
        # body dot-stuffed once per size class: no dot_stuff() of every message.
        self._wire_bodies = {s: dot_stuff(b) + b".\r\n" for s, b in self._bodies.items()}
        self._mime = (b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      b"Content-Transfer-Encoding: 8bit\r\n" if spec.eight_bit else b"")
        self._rng = rng

    def next(self, recipients: Sequence[str]) -> tuple[str, bytes, bytes]:
        """(id, message, wire bytes for DATA: dot-stuffed plus the ``.`` terminator)."""
        self._seq += 1
        mid = f"{self.prefix}.{self._seq}"
        size = self._sizes[0] if len(self._sizes) == 1 else self._rng.choices(self._sizes, self._weights)[0]
        head = (f"{MARKER_HEADER}: {mid}\r\nFrom: <{self.sender}>\r\nTo: {', '.join(f'<{r}>' for r in recipients)}"
                f"\r\nSubject: mailharness load {mid}\r\nMessage-ID: <{mid}@mailharness.test>\r\n"
                f"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n").encode("ascii") + self._mime + b"\r\n"
        return mid, head + self._bodies[size], head + self._wire_bodies[size]

    @staticmethod
    def digest(message: bytes) -> str:
        return hashlib.sha256(strip_trace(message)).hexdigest()


# -- clients ------------------------------------------------------------------------------

class _Client:
    rtype = ""

    def __init__(self, endpoint: Endpoint, fire: Fire, timeout: float = 10.0,
                 connector: Connector | None = None) -> None:
        self.endpoint = endpoint
        self.fire = fire
        self.timeout = timeout
        self.connector = connector or connect_lean
        self.stream: Stream | None = None

    def _fail(self, name: str, t0: float, exc: BaseException) -> SessionAborted:
        self.fire(self.rtype, name, (time.perf_counter() - t0) * 1000.0, 0, exc)
        return SessionAborted(str(exc))

    def connect(self) -> None:
        t0 = time.perf_counter()
        try:
            self.stream = self.connector(self.endpoint, self.timeout)
        except TransportError as exc:
            raise self._fail("connect", t0, exc) from None
        self.fire(self.rtype, "connect", (time.perf_counter() - t0) * 1000.0, 0, None)

    def _read(self, reader: SmtpReplyReader | Pop3ResponseReader, t0: float) -> SmtpReply | Pop3Response:
        assert self.stream is not None
        first = True
        while True:
            event = reader.next_event()
            if event is NEED_DATA:
                if first:           # the phase just started: its whole budget, no settimeout call
                    first = False
                    reader.receive_data(self.stream.read(65536, self.timeout))
                    continue
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


_REPLY_LIMIT = 1 << 20          # buffered reply bytes without a final line: the server is not speaking SMTP


def _smtp_reply(raw: bytes) -> SmtpReply:
    """The full ``SmtpReply`` of a reply's wire bytes (failure path only: the message of ``UnexpectedReply``)."""
    reader = SmtpReplyReader()
    reader.receive_data(raw)
    try:
        event = reader.next_event()
    except TransportError:
        event = None
    if isinstance(event, SmtpReply):
        return event
    return SmtpReply(int(raw[:3]), (raw[4:].rstrip(b"\r\n"),), raw)


class SmtpLoadClient(_Client):
    """SMTP with the fewest syscalls and allocations per phase.

    Replies are read with one large ``recv`` into a per-connection bytearray and
    split there: a reply is complete at its first line that is not a ``NNN-``
    continuation; only its code is parsed on the hot path. An unexpected code is
    re-parsed by the conformance reader (``protocol.smtp.SmtpReplyReader``) for
    the failure message. Several replies in one read (PIPELINING) stay buffered
    for the next phase.
    """

    rtype = "SMTP"

    def __init__(self, endpoint: Endpoint, fire: Fire, timeout: float = 10.0,
                 connector: Connector | None = None) -> None:
        super().__init__(endpoint, fire, timeout, connector)
        self.buf = bytearray()

    def _reply(self, t0: float) -> tuple[int, bytes]:
        """(code, raw bytes) of the next complete reply; raises ``TransportError``."""
        buf = self.buf
        start = 0
        first = True
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                if len(buf) > _REPLY_LIMIT:
                    raise Oversize(f"no complete reply in {len(buf)} octets")
                assert self.stream is not None
                if first:
                    data = self.stream.read(65536, self.timeout)
                    first = False
                else:
                    remaining = t0 + self.timeout - time.perf_counter()
                    if remaining <= 0:
                        raise Timeout(f"no complete reply within {self.timeout:g} s")
                    data = self.stream.read(65536, remaining)
                if not data:
                    if buf:
                        raise RemoteProtocolError("connection closed in the middle of a reply (missing final line)")
                    raise ConnectionClosed("connection closed by the server while waiting for a reply")
                buf += data
                continue
            if nl - start >= 3 and buf[start + 3] == 45:         # "NNN-": a continuation line
                start = nl + 1
                continue
            head = buf[:3]
            if not head.isdigit():
                shown = bytes(buf[:80]).decode("utf-8", "replace")
                raise RemoteProtocolError(f"not an SMTP reply line: {shown!r}")
            raw = bytes(buf[:nl + 1])
            del buf[:nl + 1]
            return int(head), raw

    def phase(self, name: str, data: bytes | None, expect: tuple[int, ...], length: int = 0) -> bytes:
        """Send ``data`` (if any), read one reply; returns its raw bytes."""
        t0 = time.perf_counter()
        try:
            if data is not None:
                assert self.stream is not None
                self.stream.write(data, self.timeout)
            code, raw = self._reply(t0)
        except TransportError as exc:
            raise self._fail(name, t0, exc) from None
        if code not in expect:
            raise self._fail(name, t0, UnexpectedReply(name, _smtp_reply(raw)))
        self.fire(self.rtype, name, (time.perf_counter() - t0) * 1000.0, length or len(raw), None)
        return raw

    def group(self, data: bytes, phases: Sequence[tuple[str, tuple[int, ...]]]) -> float:
        """RFC 2920: ``data`` holds several commands in one write; one reply (and one request) per phase.

        The first phase is timed from the write, each later one from the
        previous reply, so the phases add up to the group's time. Returns the
        ``perf_counter`` of the last reply.
        """
        t0 = time.perf_counter()
        name = phases[0][0]
        try:
            assert self.stream is not None
            self.stream.write(data, self.timeout)
            for name, expect in phases:
                code, raw = self._reply(t0)
                t1 = time.perf_counter()
                if code not in expect:
                    raise self._fail(name, t0, UnexpectedReply(name, _smtp_reply(raw)))
                self.fire(self.rtype, name, (t1 - t0) * 1000.0, len(raw), None)
                t0 = t1
        except TransportError as exc:
            raise self._fail(name, t0, exc) from None
        return t0

    def data(self, message_wire: bytes, then: bytes = b"", *, go_sent: bool = False) -> SmtpReply | bytes:
        """DATA, 354, the message and its terminator in one write, 250: one ``DATA`` request.

        ``go_sent``: DATA was already written (the last command of a pipelined
        group). ``then`` is written together with the message (PIPELINING: the
        message may be followed by QUIT in the same group).
        """
        t0 = time.perf_counter()
        try:
            assert self.stream is not None
            if not go_sent:
                self.stream.write(b"DATA\r\n", self.timeout)
            code, raw = self._reply(t0)
            if code != 354:
                raise self._fail("DATA", t0, UnexpectedReply("DATA", _smtp_reply(raw)))
            self.stream.write(message_wire + then if then else message_wire, self.timeout)
            code, raw = self._reply(t0)
        except TransportError as exc:
            raise self._fail("DATA", t0, exc) from None
        if code != 250:
            raise self._fail("DATA", t0, UnexpectedReply("DATA", _smtp_reply(raw)))
        self.fire(self.rtype, "DATA", (time.perf_counter() - t0) * 1000.0, len(message_wire), None)
        return raw

    def starttls(self, ehlo: bytes) -> bytes:
        self.phase("STARTTLS", b"STARTTLS\r\n", (220,))
        t0 = time.perf_counter()
        try:
            assert self.stream is not None
            self.stream = self.stream.start_tls(client_tls_context(), None, self.timeout)
        except TransportError as exc:
            raise self._fail("TLS", t0, exc) from None
        self.fire(self.rtype, "TLS", (time.perf_counter() - t0) * 1000.0, 0, None)
        self.buf.clear()        # RFC 3207: nothing from before the handshake counts
        return self.phase("EHLO", ehlo, (250,))


class Pop3LoadClient(_Client):
    rtype = "POP3"

    def __init__(self, endpoint: Endpoint, fire: Fire, timeout: float = 10.0,
                 connector: Connector | None = None) -> None:
        super().__init__(endpoint, fire, timeout, connector)
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
    commands: dict = field(default_factory=dict)     # precomputed command bytes (smtp_session)
    connect: Connector | None = None                 # None: connect_lean; the Locust processes: hubio.connect
    _rcpt_next: int = 0

    def next_recipients(self, n: int) -> list[str]:
        out = []
        for _ in range(n):
            out.append(self.recipients[self._rcpt_next % len(self.recipients)])
            self._rcpt_next += 1
        return out


def _smtp_commands(ctx: SessionContext) -> dict[Any, bytes]:
    """Command bytes that do not change between sessions, made once per context."""
    cmds = ctx.commands
    if not cmds:
        assert ctx.factory is not None
        body8 = " BODY=8BITMIME" if ctx.factory.spec.eight_bit else ""
        cmds["EHLO"] = f"EHLO {ctx.client_name}\r\n".encode("ascii")
        cmds["MAIL"] = f"MAIL FROM:<{ctx.factory.sender}>{body8}\r\n".encode("ascii")
        if ctx.smtp_auth:
            token = base64.b64encode(f"\0{ctx.smtp_auth[0]}\0{ctx.smtp_auth[1]}".encode()).decode()
            cmds["AUTH"] = f"AUTH PLAIN {token}\r\n".encode("ascii")
    return cmds


def _rcpt_commands(cmds: dict[Any, bytes], rcpts: Sequence[str]) -> bytes:
    key = tuple(rcpts)
    out = cmds.get(key)
    if out is None:
        out = cmds[key] = b"".join(f"RCPT TO:<{r}>\r\n".encode("ascii") for r in rcpts)
    return out


@functools.lru_cache(maxsize=64)
def _advertises_pipelining(ehlo_reply: bytes) -> bool:
    # Cached: a server answers every session's EHLO with the same bytes.
    return any(line[4:].strip().upper() == b"PIPELINING" for line in ehlo_reply.split(b"\n")[1:])


_RCPT_OK = (250, 251)


def smtp_session(ctx: SessionContext, mix: UserMix) -> int:
    """One SMTP connection: banner, EHLO, [STARTTLS], [AUTH], n × (MAIL, RCPT…, DATA), QUIT.

    With ``mix.pipelining`` and PIPELINING in the EHLO reply (RFC 2920),
    MAIL, the RCPTs and DATA go in one write, and the last message is followed
    by QUIT in the same write; otherwise one command per write.
    Returns the number of messages accepted. Failures are reported through
    ``ctx.fire``; they end the session but are not raised.
    """
    assert ctx.smtp is not None and ctx.factory is not None
    client = SmtpLoadClient(ctx.smtp, ctx.fire, ctx.timeout, ctx.connect)
    cmds = _smtp_commands(ctx)
    ehlo, mail = cmds["EHLO"], cmds["MAIL"]
    factory = ctx.factory
    accepted = 0
    try:
        client.connect()
        client.phase("banner", None, (220,))
        ehlo_reply = client.phase("EHLO", ehlo, (250,))
        if mix.starttls or ctx.smtp.tls == "starttls":
            ehlo_reply = client.starttls(ehlo)
        if mix.auth and ctx.smtp_auth:
            client.phase("AUTH", cmds["AUTH"], (235,))
        pipelining = mix.pipelining and _advertises_pipelining(ehlo_reply)
        n = mix.messages_per_session
        for i in range(n):
            rcpts = ctx.next_recipients(mix.recipients)
            mid, message, wire = factory.next(rcpts)
            digest = MessageFactory.digest(message) if ctx.verify else ""
            if pipelining:
                client.group(mail + _rcpt_commands(cmds, rcpts) + b"DATA\r\n",
                             (("MAIL", (250,)),) + (("RCPT", _RCPT_OK),) * len(rcpts))
                client.data(wire, b"QUIT\r\n" if i == n - 1 else b"", go_sent=True)
            else:
                client.phase("MAIL", mail, (250,))
                for r in rcpts:
                    client.phase("RCPT", _rcpt_commands(cmds, (r,)), _RCPT_OK)
                client.data(wire)
            accepted += 1
            if ctx.on_message:
                ctx.on_message()
            if ctx.verify and ctx.on_sent:
                ctx.on_sent(mid, time.time(), digest)
        client.phase("QUIT", None if pipelining and n else b"QUIT\r\n", (221,))
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
    client = Pop3LoadClient(ctx.pop3, ctx.fire, ctx.timeout, ctx.connect)
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
