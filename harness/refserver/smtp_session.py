"""The reference SMTP server's session commands: EHLO, HELO, RSET, NOOP, QUIT, VRFY, EXPN, HELP.

RFC 5321 §4.1.1 with the EHLO keywords of the extensions the server speaks
(RFC 1870, 2034, 2920, 3030, 3207, 3461, 4954, 6152, 6531). Each command is a
plain function of the connection, listed in ``COMMANDS``; smtp.py puts the
tables together. Knobs that only swap a reply are a branch here that picks
another constant from smtp_replies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import smtp_replies as R
from .auth import MECHANISMS
from .smtp_envelope import SIZE_LIMIT

if TYPE_CHECKING:
    from .smtp_base import SmtpConnection
    from .smtp_hooks import Command

__all__ = ["COMMANDS", "auth_allowed", "aux_reset", "ehlo_keywords", "need_helo"]


def auth_allowed(conn: SmtpConnection) -> bool:
    # RFC 4954 §4/§14: plaintext mechanisms only over TLS.
    return conn.tls_active or "smtp-auth-plaintext" in conn.defects


def ehlo_keywords(conn: SmtpConnection) -> list[str]:
    """The EHLO keywords, after the keyword hooks."""
    keywords = [f"SIZE {SIZE_LIMIT}", "8BITMIME", "CHUNKING", "BINARYMIME", "DSN", "PIPELINING",
                "ENHANCEDSTATUSCODES", "SMTPUTF8", "HELP"]
    if conn.ctx.tls_context is not None and (
        not conn.tls_active or ("smtp-starttls-readvertise" in conn.defects and not conn.implicit_tls)
    ):
        keywords.append("STARTTLS")  # RFC 3207 §4.2: never after the handshake
    if auth_allowed(conn):
        keywords.append("AUTH " + " ".join(MECHANISMS))
    for hook in conn.hooks.keywords:
        keywords = hook(conn, keywords)
    return keywords


def aux_reset(conn: SmtpConnection) -> None:
    """smtp-aux-commands-reset: NOOP, VRFY and HELP drop the transaction (§4.1.1.6, .8, .9)."""
    if "smtp-aux-commands-reset" in conn.defects:
        conn.reset_transaction()


async def need_helo(conn: SmtpConnection) -> bool:
    """Answer 503 (and say so) when no HELO/EHLO came first (§4.1.4)."""
    if conn.session.host_name or "smtp-no-helo-required" in conn.defects:
        return False
    await conn.push(R.NEED_HELO)
    return True


def _new_greeting(conn: SmtpConnection, hostname: str, extended: bool) -> None:
    # §4.1.4: a later EHLO/HELO resets the transaction exactly as RSET does.
    if "smtp-ehlo-keeps-envelope" not in conn.defects:
        conn.reset_transaction()
    conn.session.host_name = hostname
    conn.session.extended_smtp = extended


async def _greeting_refused(conn: SmtpConnection, arg: str, syntax: R.Reply) -> bool:
    if not arg and "smtp-empty-greeting-accepted" not in conn.defects:
        await conn.push(syntax)  # §4.1.4: state unchanged
        return True
    if conn.session.host_name and "smtp-ehlo-once" in conn.defects:
        await conn.push(R.DUPLICATE_HELO)
        return True
    return False


async def ehlo(conn: SmtpConnection, arg: str) -> None:
    if await _greeting_refused(conn, arg, R.SYNTAX_EHLO):
        return
    _new_greeting(conn, (arg.split() or [""])[0], extended=True)
    middle = 251 if "smtp-bad-multiline" in conn.defects else None
    lines = [conn.hostname, *ehlo_keywords(conn)]
    if "smtp-ehlo-domain-last" in conn.defects:
        lines = lines[1:] + lines[:1]
    await conn.send_lines(250, lines, middle)


async def helo(conn: SmtpConnection, arg: str) -> None:
    if await _greeting_refused(conn, arg, R.SYNTAX_HELO):
        return
    _new_greeting(conn, (arg.split() or [""])[0], extended=False)
    if "smtp-helo-multiline" in conn.defects:
        await conn.send_lines(250, [conn.hostname, *ehlo_keywords(conn)])
    else:
        await conn.push(R.helo_reply(conn.hostname))  # §3.2: never the EHLO-style reply


def _ok(conn: SmtpConnection) -> R.Reply:
    return R.OK_BARE_CODE if "smtp-reply-bare-code" in conn.defects else R.OK


async def rset(conn: SmtpConnection, arg: str) -> None:
    if arg and "smtp-args-ignored" not in conn.defects:
        await conn.push(R.SYNTAX_RSET)  # §4.1.1.5 takes no argument
        return
    if "smtp-rset-keeps-envelope" not in conn.defects:
        conn.reset_transaction()
    await conn.push(_ok(conn))


async def noop(conn: SmtpConnection, arg: str) -> None:
    # §4.1.1.9: a parameter is ignored.
    if arg and "smtp-noop-arg-rejected" in conn.defects:
        await conn.push(R.SYNTAX_NOOP)
        return
    aux_reset(conn)
    if "smtp-code-out-of-range" in conn.defects:
        await conn.push(R.OK_OUT_OF_RANGE)
        return
    await conn.push(_ok(conn))
    if "smtp-extra-reply" in conn.defects:
        await conn.push(R.OK)


async def quit_(conn: SmtpConnection, arg: str) -> None:
    if arg and "smtp-args-ignored" not in conn.defects:
        await conn.push(R.SYNTAX_QUIT)
        return
    if conn.envelope.mail_from is not None and "smtp-quit-in-transaction-503" in conn.defects:
        await conn.push(R.QUIT_IN_TRANSACTION)
        return
    conn.finish()
    if "smtp-quit-no-221" in conn.defects:
        conn.transport.close()
        return
    await conn.push(R.BYE)
    if "smtp-quit-no-close" in conn.defects:
        await conn.drain_input()
    conn.transport.close()


async def vrfy(conn: SmtpConnection, arg: str) -> None:
    if "smtp-vrfy-unrecognized" in conn.defects:
        await conn.push(R.UNRECOGNIZED)
        return
    aux_reset(conn)
    domain = conn.ctx.users.domain
    if not arg and "smtp-vrfy-bare-250" in conn.defects:
        await conn.push(R.mailbox_ok(f"postmaster@{domain}"))
    elif not arg:
        await conn.push(R.SYNTAX_VRFY)
    elif "smtp-vrfy-250" in conn.defects:
        name = arg.strip("<>")
        await conn.push(R.mailbox_ok(name if "@" in name else name + "@" + domain))
    else:
        # §3.5.3: 250 only for a verified address; 252 says "will try".
        await conn.push(R.VRFY_CANNOT)


async def expn(conn: SmtpConnection, arg: str) -> None:
    if "smtp-expn-unadvertised" in conn.defects:
        if arg.strip("<>").lower() in ("postmaster", f"postmaster@{conn.ctx.users.domain}"):
            await conn.push(R.mailbox_ok(conn.ctx.users.postmaster.address))
        else:
            await conn.push(R.NO_SUCH_LIST)
        return
    await conn.push(R.EXPN_NOT_IMPLEMENTED)  # and so not advertised (§3.5.2)


async def help_(conn: SmtpConnection, arg: str) -> None:
    if "smtp-help-unimplemented" in conn.defects:
        await conn.push(R.HELP_NOT_IMPLEMENTED)
        return
    aux_reset(conn)
    await conn.push(R.help_reply(sorted(conn.hooks.commands)))


COMMANDS: dict[str, Command] = {
    "EHLO": ehlo, "HELO": helo, "RSET": rset, "NOOP": noop, "QUIT": quit_,
    "VRFY": vrfy, "EXPN": expn, "HELP": help_,
}
