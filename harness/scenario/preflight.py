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

from harness.errors import DeliveryFailed, TransportError
from harness.protocol.pop3_listings import drop_listing
from harness.protocol.protocols import Protocol
from harness.protocol.replies import Pop3Response, SmtpReply
from harness.results import Level, Status
from harness.rootcause import preflight_lines
from harness.scenario.context import CheckContext, CheckFailed, CheckSkipped, ServerInfo
from harness.scenario.delivery import deliver
from harness.scenario.mailbox import MailboxLocks, find_message
from harness.scenario.model import Check, Step, connect_target, walk_steps
from harness.scenario.stepbase import open_maildrop, open_service
from harness.session import Connection, Limits
from harness.config.target import Delivery, DeliveryKind, Target, User
from harness.transcript import Transcript

__all__ = ["Preflight", "Probe", "Blocker", "CheckNeeds", "needs_of", "run_preflight", "POP3_LOGIN_ACTIONS"]

# Step actions that open a POP3 maildrop (and so need a working login).
POP3_LOGIN_ACTIONS = frozenset({"login", "retrieve", "inspect"})


@dataclass(frozen=True, slots=True)
class CheckNeeds:
    """What a check depends on, read from its steps once."""

    services: frozenset[str]        # smtp, pop3, smtps, pop3s
    primary: Protocol               # where the check starts: its own failure is named first
    pop3_login: bool                # logs into a maildrop (login/retrieve, or AUTH on POP3)
    delivery: bool                  # has a ``retrieve``/``deliver``: relies on mail reaching the mailbox
    own_message: bool = False       # ... and cannot do without a message of its own (no ``or_existing``)


def _step_services(step: Step) -> Iterable[str]:
    if step.action == "connect":
        yield connect_target(step.value)[0]
    elif step.action == "retrieve":
        yield "pop3"


def needs_of(check: Check, target: Target) -> CheckNeeds:
    """What ``check`` depends on against ``target`` (a ``deliver`` goes by SMTP only if the target says so)."""
    services: set[str] = set()
    if check.connect:
        tls_service = check.protocol.implicit_tls_service
        implicit = check.tls == "implicit" and target.endpoint(tls_service) is not None
        services.add(tls_service if implicit else check.protocol.value)
    how = target.deliver_by
    pop3_login = delivery = own = False
    for step in walk_steps(check.steps):
        services.update(_step_services(step))
        delivery |= step.action in ("retrieve", "deliver")
        own |= step.action in ("retrieve", "deliver") and not (step.value or {}).get("or_existing")
        if step.action == "deliver" and (how is None or how.kind is DeliveryKind.SMTP):
            services.add("smtp" if how is not None else "pop3")
        pop3_login |= step.action in POP3_LOGIN_ACTIONS
        pop3_login |= step.action == "auth" and check.protocol is Protocol.POP3
    return CheckNeeds(frozenset(services), check.protocol, pop3_login, delivery, own)


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

    status: str                 # delivered | missing | refused | not-run | existing (nothing delivered)
    message: str
    ms: float = 0.0
    mode: str = "smtp"          # the target's delivery path: smtp | maildir | existing


@dataclass(slots=True)
class Preflight:
    info: ServerInfo = field(default_factory=ServerInfo)
    probes: dict[str, Probe] = field(default_factory=dict)
    logins: list[Login] = field(default_factory=list)
    canary: Canary | None = None
    duration_s: float = 0.0

    # -- what the checks may rely on ------------------------------------------------------------

    def blocker(self, needs: CheckNeeds) -> Blocker | None:
        for service in sorted(needs.services, key=lambda s: (Protocol.of_service(s) is not needs.primary, s)):
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
            {"status": self.canary.status, "mode": self.canary.mode, "message": self.canary.message,
             "ms": round(self.canary.ms, 1)},
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


def _probe_one(target: Target, limits: Limits, info: ServerInfo, protocol: Protocol) -> Probe:
    service = protocol.value        # the plaintext endpoint, named like the protocol; also ServerInfo's field prefix
    probe = Probe(service, _address(target, service))
    ctx = _context(target, limits, info)
    started = time.perf_counter()
    stage = "connect"
    try:
        conn = open_service(ctx, service, service)
        stage = "greeting"
        greeting = ctx.greetings.pop(service, None) or conn.read_any(ctx.reply_timeout())
        stage = "EHLO" if protocol is Protocol.SMTP else "CAPA"
        probe.greeting = str(greeting).splitlines()[0] if str(greeting) else ""
        setattr(info, f"{service}_greeting", str(greeting))
        # A greeting with the wrong code is a finding for the greeting checks, not a reason
        # to stop the others: only the transport failing blocks checks, so EHLO/CAPA go on.
        _probe_capabilities(conn, target, info, probe, protocol)
        if not conn.closed:
            conn.command("QUIT")
    except TransportError as exc:
        probe.error, probe.error_class, probe.stage = f"{stage}: {exc}", exc.error_class, stage
        setattr(info, f"{service}_error", str(exc))
        setattr(info, f"{service}_error_class", exc.error_class)
    except (CheckFailed, CheckSkipped) as exc:
        # open_service's upgrade when the target says tls: starttls
        probe.error, probe.error_class, probe.stage = str(exc), "tls", "connect"
        setattr(info, f"{service}_error", str(exc))
        setattr(info, f"{service}_error_class", "tls")
    finally:
        probe.ms = (time.perf_counter() - started) * 1000
        ctx.close_all()
    return probe


def _positive(reply: SmtpReply | Pop3Response) -> bool:
    return reply.code == 220 if isinstance(reply, SmtpReply) else bool(reply.ok)


def _probe_capabilities(conn: Connection, target: Target, info: ServerInfo, probe: Probe, protocol: Protocol) -> None:
    """EHLO or CAPA, and again inside STARTTLS/STLS when it is offered (what ``requires:`` is judged on)."""
    smtp = protocol is Protocol.SMTP
    service = protocol.value
    verb = "STARTTLS" if smtp else "STLS"
    ask: Callable[[], object] = (lambda: conn.ehlo(target.client_name)) if smtp else conn.capa
    ask()
    setattr(info, service, conn.capabilities)
    probe.capabilities = tuple(conn.capabilities or ())
    endpoint = target.endpoint(service)
    if endpoint is not None and endpoint.tls != "none":
        setattr(info, f"{service}_tls", conn.capabilities)
        probe.tls = f"TLS ({endpoint.tls}) ok"
    elif conn.capabilities and verb in conn.capabilities:
        probe.tls = _upgrade(conn, verb, ask)
        setattr(info, f"{service}_tls", conn.capabilities if probe.tls == f"{verb} ok" else None)


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


_HINTS = {
    DeliveryKind.SMTP: "does the SMTP server deliver to the mailbox that POP3 reads?",
    DeliveryKind.MAILDIR: "is that the Maildir the POP3 server reads for this user?",
}


def _canary(target: Target, limits: Limits, info: ServerInfo, user: User, how: Delivery) -> Canary:
    """Put one small message into ``user``'s mailbox the target's way, wait for it in POP3, delete it."""
    locks = MailboxLocks()
    ctx = _context(target, limits, info, locks, timeout=target.delivery_timeout + limits.reply_deadline * 4 + 10)
    kind = how.kind.value
    try:
        sent = ctx.build("canary", {"subject": "mailharness preflight canary"}, ctx.default_sender(),
                         [user.address])
        try:
            deliver(ctx, sent, user)
        except CheckFailed as exc:
            return Canary("refused", f"the SMTP server refused a test message to {user.address}: "
                                     f"{exc.problems[0]}", mode=kind)
        except DeliveryFailed as exc:
            return Canary("refused", str(exc), mode=kind)
        accepted = time.perf_counter()
        how_sent = (f"a message sent to {user.address} by SMTP (accepted with 250)" if how.kind is DeliveryKind.SMTP
                    else f"a message written into {how.maildir_of(user)}")
        found = find_message(lambda stack: open_maildrop(ctx, user, stack), sent.marker,
                             timeout=target.delivery_timeout, delete=True, want_present=True)
        if found is None:
            return Canary("missing", f"{how_sent} was not in {user.login}'s POP3 mailbox after "
                                     f"{target.delivery_timeout:g} s: {_HINTS[how.kind]}", mode=kind)
        ms = (time.perf_counter() - accepted) * 1000
        via = f"SMTP to {user.address}" if how.kind is DeliveryKind.SMTP else f"Maildir {how.maildir_of(user)}"
        return Canary("delivered", f"{via}, found by POP3 as {user.login}", ms, mode=kind)
    except (TransportError, CheckFailed, CheckSkipped) as exc:
        return Canary("missing", f"the test delivery to {user.address} could not be completed: {exc}", mode=kind)
    finally:
        ctx.close_all()


def _maildrop(target: Target, limits: Limits, info: ServerInfo, user: User) -> Canary:
    """``delivery: existing``: nothing is delivered; say what the maildrop holds (STAT)."""
    ctx = _context(target, limits, info)
    try:
        conn = open_maildrop(ctx, user, None)
        stat = conn.command("STAT", ctx.reply_timeout())
        conn.command("QUIT", ctx.reply_timeout())
        drop = drop_listing(stat) if isinstance(stat, Pop3Response) else None
        if drop is not None:
            return Canary("existing", f"{user.login}'s maildrop holds {drop[0]} messages ({drop[1]} octets); "
                                      "they are only read", mode="existing")
        return Canary("existing", f"STAT as {user.login} got {stat}", mode="existing")
    except (TransportError, CheckFailed, CheckSkipped) as exc:
        return Canary("existing", f"STAT as {user.login} failed: {exc}", mode="existing")
    finally:
        ctx.close_all()


def run_preflight(target: Target, limits: Limits, *, canary: bool = True) -> Preflight:
    """Probe SMTP and POP3 at once, then the logins, then one delivery when both sides work."""
    started = time.perf_counter()
    pre = Preflight()
    protocols = [p for p in Protocol if target.endpoint(p.value) is not None]
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="preflight") as pool:
        for probe in pool.map(lambda p: _probe_one(target, limits, pre.info, p), protocols):
            pre.probes[probe.service] = probe
        pop3 = pre.probes.get("pop3")
        if pop3 is not None and pop3.usable and target.users:
            pre.logins = list(pool.map(lambda u: _login(target, limits, pre.info, u), target.users))
    how = target.deliver_by
    if canary and how is not None and pop3 is not None:
        smtp = pre.probes.get("smtp")
        user = next((target.users[i] for i, x in enumerate(pre.logins) if x.ok), None)
        if not pop3.usable or (how.kind is DeliveryKind.SMTP and (smtp is None or not smtp.usable)):
            pre.canary = Canary("not-run", "an endpoint failed", mode=how.kind.value)
        elif user is None:
            pre.canary = Canary("not-run", "no POP3 login works", mode=how.kind.value)
        elif how.kind is DeliveryKind.EXISTING:
            pre.canary = _maildrop(target, limits, pre.info, user)
        else:
            pre.canary = _canary(target, limits, pre.info, user, how)
    pre.duration_s = time.perf_counter() - started
    return pre
