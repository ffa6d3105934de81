"""Scenario model: frozen values built by the loader; nothing past the loader sees raw YAML."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from harness.protocol.protocols import Protocol
from harness.results import Level

__all__ = ["Expect", "Step", "Check", "ScenarioFile", "walk_steps", "connect_target",
           "EXPECT_ONLY", "walk_protocols"]

@dataclass(frozen=True, slots=True)
class Expect:
    line: int = 0
    code: frozenset[int] | None = None
    not_code: frozenset[int] | None = None
    klass: frozenset[int] | None = None
    enhanced: str | None = None
    enhanced_class: int | None = None
    text: str | None = None            # regex; may use {{ }} (rendered when judged)
    multiline: bool | None = None
    capabilities: tuple[str, ...] = ()
    no_capabilities: tuple[str, ...] = ()
    ok: bool | None = None
    continuation: bool | None = None
    resp_code: str | None = None
    body: str | None = None
    body_lines: int | None = None
    min_body_lines: int | None = None
    stuffed: bool | None = None
    closed: bool = False
    or_closed: bool = False
    nothing: float | None = None
    violations: str = "fail"
    timeout: float | None = None
    capture: tuple[tuple[str, re.Pattern[str]], ...] = ()

    @property
    def reads_reply(self) -> bool:
        return not self.closed and self.nothing is None

    def only_for(self, protocol: Protocol) -> list[str]:
        """The fields set here that judge only ``protocol``'s replies."""
        return [name for name in EXPECT_ONLY[protocol] if getattr(self, name) is not None]


# Expect fields that judge one protocol's replies only (the YAML key of ``klass`` is ``class``).
EXPECT_ONLY: dict[Protocol, tuple[str, ...]] = {
    Protocol.SMTP: ("code", "not_code", "klass", "enhanced", "enhanced_class"),
    Protocol.POP3: ("ok", "continuation", "resp_code", "body", "body_lines", "min_body_lines", "stuffed"),
}


@dataclass(frozen=True, slots=True)
class Step:
    action: str
    value: Any                       # the action key's value, as plain frozen data
    line: int
    expects: tuple[Expect, ...] = ()
    conn: str | None = None            # the named connection ("conn:" in YAML)
    options: tuple[tuple[str, Any], ...] = ()     # other keys (e.g. secret: true)
    children: tuple["Step", ...] = ()            # for repeat

    def option(self, name: str, default: Any = None) -> Any:
        for key, val in self.options:
            if key == name:
                return val
        return default


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    title: str
    level: Level
    rfc: tuple[str, ...]
    steps: tuple[Step, ...]
    suite: str
    file: str
    line: int
    protocol: Protocol = Protocol.SMTP
    rationale: str = ""
    # (rfc, text): the RFC sentence that binds the server, verbatim; "" when not audited yet
    quote: tuple[str, str] | None = None
    tags: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    tls: str = "target"
    connect: bool = True
    timeout: float = 60.0
    defects: tuple[str, ...] = ()
    mailboxes: int = 0      # target users it needs (derived by the loader; see needs.py)

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def quote_text(self) -> str:
        """The quote as one line for reports: RFC 5321 §4.1.4: "..."."""
        if self.quote is None:
            return ""
        number, _, section = self.quote[0].partition("#")
        return f'RFC {number} §{section}: "{self.quote[1]}"'

    @property
    def rule_id(self) -> str | None:
        """What makes two checks test one rule: the same sentence of the same section."""
        if self.quote is None:
            return None
        return self.quote[0] + ":" + " ".join(self.quote[1].split())


@dataclass(frozen=True, slots=True)
class ScenarioFile:
    path: str
    suite: str
    protocol: Protocol
    checks: tuple[Check, ...] = field(default_factory=tuple)
    description: str = ""


def walk_steps(steps: Iterable[Step]) -> Iterator[Step]:
    """Every step, nested ones (``repeat``) included, in order."""
    for step in steps:
        yield step
        yield from walk_steps(step.children)


def connect_target(value: Any) -> tuple[str, str, str]:
    """(service, connection name, tls) of a ``connect`` step's value: ``smtp`` or ``{service:, as:, tls:}``."""
    if isinstance(value, str):
        return value, value, "target"
    service = value.get("service", "smtp")
    return service, value.get("as", service), value.get("tls", "target")


def walk_protocols(steps: Iterable[Step], protocol: Protocol, connect: bool) -> Iterator[tuple[Step, Protocol | None]]:
    """Every step (as ``walk_steps``) with the protocol of the connection it runs on, None if none is open.

    ``protocol``/``connect`` describe the check's first connection (named after its protocol);
    ``connect`` steps open and switch to a named connection, ``use`` switches, ``conn:`` picks one.
    """
    protocols: dict[str, Protocol] = {protocol.value: protocol} if connect else {}
    current: str | None = protocol.value if connect else None
    for step in walk_steps(steps):
        name = step.conn or current
        yield step, protocols.get(name) if name is not None else None
        if step.action == "connect":
            service, name, _ = connect_target(step.value)
            protocols[name] = Protocol.of_service(service)
            current = name
        elif step.action == "use" and isinstance(step.value, str):
            current = step.value
