"""Root causes: many checks ending for one reason are one line, not many; the preflight as text.

Shared by the terminal summary and the HTML report, which hold results as
different types (``CheckResult`` and the report's ``CheckView``): both have
``id``, ``status``, ``level``, ``error_class`` and ``message``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

__all__ = ["Cause", "group_causes", "unjudged_security", "unjudged_for_want_of_a_mailbox", "preflight_lines",
           "NO_MAILBOX"]


def _text(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


@dataclass(frozen=True, slots=True)
class Cause:
    status: str                  # error | skipped | failed
    error_class: str | None
    message: str                 # the first line the checks share
    ids: tuple[str, ...]
    levels: tuple[str, ...]      # one per id

    @property
    def count(self) -> int:
        return len(self.ids)

    def headline(self) -> str:
        noun = "check" if self.count == 1 else "checks"
        if self.status == "skipped":
            return f"{self.count} {noun} skipped: {self.message}"
        kind = f" ({self.error_class})" if self.error_class else ""
        verb = "failed" if self.status == "failed" else "could not run"
        return f"{self.count} {noun} {verb}{kind}: {self.message}"

    def sample(self, n: int = 4) -> str:
        more = f" and {self.count - n} more" if self.count > n else ""
        return ", ".join(self.ids[:n]) + more


def group_causes(checks: Iterable[Any], statuses: Iterable[str] = ("error",)) -> list[Cause]:
    """Checks with the given statuses grouped by (status, error class, first message line), largest first."""
    wanted = set(statuses)
    groups: dict[tuple[str, str | None, str], list[Any]] = {}
    for c in checks:
        status = _text(c.status)
        if status in wanted:
            first = (c.message or "").splitlines()[0] if c.message else ""
            groups.setdefault((status, c.error_class, first), []).append(c)
    causes = [Cause(status, cls, msg, tuple(c.id for c in members), tuple(_text(c.level) for c in members))
              for (status, cls, msg), members in groups.items()]
    return sorted(causes, key=lambda cause: -cause.count)


def unjudged_security(checks: Iterable[Any]) -> list[Any]:
    """SECURITY checks that were skipped or could not run: not a pass, and users must hear so."""
    return [c for c in checks if _text(c.level) == "SECURITY" and _text(c.status) in ("skipped", "error")]


NO_MAILBOX = "the target has no pop3 section"


def unjudged_for_want_of_a_mailbox(checks: Iterable[Any]) -> list[Any]:
    """Non-POP3 checks skipped because their verdict is read from a mailbox the target does not offer."""
    return [c for c in checks if _text(c.status) == "skipped" and c.message == NO_MAILBOX
            and not str(c.suite).startswith("pop3")]


def preflight_lines(data: Mapping[str, Any] | None) -> list[str]:
    """The preflight section of results.json as the few lines the terminal and the report show."""
    if not data:
        return []
    out = []
    for ep in data.get("endpoints") or ():
        name = str(ep.get("service", "")).upper()
        if ep.get("ok"):
            caps = " ".join(ep.get("capabilities") or ()) or "none"
            tls = f"; {ep['tls']}" if ep.get("tls") else ""
            out.append(f"{name} {ep.get('address')}: {str(ep.get('greeting', ''))[:72]} "
                       f"({float(ep.get('ms') or 0):.0f} ms); extensions: {caps}{tls}")
        elif ep.get("usable"):
            out.append(f"{name} {ep.get('address')}: {str(ep.get('greeting', ''))[:72]}; then "
                       f"{ep.get('error')} ({ep.get('error_class')})")
        else:
            out.append(f"{name} {ep.get('address')}: FAILED ({ep.get('error_class')}): {ep.get('error')}")
    logins = data.get("logins") or ()
    if logins:
        good = sum(1 for x in logins if x.get("ok"))
        bad = [f"{x.get('login')} ({x.get('reply')})" for x in logins if not x.get("ok")]
        out.append(f"POP3 logins: {good} of {len(logins)} ok" + (f"; refused: {', '.join(bad)}" if bad else ""))
    delivery = data.get("delivery")
    if delivery:
        mode = f"delivery ({delivery.get('mode', 'smtp')})"
        status = delivery.get("status")
        if status == "delivered":
            out.append(f"{mode}: ok in {float(delivery.get('ms') or 0):.0f} ms ({delivery.get('message')})")
        elif status == "existing":
            out.append(f"{mode}: nothing is delivered; {delivery.get('message')}")
        elif status != "not-run":
            out.append(f"{mode}: {str(status).upper()}: {delivery.get('message')}")
    return ["preflight: " + line for line in out]
