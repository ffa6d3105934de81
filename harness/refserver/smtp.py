"""The reference SMTP server's commands (RFC 5321, 1870, 2034, 3207, 4954, 6152, 6531).

``SmtpConnection`` (smtp_base.py) runs the command loop; this class answers the
commands. MAIL/RCPT arguments are judged by ``smtp_envelope``, DATA is read by
``smtp_data.receive_data``, recipients are routed and mail is stored by
``delivery.Delivery``, and SASL is ``auth.authenticate``.
"""

from __future__ import annotations

import asyncio
import base64

from . import smtp_core_knobs as core
from .auth import MECHANISMS, SaslCancelled, SaslMalformed, authenticate
from .delivery import Route, new_queue_id
from .smtp_base import Command, RefEnvelope, SmtpConnection, SmtpContext, log
from .smtp_data import receive_data
from .smtp_envelope import SIZE_LIMIT, check_mail, check_rcpt
from .smtp_ext import EsmtpExtensions

__all__ = ["SIZE_LIMIT", "RefSMTP", "SmtpContext"]

SASL_LINE_MAX = 12288 + 2  # RFC 4954 §4: client responses up to 12288 octets
RCPT_MAX = 1000  # §4.5.3.1.8 requires at least 100


class RefSMTP(EsmtpExtensions, SmtpConnection):  # smtp_ext: BDAT, DSN, ESMTP knobs
    def command_table(self) -> dict[str, Command]:
        return {
            "EHLO": self.smtp_EHLO, "HELO": self.smtp_HELO, "MAIL": self.smtp_MAIL,
            "RCPT": self.smtp_RCPT, "DATA": self.smtp_DATA, "RSET": self.smtp_RSET,
            "NOOP": self.smtp_NOOP, "QUIT": self.smtp_QUIT, "VRFY": self.smtp_VRFY,
            "EXPN": self.smtp_EXPN, "HELP": self.smtp_HELP, "STARTTLS": self.smtp_STARTTLS,
            "AUTH": self.smtp_AUTH,
        }

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

    async def _greeting_refused(self, arg: str, verb: str) -> bool:
        if not arg and "smtp-empty-greeting-accepted" not in self.defects:
            await self.push(f"501 5.5.4 Syntax: {verb} domain")  # §4.1.4: state unchanged
            return True
        if self.session.host_name and "smtp-ehlo-once" in self.defects:
            await self.push("503 5.5.1 Error: duplicate HELO/EHLO")
            return True
        return False

    async def smtp_EHLO(self, arg: str) -> None:
        if await self._greeting_refused(arg, "EHLO"):
            return
        self._new_greeting((arg.split() or [""])[0], extended=True)
        middle = 251 if "smtp-bad-multiline" in self.defects else None
        lines = [self.hostname, *self._ehlo_keywords()]
        if "smtp-ehlo-domain-last" in self.defects:
            lines = lines[1:] + lines[:1]
        await self._send_lines(250, lines, middle)

    async def smtp_HELO(self, arg: str) -> None:
        if await self._greeting_refused(arg, "HELO"):
            return
        self._new_greeting((arg.split() or [""])[0], extended=False)
        if "smtp-helo-multiline" in self.defects:
            await self._send_lines(250, [self.hostname, *self._ehlo_keywords()])
        else:
            await self.push(f"250 {self.hostname}")  # §3.2: never the EHLO-style reply

    async def smtp_RSET(self, arg: str) -> None:
        if arg and "smtp-args-ignored" not in self.defects:
            await self.push("501 5.5.4 Syntax: RSET")  # §4.1.1.5 takes no argument
            return
        if "smtp-rset-keeps-envelope" not in self.defects:
            self._set_rset_state()
        await self.push("250" if "smtp-reply-bare-code" in self.defects else "250 2.0.0 OK")

    async def smtp_NOOP(self, arg: str) -> None:
        # §4.1.1.9: a parameter is ignored.
        if arg and "smtp-noop-arg-rejected" in self.defects:
            await self.push("501 5.5.4 Syntax: NOOP")
            return
        self._aux_reset()
        if "smtp-code-out-of-range" in self.defects:
            await self.push("199 OK")
            return
        await self.push("250" if "smtp-reply-bare-code" in self.defects else "250 2.0.0 OK")
        if "smtp-extra-reply" in self.defects:
            await self.push("250 2.0.0 OK")

    async def smtp_QUIT(self, arg: str) -> None:
        if arg and "smtp-args-ignored" not in self.defects:
            await self.push("501 5.5.4 Syntax: QUIT")
            return
        if self.envelope.mail_from is not None and "smtp-quit-in-transaction-503" in self.defects:
            await self.push("503 5.5.1 Error: mail transaction in progress")
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
        if "smtp-vrfy-unrecognized" in self.defects:
            await self.push("500 5.5.2 Command unrecognized")
            return
        self._aux_reset()
        if not arg and "smtp-vrfy-bare-250" in self.defects:
            await self.push(f"250 2.1.5 <postmaster@{self.ctx.users.domain}>")
        elif not arg:
            await self.push("501 5.5.4 Syntax: VRFY <address>")
        elif "smtp-vrfy-250" in self.defects:
            name = arg.strip("<>")
            await self.push(f"250 2.1.5 <{name if '@' in name else name + '@' + self.ctx.users.domain}>")
        else:
            # §3.5.3: 250 only for a verified address; 252 says "will try".
            await self.push("252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery")

    async def smtp_EXPN(self, arg: str) -> None:
        if "smtp-expn-unadvertised" in self.defects:
            if arg.strip("<>").lower() in ("postmaster", f"postmaster@{self.ctx.users.domain}"):
                await self.push(f"250 2.1.5 <{self.ctx.users.postmaster.address}>")
            else:
                await self.push("550 5.1.1 No such list")
            return
        await self.push("502 5.5.1 EXPN not implemented")  # and so not advertised (§3.5.2)

    async def smtp_HELP(self, arg: str) -> None:
        if "smtp-help-unimplemented" in self.defects:
            await self.push("502 5.5.1 HELP not implemented")
            return
        self._aux_reset()
        await self.push("214 2.0.0 Commands: " + " ".join(sorted(self._commands)))

    def _aux_reset(self) -> None:
        """smtp-aux-commands-reset: NOOP, VRFY and HELP drop the transaction (§4.1.1.6, .8, .9)."""
        if "smtp-aux-commands-reset" in self.defects:
            self._set_rset_state()

    # ----- the mail transaction -------------------------------------------------

    async def _need_helo(self) -> bool:
        if self.session.host_name or "smtp-no-helo-required" in self.defects:
            return False
        await self.push("503 5.5.1 Error: send HELO/EHLO first")  # §4.1.4
        return True

    async def smtp_MAIL(self, arg: str) -> None:
        if await self._need_helo():
            return
        if self.envelope.mail_from is not None and "smtp-nested-mail" not in self.defects:
            await self.push("503 5.5.1 Error: nested MAIL command")
            return
        if getattr(self, "_completed_transaction", False) and "smtp-single-transaction" in self.defects:
            await self.push("503 5.5.1 Error: one transaction per session")
            return
        if ("smtp-helo-mismatch-reject" in self.defects
                and (self.session.host_name or "").lower().rstrip(".").endswith(".invalid")):
            await self.push("550 5.7.1 Client host name does not resolve to your address")
            return
        if not arg.strip() and "smtp-mail-bare-null-sender" in self.defects:
            arg = "FROM:<>"
        arg = core.strip_unknown_params("MAIL", arg, self.defects)
        refusal = core.path_reply("MAIL", arg, self.defects, self.ctx.users.domain)
        if refusal:
            await self.push(refusal)
            return
        check = core.lenient_mail(check_mail(arg, extended=self.session.extended_smtp,
                                             auth_param=self._auth_allowed(), defects=self.defects),
                                  arg, self.defects)
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
        if not arg.strip() and "smtp-rcpt-bare-accepted" in self.defects:
            await self.push("250 2.1.5 OK")
            return
        arg = core.strip_unknown_params("RCPT", arg, self.defects)
        refusal = core.path_reply("RCPT", arg, self.defects, self.ctx.users.domain)
        if refusal is None and "smtp-bare-postmaster-rejected" in self.defects and \
                arg[3:].strip().lower().startswith("<postmaster>"):
            refusal = "501 5.1.3 Bad recipient address syntax"
        mailbox = refusal or check_rcpt(arg, utf8=self.envelope.smtp_utf8, defects=self.defects)
        rcpt_max = 50 if "smtp-rcpt-limit-50" in self.defects else RCPT_MAX
        if isinstance(mailbox, str):
            if mailbox.startswith("501") and "smtp-bad-rcpt-aborts" in self.defects:
                self._set_rset_state()
            await self.push(mailbox)
        elif len(self.envelope.recipients) >= rcpt_max:
            if "smtp-rcpt-limit-552" in self.defects:
                await self.push("552 5.5.3 Too many recipients")
            else:
                await self.push("452 4.5.3 Too many recipients")  # §4.5.3.1.10
        else:
            routing = self.ctx.delivery.route(mailbox, authenticated=bool(self.session.authenticated))
            if routing.route is Route.UNKNOWN_USER:
                if "smtp-unknown-user-554" in self.defects:
                    await self.push("554 5.1.1 User unknown")
                elif "smtp-ext-enhanced-rcpt-wrong-subject" in self.defects:
                    await self.push("550 5.5.1 User unknown")
                else:
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
        if arg and "smtp-args-ignored" not in self.defects:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        if self.envelope.mail_from is None:
            await self.push("503 5.5.1 Error: need MAIL command")
            return
        discard = not self.envelope.recipients
        if discard and "smtp-data-without-rcpt" not in self.defects:
            await self.push("503 5.5.1 Error: need RCPT command")  # §3.3: never 354 here
            return
        if "smtp-data-intermediate-250" in self.defects:
            await self.push("250 2.0.0 Go ahead")
        else:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
        reader, recorded = self._recording_reader()
        outcome = await receive_data(
            reader,
            size_limit=(32 * 1024 if "smtp-small-message-limit" in self.defects else SIZE_LIMIT) * (1000 if "smtp-ext-data-size-unenforced" in self.defects else 1),
            bare_lf_end="smtp-bare-lf-end" in self.defects or "smtp-no-pipelining-bare-lf-end" in self.defects,
            unstuff="smtp-no-dot-unstuffing" not in self.defects,
            truncate_at=500 if "smtp-data-line-truncate" in self.defects else None,
            split_long="smtp-split-over-998" in self.defects,
        )
        envelope = self.envelope
        self._set_post_data_state()
        if "smtp-data-keeps-envelope" in self.defects:
            self.envelope = envelope
        refused = outcome.too_long or outcome.too_big or outcome.bare_eol
        if refused and "smtp-deliver-rejected" in self.defects and not discard:
            self._deliver(envelope, core.unstuff(b"".join(recorded)))
        if not refused:
            self._completed_transaction = True
        if "smtp-strip-controls" in self.defects:
            outcome.content = core.CONTROLS.sub(b"", outcome.content)
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

    def _recording_reader(self):
        """The DATA reader; it also keeps the raw data for the knobs that deliver it anyway."""
        recorded: list[bytes] = []
        if not ("smtp-deliver-on-disconnect" in self.defects or "smtp-deliver-rejected" in self.defects):
            return self._read_data_segment, recorded

        async def read() -> tuple[bytes, bool]:
            try:
                segment = await self._read_data_segment()
            except (asyncio.IncompleteReadError, ConnectionResetError, asyncio.CancelledError) as exc:
                # The knob delivers whatever arrived, whether the client closed (EOF) or reset
                # (aiosmtpd cancels the handler when the connection is lost).
                partial = exc.partial if isinstance(exc, asyncio.IncompleteReadError) else b""
                if "smtp-deliver-on-disconnect" in self.defects and self.envelope.recipients:
                    self._deliver(self.envelope, core.unstuff(b"".join(recorded) + partial))
                raise
            recorded.append(segment[0])
            return segment
        return read, recorded

    def _deliver(self, envelope: RefEnvelope, content: bytes) -> str:
        queue_id = new_queue_id()
        local = [(rcpt, user) for rcpt, user in envelope.recipients if user is not None]
        protocol = "SMTP"
        if self.session.extended_smtp:  # RFC 3848 "with" codes
            protocol = "ESMTP" + ("S" if self.tls_active else "") + ("A" if self.session.authenticated else "")
        try:
            core.trace_delivery(self.ctx.delivery, self.defects).deliver(
                sender=envelope.mail_from or "", recipients=local, content=content,
                helo=self.session.host_name or "", peer_ip=str(self.session.peer[0]),
                protocol=protocol, queue_id=queue_id,
            )
        except OSError:
            log.exception("delivery failed")
            return "451 4.3.0 Local delivery failed"
        return f"250 2.0.0 OK queued as {queue_id}"

    # ----- AUTH (RFC 4954) ----------------------------------------------------

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
        if not words and "smtp-auth-no-mechanism-plain" in self.defects:
            words = ["PLAIN"]
        if not 1 <= len(words) <= 2:
            await self.push("501 5.5.4 Syntax: AUTH mechanism [initial-response]")
            return
        mechanism = words[0].upper()
        if mechanism not in MECHANISMS:
            await self.push("504 5.5.4 Unrecognized authentication type")
            return
        try:
            unchecked = mechanism == "CRAM-MD5" and "smtp-cram-md5-digest-unchecked" in self.defects
            user = await authenticate(mechanism, words[1] if len(words) == 2 else None,
                                      self._sasl_challenge, self.ctx.users, self.hostname, unchecked=unchecked,
                                      empty_ok="smtp-auth-empty-password-accepted" in self.defects)
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
