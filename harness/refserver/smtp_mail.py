"""The reference SMTP server's mail transaction: MAIL, RCPT, DATA and final delivery.

RFC 5321 §4.1.1.2-4 and §4.1.4 (sequence), RFC 3030 §2-3 (DATA after BDAT or
with BODY=BINARYMIME). MAIL/RCPT arguments are judged by ``smtp_envelope``,
DATA is read by ``smtp_data.receive_data``, recipients are routed and mail is
stored by ``delivery.Delivery``. ``deliver`` is shared with BDAT (smtp_bdat.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from . import smtp_core_knobs as core
from . import smtp_replies as R
from .delivery import Route, new_queue_id
from .smtp_data import receive_data
from .smtp_envelope import SIZE_LIMIT, check_mail, check_rcpt
from .smtp_replies import Reply
from .smtp_session import auth_allowed, need_helo

if TYPE_CHECKING:
    from .smtp_base import RefEnvelope, SmtpConnection
    from .smtp_hooks import Command

__all__ = ["COMMANDS", "deliver"]

log = logging.getLogger("harness.refserver.smtp")

RCPT_MAX = 1000  # §4.5.3.1.8 requires at least 100
_DISCONNECTED = (asyncio.IncompleteReadError, ConnectionResetError, asyncio.CancelledError)


async def mail(conn: SmtpConnection, arg: str) -> None:
    if await need_helo(conn):
        return
    d = conn.defects
    if conn.envelope.mail_from is not None and "smtp-nested-mail" not in d:
        await conn.push(R.NESTED_MAIL)
        return
    if conn.completed_transaction and "smtp-single-transaction" in d:
        await conn.push(R.ONE_TRANSACTION)
        return
    if ("smtp-helo-mismatch-reject" in d
            and (conn.session.host_name or "").lower().rstrip(".").endswith(".invalid")):
        await conn.push(R.HELO_MISMATCH)
        return
    params = arg.upper().split()[1:]
    if not arg.strip() and "smtp-mail-bare-null-sender" in d:
        arg = "FROM:<>"
    arg = core.strip_unknown_params("MAIL", arg, d)
    refusal = core.path_reply("MAIL", arg, d, conn.ctx.users.domain)
    if refusal:
        await conn.push(refusal)
        return
    check = core.lenient_mail(check_mail(arg, extended=conn.session.extended_smtp,
                                         auth_param=auth_allowed(conn), defects=d), arg, d)
    if check.sender is not None:
        if conn.envelope.mail_from is None:
            conn.envelope.binarymime = "BODY=BINARYMIME" in params  # RFC 3030 §3: DATA is refused then
        conn.envelope.mail_from = check.sender
        conn.envelope.smtp_utf8 = check.utf8
    await conn.push(check.reply)


async def rcpt(conn: SmtpConnection, arg: str) -> None:
    if await need_helo(conn):
        return
    d = conn.defects
    if conn.envelope.mail_from is None and "smtp-rcpt-before-mail" not in d:
        await conn.push(R.NEED_MAIL)
        return
    if not arg.strip() and "smtp-rcpt-bare-accepted" in d:
        await conn.push(R.RCPT_OK)
        return
    arg = core.strip_unknown_params("RCPT", arg, d)
    refusal = core.path_reply("RCPT", arg, d, conn.ctx.users.domain)
    if refusal is None and "smtp-bare-postmaster-rejected" in d and \
            arg[3:].strip().lower().startswith("<postmaster>"):
        refusal = R.BAD_RECIPIENT
    mailbox = refusal or check_rcpt(arg, utf8=conn.envelope.smtp_utf8, defects=d)
    rcpt_max = 50 if "smtp-rcpt-limit-50" in d else RCPT_MAX
    if isinstance(mailbox, Reply):
        if mailbox.code == 501 and "smtp-bad-rcpt-aborts" in d:
            conn.reset_transaction()
        await conn.push(mailbox)
    elif len(conn.envelope.recipients) >= rcpt_max:
        await conn.push(R.TOO_MANY_RCPTS_552 if "smtp-rcpt-limit-552" in d else R.TOO_MANY_RCPTS)
    else:
        routing = conn.ctx.delivery.route(mailbox, authenticated=bool(conn.session.authenticated))
        if routing.route is Route.UNKNOWN_USER:
            if "smtp-unknown-user-554" in d:
                await conn.push(R.USER_UNKNOWN_554)
            elif "smtp-ext-enhanced-rcpt-wrong-subject" in d:
                await conn.push(R.USER_UNKNOWN_WRONG_SUBJECT)
            else:
                await conn.push(R.USER_UNKNOWN)
        elif routing.route is Route.RELAY_DENIED:
            await conn.push(R.RELAY_DENIED)
        else:
            address = str(mailbox) if mailbox.domain else f"{mailbox.local}@{conn.ctx.users.domain}"
            conn.envelope.recipients.append((address, routing.user))
            conn.envelope.rcpt_tos.append(address)
            await conn.push(R.RCPT_OK)


async def data(conn: SmtpConnection, arg: str) -> None:
    d = conn.defects
    env = conn.envelope
    if env.mail_from is not None and not arg:
        if env.bdat_parts is not None and "smtp-ext-bdat-then-data" not in d:
            await conn.push(R.DATA_AFTER_BDAT)
            return
        if env.binarymime and "smtp-ext-binarymime-data-accepted" not in d:
            await conn.push(R.BINARYMIME_NEEDS_BDAT)
            return
        env.bdat_parts = None
    if await need_helo(conn):
        return
    if arg and "smtp-args-ignored" not in d:
        await conn.push(R.SYNTAX_DATA)
        return
    if env.mail_from is None:
        await conn.push(R.NEED_MAIL)
        return
    discard = not env.recipients
    if discard and "smtp-data-without-rcpt" not in d:
        await conn.push(R.NEED_RCPT)  # §3.3: never 354 here
        return
    await conn.push(R.DATA_GO_AHEAD_250 if "smtp-data-intermediate-250" in d else R.START_DATA)
    reader, recorded = _recording_reader(conn)
    size_limit = 32 * 1024 if "smtp-small-message-limit" in d else SIZE_LIMIT
    outcome = await receive_data(
        reader,
        size_limit=size_limit * (1000 if "smtp-ext-data-size-unenforced" in d else 1),
        bare_lf_end="smtp-bare-lf-end" in d or "smtp-no-pipelining-bare-lf-end" in d,
        unstuff="smtp-no-dot-unstuffing" not in d,
        truncate_at=500 if "smtp-data-line-truncate" in d else None,
        split_long="smtp-split-over-998" in d,
    )
    envelope = conn.envelope
    conn.end_transaction()
    if "smtp-data-keeps-envelope" in d:
        conn.envelope = envelope
    refused = outcome.too_long or outcome.too_big or outcome.bare_eol
    if refused and "smtp-deliver-rejected" in d and not discard:
        deliver(conn, envelope, core.unstuff(b"".join(recorded)))
    if not refused:
        conn.completed_transaction = True
    if "smtp-strip-controls" in d:
        outcome.content = core.CONTROLS.sub(b"", outcome.content)
    if outcome.too_long:
        await conn.push(R.LINE_TOO_LONG)
    elif outcome.too_big:
        await conn.push(R.TOO_BIG)
    elif outcome.bare_eol:
        await conn.push(R.BARE_EOL_DATA)
    elif discard:
        await conn.push(R.OK)
    else:
        await conn.push(deliver(conn, envelope, outcome.content))


def _recording_reader(conn: SmtpConnection) -> tuple[Callable[[], Awaitable[tuple[bytes, bool]]], list[bytes]]:
    """The DATA reader; it also keeps the raw data for the knobs that deliver it anyway."""
    recorded: list[bytes] = []
    d = conn.defects
    if not ("smtp-deliver-on-disconnect" in d or "smtp-deliver-rejected" in d):
        return conn.read_data_segment, recorded

    async def read() -> tuple[bytes, bool]:
        try:
            segment = await conn.read_data_segment()
        except _DISCONNECTED as exc:
            # The knob delivers whatever arrived, whether the client closed (EOF) or reset
            # (aiosmtpd cancels the handler when the connection is lost).
            partial = exc.partial if isinstance(exc, asyncio.IncompleteReadError) else b""
            if "smtp-deliver-on-disconnect" in d and conn.envelope.recipients:
                deliver(conn, conn.envelope, core.unstuff(b"".join(recorded) + partial))
            raise
        recorded.append(segment[0])
        return segment
    return read, recorded


def deliver(conn: SmtpConnection, envelope: RefEnvelope, content: bytes) -> Reply:
    """Store the message for the envelope's local recipients; the reply to the end of data."""
    queue_id = new_queue_id()
    local = [(rcpt, user) for rcpt, user in envelope.recipients if user is not None]
    protocol = "SMTP"
    if conn.session.extended_smtp:  # RFC 3848 "with" codes
        protocol = "ESMTP" + ("S" if conn.tls_active else "") + ("A" if conn.session.authenticated else "")
    try:
        core.trace_delivery(conn.ctx.delivery, conn.defects).deliver(
            sender=envelope.mail_from or "", recipients=local, content=content,
            helo=conn.session.host_name or "", peer_ip=str(conn.session.peer[0]),
            protocol=protocol, queue_id=queue_id,
        )
    except OSError:
        log.exception("delivery failed")
        return R.DELIVERY_FAILED
    return R.queued(queue_id)


COMMANDS: dict[str, Command] = {"MAIL": mail, "RCPT": rcpt, "DATA": data}
