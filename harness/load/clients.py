"""Load sessions: SMTP and POP3 users' scripts over the harness's one engine (``session.Connection``).

Each phase of a session (connect, banner, EHLO, MAIL, RCPT, DATA, QUIT; USER,
PASS, STAT, LIST, RETR, DELE, QUIT) is timed and reported once through
``fire(request_type, name, response_time_ms, length, exc)``: the Locust
process turns it into ``events.request`` plus an HDR record; the CLI's prefill
and drain pass a plain recorder. An unexpected reply is a failure carrying the
reply (``UnexpectedReply``); a transport error is a failure carrying the
classified ``TransportError``. Either ends the session (``SessionAborted``),
after being reported once.

The conversation goes through ``session.Connection`` with ``transcript=None``
and every limit set to the profile's timeout: the same readers, read loop,
deadlines and size bounds as the checks. What is load-specific is cost: SMTP
replies are taken from ``Connection.read_frame`` as (code, bytes) and only the
code is looked at (an unexpected reply is parsed for the failure message), command bytes are made once per process (``SessionContext.commands``),
one write per command or pipelined group (RFC 2920, when the profile asks and
the server advertises it), and the connection comes from
``SessionContext.connect``: ``wire.blocking.connect_endpoint`` (the CLI's
prefill and drain) or, in the Locust processes, ``wire.hub.connect``.

This module imports neither locust nor gevent.
"""

from __future__ import annotations

import base64
import functools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import TransportError
from harness.load.messages import MessageFactory
from harness.load.profile import UserMix
from harness.message import find_marker
from harness.protocol.protocols import Protocol
from harness.protocol.replies import Pop3Response, SmtpReply
from harness.protocol.smtp import parse_ehlo, parse_reply
from harness.session import Connection, Limits
from harness.wire.blocking import connect_endpoint
from harness.wire.stream import Connector, Endpoint, Stream, client_tls_context, resolve

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


@functools.lru_cache(maxsize=8)
def _limits(timeout: float) -> Limits:
    """One timeout for every wait of a load session; the size bounds are the checks' own."""
    return Limits(read_timeout=timeout, reply_deadline=timeout, write_timeout=timeout, connect_timeout=timeout)


class _Client:
    """Phase timing and failure reporting around one ``Connection`` (no transcript)."""

    rtype = ""
    protocol: Protocol = Protocol.SMTP

    def __init__(self, endpoint: Endpoint, fire: Fire, timeout: float = 10.0,
                 connector: Connector | None = None) -> None:
        self.endpoint = endpoint
        self.fire = fire
        self.timeout = timeout
        self.connector = connector or connect_endpoint
        self.conn: Connection | None = None

    @property
    def stream(self) -> Stream | None:
        return self.conn.stream if self.conn is not None else None

    @stream.setter
    def stream(self, stream: Stream) -> None:
        """Talk over ``stream`` (connected elsewhere: a test's ``MockStream``)."""
        self.conn = Connection(self.rtype, self.protocol, stream, None, _limits(self.timeout))

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

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def abort(self) -> None:
        if self.conn is not None:
            self.conn.abort()
            self.conn = None


def _unexpected(name: str, raw: bytes) -> BaseException:
    """The failure for a reply whose code was not expected: the parsed reply, or why it cannot be parsed."""
    try:
        return UnexpectedReply(name, parse_reply(raw))
    except TransportError as exc:
        return exc


class SmtpLoadClient(_Client):
    """SMTP phases: replies framed by the engine's reader, only their code looked at on the way."""

    rtype = "SMTP"
    protocol = Protocol.SMTP

    def phase(self, name: str, data: bytes | None, expect: tuple[int, ...], length: int = 0) -> bytes:
        """Send ``data`` (if any), read one reply; returns its raw bytes."""
        t0 = time.perf_counter()
        conn = self.conn
        assert conn is not None
        try:
            if data is not None:
                conn.send(data)
            code, raw = conn.read_frame()
        except TransportError as exc:
            raise self._fail(name, t0, exc) from None
        if code not in expect:
            raise self._fail(name, t0, _unexpected(name, raw))
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
        conn = self.conn
        assert conn is not None
        try:
            conn.send(data)
            for name, expect in phases:
                code, raw = conn.read_frame()
                t1 = time.perf_counter()
                if code not in expect:
                    raise self._fail(name, t0, _unexpected(name, raw))
                self.fire(self.rtype, name, (t1 - t0) * 1000.0, len(raw), None)
                t0 = t1
        except TransportError as exc:
            raise self._fail(name, t0, exc) from None
        return t0

    def data(self, message_wire: bytes, then: bytes = b"", *, go_sent: bool = False) -> bytes:
        """DATA, 354, the message and its terminator in one write, 250: one ``DATA`` request.

        ``go_sent``: DATA was already written (the last command of a pipelined
        group). ``then`` is written together with the message (PIPELINING: the
        message may be followed by QUIT in the same group).
        """
        t0 = time.perf_counter()
        conn = self.conn
        assert conn is not None
        try:
            if not go_sent:
                conn.send(b"DATA\r\n")
            code, raw = conn.read_frame()
            if code != 354:
                raise self._fail("DATA", t0, _unexpected("DATA", raw))
            conn.send(message_wire + then if then else message_wire)
            code, raw = conn.read_frame()
        except TransportError as exc:
            raise self._fail("DATA", t0, exc) from None
        if code != 250:
            raise self._fail("DATA", t0, _unexpected("DATA", raw))
        self.fire(self.rtype, "DATA", (time.perf_counter() - t0) * 1000.0, len(message_wire), None)
        return raw

    def starttls(self, ehlo: bytes) -> bytes:
        self.phase("STARTTLS", b"STARTTLS\r\n", (220,))
        t0 = time.perf_counter()
        assert self.conn is not None
        try:
            self.conn.start_tls(client_tls_context())      # drops what came before the handshake (RFC 3207)
        except TransportError as exc:
            raise self._fail("TLS", t0, exc) from None
        self.fire(self.rtype, "TLS", (time.perf_counter() - t0) * 1000.0, 0, None)
        return self.phase("EHLO", ehlo, (250,))


class Pop3LoadClient(_Client):
    rtype = "POP3"
    protocol = Protocol.POP3

    def phase(self, name: str, data: bytes | None, multiline: bool = False) -> Pop3Response:
        t0 = time.perf_counter()
        conn = self.conn
        assert conn is not None
        try:
            if data is not None:
                conn.send(data)
            response = conn.read_response(multiline)
        except TransportError as exc:
            raise self._fail(name, t0, exc) from None
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
    connect: Connector | None = None                 # None: wire.blocking.connect_endpoint; Locust: wire.hub.connect
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
    # Cached: a server answers every session's EHLO with the same bytes, so it is parsed once.
    return "PIPELINING" in parse_ehlo(parse_reply(ehlo_reply))


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
