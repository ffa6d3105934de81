"""Per-check state while it runs: connections, variables, sent messages, deadline."""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from harness.errors import Timeout, TransportError
from harness.message import MessageSpec, build_message, spec_from_mapping
from harness.protocol.replies import Capabilities
from harness.scenario.mailbox import MailboxLocks
from harness.scenario.model import Check, Step
from harness.scenario.needs import shortfall
from harness.scenario.templating import render
from harness.session import Connection, Limits
from harness.config.target import Target, User
from harness.transcript import Transcript

__all__ = ["CheckFailed", "CheckPassedEarly", "CheckSkipped", "SentMessage", "ServerInfo", "CheckContext"]


class CheckFailed(Exception):
    """Internal control flow: an expectation failed. Caught by the runner and turned into a result."""

    def __init__(self, problems: list[str], step: Step | None = None) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.step = step


class CheckPassedEarly(Exception):
    """Internal control flow: the server settled the question before the last step (the message says how)."""


class CheckSkipped(Exception):
    """Internal control flow: the check does not apply to this target."""


@dataclass(frozen=True, slots=True)
class SentMessage:
    name: str
    marker: str
    data: bytes                   # as built, before dot-stuffing: what POP3 must give back
    sender: str
    recipients: tuple[str, ...]


@dataclass(slots=True)
class ServerInfo:
    """What the capability probe learnt, shared read-only by all checks of a run."""

    smtp: Capabilities | None = None
    smtp_tls: Capabilities | None = None
    pop3: Capabilities | None = None
    pop3_tls: Capabilities | None = None
    smtp_error: str | None = None
    pop3_error: str | None = None
    smtp_error_class: str | None = None
    pop3_error_class: str | None = None
    smtp_greeting: str = ""
    pop3_greeting: str = ""


@dataclass
class CheckContext:
    check: Check
    target: Target
    limits: Limits
    locks: MailboxLocks
    server: ServerInfo
    transcript: Transcript
    run_id: str = ""
    conns: dict[str, Connection] = field(default_factory=dict)
    current: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    messages: dict[str, SentMessage] = field(default_factory=dict)
    greetings: dict[str, Any] = field(default_factory=dict)     # conn name → greeting read during setup
    deadline: float = 0.0
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    session_logins: dict[str, str] = field(default_factory=dict)   # POP3 connection name → login it holds
    typed_users: dict[str, str] = field(default_factory=dict)      # POP3 connection name → last USER sent by hand
    rotation: int = 0             # users[0] of this check is target.users[rotation % n]
    users: tuple[User, ...] = ()

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.check.timeout
        # Spreading checks over the target's mailboxes lets POP3 checks, which
        # lock a maildrop, run in parallel; the order of users stays the same.
        n = len(self.target.users)
        k = self.rotation % n if n else 0
        self.users = self.target.users[k:] + self.target.users[:k]

    # -- time ------------------------------------------------------------------------------------

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Timeout(f"check exceeded its {self.check.timeout:g} s time limit")
        return left

    def reply_timeout(self, wanted: float | None = None) -> float:
        return min(wanted if wanted is not None else self.limits.reply_deadline, self.remaining())

    # -- connections -----------------------------------------------------------------------------

    def conn(self, step: Step | None = None) -> Connection:
        name = (step.conn if step is not None and step.conn else None) or self.current
        if name is None or name not in self.conns:
            known = ", ".join(self.conns) or "none"
            raise CheckFailed([f"no open connection named {name!r} (open: {known})"], step)
        return self.conns[name]

    def lock_session(self, conn_name: str, login: str) -> None:
        """A POP3 login on ``conn_name``: hold the mailbox until that session ends."""
        self.locks.acquire(login, self.uid)
        self.session_logins[conn_name] = login

    def typed_line(self, conn_name: str, line: str) -> None:
        """A POP3 command written out in a step: a hand-written PASS or APOP opens the
        maildrop as the login step does, so it takes the same lock first (else another
        check's login on a one-mailbox target meets ``-ERR [IN-USE]``)."""
        verb, _, rest = line.partition(" ")
        verb, name = verb.upper(), rest.split(" ", 1)[0]
        if verb == "USER" and name:
            self.typed_users[conn_name] = name
        elif verb == "PASS" and conn_name in self.typed_users:
            self.lock_session(conn_name, self.typed_users[conn_name])
        elif verb == "APOP" and name:
            self.lock_session(conn_name, name)

    def end_session(self, conn_name: str) -> None:
        """The session on ``conn_name`` is over (QUIT or dropped): let other checks have the mailbox."""
        login = self.session_logins.pop(conn_name, None)
        if login is not None and login not in self.session_logins.values():
            self.locks.release(login, self.uid)

    def close_all(self) -> None:
        for name, conn in self.conns.items():
            if name in self.session_logins and not conn.closed:
                # A session that still holds a maildrop (the check ended before QUIT): let the
                # server see the end and give the maildrop up before other checks get the
                # mailbox, or their login meets "-ERR [IN-USE]".
                with contextlib.suppress(TransportError):
                    conn.shutdown_write()
                    conn.wait_closed(1.0)
            conn.close()
        self.locks.release_all(self.uid)

    # -- users and templates -----------------------------------------------------------------------

    def user(self, ref: int | str | None = None) -> User:
        users = self.users
        # The runner skips on Check.mailboxes before any step; this catches what derivation missed.
        lacking = shortfall(ref + 1 if isinstance(ref, int) else 1, len(users))
        if lacking:
            raise CheckSkipped(lacking)
        if ref is None:
            return users[0]
        if isinstance(ref, int):
            return users[ref]
        for u in users:
            if ref in (u.login, u.address):
                return u
        raise CheckFailed([f"no user {ref!r} in the target"])

    def template_context(self) -> dict[str, Any]:
        t = self.target
        users = [u.to_context() for u in self.users]
        return {
            "client_name": t.client_name, "domain": t.domain, "foreign_domain": t.foreign_domain,
            "users": users, "user": users[0] if users else {},
            "sender": self.default_sender(),     # a real address where possible, users[1] before users[0]
            "smtp_auth": {"login": t.smtp_auth[0], "password": t.smtp_auth[1]} if t.smtp_auth else {},
            "vars": dict(self.vars), "uid": self.uid, "check_id": self.check.id,
            "markers": {name: m.marker for name, m in self.messages.items()},
            # keywords the current connection advertised last (EHLO or CAPA), upper-cased
            "capabilities": self._current_capabilities(),
            # the SIZE limit the current SMTP connection advertised (RFC 1870 §4), 0: none or no limit
            "size_limit": self._size_limit(),
            **self.vars,
        }

    def _size_limit(self) -> int:
        conn = self.conns.get(self.current) if self.current else None
        caps = conn.capabilities if conn is not None else None
        params = caps.get("SIZE", ()) if caps is not None and "SIZE" in caps else ()
        return int(params[0]) if params and str(params[0]).isdigit() else 0

    def _current_capabilities(self) -> list[str]:
        conn = self.conns.get(self.current) if self.current else None
        return list(conn.capabilities) if conn is not None and conn.capabilities else []

    def render(self, text: str) -> str:
        return render(text, self.template_context())

    def render_tree(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.render(value)
        if isinstance(value, dict):
            return {k: self.render_tree(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.render_tree(v) for v in value]
        return value

    # -- messages ----------------------------------------------------------------------------------

    def default_sender(self) -> str:
        users = self.users
        return users[1].address if len(users) > 1 else (users[0].address if users else f"harness@{self.target.domain}")

    def build(self, name: str, spec: Any, sender: str, recipients: list[str]) -> SentMessage:
        marker = f"mh-{self.run_id or 'run'}-{self.uid}-{name}"
        message_spec: MessageSpec = spec_from_mapping(self.render_tree(spec or {}))
        data = build_message(message_spec, marker=marker, sender=sender, recipients=recipients)
        sent = SentMessage(name, marker, data, sender, tuple(recipients))
        self.messages[name] = sent
        return sent
