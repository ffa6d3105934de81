"""Session-level step actions: connections, sending, TLS upgrades, authentication."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Callable

from harness.escapes import decode_escapes
from harness.protocol.pop3 import expects_multiline
from harness.protocol.protocols import Protocol
from harness.protocol.replies import Pop3Response, SmtpReply
from harness.protocol.smtp import parse_ehlo
from harness.errors import ConnectionClosed, ConnectionReset, TlsError
from harness.scenario.context import CheckContext, CheckFailed, CheckPassedEarly, CheckSkipped
from harness.scenario.expect import judge
from harness.config.duration import parse_duration
from harness.scenario.model import Expect, Step, connect_target
from harness.session import Connection
from harness.scenario.stepbase import OK_POP3, default_expect, expect_all, expect_one, open_service
from harness.wire.stream import client_tls_context


def step_connect(ctx: CheckContext, step: Step) -> None:
    service, name, tls = connect_target(step.value)
    if name in ctx.conns:
        ctx.conns[name].close()
    conn = open_service(ctx, service, name, tls)
    expect_all(ctx, conn, step)


def step_use(ctx: CheckContext, step: Step) -> None:
    if step.value not in ctx.conns:
        raise CheckFailed([f"no connection named {step.value!r}"], step)
    ctx.current = step.value


def step_greeting(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    e = step.expects[0] if step.expects else default_expect(conn, Expect(code=frozenset({220})), OK_POP3)[0]
    stored = ctx.greetings.pop(conn.name, None)
    if stored is not None:       # read already, while upgrading to TLS for a starttls target
        problems = judge(e, stored, ctx.vars, ctx.render)
        if problems:
            raise CheckFailed(problems, step)
        return
    expect_one(ctx, conn, e, step)


# -- sending -----------------------------------------------------------------------------------

def step_send(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    line = ctx.render(step.value)
    if step.option("secret"):
        ctx.transcript.add_secret(line.split(" ", 1)[-1])
    if conn.protocol is Protocol.POP3:
        ctx.typed_line(conn.name, line)
    conn.send_line(line)
    expect_all(ctx, conn, step)


def step_send_raw(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    data = decode_escapes(ctx.render(step.value))
    hints = [expects_multiline(data.split(b"\n", 1)[0])] if conn.protocol is Protocol.POP3 else None
    conn.send(data)
    expect_all(ctx, conn, step, multiline_hints=hints)


def step_pipeline(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    lines = [ctx.render(line) for line in step.value]
    if conn.protocol is Protocol.POP3:
        for line in lines:
            ctx.typed_line(conn.name, line)
    conn.send(b"".join(line.encode("utf-8") + b"\r\n" for line in lines), note="pipelined")
    expect_all(ctx, conn, step, multiline_hints=[expects_multiline(line) for line in lines])


def step_expect(ctx: CheckContext, step: Step) -> None:
    expect_all(ctx, ctx.conn(step), step)


def step_ehlo(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    name = ctx.render(step.value) if step.value else ctx.target.client_name
    conn.send_line(f"EHLO {name}")
    replies = expect_all(ctx, conn, step, (Expect(code=frozenset({250})),))
    reply = replies[0] if replies else None
    if isinstance(reply, SmtpReply) and reply.code == 250:
        conn.capabilities = parse_ehlo(reply)


def step_quit(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    conn.send_line("QUIT")
    if step.expects:
        expect_all(ctx, conn, step)
        return
    expect_all(ctx, conn, step, default_expect(conn, Expect(code=frozenset({221})), OK_POP3))
    expect_one(ctx, conn, Expect(closed=True), step)
    # The server has closed after QUIT, so its own maildrop lock is gone too (a
    # dropped connection keeps ours until the check ends: the server may lag).
    ctx.end_session(conn.name)


def step_sleep(ctx: CheckContext, step: Step) -> None:
    seconds = parse_duration(step.value)
    ctx.transcript.event(ctx.current or "-", f"sleep {seconds:g} s")
    time.sleep(min(seconds, ctx.remaining()))


def step_slow_send(ctx: CheckContext, step: Step) -> None:
    """Send in small TCP segments. ``data`` is raw bytes; ``message`` (after DATA/354) builds,
    registers (``as``, for ``retrieve``) and dot-stuffs a message like ``send_data``, ends it
    with ``end`` (default CRLF.CRLF; ``''`` leaves DATA open) and ``stop_after: N`` sends only
    the first N octets: with ``drop`` after it, a transfer cut off mid-message."""
    conn = ctx.conn(step)
    spec = step.value
    if "message" in spec:
        from harness.message import dot_stuff
        sender = ctx.render(spec.get("from", ctx.default_sender()))
        to = spec.get("to")
        rcpts = [ctx.user(0).address] if to is None else [ctx.render(t) for t in ([to] if isinstance(to, str) else to)]
        sent = ctx.build(spec.get("as", "message"), spec["message"], sender, rcpts)
        body = dot_stuff(sent.data) if spec.get("dot_stuff", True) else sent.data
        end = decode_escapes(spec["end"]) if "end" in spec else b"\r\n.\r\n"
        data = body.removesuffix(b"\r\n") + end
        ctx.transcript.event(conn.name, f"message {sent.name} ({len(sent.data)} octets) sent slowly")
    else:
        data = decode_escapes(ctx.render(spec["data"]))
    if "stop_after" in spec:
        data = data[:spec["stop_after"]]
    delay = parse_duration(spec.get("delay", 0.05))
    chunk = spec.get("chunk", 1)
    set_nodelay = getattr(conn.stream, "set_nodelay", None)
    if set_nodelay:
        set_nodelay(True)       # so each chunk leaves as its own TCP segment
    for offset in range(0, len(data), chunk):
        conn.send(data[offset:offset + chunk])
        if offset + chunk < len(data):
            time.sleep(min(delay, ctx.remaining()))
    expect_all(ctx, conn, step)


def step_drop(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    if step.value == "rst":
        conn.abort()
    elif step.value == "half-close":
        conn.shutdown_write()
        expect_all(ctx, conn, step)
        return
    else:
        conn.close()


def step_set(ctx: CheckContext, step: Step) -> None:
    for key, value in step.value.items():
        ctx.vars[key] = ctx.render(value) if isinstance(value, str) else value


def step_skip(ctx: CheckContext, step: Step) -> None:
    """With ``when:``, a condition learnt at run time under which the check does not apply."""
    raise CheckSkipped(ctx.render(step.value))


# -- TLS and authentication ---------------------------------------------------------------------

INJECTION_PEEK = 0.5     # seconds inside TLS, before the client speaks, in which the server must stay silent


def _upgrade(ctx: CheckContext, step: Step, verb: str, default: Expect) -> None:
    conn = ctx.conn(step)
    value = step.value or {}
    if value.get("injection"):
        _injected_upgrade(ctx, step, conn, verb, value["raw"])
        return
    if not value.get("handshake_only"):
        raw = value.get("raw")
        if raw is not None:
            conn.send(decode_escapes(ctx.render(raw)))
        else:
            conn.send_line(verb)
        replies = expect_all(ctx, conn, step, (default,))
        go = replies[0] if replies else None
        positive = (isinstance(go, SmtpReply) and go.code // 100 == 2) or (
            isinstance(go, Pop3Response) and go.ok is True)
        if not positive:
            return          # e.g. the check expected 454/-ERR: no handshake
        if raw is not None:
            try:
                conn.start_tls(client_tls_context(ctx.target.tls_verify))
            except (TlsError, ConnectionReset, ConnectionClosed) as exc:
                # The server read our pipelined plaintext as TLS data and gave
                # up the handshake: the injected command never ran inside TLS.
                raise CheckPassedEarly(
                    f"the server aborted the TLS handshake after the pipelined plaintext ({exc}); "
                    "the injected command was not executed") from None
            return
    conn.start_tls(client_tls_context(ctx.target.tls_verify))


def _injected_upgrade(ctx: CheckContext, step: Step, conn: Connection, verb: str, raw: str) -> None:
    """STARTTLS/STLS with plaintext pipelined behind it (CVE-2011-0411 class).

    RFC 3207 §4.2 / RFC 2595 §4: the server MUST discard plaintext buffered
    before the handshake. Only an answer *inside TLS* to that plaintext is an
    injection. A refusal of the command (e.g. "500 pipelining not supported"
    from a server without PIPELINING), a close, a failed handshake or a
    plaintext error reply before it all leave nothing to run inside TLS: the
    check passes there. After the handshake the server must stay silent until
    the client speaks; the steps that follow judge the first replies inside TLS.
    """
    conn.send(decode_escapes(ctx.render(raw)), note=f"{verb} with plaintext pipelined behind it")
    try:
        if conn.protocol is Protocol.POP3:
            go: SmtpReply | Pop3Response = conn.read_response(False, ctx.reply_timeout())
        else:
            go = conn.read_reply(ctx.reply_timeout())
    except (ConnectionClosed, ConnectionReset):
        raise CheckPassedEarly(f"the server closed the connection before any TLS handshake: the plaintext "
                               f"pipelined after {verb} cannot have run inside TLS") from None
    positive = go.code // 100 == 2 if isinstance(go, SmtpReply) else go.ok is True
    if not positive:
        raise CheckPassedEarly(f"the server refused {verb} with plaintext pipelined behind it "
                               f"({str(go)[:120]!r}); without a TLS session nothing can run inside one")
    try:
        conn.start_tls(client_tls_context(ctx.target.tls_verify))
    except (TlsError, ConnectionReset, ConnectionClosed) as exc:
        # The server read our pipelined plaintext as TLS data and gave up the handshake.
        raise CheckPassedEarly(f"the server aborted the TLS handshake after the pipelined plaintext ({exc}); "
                               "the injected command was not executed") from None
    extra = conn.expect_silence(min(INJECTION_PEEK, ctx.remaining()))
    if extra:
        shown = extra[:120].decode("utf-8", "replace")
        rfc = "RFC 2595 §4" if conn.protocol is Protocol.POP3 else "RFC 3207 §4.2"
        raise CheckFailed([f"inside TLS, before the client sent anything, the server sent {shown!r}: an answer "
                           f"to the plaintext pipelined after {verb}, which it MUST discard ({rfc})"], step)
    if conn.closed:
        raise CheckPassedEarly("the server closed the TLS session without answering the plaintext pipelined "
                               f"after {verb}")


def step_starttls(ctx: CheckContext, step: Step) -> None:
    _upgrade(ctx, step, "STARTTLS", Expect(code=frozenset({220})))


def step_stls(ctx: CheckContext, step: Step) -> None:
    _upgrade(ctx, step, "STLS", OK_POP3)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def step_auth(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    spec = step.value
    if "login" in spec:
        login, password = ctx.render(spec["login"]), ctx.render(spec.get("password", ""))
    elif conn.protocol is Protocol.SMTP and ctx.target.smtp_auth and "user" not in spec:
        login, password = ctx.target.smtp_auth
    else:
        user = ctx.user(spec.get("user", 0))
        login, password = user.login, spec.get("password", user.password)
    mech = spec["mechanism"]
    if conn.protocol is Protocol.POP3:
        # a successful AUTH opens the maildrop, like PASS: keep other checks out of it
        ctx.lock_session(conn.name, login)
    final = default_expect(conn, Expect(code=frozenset({235})), OK_POP3)
    for secret in (password, _b64(f"\0{login}\0{password}".encode()), _b64(password.encode())):
        ctx.transcript.add_secret(secret)

    def intermediate(reply: SmtpReply | Pop3Response) -> bool:
        return (reply.code == 334) if isinstance(reply, SmtpReply) else reply.is_continuation

    def read() -> SmtpReply | Pop3Response:
        return conn.read_any(ctx.reply_timeout())

    def finish(reply: SmtpReply | Pop3Response) -> None:
        e = (step.expects or final)[0]
        problems = judge(e, reply, ctx.vars, ctx.render)
        if problems:
            raise CheckFailed([f"AUTH {mech}: {p} (reply: {str(reply)[:200]!r})" for p in problems], step)

    plain = _b64(f"\0{login}\0{password}".encode())
    if mech == "PLAIN" and spec.get("initial_response", True) and not (spec.get("cancel") or spec.get("garbage")):
        conn.send_line(f"AUTH PLAIN {plain}")
        return finish(read())
    conn.send_line(f"AUTH {mech}")
    answers: list[Callable[[bytes], str]]
    if mech == "PLAIN":
        answers = [lambda _c: plain]
    elif mech == "LOGIN":
        answers = [lambda _c: _b64(login.encode()), lambda _c: _b64(password.encode())]
    else:
        def cram(challenge: bytes) -> str:
            try:
                raw = base64.b64decode(challenge.strip(), validate=True)
            except ValueError:
                raise CheckFailed([f"CRAM-MD5 challenge is not base64: {challenge[:80]!r}"], step) from None
            digest = hmac.new(password.encode(), raw, hashlib.md5).hexdigest()
            answer = _b64(f"{login} {digest}".encode())
            ctx.transcript.add_secret(answer)
            return answer
        answers = [cram]
    for answer in answers:
        reply = read()
        if not intermediate(reply):
            return finish(reply)
        challenge = reply.lines[0] if isinstance(reply, SmtpReply) else reply.text
        if spec.get("cancel"):
            conn.send_line("*")
            return finish(read())
        if spec.get("garbage"):
            conn.send_line("!!not*base64!!")
            return finish(read())
        conn.send_line(answer(challenge))
    finish(read())


def step_login(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    value = step.value
    ref = value.get("user") if isinstance(value, dict) else value
    user = ctx.user(ref if ref is not None else 0)
    password = value.get("password", user.password) if isinstance(value, dict) else user.password
    ctx.transcript.add_secret(password)
    conn.send_line(f"USER {user.login}")
    expect_one(ctx, conn, OK_POP3, step)
    # Lock from PASS on (the server locks the maildrop there, RFC 1939 §4). A wrong
    # password on purpose takes no lock while a server makes us wait for its -ERR.
    if password == user.password:
        ctx.lock_session(conn.name, user.login)
    conn.send_line(f"PASS {password}")
    expect_all(ctx, conn, step, (OK_POP3,))
