"""The ``smuggle`` step: an SMTP smuggling probe judged from the replies, confirmed in the mailbox.

CVE-2023-51764 class; RFC 5321 §2.3.8 (only CRLF ends a line) and §4.1.1.4 (only
<CRLF>.<CRLF> ends the data). After ``DATA``/354 the step sends

1. an outer message and the *fake* end of data (``end``, e.g. ``\\n.\\n``) **in a
   write of its own**, and waits ``wait`` for a reply. A server that honours the
   fake end answers at once (a ``2xx``: that alone is the vulnerability); a safe
   one is still reading data and says nothing (or refuses the bare line end);
2. the smuggled transaction: ``MAIL``, ``RCPT``, ``DATA``, a second message and
   the real ``<CRLF>.<CRLF>``. When the server advertised PIPELINING these go in
   one write; otherwise each command goes in a write of its own after the reply
   (or ``wait`` of silence) to the one before, so a server that closes on
   pipelined input (RFC 2920 §3.1 lets it refuse) still shows what it does with
   each command;
3. when the target has a POP3 endpoint, the mailbox: the smuggled message must
   never arrive.

A safe server reads everything after the fake end as message text and answers
the whole probe with **one** reply, after the real end (250 if it kept the bare
line end as data or normalised it, 5xx if it refuses bare CR/LF), or closes the
connection. So the step fails when

* the fake end alone got a positive reply (2xx, or 3xx), or
* a positive reply came before the real end was sent (a safe server is silent
  there: it is reading data), or
* more than one reply came after the fake end and one of them was positive (the
  server read message text as commands: a late answer to the fake end, or the
  smuggled MAIL/RCPT/DATA run after a refused fake end), or
* the smuggled message reached the mailbox.

Silence, refusals (4xx/5xx) and closes are never a failure on their own: a
refused fake end is followed up, and only a smuggled command that is *accepted*
counts. The failure message says what each part got and whether the smuggled
message was delivered (or why that was not checked). The mailbox only
confirms: a POP3 transport error there is reported in that sentence instead of
ending the check in ``error``, since the replies are a verdict of their own.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Union

from harness.errors import ConnectionClosed, ConnectionReset, Timeout, TransportError
from harness.escapes import decode_escapes
from harness.message import dot_stuff
from harness.protocol.replies import SmtpReply
from harness.scenario.context import CheckContext, CheckFailed, CheckPassedEarly, SentMessage
from harness.scenario.mailbox import find_message
from harness.config.duration import parse_duration
from harness.scenario.model import Step
from harness.scenario.stepbase import open_maildrop
from harness.session import Connection

__all__ = ["end_label", "smuggling_problems", "Exchange"]

# A reply slot: the reply, or one of these two markers.
SILENT = "silent"
CLOSED = "closed"
Outcome = Union[SmtpReply, str]

MAX_REPLIES = 100        # replies collected after the real end (a server answering message lines as commands)


def end_label(end: bytes) -> str:
    """``b"\\r\\n.\\n"`` → ``<CR><LF>.<LF>``, the way the RFC writes line ends."""
    names = {0x0D: "<CR>", 0x0A: "<LF>", 0x00: "<NUL>"}
    return "".join(names.get(b, chr(b)) for b in end)


def _positive(reply: SmtpReply) -> bool:
    return reply.code // 100 in (2, 3)


@dataclass(slots=True)
class Exchange:
    """What the server said during the probe, in order (``early``: the smuggled line each reply followed)."""

    label: str
    first: Outcome = SILENT                                      # after the fake end, within ``wait``
    early: list[tuple[str, SmtpReply]] = field(default_factory=list)  # before the real end was sent
    late: list[SmtpReply] = field(default_factory=list)         # after the real end was sent
    closed_after: str = ""                                      # what was sent last when the server closed
    tail_sent: bool = False                                     # the smuggled message and real end went out
    log: list[str] = field(default_factory=list)                # "after X: reply" lines for the message

    def replies(self) -> list[SmtpReply]:
        head = [self.first] if isinstance(self.first, SmtpReply) else []
        return head + [r for _, r in self.early] + self.late

    def positive_seen(self) -> bool:
        return any(_positive(r) for r in self.replies())


def smuggling_problems(ex: Exchange) -> list[str]:
    """Why these replies show the server took the fake end for the end of data (empty: they do not)."""
    if isinstance(ex.first, SmtpReply) and _positive(ex.first):
        return [f"the fake end of data {ex.label}, sent alone, was answered {_short(ex.first)}: the server "
                f"took it for the end of the data (RFC 5321 §4.1.1.4: only <CR><LF>.<CR><LF> ends it)"]
    for sent, reply in ex.early:
        if _positive(reply):
            return [f"after the fake end {ex.label} the server answered {_short(reply)} to the smuggled "
                    f"{sent} line, which a safe server reads as message text: it had ended the data at {ex.label}"]
    replies = ex.replies()
    if len(replies) > 1 and any(_positive(r) for r in replies):
        shown = ", ".join(str(r.code) for r in replies[:8]) + (", ..." if len(replies) > 8 else "")
        return [f"after the fake end {ex.label} the server sent {len(replies)} replies ({shown}) where a safe "
                f"server sends one, after the real end, and one of them accepted: it read the smuggled "
                f"lines as commands"]
    return []


def _short(reply: SmtpReply) -> str:
    return repr(str(reply).splitlines()[0][:120]) if str(reply) else repr(reply.code)


# -- wire helpers ------------------------------------------------------------------------------

def _write(conn: Connection, data: bytes, note: str) -> bool:
    """False when the server has gone away (a write into a closed connection)."""
    if conn.closed:
        return False
    try:
        conn.send(data, note=note)
    except (ConnectionReset, ConnectionClosed):
        return False
    return True


def _reply_within(ctx: CheckContext, conn: Connection, seconds: float) -> Outcome:
    """A reply within ``seconds``, else SILENT (a partial reply stays buffered), or CLOSED."""
    if conn.closed:
        return CLOSED
    bound = min(seconds, ctx.remaining())
    try:
        return conn.read_reply(bound)
    except Timeout:
        return SILENT
    except (ConnectionClosed, ConnectionReset):
        conn.closed = True
        return CLOSED


# -- the step ----------------------------------------------------------------------------------

def step_smuggle(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    spec = step.value
    sender = ctx.render(spec.get("from", ctx.default_sender()))
    rcpt = ctx.render(spec.get("to", ctx.user(0).address))
    outer = ctx.build(spec.get("outer_as", "outer"), {"subject": "smuggling probe (outer)"}, sender, [rcpt])
    inner = ctx.build(spec.get("as", "smuggled"), {"subject": "smuggled message"}, sender, [rcpt])
    end = decode_escapes(spec["end"])
    wait = parse_duration(spec.get("wait", 1.0))
    settle = parse_duration(spec.get("settle", 1.0))
    ex = Exchange(end_label(end))
    ctx.vars["smuggle_first_code"] = ""

    _probe(ctx, conn, ex, outer, inner, sender, rcpt, end, wait, settle)
    if isinstance(ex.first, SmtpReply):
        ctx.vars["smuggle_first_code"] = str(ex.first.code)
    problems = smuggling_problems(ex)
    delivered, delivery = _confirm(ctx, spec, outer, inner, rcpt, ex)
    if delivered and not problems:
        problems = [f"the replies looked safe, but {delivery}"]
    elif problems:
        problems.append(delivery)
    summary = "; ".join(ex.log) or "no reply"
    if problems:
        problems.append(f"replies: {summary}")
        raise CheckFailed(problems, step)
    verdict = f"smuggling probe {ex.label}: safe ({summary}); {delivery}"
    ctx.transcript.event(conn.name, verdict)
    if conn.closed:
        # The server ended the session instead of taking the smuggled commands: the
        # question is settled, and later steps could not use the connection anyway.
        raise CheckPassedEarly(verdict)


def _probe(ctx: CheckContext, conn: Connection, ex: Exchange, outer: SentMessage, inner: SentMessage,
           sender: str, rcpt: str, end: bytes, wait: float, settle: float) -> None:
    # 1. The outer message and the fake end, alone.
    fake = dot_stuff(outer.data).removesuffix(b"\r\n") + end
    if not _write(conn, fake, f"smuggling probe: outer message and the fake end {ex.label}, alone"):
        ex.closed_after, ex.first = "the fake end", CLOSED
        ex.log.append("closed at the fake end")
        return
    ex.first = _reply_within(ctx, conn, wait)
    ex.log.append(f"fake end: {_outcome(ex.first, wait)}")
    if ex.first is CLOSED:
        ex.closed_after = "the fake end"
        return
    # The server answered the fake end: it reads commands now (and must answer them).
    command_mode = isinstance(ex.first, SmtpReply)
    commands = [("MAIL", f"MAIL FROM:<{sender}>"), ("RCPT", f"RCPT TO:<{rcpt}>"), ("DATA", "DATA")]
    tail = dot_stuff(inner.data) + b".\r\n"
    pipelining = conn.capabilities is not None and "PIPELINING" in conn.capabilities
    if pipelining:
        data = b"".join(line.encode() + b"\r\n" for _, line in commands) + tail
        if not _write(conn, data, "smuggled MAIL, RCPT, DATA and message (PIPELINING advertised: one write)"):
            ex.closed_after = "the smuggled transaction"
            ex.log.append("closed before the smuggled transaction")
            return
    else:
        # RFC 2920 §3.1: without PIPELINING every command waits for its reply.
        for name, line in commands:
            if not _write(conn, line.encode() + b"\r\n", f"smuggled {name} (no PIPELINING: a write of its own)"):
                ex.closed_after = f"the smuggled {name}"
                ex.log.append(f"closed before the smuggled {name}")
                return
            got = _reply_within(ctx, conn, ctx.reply_timeout() if command_mode else wait)
            ex.log.append(f"{name}: {_outcome(got, wait)}")
            if got is CLOSED:
                ex.closed_after = f"the smuggled {name}"
                return
            if isinstance(got, SmtpReply):
                ex.early.append((name, got))
                command_mode = True
        if not _write(conn, tail, "smuggled message and the real end <CR><LF>.<CR><LF>"):
            ex.closed_after = "the smuggled message"
            ex.log.append("closed before the real end")
            return
    ex.tail_sent = True
    # 3. After the real end: one reply from a safe server (a missing one is a
    # ``timeout`` error, as for any command); collect whatever else comes.
    got: Outcome
    try:
        got = conn.read_reply(ctx.reply_timeout())
    except (ConnectionClosed, ConnectionReset):
        conn.closed, got = True, CLOSED
    while isinstance(got, SmtpReply) and len(ex.late) < MAX_REPLIES:
        ex.late.append(got)
        got = _reply_within(ctx, conn, settle)
    if ex.late:
        what = "smuggled MAIL, RCPT, DATA and real end (one write)" if pipelining else "real end"
        ex.log.append(f"{what}: " + ", ".join(_short(r) for r in ex.late[:5])
                      + (f" and {len(ex.late) - 5} more" if len(ex.late) > 5 else ""))
    if got is CLOSED:
        ex.closed_after = "the real end"
        ex.log.append("then closed" if ex.late else "closed at the real end")


def _outcome(got: Outcome, wait: float) -> str:
    if got is SILENT:
        return f"no reply within {wait:g} s"
    if got is CLOSED:
        return "connection closed"
    assert isinstance(got, SmtpReply)
    return _short(got)


# -- the mailbox -------------------------------------------------------------------------------

def _confirm(ctx: CheckContext, spec: dict, outer: SentMessage, inner: SentMessage, rcpt: str,
             ex: Exchange) -> tuple[bool, str]:
    """Was the smuggled message delivered, and one sentence on it (or on why it was not looked for)."""
    never_sent = (f"the connection was closed at {ex.closed_after}, before the smuggled message was sent "
                  "in full, so it cannot have been delivered")
    checked = spec.get("mailbox", "auto") != "none" and ctx.target.endpoint("pop3") is not None
    if not checked:
        if not ex.tail_sent:
            return False, never_sent
        if spec.get("mailbox", "auto") == "none":
            return False, "delivery not checked (mailbox: none)"
        return False, "delivery not checked: the target has no POP3 endpoint (verdict from the replies alone)"
    user = next((u for u in ctx.users if u.address.lower() == rcpt.lower()), None) or ctx.user(0)

    def session(stack: contextlib.ExitStack) -> Connection:
        return open_maildrop(ctx, user, stack)

    wait = parse_duration(spec.get("mailbox_timeout", 1.5))
    outer_missing = ""
    try:
        if ex.positive_seen():
            # The outer message was taken: anything smuggled was queued with it, so
            # once it is in the mailbox a smuggled message would be too (or soon).
            # Found, it is deleted, as every message a check leaves would be.
            timeout = min(ctx.target.delivery_timeout, ctx.remaining())
            if find_message(session, outer.marker, timeout=timeout, delete=True, want_present=True) is None:
                outer_missing = (f" (nor did the outer message, accepted with 250, within {timeout:g} s: "
                                 "the mailbox may not show this server's deliveries)")
        if not ex.tail_sent:
            return False, never_sent
        found = find_message(session, inner.marker, timeout=min(wait, ctx.remaining()), delete=True,
                             want_present=False)
    except CheckFailed as exc:
        return False, f"delivery not checked: {'; '.join(exc.problems)}"
    except TransportError as exc:
        # The mailbox only confirms: a broken POP3 side must not hide what the SMTP replies showed.
        return False, f"delivery not checked: POP3 {exc.error_class}: {exc}"
    if found is not None:
        return True, f"the smuggled message was delivered to {user.login}'s mailbox ({inner.marker})"
    return False, f"the smuggled message did not reach {user.login}'s mailbox within {wait:g} s{outer_missing}"
