"""The reference SMTP server's security commands: STARTTLS (RFC 3207) and AUTH (RFC 4954).

The TLS transport swap itself is ``SmtpConnection.start_tls``; SASL is
``auth.authenticate``, which sends its challenges through ``sasl_challenge``.
The AUTH knobs that answer with another code pick another constant from
smtp_replies here.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from . import smtp_replies as R
from .auth import MECHANISMS, SaslCancelled, SaslMalformed, authenticate
from .smtp_replies import Reply
from .smtp_session import auth_allowed, need_helo

if TYPE_CHECKING:
    from .smtp_base import SmtpConnection
    from .smtp_hooks import Command

__all__ = ["COMMANDS"]

SASL_LINE_MAX = 12288 + 2  # RFC 4954 §4: client responses up to 12288 octets


async def starttls(conn: SmtpConnection, arg: str) -> None:
    if arg:
        await conn.push(R.SYNTAX_STARTTLS)  # RFC 3207 §4
        return
    if conn.tls_active:
        await conn.push(R.TLS_ACTIVE)
        return
    await conn.push(R.READY_FOR_TLS)
    await conn.start_tls()


async def auth(conn: SmtpConnection, arg: str) -> None:
    d = conn.defects
    if await need_helo(conn):
        return
    if not auth_allowed(conn):
        await conn.push(R.ENCRYPTION_REQUIRED)
        return
    if conn.session.authenticated and "smtp-auth-twice" not in d:
        await conn.push(R.ALREADY_AUTHENTICATED)  # RFC 4954 §4
        return
    if conn.envelope.mail_from is not None:
        await conn.push(R.AUTH_IN_TRANSACTION)
        return
    words = arg.split()
    if not words and "smtp-auth-no-mechanism-plain" in d:
        words = ["PLAIN"]
    if not 1 <= len(words) <= 2:
        await conn.push(R.AUTH_SYNTAX)
        return
    mechanism = words[0].upper()
    if mechanism not in MECHANISMS:
        await conn.push(R.AUTH_FAILED if "smtp-ext-auth-unknown-mech-535" in d else R.UNKNOWN_MECHANISM)
        return
    try:
        unchecked = mechanism == "CRAM-MD5" and "smtp-cram-md5-digest-unchecked" in d
        user = await authenticate(mechanism, words[1] if len(words) == 2 else None,
                                  lambda challenge: sasl_challenge(conn, challenge), conn.ctx.users,
                                  conn.hostname, unchecked=unchecked,
                                  empty_ok="smtp-auth-empty-password-accepted" in d)
    except SaslCancelled:
        await _refused(conn, R.AUTH_INVALID if "smtp-auth-cancel" in d else R.AUTH_CANCELLED)
        return
    except SaslMalformed:
        await conn.push(R.AUTH_INVALID if "smtp-ext-auth-garbage-535" in d else R.AUTH_UNDECODABLE)
        return
    if user is None:
        await _refused(conn, R.AUTH_INVALID)
        return
    conn.session.authenticated = True
    conn.session.auth_data = user
    await conn.push(R.AUTH_OK_250 if "smtp-ext-auth-success-250" in d else R.AUTH_OK)


async def _refused(conn: SmtpConnection, reply: Reply) -> None:
    """A failed exchange; smtp-ext-auth-failure-accepted turns bad credentials into a login."""
    if reply is R.AUTH_INVALID and "smtp-ext-auth-failure-accepted" in conn.defects:
        conn.session.authenticated = True
        reply = R.AUTH_OK
    await conn.push(reply)


async def sasl_challenge(conn: SmtpConnection, challenge: bytes) -> str:
    await conn.push(R.challenge(base64.b64encode(challenge).decode("ascii")))
    line, overflow = await conn.read_segment(b"\r\n", SASL_LINE_MAX)
    conn.touch()
    if overflow:
        raise SaslMalformed()
    return line[:-2].decode("ascii", "replace")


COMMANDS: dict[str, Command] = {"STARTTLS": starttls, "AUTH": auth}
