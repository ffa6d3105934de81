"""Connection plumbing for the reference SMTP server, on top of aiosmtpd's ``SMTP``.

aiosmtpd supplies the StreamReaderProtocol, the idle timer, ``push`` and the
STARTTLS transport swap (its ``connection_made`` discards buffered plaintext and
starts a fresh session, RFC 3207 §4.2). Its command loop does not fit a strict
reference peer, so ``_handle_client`` is replaced here:

* aiosmtpd splits commands at a bare LF; RFC 5321 §2.3.8 allows only CRLF, so
  commands are read up to CRLF and a bare CR/LF inside one is a syntax error.
* aiosmtpd hangs up after five unknown commands; §4.1.1.10 forbids closing
  before QUIT, so there is no such budget.
* aiosmtpd cancels the session at EOF, dropping pipelined commands still in the
  buffer; here they are answered first (RFC 2920).
* Its line limit is 1001 octets for everything; here a command line may have
  512 (§4.5.3.1.4) and overlong input is drained as it arrives.
* Its replies lack enhanced status codes (RFC 2034), which every reply here has.

The commands themselves are in ``smtp.RefSMTP``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from asyncio import sslproto
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, Envelope, TLSSetupException

from .accounts import IMPLEMENTATION, User, UserDirectory
from .defects import DefectSet
from .delivery import Delivery
from .smtp_envelope import SIZE_LIMIT

__all__ = ["RefEnvelope", "SmtpConnection", "SmtpContext"]

log = logging.getLogger("harness.refserver.smtp")

COMMAND_MAX = 512  # §4.5.3.1.4, CRLF included
# MAIL grows with SIZE= (RFC 1870 §3), SMTPUTF8 (RFC 6531 §3.4) and AUTH= (RFC 4954 §5).
MAIL_MAX = COMMAND_MAX + 26 + 10 + 500
SHORT_COMMAND_MAX = 300  # the smtp-short-line-limit knob
STREAM_LIMIT = 16 * 1024  # StreamReader limit: bounds buffering of any single line

Command = Callable[[str], Awaitable[None]]


@dataclass
class SmtpContext:
    """Everything a connection needs from its server; one per ReferenceServer."""

    hostname: str
    users: UserDirectory
    delivery: Delivery
    defects: DefectSet
    tls_context: ssl.SSLContext
    timeout: float = 300.0  # §4.5.3.2.7: at least 5 minutes awaiting a command
    connections: set[SmtpConnection] = field(default_factory=set)


class RefEnvelope(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.recipients: list[tuple[str, User | None]] = []  # None: accepted and dropped


class SmtpConnection(SMTP):
    line_length_limit = STREAM_LIMIT
    envelope: RefEnvelope

    def __init__(self, ctx: SmtpContext, *, implicit_tls: bool, loop: asyncio.AbstractEventLoop) -> None:
        self.ctx = ctx
        self.defects = ctx.defects
        self.implicit_tls = implicit_tls
        self._done = False
        super().__init__(
            ctx.delivery,
            hostname=ctx.hostname,
            ident=IMPLEMENTATION,
            tls_context=None if implicit_tls else ctx.tls_context,
            timeout=ctx.timeout,
            data_size_limit=SIZE_LIMIT,
            enable_SMTPUTF8=True,
            loop=loop,
        )
        self._commands = self.command_table()

    def command_table(self) -> dict[str, Command]:
        """Verb (upper case) to handler; anything else is an unknown command."""
        raise NotImplementedError

    def _create_envelope(self) -> RefEnvelope:
        return RefEnvelope()

    @property
    def tls_active(self) -> bool:
        return self.implicit_tls or self._tls_protocol is not None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        upgrading = self.transport is not None and self._original_transport is not None
        old_session = self.session
        # aiosmtpd's upgrade path discards buffered plaintext (RFC 3207 §4.2,
        # CVE-2011-0411) and starts a fresh session, forgetting EHLO (§4.2).
        pending = bytes(self._reader._buffer) if upgrading else b""  # type: ignore[attr-defined]
        super().connection_made(transport)
        self.ctx.connections.add(self)
        if not upgrading:
            return
        if "smtp-starttls-injection" in self.defects and pending:
            self._reader._buffer.extend(pending)  # type: ignore[attr-defined]
        if "smtp-starttls-keeps-state" in self.defects and old_session is not None:
            self.session.host_name = old_session.host_name
            self.session.extended_smtp = old_session.extended_smtp

    def connection_lost(self, error: Exception | None) -> None:
        self.ctx.connections.discard(self)
        super().connection_lost(error)

    def eof_received(self) -> bool:
        # Let the loop answer what is still buffered, then stop at EOF.
        self._reader.feed_eof()
        return not self.tls_active  # keeping a TLS transport half-open is not possible

    def _timeout_cb(self) -> None:
        # aiosmtpd just closes; §3.8 asks for a 421 first. A client that stopped
        # reading cannot take it, and close() would wait for it forever: abort.
        if self.transport is None:
            return
        if self.transport.get_write_buffer_size():
            self.transport.abort()
            return
        self.transport.write(f"421 4.4.2 {self.hostname} Error: timeout exceeded\r\n".encode())
        self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once (server shutdown)."""
        if self.transport is not None:
            self.transport.abort()

    async def _read_segment(self, sep: bytes, limit: int | None = None) -> tuple[bytes, bool]:
        """Read through ``sep``; (tail, True) when the line outgrew the limit.

        Overlong input is dropped as it arrives instead of being buffered.
        """
        try:
            line = await self._reader.readuntil(sep)
            return line, limit is not None and len(line) > limit
        except asyncio.LimitOverrunError as exc:
            await self._reader.readexactly(exc.consumed)
        while True:
            try:
                return await self._reader.readuntil(sep), True
            except asyncio.LimitOverrunError as exc:
                await self._reader.readexactly(exc.consumed)

    async def _send_lines(self, code: int, texts: list[str], middle_code: int | None = None) -> None:
        """One (possibly multi-line) reply, §4.2.1: ``code-text`` ... ``code text``."""
        out = []
        for i, text in enumerate(texts):
            last = i == len(texts) - 1
            line_code = middle_code if middle_code and 0 < i < len(texts) - 1 else code
            eol = "\n" if "smtp-reply-bare-lf" in self.defects else "\r\n"
            out.append(f"{line_code}{' ' if last else '-'}{text}{eol}")
        self._writer.write("".join(out).encode("utf-8", "surrogateescape"))
        await self._writer.drain()

    # ----- the command loop ---------------------------------------------------

    async def _handle_client(self) -> None:
        try:
            code = 250 if "smtp-greeting-code" in self.defects else 220
            await self.push(f"{code} {self.hostname} ESMTP {IMPLEMENTATION}")
            while not self._done and self.transport is not None:
                await self._one_command()
        except (asyncio.IncompleteReadError, ConnectionError, TLSSetupException):
            pass  # peer gone; an unfinished transaction is dropped (§4.1.1.10)
        finally:
            if self.transport is not None:
                self.transport.close()

    async def push(self, status: str | bytes) -> None:  # type: ignore[override]
        """One reply line; aiosmtpd's push plus two knobs (bare-LF replies, the error limit)."""
        data = status.encode("utf-8", "surrogateescape") if isinstance(status, str) else status
        eol = b"\n" if "smtp-reply-bare-lf" in self.defects else b"\r\n"
        self._writer.write(data + eol)
        await self._writer.drain()
        if data[:1] == b"5" and "smtp-error-limit-close" in self.defects:
            self._error_count = getattr(self, "_error_count", 0) + 1
            if self._error_count >= 3 and self.transport is not None:
                self._writer.write(b"421 4.7.0 Error: too many errors" + eol)
                self._done = True
                self.transport.close()

    async def _one_command(self) -> None:
        bare_lf = "smtp-bare-lf-command" in self.defects
        line, overflow = await self._read_segment(b"\n" if bare_lf else b"\r\n")
        self._reset_timeout()
        text = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        # §4.1.1: receivers SHOULD tolerate trailing white space before the CRLF.
        stripped = text.rstrip(b" \t")
        if stripped != text and "smtp-trailing-space-rejected" in self.defects:
            await self.push("501 5.5.2 Syntax error: trailing white space")
            return
        text = stripped
        verb_bytes, _, arg_bytes = text.partition(b" ")
        verb = verb_bytes.decode("ascii", "replace").upper()
        limit = SHORT_COMMAND_MAX if "smtp-short-line-limit" in self.defects else (
            MAIL_MAX if verb == "MAIL" else COMMAND_MAX)
        if overflow or len(line) > limit:
            await self.push("500 5.5.6 Line too long")
            return
        if b"\r" in text or b"\n" in text:
            await self.push("500 5.5.2 Syntax error: bare CR or LF in command")  # §2.3.8
            return
        if not verb_bytes:
            await self.push("500 5.5.2 Syntax error: empty command")
            return
        handler = self._commands.get(verb) if verb_bytes.isascii() else None
        if handler is not None and "smtp-case-sensitive" in self.defects and not verb_bytes.isupper():
            handler = None
        if handler is None:
            if "smtp-unknown-command-250" in self.defects:
                await self.push("250 2.0.0 OK")
            elif "smtp-long-reply" in self.defects:
                await self.push(b"500 5.5.2 Command unrecognized: " + text)
            else:
                await self.push("500 5.5.2 Command unrecognized")
            return
        if (verb in ("NOOP", "RSET", "VRFY", "EXPN", "HELP") and not self.session.host_name
                and "smtp-strict-helo-order" in self.defects):
            await self.push("503 5.5.1 Error: send HELO/EHLO first")
            return
        try:
            await handler(arg_bytes.decode("utf-8", "surrogateescape").strip())
        except (asyncio.IncompleteReadError, ConnectionError, TLSSetupException):
            raise
        except Exception:  # a bug in this server: answer, and keep the traceback in the log
            log.exception("reference SMTP server failed on %r", verb)
            await self.push("451 4.3.0 Internal server error")

    # ----- STARTTLS (RFC 3207) ------------------------------------------------

    async def smtp_STARTTLS(self, arg: str) -> None:
        if arg:
            await self.push("501 5.5.4 Syntax: STARTTLS")  # RFC 3207 §4
            return
        if self.tls_active:
            await self.push("503 5.5.1 TLS already active")
            return
        await self.push("220 2.0.0 Ready to start TLS")
        # The transport swap as aiosmtpd's own smtp_STARTTLS does it; its
        # connection_made (above) then resets the session.
        waiter = self.loop.create_future()
        self._tls_protocol = sslproto.SSLProtocol(self.loop, self, self.tls_context, waiter, server_side=True)
        self._original_transport = self.transport
        self._original_transport.set_protocol(self._tls_protocol)
        self.transport = self._tls_protocol._app_transport
        self._tls_protocol.connection_made(self._original_transport)
        try:
            await waiter
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise TLSSetupException() from error
