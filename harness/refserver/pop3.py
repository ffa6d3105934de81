"""The reference POP3 server (RFC 1939, 2449 CAPA, 2595 STLS, 3206, 5034 AUTH).

Theory of operation: one ``Pop3Session`` per connection reads lines with a
bounded StreamReader and answers them strictly in order, so pipelined commands
(RFC 2449 §6.6) need nothing special. Commands are looked up in one table and
then checked against the set allowed in the current state (AUTHORIZATION or
TRANSACTION, §3). Message state lives in ``pop3_maildrop.Maildrop``; the
maildrop lock is taken only after the credentials are good, so a failed PASS
never holds one (§4), and it is released however the session ends.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .accounts import IMPLEMENTATION, User, UserDirectory
from .auth import MECHANISMS, SaslCancelled, SaslMalformed, apop_digest, authenticate
from .defects import DefectSet
from .maildir import MaildirStore
from .pop3_maildrop import Maildrop, dot_stuff, top_of

__all__ = ["STREAM_LIMIT", "Pop3Context", "Pop3Session"]

log = logging.getLogger("harness.refserver.pop3")

STREAM_LIMIT = 8 * 1024  # longer lines get "-ERR line too long" (RFC 2449 §4 needs 255)
AUTHORIZATION = frozenset({"USER", "PASS", "APOP", "AUTH", "CAPA", "STLS", "QUIT"})
TRANSACTION = frozenset({"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP", "UIDL", "CAPA"})
_greetings = itertools.count(1)


@dataclass
class Pop3Context:
    hostname: str
    users: UserDirectory
    store: MaildirStore
    defects: DefectSet
    tls_context: ssl.SSLContext
    timeout: float = 600.0  # §3: an autologout timer must be at least 10 minutes
    sessions: dict[asyncio.Task[None], Pop3Session] = field(default_factory=dict)


class Pop3Session:
    def __init__(self, ctx: Pop3Context, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 *, implicit_tls: bool) -> None:
        self.ctx = ctx
        self.defects = ctx.defects
        self.reader = reader
        self.writer = writer
        self.tls_active = implicit_tls
        self.upgraded = False  # STLS completed on this connection
        self.user: User | None = None
        self.maildrop: Maildrop | None = None
        self.locked_login: str | None = None  # the login whose maildrop lock this session holds
        self.closing = False
        self.pending_user: str | None = None  # set by USER, consumed by the next command
        self.sasl_mechanism = ""  # the mechanism of the AUTH exchange in progress
        self.nonce = os.urandom(8).hex()
        if "pop3-apop-fixed-timestamp" in self.defects:
            self.timestamp = f"<1.1@{ctx.hostname}>"
        else:  # §7: must differ on every greeting
            self.timestamp = f"<{os.getpid()}.{next(_greetings)}.{time.time_ns()}@{ctx.hostname}>"
        self.handlers: dict[str, Callable[[str, str | None], Awaitable[None]]] = {
            "USER": self.cmd_user, "PASS": self.cmd_pass, "APOP": self.cmd_apop, "AUTH": self.cmd_auth,
            "CAPA": self.cmd_capa, "STLS": self.cmd_stls, "QUIT": self.cmd_quit, "STAT": self.cmd_stat,
            "LIST": self.cmd_list, "RETR": self.cmd_retr, "DELE": self.cmd_dele, "NOOP": self.cmd_noop,
            "RSET": self.cmd_rset, "TOP": self.cmd_top, "UIDL": self.cmd_uidl,
        }

    # ----- I/O ----------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self.reply(True, f"{IMPLEMENTATION} POP3 ready {self.timestamp}")
            while not self.closing:
                line = await self.read_line()
                if line is None or (len(line) > 200 and "pop3-short-line-limit" in self.defects):
                    await self.reply(False, "line too long")
                    continue
                if "pop3-pipelining-drops" in self.defects:
                    self.reader._buffer.clear()  # type: ignore[attr-defined]
                try:
                    await self.dispatch(line)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                    raise
                except Exception:  # a bug in this server: answer, keep the traceback in the log
                    log.exception("reference POP3 server failed on %r", line[:20])
                    await self.reply(False, "[SYS/TEMP] internal server error")
        except TimeoutError:
            self.autologout()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # dropped without QUIT: no UPDATE state, nothing is removed (§6)
        finally:
            if self.locked_login is not None:
                self.ctx.store.unlock(self.locked_login, self)
            self.writer.close()

    def autologout(self) -> None:
        """§3 autologout: no UPDATE state. A client that stopped reading cannot
        take the goodbye, and a graceful close would wait for it forever."""
        if self.writer.transport.get_write_buffer_size():
            self.abort()
        else:
            self.writer.write(self.status(False, "autologout: idle for too long"))

    def abort(self) -> None:
        """Drop the connection at once (server shutdown)."""
        self.writer.transport.abort()

    async def read_line(self) -> str | None:
        """The next line without its end, or None when it was too long to keep."""
        async with asyncio.timeout(self.ctx.timeout):
            try:
                line = await self.reader.readuntil(b"\n")
            except asyncio.LimitOverrunError as exc:
                await self.reader.readexactly(exc.consumed)
                while True:  # drop the rest of the line as it arrives
                    try:
                        await self.reader.readuntil(b"\n")
                        return None
                    except asyncio.LimitOverrunError as more:
                        await self.reader.readexactly(more.consumed)
        return line.rstrip(b"\r\n").decode("utf-8", "surrogateescape")

    def status(self, ok: bool, text: str) -> bytes:
        word = "+OK" if ok else "-ERR"
        if "pop3-lowercase-status" in self.defects:
            word = word.lower()
        return (f"{word} {text}\r\n" if text else f"{word}\r\n").encode("utf-8", "surrogateescape")

    async def reply(self, ok: bool, text: str, body: bytes | None = None, *, stuff: bool = True,
                    terminate: bool = True) -> None:
        """One status line (§3: "+OK"/"-ERR" in upper case), then an optional multi-line body."""
        data = self.status(ok, text)
        if body is not None:
            data += dot_stuff(body, stuff=stuff)
            if terminate and "pop3-missing-terminator" not in self.defects:
                data += b".\r\n"
        self.writer.write(data)
        async with asyncio.timeout(self.ctx.timeout):
            await self.writer.drain()

    async def dispatch(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        verb = word.upper()
        previous_user, self.pending_user = self.pending_user, None
        handler = self.handlers.get(verb)
        if word != verb and "pop3-case-sensitive" in self.defects:
            handler = None
        allowed = TRANSACTION if self.maildrop is not None else AUTHORIZATION
        if self.maildrop is not None and verb == "STLS" and "pop3-stls-after-login" in self.defects:
            allowed = allowed | {"STLS"}
        if handler is None:
            if "pop3-unknown-command-ok" in self.defects:
                await self.reply(True, "")
            elif "pop3-err-echoes-command" in self.defects:
                await self.reply(False, f"unknown command: {line}")
            else:
                await self.reply(False, "unknown command")
        elif self.maildrop is not None and verb in ("USER", "PASS", "APOP", "AUTH") and \
                "pop3-auth-cmds-ok-in-transaction" in self.defects:
            await self.reply(True, "already authenticated")
        elif self.maildrop is not None and verb == "CAPA" and "pop3-capa-auth-only" in self.defects:
            await self.reply(False, "command not valid in this state")
        elif verb not in allowed:
            if self.maildrop is None and verb in ("STAT", "LIST", "RETR") and \
                    "pop3-transaction-before-auth" in self.defects:
                await self.empty_maildrop(verb, rest.strip())
            else:
                await self.reply(False, "command not valid in this state")
        else:
            await handler(rest.strip() if verb != "PASS" else rest, previous_user)

    # ----- AUTHORIZATION state ------------------------------------------------

    async def cmd_user(self, arg: str, _: str | None) -> None:
        if not arg and "pop3-user-empty-ok" not in self.defects:
            await self.reply(False, "USER needs a mailbox name")
            return
        self.pending_user = arg  # unknown names are not revealed here; PASS fails instead
        user = self.ctx.users.by_login(arg)
        if user is not None and "pop3-lock-before-pass" in self.defects:
            if self.ctx.store.lock(user.login, self):
                self.locked_login = user.login  # and never released when PASS fails
        if user is not None and "pop3-user-opens-maildrop" in self.defects:
            self.user = user
            self.maildrop = Maildrop(self.ctx.store, user.login, self.defects, self.nonce)
        await self.reply(True, "send PASS")

    async def cmd_pass(self, arg: str, previous_user: str | None) -> None:
        # §7: the argument is the rest of the line and may contain spaces.
        if previous_user is None:
            if "pop3-pass-without-user" not in self.defects:
                await self.reply(False, "PASS must follow USER")
                return
            user = self.ctx.users.first_with_password(arg)
        elif not arg and "pop3-empty-password-accepted" in self.defects:
            user = self.ctx.users.by_login(previous_user)  # an "unauthenticated bind"
        else:
            user = self.ctx.users.verify(previous_user, arg)
        if user is None:
            code = "" if "pop3-no-auth-resp-code" in self.defects else "[AUTH] "
            await self.reply(False, code + "invalid user name or password")
            if "pop3-bad-pass-disconnect" in self.defects:
                self.closing = True
            return
        await self.login(user)

    async def cmd_apop(self, arg: str, _: str | None) -> None:
        words = arg.split()
        if len(words) == 1 and "pop3-apop-name-only" in self.defects:
            words.append("")
        if len(words) != 2:
            await self.reply(False, "syntax: APOP name digest")
            return
        user = self.ctx.users.by_login(words[0])
        unchecked = "pop3-apop-digest-unchecked" in self.defects or \
            (not words[1] and "pop3-apop-name-only" in self.defects)
        digest = None if user is None else apop_digest(
            self.timestamp, user.password, reversed_order="pop3-apop-digest-reversed" in self.defects)
        if user is None or (digest != words[1].lower() and not unchecked):
            await self.reply(False, "[AUTH] authentication failed")
            return
        await self.login(user)

    async def cmd_auth(self, arg: str, _: str | None) -> None:
        words = arg.split()
        if not 1 <= len(words) <= 2:
            await self.reply(False, "syntax: AUTH mechanism [initial-response]")
            return
        mechanism = words[0].upper()
        if mechanism not in MECHANISMS and "pop3-auth-unknown-as-plain" in self.defects:
            mechanism = "PLAIN"
        if mechanism not in MECHANISMS:
            await self.reply(False, "unsupported SASL mechanism")
            return
        unchecked = f"pop3-sasl-{mechanism.lower()}-{'digest' if mechanism == 'CRAM-MD5' else 'password'}-unchecked"
        self.sasl_mechanism = mechanism
        try:
            user = await authenticate(mechanism, words[1] if len(words) == 2 else None,
                                      self.sasl_challenge, self.ctx.users, self.ctx.hostname,
                                      unchecked=unchecked in self.defects)
        except (SaslCancelled, SaslMalformed) as exc:
            if "pop3-sasl-reprompt" in self.defects:
                await self.sasl_challenge(b"")
            cancelled = isinstance(exc, SaslCancelled)
            await self.reply(False, "authentication cancelled" if cancelled else "invalid SASL response")  # RFC 5034 §4
            return
        if user is None:
            await self.reply(False, "[AUTH] authentication failed")
            return
        if "pop3-auth-no-transaction" in self.defects:
            await self.reply(True, "authenticated")
            return
        await self.login(user)

    async def sasl_challenge(self, challenge: bytes) -> str:
        raw = self.sasl_mechanism == "CRAM-MD5" and "pop3-cram-md5-raw-challenge" in self.defects
        self.writer.write(b"+ " + (challenge if raw else base64.b64encode(challenge)) + b"\r\n")  # RFC 5034 §4
        async with asyncio.timeout(self.ctx.timeout):
            await self.writer.drain()
        line = await self.read_line()
        if line is None:
            raise SaslMalformed()
        return line

    async def login(self, user: User) -> None:
        if "pop3-no-lock" not in self.defects:
            if not self.ctx.store.lock(user.login, self):
                code = "" if "pop3-in-use-no-code" in self.defects else "[IN-USE] "
                await self.reply(False, code + "maildrop is locked by another session")  # RFC 2449 §8
                return
            if self.locked_login not in (None, user.login):
                self.ctx.store.unlock(self.locked_login, self)
            self.locked_login = user.login
        self.user = user
        self.maildrop = Maildrop(self.ctx.store, user.login, self.defects, self.nonce)
        count, octets = self.maildrop.stat()
        await self.reply(True, f"{user.login} has {count} messages ({octets} octets)")

    async def cmd_capa(self, arg: str, _: str | None) -> None:
        # RFC 2449 §5: the same list in both states, so STLS stays listed after
        # login (it is then refused as out of state).
        lines = ["TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                 "SASL " + " ".join(MECHANISMS)]
        if self.maildrop is not None and "pop3-capa-transaction-short" in self.defects:
            lines = [x for x in lines if x != "USER" and not x.startswith("SASL")]
        if not self.tls_active or (self.upgraded and "pop3-stls-readvertise" in self.defects) or \
                (not self.upgraded and "pop3-implicit-tls-stls-listed" in self.defects):
            lines.append("STLS")
        lines.append(f"IMPLEMENTATION {IMPLEMENTATION}")
        await self.reply(True, "capability list follows", "".join(f"{x}\r\n" for x in lines).encode())

    async def cmd_stls(self, arg: str, _: str | None) -> None:
        if arg:
            await self.reply(False, "STLS takes no argument")
            return
        if self.tls_active:
            await self.reply("pop3-stls-inside-tls" in self.defects, "TLS already active")  # RFC 2595 §4
            return
        await self.reply(True, "begin TLS negotiation")
        try:
            await self.writer.start_tls(self.ctx.tls_context)
        except (ssl.SSLError, OSError):
            self.closing = True
            return
        if "pop3-stls-injection" not in self.defects:
            # RFC 2595 §4 / CVE-2011-0411: plaintext that arrived before the
            # handshake must not be read as commands inside TLS.
            self.reader._buffer.clear()  # type: ignore[attr-defined]
        self.tls_active = self.upgraded = True

    async def cmd_quit(self, arg: str, _: str | None) -> None:
        self.closing = True
        if self.maildrop is None:
            if "pop3-quit-auth-no-reply" not in self.defects:
                await self.reply(True, f"{IMPLEMENTATION} POP3 server signing off")
            return
        if "pop3-update-stays-open" in self.defects:
            self.closing = False
        # §6: QUIT from TRANSACTION enters UPDATE, the only place deletions happen.
        failed = 0 if "pop3-quit-no-update" in self.defects else self.maildrop.expunge()
        if failed:
            await self.reply(False, "[SYS/TEMP] some deleted messages not removed")
        else:
            await self.reply(True, f"signing off ({self.maildrop.remaining()} messages left)")

    async def empty_maildrop(self, verb: str, arg: str) -> None:
        """The pop3-transaction-before-auth knob: answer as an empty maildrop."""
        if verb == "STAT":
            await self.reply(True, "0 0")
        elif verb == "LIST" and not arg:
            await self.reply(True, "0 messages (0 octets)", b"")
        else:
            await self.reply(False, "no such message")

    # ----- TRANSACTION state --------------------------------------------------

    async def cmd_stat(self, arg: str, _: str | None) -> None:
        assert self.maildrop is not None
        count, octets = self.maildrop.stat()
        await self.reply(True, f"{count} {octets}")

    async def _message(self, arg: str, *, deleted_ok: bool = False, wraps: str = "") -> int | None:
        """Resolve a message-number argument, answering -ERR when there is no such message.

        ``wraps`` names a knob under which 0 indexes the table at -1, i.e. the last message.
        """
        assert self.maildrop is not None
        index = self.maildrop.resolve(arg)
        if wraps and wraps in self.defects and arg == "0" and self.maildrop.messages:
            index = len(self.maildrop.messages) - 1
        if index is None:
            await self.reply(False, "no such message")
            return None
        if index in self.maildrop.deleted and not deleted_ok:
            await self.reply(False, f"message {arg} already deleted")
            return None
        return index

    async def cmd_list(self, arg: str, _: str | None) -> None:
        drop = self.maildrop
        assert drop is not None
        if arg:
            index = await self._message(arg, deleted_ok="pop3-stat-counts-deleted" in self.defects,
                                        wraps="pop3-list-number-wraps")
            if index is not None and "pop3-list-n-size-only" in self.defects:
                await self.reply(True, f"{drop.size(index)}")
            elif index is not None:
                await self.reply(True, f"{drop.number(index)} {drop.size(index)}")
            return
        count, octets = drop.stat()
        body = "".join(f"{drop.number(i)} {drop.size(i)}\r\n" for i in drop.visible())
        await self.reply(True, f"{count} messages ({octets} octets)", body.encode())

    async def cmd_uidl(self, arg: str, _: str | None) -> None:
        drop = self.maildrop
        assert drop is not None
        if arg:
            index = await self._message(arg, deleted_ok="pop3-top-uidl-deleted-ok" in self.defects,
                                        wraps="pop3-uidl-number-wraps")
            if index is not None:
                await self.reply(True, f"{drop.number(index)} {drop.uid(index)}")
            return
        shown = "pop3-uidl-lists-deleted" in self.defects
        body = "".join(f"{drop.number(i)} {drop.uid(i)}\r\n"
                       for i in range(len(drop.messages)) if shown or i not in drop.deleted)
        await self.reply(True, "unique-id listing follows", body.encode(),
                         terminate="pop3-uidl-listing-unterminated" not in self.defects)

    async def _send_message(self, index: int, lines: int | None, *, top: bool = False) -> None:
        drop = self.maildrop
        assert drop is not None
        try:
            data = drop.content(index)
        except FileNotFoundError:
            await self.reply(False, "[SYS/TEMP] message is no longer available")
            return
        if lines is not None and "pop3-top-overflow-err" in self.defects and \
                lines > len(data.split(b"\r\n\r\n", 1)[-1].splitlines()):
            await self.reply(False, "message has fewer lines")
            return
        if lines is not None and "pop3-top-whole" not in self.defects:
            data = top_of(data, lines)
        status = "top of message follows" if top else f"{drop.size(index)} octets"
        stuff = "pop3-no-byte-stuffing" not in self.defects and not (top and "pop3-top-no-byte-stuffing" in self.defects)
        await self.reply(True, status, data, stuff=stuff)

    async def cmd_retr(self, arg: str, _: str | None) -> None:
        if not arg and "pop3-retr-default-first" in self.defects:
            arg = "1"
        index = await self._message(arg, deleted_ok="pop3-retr-deleted-ok" in self.defects)
        if index is not None:
            assert self.maildrop is not None
            self.maildrop.retrieved.add(index)
            await self._send_message(index, None)

    async def cmd_top(self, arg: str, _: str | None) -> None:
        words = arg.split()
        if len(words) == 1 and "pop3-top-default-whole" in self.defects:
            index = await self._message(words[0])
            if index is not None:
                await self._send_message(index, None, top=True)
            return
        negative = len(words) == 2 and words[1].startswith("-") and words[1][1:].isdigit() and \
            "pop3-top-negative-whole" in self.defects
        if not negative and (len(words) != 2 or not words[1].isdigit() or not words[1].isascii()):
            await self.reply(False, "syntax: TOP msg lines")
            return
        index = await self._message(words[0], deleted_ok="pop3-top-uidl-deleted-ok" in self.defects,
                                    wraps="pop3-top-number-wraps")
        if index is not None:
            await self._send_message(index, None if negative else int(words[1][:9]), top=True)

    async def cmd_dele(self, arg: str, _: str | None) -> None:
        drop = self.maildrop
        assert drop is not None
        if not arg and "pop3-dele-no-arg-ok" in self.defects:
            await self.reply(True, "message deleted")
            return
        index = drop.resolve(arg)
        if index is not None and index in drop.deleted and "pop3-dele-twice-ok" in self.defects:
            await self.reply(True, f"message {arg} deleted")
            return
        index = await self._message(arg, wraps="pop3-dele-number-wraps")
        if index is not None:
            drop.mark(index)  # §5: only marked; removed in UPDATE
            await self.reply(True, f"message {arg} deleted")

    async def cmd_rset(self, arg: str, _: str | None) -> None:
        assert self.maildrop is not None
        if "pop3-rset-ignored" not in self.defects:
            self.maildrop.unmark_all()
        count, octets = self.maildrop.stat()
        await self.reply(True, f"maildrop has {count} messages ({octets} octets)")

    async def cmd_noop(self, arg: str, _: str | None) -> None:
        await self.reply("pop3-noop-unimplemented" not in self.defects, "")
