"""The reference SMTP server: an aiosmtpd ``SMTP`` subclass (RFC 5321 and extensions).

Theory of operation. aiosmtpd supplies the transport plumbing: the
StreamReaderProtocol, the idle timer, ``push`` and the STARTTLS transport swap in
``connection_made``. Its command loop and most ``smtp_*`` methods do not fit a
strict reference peer, so they are replaced here:

* aiosmtpd splits commands at a bare LF; RFC 5321 §2.3.8 allows only CRLF, so
  commands are read up to CRLF and a bare CR/LF inside one is a syntax error.
* aiosmtpd hangs up after five unknown commands; §4.1.1.10 forbids closing
  before QUIT, so there is no such budget.
* aiosmtpd cancels the session at EOF, dropping pipelined commands still in the
  buffer; here they are answered first (RFC 2920).
* Every reply carries an enhanced status code (RFC 2034), and the knobs in
  ``defects.py`` need hooks in the loop itself (greeting, verb case, line limit).

DATA is read by ``smtp_data.receive_data``; recipients are routed and mail is
stored by ``delivery.Delivery``; SASL is ``auth.authenticate``.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto as sslproto
import base64
import logging
import ssl
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from aiosmtpd.smtp import SMTP, Envelope, TLSSetupException

from .accounts import IMPLEMENTATION, User, UserDirectory
from .auth import MECHANISMS, SaslCancelled, SaslMalformed, authenticate
from .defects import DefectSet
from .delivery import Delivery, Route, new_queue_id
from .smtp_data import receive_data
from .smtp_envelope import SIZE_LIMIT, check_mail, check_rcpt

__all__ = ["SmtpContext", "RefSMTP", "SIZE_LIMIT"]

log = logging.getLogger("harness.refserver.smtp")

COMMAND_MAX = 512  # §4.5.3.1.4, CRLF included
# MAIL grows with SIZE= (RFC 1870 §3), SMTPUTF8 (RFC 6531 §3.4) and AUTH= (RFC 4954 §5).
MAIL_MAX = COMMAND_MAX + 26 + 10 + 500
SHORT_COMMAND_MAX = 300  # the smtp-short-line-limit knob
SASL_LINE_MAX = 12288 + 2  # RFC 4954 §4: client responses up to 12288 octets
RCPT_MAX = 1000  # §4.5.3.1.8 requires at least 100
STREAM_LIMIT = 16 * 1024  # StreamReader limit: bounds buffering of any single line


@dataclass
class SmtpContext:
    """Everything a connection needs from its server; one per ReferenceServer."""

    hostname: str
    users: UserDirectory
    delivery: Delivery
    defects: DefectSet
    tls_context: ssl.SSLContext
    timeout: float = 300.0  # §4.5.3.2.7: at least 5 minutes awaiting a command
    connections: set["RefSMTP"] = field(default_factory=set)


class RefEnvelope(Envelope):
    def __init__(self) -> None:
        super().__init__()
        self.recipients: list[tuple[str, User | None]] = []  # None: accepted and dropped


class RefSMTP(SMTP):
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
        self._commands: dict[str, Callable[[str], Awaitable[None]]] = {
            "EHLO": self.smtp_EHLO, "HELO": self.smtp_HELO, "MAIL": self.smtp_MAIL,
            "RCPT": self.smtp_RCPT, "DATA": self.smtp_DATA, "RSET": self.smtp_RSET,
            "NOOP": self.smtp_NOOP, "QUIT": self.smtp_QUIT, "VRFY": self.smtp_VRFY,
            "EXPN": self.smtp_EXPN, "HELP": self.smtp_HELP, "STARTTLS": self.smtp_STARTTLS,
            "AUTH": self.smtp_AUTH,
        }

    # ----- connection plumbing ------------------------------------------------

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
            out.append(f"{line_code}{' ' if last else '-'}{text}\r\n")
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

    async def _one_command(self) -> None:
        line, overflow = await self._read_segment(b"\r\n")
        self._reset_timeout()
        text = line[:-2]
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
            else:
                await self.push("500 5.5.2 Command unrecognized")
            return
        try:
            await handler(arg_bytes.decode("utf-8", "surrogateescape").strip())
        except (asyncio.IncompleteReadError, ConnectionError, TLSSetupException, asyncio.CancelledError):
            raise
        except Exception:  # a bug in this server: answer, and keep the traceback in the log
            log.exception("reference SMTP server failed on %r", verb)
            await self.push("451 4.3.0 Internal server error")

    # ----- session commands ---------------------------------------------------

    def _new_greeting(self, hostname: str, extended: bool) -> None:
        # §4.1.4: a later EHLO/HELO resets the transaction exactly as RSET does.
        if "smtp-ehlo-keeps-envelope" not in self.defects:
            self._set_rset_state()
        self.session.host_name = hostname
        self.session.extended_smtp = extended

    def _ehlo_keywords(self) -> list[str]:
        keywords = [f"SIZE {SIZE_LIMIT}", "8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES", "SMTPUTF8", "HELP"]
        if self.ctx.tls_context is not None and (
            not self.tls_active or ("smtp-starttls-readvertise" in self.defects and not self.implicit_tls)
        ):
            keywords.append("STARTTLS")  # RFC 3207 §4.2: never after the handshake
        if self._auth_allowed():
            keywords.append("AUTH " + " ".join(MECHANISMS))
        return keywords

    def _auth_allowed(self) -> bool:
        # RFC 4954 §4/§14: plaintext mechanisms only over TLS.
        return self.tls_active or "smtp-auth-plaintext" in self.defects

    async def smtp_EHLO(self, arg: str) -> None:
        if not arg:
            await self.push("501 5.5.4 Syntax: EHLO domain")  # §4.1.4: state unchanged
            return
        self._new_greeting(arg.split()[0], extended=True)
        middle = 251 if "smtp-bad-multiline" in self.defects else None
        await self._send_lines(250, [self.hostname, *self._ehlo_keywords()], middle)

    async def smtp_HELO(self, arg: str) -> None:
        if not arg:
            await self.push("501 5.5.4 Syntax: HELO domain")
            return
        self._new_greeting(arg.split()[0], extended=False)
        if "smtp-helo-multiline" in self.defects:
            await self._send_lines(250, [self.hostname, *self._ehlo_keywords()])
        else:
            await self.push(f"250 {self.hostname}")  # §3.2: never the EHLO-style reply

    async def smtp_RSET(self, arg: str) -> None:
        if arg:
            await self.push("501 5.5.4 Syntax: RSET")  # §4.1.1.5 takes no argument
            return
        if "smtp-rset-keeps-envelope" not in self.defects:
            self._set_rset_state()
        await self.push("250 2.0.0 OK")

    async def smtp_NOOP(self, arg: str) -> None:
        # §4.1.1.9: a parameter is ignored.
        if "smtp-code-out-of-range" in self.defects:
            await self.push("199 OK")
            return
        await self.push("250 2.0.0 OK")
        if "smtp-extra-reply" in self.defects:
            await self.push("250 2.0.0 OK")

    async def smtp_QUIT(self, arg: str) -> None:
        if arg:
            await self.push("501 5.5.4 Syntax: QUIT")
            return
        self._done = True
        if "smtp-quit-no-221" in self.defects:
            self.transport.close()
            return
        await self.push("221 2.0.0 Bye")
        if "smtp-quit-no-close" in self.defects:
            while await self._reader.read(4096):  # ignore everything until the client hangs up
                self._reset_timeout()
        self.transport.close()

    async def smtp_VRFY(self, arg: str) -> None:
        if not arg:
            await self.push("501 5.5.4 Syntax: VRFY <address>")
        elif "smtp-vrfy-250" in self.defects:
            name = arg.strip("<>")
            await self.push(f"250 2.1.5 <{name if '@' in name else name + '@' + self.ctx.users.domain}>")
        else:
            # §3.5.3: 250 only for a verified address; 252 says "will try".
            await self.push("252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery")

    async def smtp_EXPN(self, arg: str) -> None:
        await self.push("502 5.5.1 EXPN not implemented")  # and so not advertised (§3.5.2)

    async def smtp_HELP(self, arg: str) -> None:
        await self.push("214 2.0.0 Commands: " + " ".join(sorted(self._commands)))

    # ----- the mail transaction -------------------------------------------------

    async def _need_helo(self) -> bool:
        if self.session.host_name:
            return False
        await self.push("503 5.5.1 Error: send HELO/EHLO first")  # §4.1.4
        return True

    async def smtp_MAIL(self, arg: str) -> None:
        if await self._need_helo():
            return
        if self.envelope.mail_from is not None:
            await self.push("503 5.5.1 Error: nested MAIL command")
            return
        check = check_mail(arg, extended=self.session.extended_smtp,
                           auth_param=self._auth_allowed(), defects=self.defects)
        if check.sender is not None:
            self.envelope.mail_from = check.sender
            self.envelope.smtp_utf8 = check.utf8
        await self.push(check.reply)

    async def smtp_RCPT(self, arg: str) -> None:
        if await self._need_helo():
            return
        if self.envelope.mail_from is None and "smtp-rcpt-before-mail" not in self.defects:
            await self.push("503 5.5.1 Error: need MAIL command")
            return
        mailbox = check_rcpt(arg, utf8=self.envelope.smtp_utf8)
        if isinstance(mailbox, str):
            await self.push(mailbox)
        elif len(self.envelope.recipients) >= RCPT_MAX:
            await self.push("452 4.5.3 Too many recipients")  # §4.5.3.1.10
        else:
            routing = self.ctx.delivery.route(mailbox, authenticated=bool(self.session.authenticated))
            if routing.route is Route.UNKNOWN_USER:
                await self.push("550 5.1.1 User unknown")
            elif routing.route is Route.RELAY_DENIED:
                await self.push("554 5.7.1 Relay access denied")
            else:
                address = str(mailbox) if mailbox.domain else f"{mailbox.local}@{self.ctx.users.domain}"
                self.envelope.recipients.append((address, routing.user))
                self.envelope.rcpt_tos.append(address)
                await self.push("250 2.1.5 OK")

    async def smtp_DATA(self, arg: str) -> None:
        if await self._need_helo():
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        if self.envelope.mail_from is None:
            await self.push("503 5.5.1 Error: need MAIL command")
            return
        discard = not self.envelope.recipients
        if discard and "smtp-data-without-rcpt" not in self.defects:
            await self.push("503 5.5.1 Error: need RCPT command")  # §3.3: never 354 here
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        outcome = await receive_data(
            self._read_data_segment,
            size_limit=SIZE_LIMIT,
            bare_lf_end="smtp-bare-lf-end" in self.defects,
            unstuff="smtp-no-dot-unstuffing" not in self.defects,
            truncate_at=500 if "smtp-data-line-truncate" in self.defects else None,
        )
        envelope = self.envelope
        self._set_post_data_state()
        if outcome.too_long:
            await self.push("500 5.5.6 Line too long")
        elif outcome.too_big:
            await self.push("552 5.3.4 Message size exceeds fixed maximum message size")
        elif outcome.bare_eol:
            await self.push("550 5.5.2 Message contains bare CR or LF, rejected")
        elif discard:
            await self.push("250 2.0.0 OK")
        else:
            await self.push(self._deliver(envelope, outcome.content))

    async def _read_data_segment(self) -> tuple[bytes, bool]:
        segment = await self._read_segment(b"\n")
        self._reset_timeout()
        return segment

    def _deliver(self, envelope: RefEnvelope, content: bytes) -> str:
        queue_id = new_queue_id()
        local = [(rcpt, user) for rcpt, user in envelope.recipients if user is not None]
        protocol = "SMTP"
        if self.session.extended_smtp:  # RFC 3848 "with" codes
            protocol = "ESMTP" + ("S" if self.tls_active else "") + ("A" if self.session.authenticated else "")
        try:
            self.ctx.delivery.deliver(
                sender=envelope.mail_from or "", recipients=local, content=content,
                helo=self.session.host_name or "", peer_ip=str(self.session.peer[0]),
                protocol=protocol, queue_id=queue_id,
            )
        except OSError:
            log.exception("delivery failed")
            return "451 4.3.0 Local delivery failed"
        return f"250 2.0.0 OK queued as {queue_id}"

    # ----- STARTTLS and AUTH --------------------------------------------------

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

    async def smtp_AUTH(self, arg: str) -> None:
        if await self._need_helo():
            return
        if not self._auth_allowed():
            await self.push("538 5.7.11 Encryption required for requested authentication mechanism")
            return
        if self.session.authenticated and "smtp-auth-twice" not in self.defects:
            await self.push("503 5.5.1 Already authenticated")  # RFC 4954 §4
            return
        if self.envelope.mail_from is not None:
            await self.push("503 5.5.1 AUTH not permitted during a mail transaction")
            return
        words = arg.split()
        if not 1 <= len(words) <= 2:
            await self.push("501 5.5.4 Syntax: AUTH mechanism [initial-response]")
            return
        mechanism = words[0].upper()
        if mechanism not in MECHANISMS:
            await self.push("504 5.5.4 Unrecognized authentication type")
            return
        try:
            user = await authenticate(mechanism, words[1] if len(words) == 2 else None,
                                      self._sasl_challenge, self.ctx.users, self.hostname)
        except SaslCancelled:
            if "smtp-auth-cancel" in self.defects:
                await self.push("535 5.7.8 Authentication credentials invalid")
            else:
                await self.push("501 5.0.0 Authentication cancelled")
            return
        except SaslMalformed:
            await self.push("501 5.5.2 Cannot decode response")
            return
        if user is None:
            await self.push("535 5.7.8 Authentication credentials invalid")
            return
        self.session.authenticated = True
        self.session.auth_data = user
        await self.push("235 2.7.0 Authentication successful")

    async def _sasl_challenge(self, challenge: bytes) -> str:
        await self.push(b"334 " + base64.b64encode(challenge))
        line, overflow = await self._read_segment(b"\r\n", SASL_LINE_MAX)
        self._reset_timeout()
        if overflow:
            raise SaslMalformed()
        return line[:-2].decode("ascii", "replace")

