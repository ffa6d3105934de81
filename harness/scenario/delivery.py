"""Putting a test message into a mailbox: by SMTP, or straight into the Maildir the POP3 server reads.

``delivery: smtp`` sends the message like any mail; ``delivery: {maildir:
PATH}`` writes it the way the Maildir convention says (a unique name in
``tmp/``, then a rename into ``new/``, so a reader never sees half a file),
for a POP3 server without an MTA that feeds it; ``delivery: existing`` puts
nothing anywhere, and checks that need a message of their own are skipped.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import time
from pathlib import Path

from harness.errors import ConnectionClosed, DeliveryFailed
from harness.message import dot_stuff
from harness.protocol.replies import SmtpReply
from harness.scenario.context import CheckContext, CheckFailed, CheckSkipped, SentMessage
from harness.scenario.model import Step
from harness.scenario.stepbase import open_service
from harness.session import Connection
from harness.config.target import DeliveryKind, User

__all__ = ["smtp_transaction", "deliver", "write_maildir", "EXISTING_SKIP"]

EXISTING_SKIP = ("needs a message with known content; with delivery: existing only the messages "
                 "already in the maildrop are read")

_SEQ = itertools.count(1)
_HOST = socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "mailharness"


def _phase(ctx: CheckContext, conn: Connection, line: str, codes: set[int], phase: str,
           step: Step | None) -> SmtpReply:
    conn.send_line(line)
    try:
        reply = conn.read_reply(ctx.reply_timeout())
    except ConnectionClosed:
        raise CheckFailed([f"{phase}: the server closed the connection"], step) from None
    if reply.code not in codes:
        raise CheckFailed([f"{phase}: expected {' or '.join(map(str, sorted(codes)))}, got {reply}"], step)
    return reply


def smtp_transaction(ctx: CheckContext, conn: Connection, sender: str, recipients: list[str], body: bytes,
                     note: str, step: Step | None = None, params: str = "") -> None:
    """MAIL, RCPT for each recipient, DATA, the (already dot-stuffed) body and its end; each must succeed."""
    _phase(ctx, conn, f"MAIL FROM:<{sender}>{' ' + params if params else ''}", {250}, "MAIL", step)
    for rcpt in recipients:
        _phase(ctx, conn, f"RCPT TO:<{rcpt}>", {250, 251}, "RCPT", step)
    _phase(ctx, conn, "DATA", {354}, "DATA", step)
    conn.send(body + b".\r\n", note=note)
    try:
        reply = conn.read_reply(ctx.reply_timeout())
    except ConnectionClosed:
        raise CheckFailed(["end of data: the server closed the connection"], step) from None
    if reply.code != 250:
        raise CheckFailed([f"end of data: expected 250, got {reply}"], step)


def _ensure_maildir(folder: Path) -> None:
    """A missing Maildir is created, as an MTA's first delivery would (owned like its parent folder)."""
    if (folder / "new").is_dir() and (folder / "tmp").is_dir():
        return
    if not folder.parent.is_dir():
        raise DeliveryFailed(f"{folder} is not a Maildir, and its folder {folder.parent} does not exist")
    owner = folder.parent.stat()
    try:
        for path in (folder, folder / "tmp", folder / "new", folder / "cur"):
            path.mkdir(mode=0o700, exist_ok=True)
            if os.geteuid() == 0:
                os.chown(path, owner.st_uid, owner.st_gid)
    except OSError as exc:
        raise DeliveryFailed(f"cannot create the Maildir {folder}: {exc.strerror or exc}") from None


def write_maildir(folder: Path, data: bytes) -> Path:
    """Store one message in a Maildir: ``tmp/`` first, then an atomic rename into ``new/``."""
    _ensure_maildir(folder)
    sec, usec = divmod(time.time_ns() // 1000, 1_000_000)
    name = f"{sec}.M{usec}P{os.getpid()}Q{next(_SEQ)}R{secrets.token_hex(4)}.{_HOST}"
    tmp, new = folder / "tmp" / name, folder / "new" / name
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        owner = (folder / "new").stat()
        if os.geteuid() == 0 and (owner.st_uid, owner.st_gid) != (0, 0):
            # written as root for a server that reads (and deletes) as the mailbox's owner
            os.chown(tmp, owner.st_uid, owner.st_gid)
        os.rename(tmp, new)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DeliveryFailed(f"cannot write into {folder}: {exc.strerror or exc}") from None
    return new


def deliver(ctx: CheckContext, sent: SentMessage, user: User, step: Step | None = None) -> None:
    """Put ``sent`` into ``user``'s mailbox the way the target says."""
    how = ctx.target.deliver_by
    if how is None:
        raise CheckSkipped("the target has no pop3 section")
    if how.kind is DeliveryKind.EXISTING:
        raise CheckSkipped(EXISTING_SKIP)
    if how.kind is DeliveryKind.MAILDIR:
        path = write_maildir(how.maildir_of(user), sent.data)
        ctx.transcript.event("deliver", f"message {sent.name} ({len(sent.data)} octets) written to {path}")
        return
    conn = open_service(ctx, "smtp", "deliver-smtp", make_current=False)
    greeting = ctx.greetings.pop(conn.name, None) or conn.read_reply(ctx.reply_timeout())
    if greeting.code != 220:
        raise CheckFailed([f"deliver: SMTP greeting {greeting}"], step)
    reply = conn.ehlo(ctx.target.client_name)
    if reply.code != 250:
        raise CheckFailed([f"deliver: EHLO got {reply}"], step)
    smtp_transaction(ctx, conn, sent.sender, list(sent.recipients), dot_stuff(sent.data),
                     f"message {sent.name} ({len(sent.data)} octets)", step)
    conn.command("QUIT", ctx.reply_timeout())
    conn.close()
