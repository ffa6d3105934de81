"""Preflight: probe each endpoint once before the checks, so a broken part fails in seconds, not per check.

The probe learns what ``requires:`` needs (greeting, EHLO/CAPA, again inside
TLS where offered) and what every check depends on: can we reach SMTP, reach
POP3, log in as each user, and does a message sent by SMTP show up in POP3
(the canary)? A check that depends on a part that failed ends at once with
that cause (``blocker``), instead of each check waiting out its own timeout
or ``delivery_timeout``: against a silent server a run costs one timeout.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from harness.errors import TransportError
from harness.protocol.replies import Pop3Response, SmtpReply
from harness.results import Level, Status
from harness.rootcause import preflight_lines
from harness.scenario.context import CheckContext, CheckFailed, CheckSkipped, ServerInfo
from harness.scenario.mailbox import MailboxLocks, find_message
from harness.scenario.model import Check, Step
from harness.scenario.stepbase import open_maildrop, open_service
from harness.session import Connection, Limits
from harness.target import Target, User
from harness.transcript import Transcript

__all__ = ["Preflight", "Probe", "Blocker", "CheckNeeds", "needs_of", "run_preflight", "POP3_LOGIN_ACTIONS"]

# Step actions that open a POP3 maildrop (and so need a working login).
POP3_LOGIN_ACTIONS = frozenset({"login", "retrieve"})


@dataclass(frozen=True, slots=True)
class CheckNeeds:
    """What a check depends on, read from its steps once."""

    services: frozenset[str]        # smtp, pop3, smtps, pop3s
    primary: str                    # where the check starts: its own failure is named first
    pop3_login: bool                # logs into a maildrop (login/retrieve, or AUTH on POP3)
    delivery: bool                  # has a ``retrieve``: judged from what reaches the mailbox


def _step_services(step: Step, protocol: str) -> Iterable[str]:
    if step.action == "connect":
        value = step.value
        yield value if isinstance(value, str) else value.get("service", protocol)
    elif step.action == "retrieve":
        yield "pop3"


def _walk(steps: Iterable[Step]) -> Iterable[Step]:
    for step in steps:
        yield step
        yield from _walk(step.children)


def needs_of(check: Check, target: Target) -> CheckNeeds:
    services: set[str] = set()
    if check.connect:
        implicit = check.tls == "implicit" and target.endpoint(check.protocol + "s") is not None
        services.add(check.protocol + ("s" if implicit else ""))
    pop3_login = delivery = False
    for step in _walk(check.steps):
        services.update(_step_services(step, check.protocol))
        delivery |= step.action == "retrieve"
        pop3_login |= step.action in POP3_LOGIN_ACTIONS
        pop3_login |= step.action == "auth" and check.protocol == "pop3"
    return CheckNeeds(frozenset(services), check.protocol, pop3_login, delivery)


@dataclass(frozen=True, slots=True)
class Blocker:
    """Why a check cannot run: it ends with this status at once."""

    status: Status
    error_class: str | None
    message: str


@dataclass(slots=True)
class Probe:
    """What one endpoint answered (or why it did not)."""

    service: str
    address: str
    greeting: str = ""
    capabilities: tuple[str, ...] = ()
    tls: str = ""                         # what happened with STARTTLS/STLS, if offered
    error: str | None = None              # what went wrong, if anything
    error_class: str | None = None
    stage: str = ""                       # connect | greeting | EHLO | CAPA: where it went wrong
    ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def usable(self) -> bool:
        """Every check opens a connection and reads a greeting; past that, a failure is one check's finding."""
        return self.ok or self.stage not in ("connect", "greeting")

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "address": self.address, "ok": self.ok, "greeting": self.greeting,
                "capabilities": list(self.capabilities), "tls": self.tls, "error": self.error,
                "error_class": self.error_class, "stage": self.stage, "usable": self.usable,
                "ms": round(self.ms, 1)}


@dataclass(slots=True)
class Login:
    login: str
    ok: bool
    reply: str
    ms: float = 0.0
    error_class: str | None = None    # when the transport failed rather than the server saying no


@dataclass(slots=True)
class Canary:
    """One SMTP→POP3 delivery, the round trip every mailbox verdict relies on."""

    status: str                 # delivered | missing | refused | not-run
    message: str
    ms: float = 0.0


@dataclass(slots=True)
class Preflight:
    info: ServerInfo = field(default_factory=ServerInfo)
    probes: dict[str, Probe] = field(default_factory=dict)
    logins: list[Login] = field(default_factory=list)
    canary: Canary | None = None
    duration_s: float = 0.0

    # -- what the checks may rely on ------------------------------------------------------------

    def blocker(self, needs: CheckNeeds) -> Blocker | None:
        for service in sorted(needs.services, key=lambda s: (not s.startswith(needs.primary), s)):
            probe = self.probes.get(service)
            if probe is not None and not probe.usable:
                return Blocker(Status.ERROR, probe.error_class,
                               f"preflight: {service.upper()} {probe.address}: {probe.error}")
        if needs.pop3_login and self.logins and not any(login.ok for login in self.logins):
            first = self.logins[0]
            return Blocker(Status.ERROR, first.error_class,
                           f"preflight: no POP3 login works (as {first.login}: {first.reply}); "
                           "are the users' logins and passwords in the target file right?")
        if needs.delivery and self.canary is not None and self.canary.status in ("missing", "refused"):
            return Blocker(Status.ERROR, "delivery", f"preflight: {self.canary.message}")
        return None

    # -- output ------------------------------------------------------------------------------------

    def lines(self) -> list[str]:
        return preflight_lines(self.to_json())

    def to_json(self) -> dict[str, Any]:
        return {
            "duration_s": round(self.duration_s, 3),
            "endpoints": [p.to_json() for p in self.probes.values()],
            "logins": [{"login": x.login, "ok": x.ok, "reply": x.reply, "error_class": x.error_class,
                        "ms": round(x.ms, 1)} for x in self.logins],
            "delivery": None if self.canary is None else
            {"status": self.canary.status, "message": self.canary.message, "ms": round(self.canary.ms, 1)},
        }


# -- probing ---------------------------------------------------------------------------------------

def _context(target: Target, limits: Limits, info: ServerInfo, locks: MailboxLocks | None = None,
             timeout: float | None = None) -> CheckContext:
    dummy = Check(id="preflight", title="preflight", level=Level.POLICY, rfc=("5321",), steps=(),
                  suite="preflight", file="", line=0,
                  timeout=timeout if timeout is not None else max(limits.reply_deadline * 2, 10))
    return CheckContext(dummy, target, limits, locks or MailboxLocks(), info, Transcript(target.secrets()))


def _address(target: Target, service: str) -> str:
    ep = target.endpoint(service)
    assert ep is not None
    return f"[{ep.host}]:{ep.port}" if ":" in ep.host else f"{ep.host}:{ep.port}"


def _probe_one(target: Target, limits: Limits, info: ServerInfo, protocol: str) -> Probe:
    probe = Probe(protocol, _address(target, protocol))
    ctx = _context(target, limits, info)
    started = time.perf_counter()
    stage = "connect"
    try:
        conn = open_service(ctx, protocol, protocol)
        stage = "greeting"
        greeting = ctx.greetings.pop(protocol, None) or conn.read_any(ctx.reply_timeout())
        stage = "EHLO" if protocol == "smtp" else "CAPA"
        probe.greeting = str(greeting).splitlines()[0] if str(greeting) else ""
        setattr(info, f"{protocol}_greeting", str(greeting))
        # A greeting with the wrong code is a finding for the greeting checks, not a reason
        # to stop the others: only the transport failing blocks checks, so EHLO/CAPA go on.
        if protocol == "smtp":
            _probe_smtp(conn, target, info, probe)
        else:
            _probe_pop3(conn, target, info, probe)
        if not conn.closed:
            conn.command("QUIT")
    except TransportError as exc:
        probe.error, probe.error_class, probe.stage = f"{stage}: {exc}", exc.error_class, stage
        setattr(info, f"{protocol}_error", str(exc))
        setattr(info, f"{protocol}_error_class", exc.error_class)
    except (CheckFailed, CheckSkipped) as exc:
        # open_service's upgrade when the target says tls: starttls
        probe.error, probe.error_class, probe.stage = str(exc), "tls", "connect"
        setattr(info, f"{protocol}_error", str(exc))
        setattr(info, f"{protocol}_error_class", "tls")
    finally:
        probe.ms = (time.perf_counter() - started) * 1000
        ctx.close_all()
    return probe


def _positive(reply: SmtpReply | Pop3Response) -> bool:
    return reply.code == 220 if isinstance(reply, SmtpReply) else bool(reply.ok)


def _probe_smtp(conn: Connection, target: Target, info: ServerInfo, probe: Probe) -> None:
    conn.ehlo(target.client_name)
    info.smtp = conn.capabilities
    probe.capabilities = tuple(conn.capabilities or ())
    if target.smtp and target.smtp.tls != "none":
        info.smtp_tls = conn.capabilities
        probe.tls = f"TLS ({target.smtp.tls}) ok"
    elif conn.capabilities and "STARTTLS" in conn.capabilities:
        probe.tls = _upgrade(conn, "STARTTLS", lambda: conn.ehlo(target.client_name))
        info.smtp_tls = conn.capabilities if probe.tls == "STARTTLS ok" else None


def _probe_pop3(conn: Connection, target: Target, info: ServerInfo, probe: Probe) -> None:
    conn.capa()
    info.pop3 = conn.capabilities
    probe.capabilities = tuple(conn.capabilities or ())
    if target.pop3 and target.pop3.tls != "none":
        info.pop3_tls = conn.capabilities
        probe.tls = f"TLS ({target.pop3.tls}) ok"
    elif conn.capabilities and "STLS" in conn.capabilities:
        probe.tls = _upgrade(conn, "STLS", conn.capa)
        info.pop3_tls = conn.capabilities if probe.tls == "STLS ok" else None


def _upgrade(conn: Connection, verb: str, again: Callable[[], object]) -> str:
    """An advertised STARTTLS/STLS that fails does not make the endpoint unusable: say so, go on."""
    reply = conn.command(verb)
    if not _positive(reply):
        return f"{verb} refused: {str(reply).splitlines()[0] if str(reply) else ''}"
    try:
        conn.start_tls()
        again()
    except TransportError as exc:
        conn.abort()           # the session is unusable now; the plaintext side answered fine
        return f"{verb} handshake failed: {exc}"
    return f"{verb} ok"


def _login(target: Target, limits: Limits, info: ServerInfo, user: User) -> Login:
    ctx = _context(target, limits, info)
    started = time.perf_counter()
    try:
        conn = open_maildrop(ctx, user, None)
        conn.command("QUIT", ctx.reply_timeout())
        return Login(user.login, True, "+OK", (time.perf_counter() - started) * 1000)
    except CheckFailed as exc:
        return Login(user.login, False, exc.problems[0], (time.perf_counter() - started) * 1000)
    except TransportError as exc:
        return Login(user.login, False, str(exc), (time.perf_counter() - started) * 1000, exc.error_class)
    except CheckSkipped as exc:
        return Login(user.login, False, str(exc), (time.perf_counter() - started) * 1000)
    finally:
        ctx.close_all()


_CANARY_HINT = "does the SMTP server deliver to the mailbox that POP3 reads?"


def _canary(target: Target, limits: Limits, info: ServerInfo, user: User) -> Canary:
    """Send one small message to ``user`` by SMTP and wait for it in POP3 (then delete it)."""
    locks = MailboxLocks()
    ctx = _context(target, limits, info, locks, timeout=target.delivery_timeout + limits.reply_deadline * 4 + 10)
    try:
        conn = open_service(ctx, "smtp", "smtp")
        ctx.greetings.pop("smtp", None) or conn.read_reply(ctx.reply_timeout())
        conn.ehlo(target.client_name)
        sender = ctx.default_sender()
        sent = ctx.build("canary", {"subject": "mailharness preflight canary"}, sender, [user.address])
        for line, codes in ((f"MAIL FROM:<{sender}>", {250}), (f"RCPT TO:<{user.address}>", {250, 251}),
                            ("DATA", {354})):
            reply = conn.command(line, ctx.reply_timeout())
            if not isinstance(reply, SmtpReply) or reply.code not in codes:
                return Canary("refused", f"the SMTP server refused a test message to {user.address}: "
                                         f"{line.split(':')[0]} got {reply}")
        conn.send(sent.data + b".\r\n", note="preflight canary")
        reply = conn.read_reply(ctx.reply_timeout())
        if reply.code != 250:
            return Canary("refused", f"the SMTP server refused a test message to {user.address}: "
                                     f"end of data got {reply}")
        conn.command("QUIT", ctx.reply_timeout())
        accepted = time.perf_counter()

        found = find_message(lambda stack: open_maildrop(ctx, user, stack), sent.marker,
                             timeout=target.delivery_timeout, delete=True, want_present=True)
        if found is None:
            return Canary("missing", f"a message sent to {user.address} by SMTP (accepted with 250) was not in "
                                     f"{user.login}'s POP3 mailbox after {target.delivery_timeout:g} s: "
                                     f"{_CANARY_HINT}")
        ms = (time.perf_counter() - accepted) * 1000
        return Canary("delivered", f"SMTP to {user.address}, found by POP3 as {user.login}", ms)
    except (TransportError, CheckFailed, CheckSkipped) as exc:
        return Canary("missing", f"the test delivery to {user.address} could not be completed: {exc}")
    finally:
        ctx.close_all()


def run_preflight(target: Target, limits: Limits, *, canary: bool = True) -> Preflight:
    """Probe SMTP and POP3 at once, then the logins, then one delivery when both sides work."""
    started = time.perf_counter()
    pre = Preflight()
    protocols = [p for p in ("smtp", "pop3") if target.endpoint(p) is not None]
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="preflight") as pool:
        for probe in pool.map(lambda p: _probe_one(target, limits, pre.info, p), protocols):
            pre.probes[probe.service] = probe
        pop3 = pre.probes.get("pop3")
        if pop3 is not None and pop3.usable and target.users:
            pre.logins = list(pool.map(lambda u: _login(target, limits, pre.info, u), target.users))
    smtp = pre.probes.get("smtp")
    if canary and smtp is not None and pop3 is not None:
        user = next((target.users[i] for i, x in enumerate(pre.logins) if x.ok), None)
        if not (smtp.usable and pop3.usable):
            pre.canary = Canary("not-run", "an endpoint failed")
        elif user is None:
            pre.canary = Canary("not-run", "no POP3 login works")
        else:
            pre.canary = _canary(target, limits, pre.info, user)
    pre.duration_s = time.perf_counter() - started
    return pre
