"""What every step executor shares: judging replies, opening connections.

The executors (``steps.py``: session-level actions, ``steps_mail.py``: mail
transactions and round trips, ``steps_maildrop.py``, ``steps_smuggle.py``) are
listed in the one action table, ``actions.ACTIONS``. Each executor sends what
the step says and judges the replies with ``expect.judge``; a mismatch raises
``CheckFailed`` with every problem of that step. Transport errors propagate as
they are: the runner classifies them.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from harness.errors import ConnectionClosed
from harness.protocol.protocols import Protocol
from harness.protocol.replies import Pop3Response, SmtpReply
from harness.scenario.context import CheckContext, CheckFailed, CheckSkipped
from harness.scenario.expect import describe_expect, judge
from harness.scenario.model import Expect, Step
from harness.session import Connection, open_connection
from harness.config.target import User
from harness.wire.stream import client_tls_context

__all__ = ["open_service", "expect_one", "expect_all", "default_expect", "OK_POP3",
           "open_maildrop"]

# -- expectations ------------------------------------------------------------------------------

def expect_one(ctx: CheckContext, conn: Connection, e: Expect, step: Step | None,
               multiline: bool | None = None) -> SmtpReply | Pop3Response | None:
    if e.closed:
        if not conn.wait_closed(ctx.reply_timeout(e.timeout if e.timeout is not None else 5.0)):
            raise CheckFailed(["expected the server to close the connection; it stayed open"], step)
        return None
    if e.nothing is not None:
        extra = conn.expect_silence(min(e.nothing, ctx.remaining()))
        if extra:
            shown = extra[:120].decode("utf-8", "replace")
            raise CheckFailed([f"expected no further reply, got {len(extra)} more octets: {shown!r}"], step)
        return None
    try:
        if conn.protocol is Protocol.POP3:
            reply: SmtpReply | Pop3Response = conn.read_response(multiline, ctx.reply_timeout(e.timeout))
        else:
            reply = conn.read_reply(ctx.reply_timeout(e.timeout))
    except ConnectionClosed:
        if e.or_closed:
            return None
        raise CheckFailed([f"expected {describe_expect(e)}, but the server closed the connection"], step)
    problems = judge(e, reply, ctx.vars, ctx.render)
    if problems:
        raise CheckFailed([f"{p} (reply: {str(reply)[:200]!r})" for p in problems], step)
    return reply


def expect_all(ctx: CheckContext, conn: Connection, step: Step, defaults: tuple[Expect, ...] = (),
               multiline_hints: list[bool] | None = None) -> list[Any]:
    expects = step.expects or defaults
    replies = []
    for index, e in enumerate(expects):
        hint = multiline_hints[index] if multiline_hints and index < len(multiline_hints) else None
        replies.append(expect_one(ctx, conn, e, step, hint))
    return replies


def default_expect(conn: Connection, smtp: Expect, pop3: Expect) -> tuple[Expect, ...]:
    return (smtp if conn.protocol is Protocol.SMTP else pop3,)


OK_POP3 = Expect(ok=True)


# -- connections -------------------------------------------------------------------------------

def open_service(ctx: CheckContext, service: str, name: str, tls: str = "target",
                 make_current: bool = True) -> Connection:
    """Connect to ``service`` (smtp, pop3, smtps, pop3s); STARTTLS/STLS first when the target says so."""
    target = ctx.target
    protocol = Protocol.of_service(service)
    endpoint = target.endpoint(service)
    if service in ("smtp", "pop3") and tls == "implicit":
        endpoint = target.endpoint(service + "s") or (endpoint if endpoint and endpoint.tls == "implicit" else None)
    if endpoint is None:
        raise CheckSkipped(f"the target has no {service}{' implicit-TLS' if tls == 'implicit' else ''} endpoint")
    mode = "implicit" if service in ("smtps", "pop3s") else (endpoint.tls if tls == "target" else tls)
    if tls == "none" and endpoint.tls == "implicit":
        raise CheckSkipped(f"the check needs a plaintext {protocol.name} port; the target's is implicit TLS")
    context = client_tls_context(target.tls_verify)
    conn = open_connection(name, protocol, endpoint.host, endpoint.port, ctx.transcript,
                           implicit_tls=mode == "implicit", tls_context=context, limits=ctx.limits)
    ctx.conns[name] = conn
    if make_current:
        ctx.current = name
    if mode == "starttls":
        # The target wants TLS on a plaintext port: upgrade before the check's own steps.
        greeting = conn.read_any(ctx.reply_timeout())
        ctx.greetings[name] = greeting
        if protocol is Protocol.SMTP:
            conn.ehlo(target.client_name)
            reply = conn.command("STARTTLS", ctx.reply_timeout())
            ok = isinstance(reply, SmtpReply) and reply.code == 220
        else:
            reply = conn.command("STLS", ctx.reply_timeout())
            ok = isinstance(reply, Pop3Response) and bool(reply.ok)
        if not ok:
            raise CheckFailed([f"target requires TLS but the upgrade was refused: {reply}"])
        conn.start_tls(context)
    return conn




def open_maildrop(ctx: CheckContext, user: User, stack: ExitStack | None, name: str = "pop3-retrieve") -> Connection:
    """A POP3 session logged in as ``user``; ``CheckFailed`` says which step was refused.

    The run-wide mailbox lock (entered into ``stack``) is taken just before
    PASS: a server locks the maildrop when PASS succeeds (RFC 1939 §4), so the
    connect, the greeting and USER, where a slow or silent server makes us
    wait, do not keep other checks out of the mailbox.
    """
    conn = open_service(ctx, "pop3", name, make_current=False)
    greeting = ctx.greetings.pop(conn.name, None) or conn.read_response(False, ctx.reply_timeout())
    if not greeting.ok:
        raise CheckFailed([f"POP3 greeting {greeting}"])
    ctx.transcript.add_secret(user.password)
    reply = conn.command(f"USER {user.login}", ctx.reply_timeout())
    if isinstance(reply, Pop3Response) and reply.ok:
        if stack is not None:
            stack.enter_context(ctx.locks.hold(user.login, ctx.uid))
        reply = conn.command(f"PASS {user.password}", ctx.reply_timeout())
    if not (isinstance(reply, Pop3Response) and reply.ok):
        raise CheckFailed([f"POP3 login as {user.login} failed: {reply}"])
    return conn
