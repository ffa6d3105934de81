"""Mail transactions and the SMTP→POP3 round trip: ``mail``, ``send_data``, ``retrieve`` (``smuggle``: steps_smuggle.py)."""

from __future__ import annotations

import re
from contextlib import ExitStack
from typing import Any

from harness.errors import ConnectionClosed
from harness.escapes import decode_escapes
from harness.message import dot_stuff, strip_trace
from harness.protocol.replies import SmtpReply
from harness.scenario.context import CheckContext, CheckFailed
from harness.scenario.mailbox import find_message
from harness.scenario.model import Expect, Step, parse_duration
from harness.scenario.stepbase import executor, expect_all, open_maildrop
from harness.session import Connection

def _recipients(ctx: CheckContext, value: Any) -> list[str]:
    if value is None:
        return [ctx.user(0).address]
    items = [value] if isinstance(value, str) else list(value)
    return [ctx.render(v) for v in items]


def _smtp_phase(ctx: CheckContext, conn: Connection, line: str, codes: set[int], phase: str,
                step: Step) -> SmtpReply:
    conn.send_line(line)
    try:
        reply = conn.read_reply(ctx.reply_timeout())
    except ConnectionClosed:
        raise CheckFailed([f"{phase}: the server closed the connection"], step) from None
    if reply.code not in codes:
        raise CheckFailed([f"{phase}: expected {' or '.join(map(str, sorted(codes)))}, got {reply}"], step)
    return reply


@executor("mail")
def _mail(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    spec = step.value
    sender = ctx.render(spec.get("from", ctx.default_sender()))
    rcpts = _recipients(ctx, spec.get("to"))
    params = ctx.render(spec.get("mail_params", ""))
    _smtp_phase(ctx, conn, f"MAIL FROM:<{sender}>{' ' + params if params else ''}", {250}, "MAIL", step)
    for rcpt in rcpts:
        _smtp_phase(ctx, conn, f"RCPT TO:<{rcpt}>", {250, 251}, "RCPT", step)
    _smtp_phase(ctx, conn, "DATA", {354}, "DATA", step)
    sent = ctx.build(spec.get("as", "message"), spec.get("message"), sender, rcpts)
    body = dot_stuff(sent.data) if spec.get("dot_stuff", True) else sent.data
    conn.send(body + b".\r\n", note=f"message {sent.name} ({len(sent.data)} octets)")
    try:
        reply = conn.read_reply(ctx.reply_timeout())
    except ConnectionClosed:
        raise CheckFailed(["end of data: the server closed the connection"], step) from None
    if reply.code != 250:
        raise CheckFailed([f"end of data: expected 250, got {reply}"], step)


@executor("send_data")
def _send_data(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    spec = step.value
    sender = ctx.render(spec.get("from", ctx.default_sender()))
    sent = ctx.build(spec.get("as", "message"), spec.get("message"), sender, _recipients(ctx, spec.get("to")))
    body = dot_stuff(sent.data) if spec.get("dot_stuff", True) else sent.data
    end = decode_escapes(spec["end"]) if "end" in spec else b"\r\n.\r\n"
    conn.send(body.removesuffix(b"\r\n") + end, note=f"message {sent.name} ({len(sent.data)} octets)")
    expect_all(ctx, conn, step, (Expect(code=frozenset({250})),))


@executor("retrieve")
def _retrieve(ctx: CheckContext, step: Step) -> None:
    spec = step.value
    name = spec["message"]
    if name not in ctx.messages:
        raise CheckFailed([f"retrieve: no message named {name!r} was sent in this check"], step)
    sent = ctx.messages[name]
    if "user" in spec:
        user = ctx.user(spec["user"])
    else:
        wanted = {r.lower() for r in sent.recipients}
        user = next((u for u in ctx.users if u.address.lower() in wanted), None) or ctx.user(0)
    present = spec.get("present", True)
    timeout = parse_duration(spec.get("timeout", ctx.target.delivery_timeout))

    def session(stack: ExitStack) -> Connection:
        try:
            return open_maildrop(ctx, user, stack)
        except CheckFailed as exc:
            raise CheckFailed([f"retrieve: {p}" for p in exc.problems], step) from None

    if not spec.get("delete", True) and present:
        # The check goes on to use {{ name_number }}: keep other checks out of the
        # mailbox until it ends, or their deletions would renumber the messages.
        ctx.locks.pin(user.login, ctx.uid)
    found = find_message(session, sent.marker, timeout=min(timeout, ctx.remaining()),
                         delete=spec.get("delete", True), want_present=present)
    if not present:
        if found is not None:
            raise CheckFailed([f"message {name!r} ({sent.marker}) was delivered to {user.login} but must not be"], step)
        return
    if found is None:
        raise CheckFailed([f"message {name!r} ({sent.marker}) not in {user.login}'s mailbox after {timeout:g} s"], step)
    ctx.vars.update({f"{name}_number": found.number, f"{name}_uid": found.uid or "",
                     f"{name}_octets": found.listed_octets})
    problems = [f"RETR {found.number}: {v}" for v in found.violations]
    if spec.get("compare", "exact") == "exact":
        problems += _compare(sent.data, found.message)
    if spec.get("octets") and found.listed_octets != len(found.message):
        problems.append(f"LIST gives {found.listed_octets} octets for message {found.number}, "
                        f"RETR delivered {len(found.message)} (RFC 1939 §11: counted with CRLF, before stuffing)")
    text = found.message.decode("utf-8", "replace")
    for pattern in map(ctx.render, spec.get("matches", ())):
        if not re.search(pattern, text, re.MULTILINE):
            problems.append(f"retrieved message does not match /{pattern}/")
    for pattern in map(ctx.render, spec.get("not_matches", ())):
        if re.search(pattern, text, re.MULTILINE):
            problems.append(f"retrieved message matches /{pattern}/ but must not")
    if problems:
        raise CheckFailed(problems, step)


def _compare(sent: bytes, got: bytes) -> list[str]:
    a, b = strip_trace(sent), strip_trace(got)
    if a == b:
        return []
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    line = a[:at].count(b"\n") + 1
    return [f"retrieved message differs from the one sent: {len(a)} octets sent, {len(b)} retrieved, "
            f"first difference at octet {at} (line {line}): sent {a[at:at + 24]!r}, got {b[at:at + 24]!r}"]
