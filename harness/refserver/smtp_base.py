"""Connection plumbing for the reference SMTP server, on top of aiosmtpd's ``SMTP``.

aiosmtpd supplies the StreamReaderProtocol, the idle timer and the STARTTLS
transport swap (its ``connection_made`` discards buffered plaintext and starts
a fresh session, RFC 3207 §4.2). Its command loop does not fit a strict
reference peer, so ``_handle_client`` is replaced here:

* aiosmtpd splits commands at a bare LF; RFC 5321 §2.3.8 allows only CRLF, so
  commands are read up to CRLF and a bare CR/LF inside one is a syntax error.
* aiosmtpd hangs up after five unknown commands; §4.1.1.10 forbids closing
  before QUIT, so there is no such budget.
* aiosmtpd cancels the session at EOF, dropping pipelined commands still in the
  buffer; here they are answered first (RFC 2920).
* Its line limit is 1001 octets for everything; here a command line may have
  512 (§4.5.3.1.4) and overlong input is drained as it arrives.
* Its replies lack enhanced status codes (RFC 2034); every ``Reply`` here has one.

Commands are dispatched through the server's ``SmtpHooks`` table (smtp_hooks.py);
every reply goes out through ``push``, which runs the reply hooks.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from asyncio import sslproto
from dataclasses import dataclass, field

from aiosmtpd.smtp import SMTP, Envelope, TLSSetupException

from . import smtp_replies as R
from .accounts import IMPLEMENTATION, User, UserDirectory
from .defects import DefectSet
from .delivery import Delivery
from .smtp_envelope import SIZE_LIMIT
from .smtp_hooks import SmtpHooks
from .smtp_replies import Reply

__all__ = ["RefEnvelope", "SmtpConnection", "SmtpContext"]

log = logging.getLogger("harness.refserver.smtp")

COMMAND_MAX = 512  # §4.5.3.1.4, CRLF included
# MAIL grows with SIZE= (RFC 1870 §3), SMTPUTF8 (RFC 6531 §3.4) and AUTH= (RFC 4954 §5).
MAIL_MAX = COMMAND_MAX + 26 + 10 + 500
SHORT_COMMAND_MAX = 300  # the smtp-short-line-limit knob
STREAM_LIMIT = 16 * 1024  # StreamReader limit: bounds buffering of any single line
_AUX_VERBS = frozenset({"NOOP", "RSET", "VRFY", "EXPN", "HELP"})  # smtp-strict-helo-order
_PEER_GONE = (asyncio.IncompleteReadError, ConnectionError, TLSSetupException)


@dataclass
class SmtpContext:
    """Everything a connection needs from its server; one per ReferenceServer."""

    hostname: str
    users: UserDirectory
    delivery: Delivery
    defects: DefectSet
    tls_context: ssl.SSLContext
    hooks: SmtpHooks
    timeout: float = 300.0  # §4.5.3.2.7: at least 5 minutes awaiting a command
    connections: set[SmtpConnection] = field(default_factory=set)


class RefEnvelope(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.recipients: list[tuple[str, User | None]] = []  # None: accepted and dropped
        self.binarymime = False  # MAIL ... BODY=BINARYMIME (RFC 3030 §3)
        self.bdat_parts: list[bytes] | None = None  # the chunks so far; None before the first BDAT
        self.bdat_size = 0


class SmtpConnection(SMTP):
    """One SMTP connection: the command loop, replies and STARTTLS; the commands are in the hook table."""

    line_length_limit = STREAM_LIMIT
    envelope: RefEnvelope

    def __init__(self, ctx: SmtpContext, *, implicit_tls: bool, loop: asyncio.AbstractEventLoop) -> None:
        self.ctx = ctx
        self.defects = ctx.defects
        self.hooks = ctx.hooks
        self.implicit_tls = implicit_tls
        self.verb = ""  # the verb of the last command handed to its handler (for the reply hooks)
        self.completed_transaction = False  # smtp-single-transaction
        self.error_count = 0  # smtp-error-limit-close
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

    def _create_envelope(self) -> RefEnvelope:
        return RefEnvelope()

    @property
    def tls_active(self) -> bool:
        return self.implicit_tls or self._tls_protocol is not None

    @property
    def buffered(self) -> bytearray:
        """Input received but not read yet (the pipelining and STARTTLS knobs look at it)."""
        return self._reader._buffer  # type: ignore[attr-defined,no-any-return]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        upgrading = self.transport is not None and self._original_transport is not None
        old_session = self.session
        # aiosmtpd's upgrade path discards buffered plaintext (RFC 3207 §4.2,
        # CVE-2011-0411) and starts a fresh session, forgetting EHLO (§4.2).
        pending = bytes(self.buffered) if upgrading else b""
        super().connection_made(transport)
        self.ctx.connections.add(self)
        if not upgrading:
            return
        if "smtp-starttls-injection" in self.defects and pending:
            self.buffered.extend(pending)
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
        self.transport.write(R.timeout_reply(self.hostname).wire(b"\r\n"))
        self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once (server shutdown)."""
        if self.transport is not None:
            self.transport.abort()

    def reset_transaction(self) -> None:
        """Drop the sender and recipients, as RSET does (§4.1.1.5)."""
        self._set_rset_state()

    def end_transaction(self) -> None:
        """A fresh envelope after the end of data (§4.1.1.4)."""
        self._set_post_data_state()

    def touch(self) -> None:
        """Restart the idle timer: the client sent something."""
        self._reset_timeout()

    def finish(self) -> None:
        """End the session after the current command (QUIT, the closing knobs)."""
        self._done = True

    async def read_segment(self, sep: bytes, limit: int | None = None) -> tuple[bytes, bool]:
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

    async def read_data_segment(self) -> tuple[bytes, bool]:
        """One LF-terminated DATA segment, after the segment hooks (the smuggling knobs)."""
        segment, overflow = await self.read_segment(b"\n")
        self._reset_timeout()
        if not overflow:
            for hook in self.hooks.segment:
                segment = hook(self, segment)
        return segment, overflow

    async def read_exactly(self, size: int) -> bytes:
        return await self._reader.readexactly(size)

    async def read_line(self) -> bytes:
        return await self._reader.readuntil(b"\n")

    async def drain_input(self) -> None:
        """Read and ignore everything until the client hangs up (smtp-quit-no-close)."""
        while await self._reader.read(4096):
            self._reset_timeout()

    async def send_lines(self, code: int, texts: list[str], middle_code: int | None = None) -> None:
        """One multi-line reply, §4.2.1: ``code-text`` ... ``code text``."""
        out = []
        eol = self.hooks.eol.decode()
        for i, text in enumerate(texts):
            last = i == len(texts) - 1
            line_code = middle_code if middle_code and 0 < i < len(texts) - 1 else code
            out.append(f"{line_code}{' ' if last else '-'}{text}{eol}")
        self._writer.write("".join(out).encode("utf-8", "surrogateescape"))
        await self._writer.drain()

    async def push(self, reply: Reply) -> None:  # type: ignore[override]
        """Send one reply line, as the reply hooks make it."""
        hooks = self.hooks
        for hook in hooks.reply:
            reply = hook(self, reply)
        self._writer.write(reply.wire(hooks.eol))
        await self._writer.drain()
        for after in hooks.after_reply:
            await after(self, reply)

    def write_final(self, reply: Reply) -> None:
        """Write a last reply and close, without waiting (and without the reply hooks)."""
        self._writer.write(reply.wire(self.hooks.eol))
        self._done = True
        if self.transport is not None:
            self.transport.close()

    # ----- the command loop ---------------------------------------------------

    async def _handle_client(self) -> None:
        try:
            code = 250 if "smtp-greeting-code" in self.defects else 220
            await self.push(R.greeting(self.hostname, code))
            while not self._done and self.transport is not None:
                await self._one_command()
        except _PEER_GONE:
            pass  # peer gone; an unfinished transaction is dropped (§4.1.1.10)
        finally:
            if self.transport is not None:
                self.transport.close()

    async def _one_command(self) -> None:
        bare_lf = "smtp-bare-lf-command" in self.defects
        line, overflow = await self.read_segment(b"\n" if bare_lf else b"\r\n")
        self._reset_timeout()
        text = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        # §4.1.1: receivers SHOULD tolerate trailing white space before the CRLF.
        stripped = text.rstrip(b" \t")
        if stripped != text and "smtp-trailing-space-rejected" in self.defects:
            await self.push(R.TRAILING_SPACE)
            return
        text = stripped
        verb_bytes, _, arg_bytes = text.partition(b" ")
        verb = verb_bytes.decode("ascii", "replace").upper()
        limit = SHORT_COMMAND_MAX if "smtp-short-line-limit" in self.defects else (
            MAIL_MAX if verb == "MAIL" else COMMAND_MAX)
        if overflow or len(line) > limit:
            await self.push(R.LINE_TOO_LONG)
            return
        if b"\r" in text or b"\n" in text:
            await self.push(R.BARE_EOL_COMMAND)  # §2.3.8
            return
        if not verb_bytes:
            await self.push(R.EMPTY_COMMAND)
            return
        handler = self.hooks.commands.get(verb) if verb_bytes.isascii() else None
        if handler is not None and "smtp-case-sensitive" in self.defects and not verb_bytes.isupper():
            handler = None
        if handler is None:
            if "smtp-unknown-command-250" in self.defects:
                await self.push(R.OK)
            elif "smtp-long-reply" in self.defects:
                await self.push(R.unrecognized_echo(text.decode("utf-8", "surrogateescape")))
            else:
                await self.push(R.UNRECOGNIZED)
            return
        if verb in _AUX_VERBS and not self.session.host_name and "smtp-strict-helo-order" in self.defects:
            await self.push(R.NEED_HELO)
            return
        self.verb = verb
        try:
            await handler(self, arg_bytes.decode("utf-8", "surrogateescape").strip())
        except _PEER_GONE:
            raise
        except Exception:  # a bug in this server: answer, and keep the traceback in the log
            log.exception("reference SMTP server failed on %r", verb)
            await self.push(R.INTERNAL_ERROR)

    # ----- STARTTLS (RFC 3207): the transport swap --------------------------------

    async def start_tls(self) -> None:
        """Swap in a TLS transport as aiosmtpd's own smtp_STARTTLS does; connection_made resets the session."""
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
