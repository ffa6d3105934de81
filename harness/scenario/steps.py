"""One function per step action, dispatched through an explicit table (no reflection).

Each executor sends what the step says and judges the replies with
``expect.judge``; a mismatch raises ``CheckFailed`` with every problem of that
step. Transport errors propagate as they are: the runner classifies them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any, Callable

from harness.errors import ConnectionClosed
from harness.escapes import decode_escapes
from harness.message import dot_stuff, strip_trace
from harness.protocol.pop3 import expects_multiline
from harness.protocol.smtp import parse_ehlo
from harness.protocol.replies import Pop3Response, SmtpReply
from harness.scenario.context import CheckContext, CheckFailed, CheckSkipped
from harness.scenario.expect import describe_expect, judge
from harness.scenario.mailbox import find_message
from harness.scenario.model import Expect, Step, parse_duration
from harness.session import Connection, open_connection
from harness.transport import client_tls_context

__all__ = ["run_step", "open_service", "EXECUTORS"]

Executor = Callable[[CheckContext, Step], None]
EXECUTORS: dict[str, Executor] = {}


def executor(action: str) -> Callable[[Executor], Executor]:
    def register(fn: Executor) -> Executor:
        EXECUTORS[action] = fn
        return fn
    return register


def run_step(ctx: CheckContext, step: Step) -> None:
    ctx.remaining()
    EXECUTORS[step.action](ctx, step)


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
        if conn.protocol == "pop3":
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


def _default(conn: Connection, smtp: Expect, pop3: Expect) -> tuple[Expect, ...]:
    return (smtp if conn.protocol == "smtp" else pop3,)


OK_POP3 = Expect(ok=True)


# -- connections -------------------------------------------------------------------------------

def open_service(ctx: CheckContext, service: str, name: str, tls: str = "target",
                 make_current: bool = True) -> Connection:
    """Connect to ``service`` (smtp, pop3, smtps, pop3s); STARTTLS/STLS first when the target says so."""
    target = ctx.target
    protocol = "smtp" if service.startswith("smtp") else "pop3"
    endpoint = target.endpoint(service)
    if service in ("smtp", "pop3") and tls == "implicit":
        endpoint = target.endpoint(service + "s") or (endpoint if endpoint and endpoint.tls == "implicit" else None)
    if endpoint is None:
        raise CheckSkipped(f"the target has no {service}{' implicit-TLS' if tls == 'implicit' else ''} endpoint")
    mode = "implicit" if service in ("smtps", "pop3s") else (endpoint.tls if tls == "target" else tls)
    if tls == "none" and endpoint.tls == "implicit":
        raise CheckSkipped(f"the check needs a plaintext {protocol.upper()} port; the target's is implicit TLS")
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
        if protocol == "smtp":
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


@executor("connect")
def _connect(ctx: CheckContext, step: Step) -> None:
    value = step.value
    if isinstance(value, str):
        service, name, tls = value, value, "target"
    else:
        service = value.get("service", "smtp")
        name = value.get("as", service)
        tls = value.get("tls", "target")
    if name in ctx.conns:
        ctx.conns[name].close()
    conn = open_service(ctx, service, name, tls)
    expect_all(ctx, conn, step)


@executor("use")
def _use(ctx: CheckContext, step: Step) -> None:
    if step.value not in ctx.conns:
        raise CheckFailed([f"no connection named {step.value!r}"], step)
    ctx.current = step.value


@executor("greeting")
def _greeting(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    e = step.expects[0] if step.expects else _default(conn, Expect(code=frozenset({220})), OK_POP3)[0]
    stored = ctx.greetings.pop(conn.name, None)
    if stored is not None:       # read already, while upgrading to TLS for a starttls target
        problems = judge(e, stored, ctx.vars, ctx.render)
        if problems:
            raise CheckFailed(problems, step)
        return
    expect_one(ctx, conn, e, step)


# -- sending -----------------------------------------------------------------------------------

@executor("send")
def _send(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    line = ctx.render(step.value)
    if step.option("secret"):
        ctx.transcript.add_secret(line.split(" ", 1)[-1])
    conn.send_line(line)
    expect_all(ctx, conn, step)


@executor("send_raw")
def _send_raw(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    data = decode_escapes(ctx.render(step.value))
    hints = [expects_multiline(data.split(b"\n", 1)[0])] if conn.protocol == "pop3" else None
    conn.send(data)
    expect_all(ctx, conn, step, multiline_hints=hints)


@executor("pipeline")
def _pipeline(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    lines = [ctx.render(line) for line in step.value]
    conn.send(b"".join(line.encode("utf-8") + b"\r\n" for line in lines), note="pipelined")
    expect_all(ctx, conn, step, multiline_hints=[expects_multiline(line) for line in lines])


@executor("expect")
def _expect(ctx: CheckContext, step: Step) -> None:
    expect_all(ctx, ctx.conn(step), step)


@executor("ehlo")
def _ehlo(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    name = ctx.render(step.value) if step.value else ctx.target.client_name
    conn.send_line(f"EHLO {name}")
    replies = expect_all(ctx, conn, step, (Expect(code=frozenset({250})),))
    reply = replies[0] if replies else None
    if isinstance(reply, SmtpReply) and reply.code == 250:
        conn.capabilities = parse_ehlo(reply)


@executor("quit")
def _quit(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    conn.send_line("QUIT")
    if step.expects:
        expect_all(ctx, conn, step)
        return
    expect_all(ctx, conn, step, _default(conn, Expect(code=frozenset({221})), OK_POP3))
    expect_one(ctx, conn, Expect(closed=True), step)


@executor("sleep")
def _sleep(ctx: CheckContext, step: Step) -> None:
    seconds = parse_duration(step.value)
    ctx.transcript.event(ctx.current or "-", f"sleep {seconds:g} s")
    time.sleep(min(seconds, ctx.remaining()))


@executor("slow_send")
def _slow_send(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    data = decode_escapes(ctx.render(step.value["data"]))
    delay = parse_duration(step.value.get("delay", 0.05))
    chunk = step.value.get("chunk", 1)
    set_nodelay = getattr(conn.stream, "set_nodelay", None)
    if set_nodelay:
        set_nodelay(True)       # so each chunk leaves as its own TCP segment
    for offset in range(0, len(data), chunk):
        conn.send(data[offset:offset + chunk])
        if offset + chunk < len(data):
            time.sleep(min(delay, ctx.remaining()))
    expect_all(ctx, conn, step)


@executor("drop")
def _drop(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    if step.value == "rst":
        conn.abort()
    elif step.value == "half-close":
        conn.shutdown_write()
        expect_all(ctx, conn, step)
        return
    else:
        conn.close()


@executor("set")
def _set(ctx: CheckContext, step: Step) -> None:
    for key, value in step.value.items():
        ctx.vars[key] = ctx.render(value) if isinstance(value, str) else value


@executor("repeat")
def _repeat(ctx: CheckContext, step: Step) -> None:
    for i in range(step.value):
        ctx.vars["i"] = i
        for child in step.children:
            run_step(ctx, child)


# -- TLS and authentication ---------------------------------------------------------------------

def _upgrade(ctx: CheckContext, step: Step, verb: str, default: Expect) -> None:
    conn = ctx.conn(step)
    value = step.value or {}
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
    conn.start_tls(client_tls_context(ctx.target.tls_verify))


@executor("starttls")
def _starttls(ctx: CheckContext, step: Step) -> None:
    _upgrade(ctx, step, "STARTTLS", Expect(code=frozenset({220})))


@executor("stls")
def _stls(ctx: CheckContext, step: Step) -> None:
    _upgrade(ctx, step, "STLS", OK_POP3)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@executor("auth")
def _auth(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    spec = step.value
    if "login" in spec:
        login, password = ctx.render(spec["login"]), ctx.render(spec.get("password", ""))
    elif conn.protocol == "smtp" and ctx.target.smtp_auth and "user" not in spec:
        login, password = ctx.target.smtp_auth
    else:
        user = ctx.user(spec.get("user", 0))
        login, password = user.login, spec.get("password", user.password)
    mech = spec["mechanism"]
    final = _default(conn, Expect(code=frozenset({235})), OK_POP3)
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


@executor("login")
def _login(ctx: CheckContext, step: Step) -> None:
    conn = ctx.conn(step)
    value = step.value
    ref = value.get("user") if isinstance(value, dict) else value
    user = ctx.user(ref if ref is not None else 0)
    password = value.get("password", user.password) if isinstance(value, dict) else user.password
    ctx.transcript.add_secret(password)
    ctx.locks.acquire(user.login, ctx.uid)
    conn.send_line(f"USER {user.login}")
    expect_one(ctx, conn, OK_POP3, step)
    conn.send_line(f"PASS {password}")
    expect_all(ctx, conn, step, (OK_POP3,))


# -- mail transactions and the round trip --------------------------------------------------------

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


@executor("smuggle")
def _smuggle(ctx: CheckContext, step: Step) -> None:
    """SMTP smuggling probe (CVE-2023-51764 class; RFC 5321 §2.3.8): a fake end of data, then a second transaction.

    Replies are recorded, not judged: a vulnerable server answers the
    smuggled commands, a safe one takes it all as one message or rejects the
    bare line ends. The verdict is a later ``retrieve`` with ``present: false``.
    """
    conn = ctx.conn(step)
    spec = step.value
    sender = ctx.render(spec.get("from", ctx.default_sender()))
    rcpt = ctx.render(spec.get("to", ctx.user(0).address))
    outer = ctx.build(spec.get("outer_as", "outer"), {"subject": "smuggling probe (outer)"}, sender, [rcpt])
    inner = ctx.build(spec.get("as", "smuggled"), {"subject": "smuggled message"}, sender, [rcpt])
    end = decode_escapes(spec["end"])
    payload = (dot_stuff(outer.data).removesuffix(b"\r\n") + end
               + f"MAIL FROM:<{sender}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode()
               + dot_stuff(inner.data) + b".\r\n")
    conn.send(payload, note=f"smuggling probe, fake end {spec['end']!r}")
    settle = parse_duration(spec.get("settle", 1.5))
    try:
        conn.read_reply(ctx.reply_timeout())
    except ConnectionClosed:
        return
    conn.expect_silence(min(settle, ctx.remaining()))


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
        user = next((u for u in ctx.target.users if u.address.lower() in wanted), None) or ctx.user(0)
    present = spec.get("present", True)
    timeout = parse_duration(spec.get("timeout", ctx.target.delivery_timeout))
    ctx.transcript.add_secret(user.password)

    def session() -> Connection:
        conn = open_service(ctx, "pop3", "pop3-retrieve", make_current=False)
        ctx.locks.acquire(user.login, ctx.uid)
        greeting = ctx.greetings.pop(conn.name, None) or conn.read_response(False, ctx.reply_timeout())
        if not greeting.ok:
            raise CheckFailed([f"retrieve: POP3 greeting {greeting}"], step)
        for line in (f"USER {user.login}", f"PASS {user.password}"):
            conn.send_line(line)
            reply = conn.read_response(False, ctx.reply_timeout())
            if not reply.ok:
                raise CheckFailed([f"retrieve: POP3 login as {user.login} failed: {reply}"], step)
        return conn

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
    for pattern in spec.get("matches", ()):
        if not re.search(ctx.render(pattern), text, re.MULTILINE):
            problems.append(f"retrieved message does not match /{pattern}/")
    for pattern in spec.get("not_matches", ()):
        if re.search(ctx.render(pattern), text, re.MULTILINE):
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
