"""ESMTP extensions of the reference SMTP server that live outside ``smtp.RefSMTP``.

``EsmtpExtensions`` is a mixin in front of ``SmtpConnection``: it adds BDAT
(RFC 3030 CHUNKING, BINARYMIME), the CHUNKING/BINARYMIME/DSN keywords, and the
per-connection hooks of the ESMTP/security defect knobs (``defects_esmtp``):
it wraps the command handlers after ``command_table()`` built them, so the
core command code stays untouched.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from .address import AddressError, parse_path
from .smtp_envelope import SIZE_LIMIT

__all__ = ["EsmtpExtensions", "extension_keywords", "refuses_pipelining"]

_BDAT = re.compile(r"(\d{1,12})(?: +(LAST))?", re.IGNORECASE)
_ENHANCED = re.compile(r"^(\d{3}[ -])(\d)(\.\d{1,3}\.\d{1,3} )")
_BARE_CR = re.compile(rb"\r(?!\n)")


def extension_keywords(conn: Any, keywords: list[str]) -> list[str]:
    """The EHLO keywords with this module's extensions added (RFC 3030, RFC 3461)."""
    out = []
    for kw in keywords:
        if kw == "PIPELINING" and refuses_pipelining(conn):
            continue
        if kw.startswith("SIZE ") and "smtp-ext-size-keyword-units" in conn.defects:
            kw = f"SIZE {SIZE_LIMIT // (1024 * 1024)}M"
        out.append(kw)
        if kw == "8BITMIME":
            out += ["CHUNKING", "BINARYMIME", "DSN"]
    if conn.implicit_tls and "smtp-ext-implicit-tls-starttls" in conn.defects and "STARTTLS" not in out:
        out.append("STARTTLS")
    if "smtp-ext-keywords-hidden" in conn.defects:
        hidden = ("SIZE", "8BITMIME", "SMTPUTF8", "DSN", "CHUNKING", "BINARYMIME", "STARTTLS")
        out = [kw for kw in out if kw.split()[0] not in hidden]
    return out


def refuses_pipelining(conn: Any) -> bool:
    """The no-PIPELINING knobs: not advertised, and pipelined input ends the session (RFC 2920 §3.1)."""
    d = conn.defects
    return "smtp-no-pipelining-close" in d or "smtp-no-pipelining-bare-lf-end" in d


class EsmtpExtensions:
    """Mixin for ``RefSMTP``; relies on SmtpConnection's attributes (defects, envelope, push, ...)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self._verb = ""
        commands: dict[str, Callable[[str], Awaitable[None]]] = self._commands  # type: ignore[has-type]
        commands["BDAT"] = self.smtp_BDAT
        wrappers = {"MAIL": self._ext_mail, "RCPT": self._ext_rcpt, "DATA": self._ext_data,
                    "AUTH": self._ext_auth, "VRFY": self._ext_vrfy}
        for verb, handler in list(commands.items()):
            commands[verb] = self._tracked(verb, wrappers.get(verb), handler)
        base_keywords = self._ehlo_keywords  # type: ignore[has-type]
        self._ehlo_keywords = lambda: extension_keywords(self, base_keywords())
        base_reader = self._read_data_segment  # type: ignore[has-type]
        self._read_data_segment = lambda: self._ext_data_segment(base_reader)

    def _tracked(self, verb: str, wrapper: Any, handler: Callable[[str], Awaitable[None]]):
        async def run(arg: str) -> None:
            self._verb = verb
            if verb != "BDAT" and refuses_pipelining(self) and self._reader._buffer:  # type: ignore[attr-defined]
                # Like an MTA's synchronization check: more input came with the command
                # although PIPELINING was not offered. Nothing of it is run. (BDAT's
                # chunk follows its command line by definition, RFC 3030 §2.)
                await self.push("500 5.5.0 Error: pipelining not supported")
                self._done = True
                self.transport.close()  # type: ignore[attr-defined]
                return
            if wrapper is None:
                await handler(arg)
            else:
                await wrapper(handler, arg)
        return run

    # ----- replies ---------------------------------------------------------------

    async def push(self, status: Any) -> None:
        text = status.decode("utf-8", "surrogateescape") if isinstance(status, bytes) else status
        d = self.defects  # type: ignore[attr-defined]
        if self._verb == "AUTH":
            if text.startswith("235 ") and "smtp-ext-auth-success-250" in d:
                text = "250 2.7.0 Authentication successful"
            elif text.startswith("535 5.7.8 Authentication credentials") and "smtp-ext-auth-failure-accepted" in d:
                self.session.authenticated = True  # type: ignore[attr-defined]
                text = "235 2.7.0 Authentication successful"
            elif text.startswith("501 5.5.2 Cannot decode") and "smtp-ext-auth-garbage-535" in d:
                text = "535 5.7.8 Authentication credentials invalid"
            elif text.startswith("504 ") and "smtp-ext-auth-unknown-mech-535" in d:
                text = "535 5.7.8 Authentication failed"
        if self._verb == "RCPT" and "smtp-ext-enhanced-missing" in d:
            text = _ENHANCED.sub(r"\1", text)
        if text.startswith("5") and "smtp-ext-enhanced-class-mismatch" in d:
            text = _ENHANCED.sub(r"\g<1>4\3", text)
        await super().push(text)  # type: ignore[misc]
        if text[:1] in ("4", "5") and "smtp-ext-pipeline-flush-after-error" in d:
            self._reader._buffer.clear()  # type: ignore[attr-defined]

    # ----- wrapped commands ----------------------------------------------------------

    async def _ext_mail(self, handler: Callable[[str], Awaitable[None]], arg: str) -> None:
        had_sender = self.envelope.mail_from is not None  # type: ignore[attr-defined]
        await handler(arg)
        if not had_sender and self.envelope.mail_from is not None:  # type: ignore[attr-defined]
            params = arg.upper().split()[1:]
            self.envelope.binarymime = "BODY=BINARYMIME" in params  # type: ignore[attr-defined]
            if "smtp-ext-pipeline-flush" in self.defects:  # type: ignore[attr-defined]
                self._reader._buffer.clear()  # type: ignore[attr-defined]

    async def _ext_rcpt(self, handler: Callable[[str], Awaitable[None]], arg: str) -> None:
        env = self.envelope  # type: ignore[attr-defined]
        if env.mail_from is not None and self._relay_loophole(arg):
            address = arg[3:].strip()
            env.recipients.append((address, None))  # accepted, then dropped (nothing is relayed)
            env.rcpt_tos.append(address)
            await self.push("250 2.1.5 OK")
            return
        await handler(arg)

    def _relay_loophole(self, arg: str) -> bool:
        """The relay knobs: an address the buggy server would hand to a foreign domain."""
        d = self.defects  # type: ignore[attr-defined]
        ours = self.ctx.users.domain  # type: ignore[attr-defined]
        text = arg[3:].lstrip(" ") if arg[:3].upper() == "TO:" else ""
        try:
            mailbox, _ = parse_path(text, utf8=False, allow_null=False, allow_bare_postmaster=False)
        except AddressError:
            return False
        if mailbox is None or (mailbox.domain or "").lower() != ours:
            return "smtp-ext-source-route-relay" in d and text.lower().startswith(f"<@{ours}:")
        local = mailbox.local
        if "smtp-ext-percent-hack-relay" in d and "%" in local and not local.startswith('"'):
            return local.rpartition("%")[2].lower() != ours
        if "smtp-ext-quoted-at-relay" in d and local.startswith('"') and "@" in local:
            return local.strip('"').rpartition("@")[2].lower() != ours
        return False

    async def _ext_data(self, handler: Callable[[str], Awaitable[None]], arg: str) -> None:
        env = self.envelope  # type: ignore[attr-defined]
        d = self.defects  # type: ignore[attr-defined]
        if env.mail_from is not None and not arg:
            if getattr(env, "bdat_parts", None) is not None and "smtp-ext-bdat-then-data" not in d:
                await self.push("503 5.5.1 Error: DATA not allowed after BDAT")  # RFC 3030 §2
                return
            if getattr(env, "binarymime", False) and "smtp-ext-binarymime-data-accepted" not in d:
                await self.push("503 5.5.1 Error: BODY=BINARYMIME requires BDAT")  # RFC 3030 §3
                return
            env.bdat_parts = None
        await handler(arg)

    async def _ext_auth(self, handler: Callable[[str], Awaitable[None]], arg: str) -> None:
        d = self.defects  # type: ignore[attr-defined]
        words = arg.split()
        if len(words) == 2 and words[1] == "=" and "smtp-ext-auth-empty-initial" in d:
            arg = words[0]
        env = self.envelope  # type: ignore[attr-defined]
        sender = env.mail_from
        if sender is not None and "smtp-ext-auth-in-transaction" in d:
            env.mail_from = None
            try:
                await handler(arg)
            finally:
                env.mail_from = sender
            return
        await handler(arg)

    async def _ext_vrfy(self, handler: Callable[[str], Awaitable[None]], arg: str) -> None:
        if arg and "smtp-ext-vrfy-enumeration" in self.defects:  # type: ignore[attr-defined]
            users = self.ctx.users  # type: ignore[attr-defined]
            local = arg.strip("<>").partition("@")[0]
            if users.by_local_part(local.lower()) is None and local.lower() != "postmaster":
                await self.push("550 5.1.1 User unknown")
                return
        await handler(arg)

    # ----- STARTTLS knobs (the command itself is SmtpConnection's) --------------------

    async def smtp_STARTTLS(self, arg: str) -> None:
        d = self.defects  # type: ignore[attr-defined]
        if arg and "smtp-ext-starttls-arg-accepted" in d:
            arg = ""
        if self.tls_active and "smtp-ext-starttls-in-tls" in d:  # type: ignore[attr-defined]
            await self.push("220 2.0.0 Ready to start TLS")
            return
        await super().smtp_STARTTLS(arg)  # type: ignore[misc]

    # ----- DATA line ends: the smuggling knobs ---------------------------------------------

    async def _ext_data_segment(self, base: Callable[[], Awaitable[tuple[bytes, bool]]]) -> tuple[bytes, bool]:
        segment, overflow = await base()
        d = self.defects  # type: ignore[attr-defined]
        if overflow:
            return segment, overflow
        if "smtp-ext-nul-stripped" in d:
            segment = segment.replace(b"\0", b"")
        any_eol = "smtp-ext-any-eol-end" in d
        if any_eol or "smtp-ext-bare-cr-end" in d:
            m = _BARE_CR.search(segment)
            if m is not None and m.end() < len(segment):
                rest = segment[m.end():]
                segment = segment[:m.start()] + b"\r\n"
                self._reader._buffer[:0] = rest  # type: ignore[attr-defined]  # read again as the next line
            elif m is not None:
                segment = segment[:m.start()] + b"\r\n"
        if any_eol and segment.endswith(b"\n") and not segment.endswith(b"\r\n"):
            segment = segment[:-1] + b"\r\n"
        return segment, overflow

    # ----- BDAT (RFC 3030) ---------------------------------------------------------------

    async def smtp_BDAT(self, arg: str) -> None:
        d = self.defects  # type: ignore[attr-defined]
        m = _BDAT.fullmatch(arg)
        if m is None and "smtp-ext-bdat-size-atoi" in d:
            words = arg.split()
            digits = re.match(r"\d*", words[0] if words else "").group(0)  # atoi(): leading digits, else 0
            last = " LAST" if len(words) > 1 and words[1].upper() == "LAST" else ""
            m = _BDAT.fullmatch(f"{int(digits or 0)}{last}")
        if m is None:
            # The chunk size is unknown, so the chunk cannot be skipped.
            await self.push("501 5.5.4 Syntax: BDAT chunk-size [LAST]")
            return
        size, last = int(m.group(1)), m.group(2) is not None
        if "smtp-ext-bdat-line-read" in d:
            chunk = await self._reader.readuntil(b"\n") if size else b""  # type: ignore[attr-defined]
        else:
            chunk = await self._reader.readexactly(size) if size else b""  # type: ignore[attr-defined]
        self._reset_timeout()  # type: ignore[attr-defined]
        env = self.envelope  # type: ignore[attr-defined]
        if not self.session.host_name:  # type: ignore[attr-defined]
            await self.push("503 5.5.1 Error: send HELO/EHLO first")
            return
        discard = env.mail_from is None or not env.recipients
        if discard and "smtp-ext-bdat-no-mail-accepted" not in d:
            what = "MAIL" if env.mail_from is None else "RCPT"
            await self.push(f"503 5.5.1 Error: need {what} command")  # the chunk was read and dropped
            return
        parts = getattr(env, "bdat_parts", None)
        if parts is None:
            parts = env.bdat_parts = []
            env.bdat_size = 0
        parts.append(chunk)
        env.bdat_size += len(chunk)
        if env.bdat_size > SIZE_LIMIT and "smtp-ext-bdat-oversize-delivered" not in d:
            parts.clear()
        if not last:
            await self.push(f"250 2.0.0 {len(chunk)} octets received")
            return
        too_big = env.bdat_size > SIZE_LIMIT
        content = b"".join(parts)
        self._set_post_data_state()  # type: ignore[attr-defined]
        if too_big:
            if "smtp-ext-bdat-oversize-delivered" in d and not discard:
                self._deliver(env, content)  # type: ignore[attr-defined]
            await self.push("552 5.3.4 Message size exceeds fixed maximum message size")
        elif discard:
            await self.push("250 2.0.0 OK")
        else:
            await self.push(self._deliver(env, content))  # type: ignore[attr-defined]
