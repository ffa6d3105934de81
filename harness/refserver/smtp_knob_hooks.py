"""The defect knobs that act around commands, on the EHLO keywords, DATA input or replies.

Each knob here is one or more ``Registration``s in ``REGISTRATIONS`` (hook
points: smtp_hooks.py); ``build_hooks`` installs those whose knob is on, in
the order listed, the first one outermost. Knobs that are only a different
branch inside one command stay in that command's module.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import smtp_replies as R
from .address import AddressError, parse_path
from .smtp_envelope import SIZE_LIMIT
from .smtp_hooks import ALL_VERBS, Command, Point, Registration
from .smtp_replies import Reply

if TYPE_CHECKING:
    from .smtp_base import SmtpConnection

__all__ = ["REGISTRATIONS"]

_NO_PIPELINING = ("smtp-no-pipelining-close", "smtp-no-pipelining-bare-lf-end")
_BARE_CR = re.compile(rb"\r(?!\n)")


# ----- around commands -----------------------------------------------------------------------

async def _refuse_pipelined(conn: SmtpConnection, arg: str, handler: Command) -> None:
    """No PIPELINING: input behind the command ends the session, as an MTA's synchronization check."""
    if conn.buffered:
        # Nothing of it is run. (BDAT is not wrapped: its chunk follows the command line, RFC 3030 §2.)
        await conn.push(R.PIPELINING_REFUSED)
        conn.finish()
        conn.transport.close()
        return
    await handler(conn, arg)


async def _flush_after_mail(conn: SmtpConnection, arg: str, handler: Command) -> None:
    """smtp-ext-pipeline-flush: input buffered after an accepted MAIL is discarded."""
    had_sender = conn.envelope.mail_from is not None
    await handler(conn, arg)
    if not had_sender and conn.envelope.mail_from is not None:
        conn.buffered.clear()


def _relay_loophole(conn: SmtpConnection, arg: str) -> bool:
    """The relay knobs: an address the buggy server would hand to a foreign domain."""
    d = conn.defects
    ours = conn.ctx.users.domain
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
        return mailbox.mailbox_name.rpartition("@")[2].lower() != ours
    return False


async def _relay(conn: SmtpConnection, arg: str, handler: Command) -> None:
    env = conn.envelope
    if env.mail_from is not None and _relay_loophole(conn, arg):
        address = arg[3:].strip()
        env.recipients.append((address, None))  # accepted, then dropped (nothing is relayed)
        env.rcpt_tos.append(address)
        await conn.push(R.RCPT_OK)
        return
    await handler(conn, arg)


async def _auth_empty_initial(conn: SmtpConnection, arg: str, handler: Command) -> None:
    """smtp-ext-auth-empty-initial: '=' is taken for no initial response."""
    words = arg.split()
    await handler(conn, words[0] if len(words) == 2 and words[1] == "=" else arg)


async def _auth_in_transaction(conn: SmtpConnection, arg: str, handler: Command) -> None:
    """smtp-ext-auth-in-transaction: AUTH runs as if no transaction were open."""
    env = conn.envelope
    sender = env.mail_from
    if sender is None:
        await handler(conn, arg)
        return
    env.mail_from = None
    try:
        await handler(conn, arg)
    finally:
        env.mail_from = sender


async def _vrfy_enumeration(conn: SmtpConnection, arg: str, handler: Command) -> None:
    if arg:
        local = arg.strip("<>").partition("@")[0]
        if conn.ctx.users.by_local_part(local.lower()) is None and local.lower() != "postmaster":
            await conn.push(R.USER_UNKNOWN)
            return
    await handler(conn, arg)


async def _starttls_arg_accepted(conn: SmtpConnection, arg: str, handler: Command) -> None:
    await handler(conn, "")


async def _starttls_in_tls(conn: SmtpConnection, arg: str, handler: Command) -> None:
    if conn.tls_active:
        await conn.push(R.READY_FOR_TLS)
        return
    await handler(conn, arg)


# ----- EHLO keywords --------------------------------------------------------------------------

def _no_pipelining_keyword(conn: SmtpConnection, keywords: list[str]) -> list[str]:
    return [kw for kw in keywords if kw != "PIPELINING"]


def _size_in_units(conn: SmtpConnection, keywords: list[str]) -> list[str]:
    return [f"SIZE {SIZE_LIMIT // (1024 * 1024)}M" if kw.startswith("SIZE ") else kw for kw in keywords]


def _starttls_on_implicit(conn: SmtpConnection, keywords: list[str]) -> list[str]:
    if conn.implicit_tls and "STARTTLS" not in keywords:
        return [*keywords, "STARTTLS"]
    return keywords


_HIDDEN = ("SIZE", "8BITMIME", "SMTPUTF8", "DSN", "CHUNKING", "BINARYMIME", "STARTTLS")


def _hide_keywords(conn: SmtpConnection, keywords: list[str]) -> list[str]:
    return [kw for kw in keywords if kw.split()[0] not in _HIDDEN]


# ----- DATA input: the smuggling knobs ---------------------------------------------------------

def _strip_nul(conn: SmtpConnection, segment: bytes) -> bytes:
    return segment.replace(b"\0", b"")


def _bare_cr_ends_line(conn: SmtpConnection, segment: bytes) -> bytes:
    m = _BARE_CR.search(segment)
    if m is None:
        return segment
    if m.end() < len(segment):
        conn.buffered[:0] = segment[m.end():]  # read again as the next line
    return segment[:m.start()] + b"\r\n"


def _bare_lf_ends_line(conn: SmtpConnection, segment: bytes) -> bytes:
    if segment.endswith(b"\n") and not segment.endswith(b"\r\n"):
        return segment[:-1] + b"\r\n"
    return segment


# ----- replies ---------------------------------------------------------------------------------

def _rcpt_without_enhanced(conn: SmtpConnection, reply: Reply) -> Reply:
    return reply.without_enhanced() if conn.verb == "RCPT" else reply


def _permanent_as_transient_class(conn: SmtpConnection, reply: Reply) -> Reply:
    return reply.with_enhanced_class("4") if 500 <= reply.code <= 599 else reply


async def _close_after_three_errors(conn: SmtpConnection, reply: Reply) -> None:
    if not 500 <= reply.code <= 599:
        return
    conn.error_count += 1
    if conn.error_count >= 3 and conn.transport is not None:
        conn.write_final(R.TOO_MANY_ERRORS)


async def _flush_after_error(conn: SmtpConnection, reply: Reply) -> None:
    if 400 <= reply.code <= 599:
        conn.buffered.clear()


def _wrap(knobs: tuple[str, ...], verb: str, hook: object, except_verbs: tuple[str, ...] = ()) -> Registration:
    return Registration(knobs, Point.WRAP, hook, verb, except_verbs)  # type: ignore[arg-type]


REGISTRATIONS: tuple[Registration, ...] = (
    _wrap(_NO_PIPELINING, ALL_VERBS, _refuse_pipelined, except_verbs=("BDAT",)),
    _wrap(("smtp-ext-pipeline-flush",), "MAIL", _flush_after_mail),
    _wrap(("smtp-ext-percent-hack-relay", "smtp-ext-source-route-relay", "smtp-ext-quoted-at-relay"),
          "RCPT", _relay),
    _wrap(("smtp-ext-auth-empty-initial",), "AUTH", _auth_empty_initial),
    _wrap(("smtp-ext-auth-in-transaction",), "AUTH", _auth_in_transaction),
    _wrap(("smtp-ext-vrfy-enumeration",), "VRFY", _vrfy_enumeration),
    _wrap(("smtp-ext-starttls-arg-accepted",), "STARTTLS", _starttls_arg_accepted),
    _wrap(("smtp-ext-starttls-in-tls",), "STARTTLS", _starttls_in_tls),
    Registration(_NO_PIPELINING, Point.KEYWORDS, _no_pipelining_keyword),
    Registration(("smtp-ext-size-keyword-units",), Point.KEYWORDS, _size_in_units),
    Registration(("smtp-ext-implicit-tls-starttls",), Point.KEYWORDS, _starttls_on_implicit),
    Registration(("smtp-ext-keywords-hidden",), Point.KEYWORDS, _hide_keywords),
    Registration(("smtp-ext-nul-stripped",), Point.SEGMENT, _strip_nul),
    Registration(("smtp-ext-bare-cr-end", "smtp-ext-any-eol-end"), Point.SEGMENT, _bare_cr_ends_line),
    Registration(("smtp-ext-any-eol-end",), Point.SEGMENT, _bare_lf_ends_line),
    Registration(("smtp-ext-enhanced-missing",), Point.REPLY, _rcpt_without_enhanced),
    Registration(("smtp-ext-enhanced-class-mismatch",), Point.REPLY, _permanent_as_transient_class),
    Registration(("smtp-error-limit-close",), Point.AFTER_REPLY, _close_after_three_errors),
    Registration(("smtp-ext-pipeline-flush-after-error",), Point.AFTER_REPLY, _flush_after_error),
)
