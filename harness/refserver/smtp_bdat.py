"""The reference SMTP server's BDAT command (RFC 3030 CHUNKING, BINARYMIME).

The chunk is read (exactly its declared size) before any sequence check, so a
refused chunk never gets run as commands. The chunks of a message collect in
the envelope; the LAST chunk delivers it through ``smtp_mail.deliver``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from . import smtp_replies as R
from .smtp_envelope import SIZE_LIMIT
from .smtp_mail import deliver

if TYPE_CHECKING:
    from .smtp_base import SmtpConnection
    from .smtp_hooks import Command

__all__ = ["COMMANDS"]

_BDAT = re.compile(r"(\d{1,12})(?: +(LAST))?", re.IGNORECASE)
_LEADING_DIGITS = re.compile(r"\d*")


def _parse(arg: str, atoi: bool) -> tuple[int, bool] | None:
    """(chunk size, LAST?) or None; ``atoi`` is the smtp-ext-bdat-size-atoi knob."""
    m = _BDAT.fullmatch(arg)
    if m is None and atoi:
        words = arg.split()
        digits = _LEADING_DIGITS.match(words[0] if words else "").group(0)  # atoi(): leading digits, else 0
        last = " LAST" if len(words) > 1 and words[1].upper() == "LAST" else ""
        m = _BDAT.fullmatch(f"{int(digits or 0)}{last}")
    return None if m is None else (int(m.group(1)), m.group(2) is not None)


async def bdat(conn: SmtpConnection, arg: str) -> None:
    d = conn.defects
    parsed = _parse(arg, "smtp-ext-bdat-size-atoi" in d)
    if parsed is None:
        # The chunk size is unknown, so the chunk cannot be skipped.
        await conn.push(R.BDAT_SYNTAX)
        return
    size, last = parsed
    if "smtp-ext-bdat-line-read" in d:
        chunk = await conn.read_line() if size else b""
    else:
        chunk = await conn.read_exactly(size) if size else b""
    conn.touch()
    env = conn.envelope
    if not conn.session.host_name:
        await conn.push(R.NEED_HELO)
        return
    discard = env.mail_from is None or not env.recipients
    if discard and "smtp-ext-bdat-no-mail-accepted" not in d:
        await conn.push(R.NEED_MAIL if env.mail_from is None else R.NEED_RCPT)  # the chunk was read and dropped
        return
    parts = env.bdat_parts
    if parts is None:
        parts = env.bdat_parts = []
        env.bdat_size = 0
    parts.append(chunk)
    env.bdat_size += len(chunk)
    if env.bdat_size > SIZE_LIMIT and "smtp-ext-bdat-oversize-delivered" not in d:
        parts.clear()
    if not last:
        await conn.push(R.chunk_received(len(chunk)))
        return
    too_big = env.bdat_size > SIZE_LIMIT
    content = b"".join(parts)
    conn.end_transaction()
    if too_big:
        if "smtp-ext-bdat-oversize-delivered" in d and not discard:
            deliver(conn, env, content)
        await conn.push(R.TOO_BIG)
    elif discard:
        await conn.push(R.OK)
    else:
        await conn.push(deliver(conn, env, content))


COMMANDS: dict[str, Command] = {"BDAT": bdat}
