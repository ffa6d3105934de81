"""Mail transactions and the SMTP→POP3 round trip: ``mail``, ``send_data``, ``retrieve`` (``smuggle``: steps_smuggle.py)."""

from __future__ import annotations

import re
from contextlib import ExitStack
from typing import Any

from harness.escapes import decode_escapes
from harness.message import dot_stuff, strip_trace
from harness.scenario.context import CheckContext, CheckFailed
from harness.scenario.expect import shown
from harness.scenario.mailbox import find_message
from harness.config.duration import parse_duration
from harness.scenario.model import Expect, Step
from harness.scenario.delivery import deliver, smtp_transaction
from harness.scenario.stepbase import expect_all, open_maildrop
from harness.session import Connection
from harness.config.target import DeliveryKind

def _recipients(ctx: CheckContext, value: Any) -> list[str]:
    if value is None:
        return [ctx.user(0).address]
    items = [value] if isinstance(value, str) else list(value)
    return [ctx.render(v) for v in items]


def step_mail(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    spec = step.value
    sender = ctx.render(spec.get("from", ctx.default_sender()))
    rcpts = _recipients(ctx, spec.get("to"))
    sent = ctx.build(spec.get("as", "message"), spec.get("message"), sender, rcpts)
    body = dot_stuff(sent.data) if spec.get("dot_stuff", True) else sent.data
    smtp_transaction(ctx, conn, sender, rcpts, body, f"message {sent.name} ({len(sent.data)} octets)", step,
                     params=ctx.render(spec.get("mail_params", "")))


def step_deliver(ctx: CheckContext, step: Step) -> None:
    """A message of the check's own into a mailbox, by the target's delivery path (SMTP or Maildir)."""
    spec = step.value or {}
    if _reads_existing(ctx, spec, step):
        return
    user = ctx.user(spec.get("user", 0))
    sender = ctx.render(spec.get("from", ctx.default_sender()))
    sent = ctx.build(spec.get("as", "message"), spec.get("message"), sender, [user.address])
    deliver(ctx, sent, user, step)


def step_send_data(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    spec = step.value
    sender = ctx.render(spec.get("from", ctx.default_sender()))
    sent = ctx.build(spec.get("as", "message"), spec.get("message"), sender, _recipients(ctx, spec.get("to")))
    if spec.get("bdat"):
        # RFC 3030 §2: one chunk, "BDAT <octets> LAST" and exactly that many octets, never dot-stuffed
        conn.send(f"BDAT {len(sent.data)} LAST\r\n".encode() + sent.data,
                  note=f"message {sent.name} ({len(sent.data)} octets) in one BDAT chunk")
        expect_all(ctx, conn, step, (Expect(code=frozenset({250})),))
        return
    body = dot_stuff(sent.data) if spec.get("dot_stuff", True) else sent.data
    end = decode_escapes(spec["end"]) if "end" in spec else b"\r\n.\r\n"
    conn.send(body.removesuffix(b"\r\n") + end, note=f"message {sent.name} ({len(sent.data)} octets)")
    expect_all(ctx, conn, step, (Expect(code=frozenset({250})),))


def _reads_existing(ctx: CheckContext, spec: Any, step: Step) -> bool:
    """``or_existing: true`` under ``delivery: existing``: the check reads what is there instead."""
    how = ctx.target.deliver_by
    if spec.get("or_existing") and how is not None and how.kind is DeliveryKind.EXISTING:
        ctx.transcript.event(ctx.current or "-", f"step at line {step.line} skipped: delivery: existing")
        return True
    return False


def step_retrieve(ctx: CheckContext, step: Step) -> None:
    spec = step.value
    if _reads_existing(ctx, spec, step):
        return
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
                     f"{name}_octets": found.listed_octets, f"{name}_size": len(found.message)})
    which = f"message {name!r} ({sent.marker}, RETR {found.number} in {user.login}'s mailbox)"
    problems = [f"RETR {found.number}: {v}" for v in found.violations]
    if spec.get("compare", "exact") == "exact":
        problems += [f"{which}: {p}" for p in _compare(sent.data, found.message)]
    if spec.get("octets") and found.listed_octets != len(found.message):
        problems.append(f"LIST gives {found.listed_octets} octets for message {found.number}, "
                        f"RETR delivered {len(found.message)} (RFC 1939 §11: counted with CRLF, before stuffing)")
    text = found.message.decode("utf-8", "replace")
    for pattern in map(ctx.render, spec.get("matches", ())):
        if not re.search(pattern, text, re.MULTILINE):
            problems.append(f"{which} does not match /{pattern}/; its header section was {_head(text)}")
    for pattern in map(ctx.render, spec.get("not_matches", ())):
        m = re.search(pattern, text, re.MULTILINE)
        if m:
            problems.append(f"{which} matches /{pattern}/ but must not: {shown(m.group(0))}")
    if problems:
        raise CheckFailed(problems, step)


def _head(text: str) -> str:
    """The header section of a retrieved message (what trace and header regexes look at), bounded."""
    end = text.find("\r\n\r\n")
    return shown(text if end < 0 else text[:end + 2], limit=600)


def _headers_only_equal(a: bytes, b: bytes) -> bool:
    """RFC 5322 §3.5: ``message = (fields / obs-fields) [CRLF body]``: a message without a body may
    be written with or without the empty line after the header section. That difference, and no
    other, is not an alteration: ``a`` plus one CRLF is ``b`` (or the other way round), where the
    shorter one has no empty line at all (so it has no body) and ends with a CRLF."""
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return (long_ == short + b"\r\n" and short.endswith(b"\r\n")
            and not short.startswith(b"\r\n") and b"\r\n\r\n" not in short)


def _compare(sent: bytes, got: bytes) -> list[str]:
    a, b = strip_trace(sent), strip_trace(got)
    if a == b or _headers_only_equal(a, b):
        return []
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    line = a[:at].count(b"\n") + 1
    start = a.rfind(b"\n", 0, at) + 1          # the first differing line, whole, on both sides
    sent_line, got_line = _line_at(a, start), _line_at(b, start)
    what = (f"line {line} differs: sent {_show_line(sent_line)}, got {_show_line(got_line)}"
            if sent_line is not None and got_line is not None else
            f"the retrieved copy ends at line {line}, where the sent one goes on with {_show_line(sent_line)}"
            if got_line is None else
            f"the retrieved copy goes on after the end of the sent one, at line {line}: {_show_line(got_line)}")
    return [f"altered in transit: {what} ({len(a)} octets sent, {len(b)} retrieved, first difference at octet {at})"]


def _line_at(data: bytes, start: int) -> bytes | None:
    if start >= len(data):
        return None
    end = data.find(b"\n", start)
    return data[start:] if end < 0 else data[start:end + 1]


def _show_line(line: bytes | None, limit: int = 120) -> str:
    if line is None:
        return "nothing"
    text = line.decode("utf-8", "backslashreplace")
    return shown(text, limit)
