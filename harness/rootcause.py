"""Root causes: many checks ending for one reason are one line, not many; the preflight as text.

Shared by the terminal summary and the HTML report, which hold results as
different types (``CheckResult`` and the report's ``CheckView``): both have
``id``, ``status``, ``level``, ``error_class`` and ``message``.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any, Iterable, Mapping

__all__ = ["Cause", "group_causes", "all_causes", "kind_of", "shape", "suggest_fix", "SEVERITY", "unjudged_security", "unjudged_for_want_of_a_mailbox", "preflight_lines",
           "NO_MAILBOX"]


def _text(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


# Kinds of cause, so a reader can tell "the server is broken" from "we could not tell" and from
# "fix your setup" (docs/results.md, "causes").
SERVER, UNJUDGED, SETUP, SKIPPED = "server", "unjudged", "setup", "skipped"
SCENARIO_PREFIX, HARNESS_PREFIX = "scenario error:", "harness bug"

# "scenarios/smtp-core.yaml:57: " (any path, a line or a range): where, not what.
_WHERE = re.compile(r"(?:(?<=\s)|^)[^\s:'\"]+\.ya?ml:\d+(?:-\d+)?: ")
_MARKER = re.compile(r"mh-[0-9a-f]{8}-[0-9a-f]{12}(-[\w.-]+)?")


def kind_of(check: Any) -> str:
    """server (the server answered wrongly), unjudged (the check could not be judged), setup, skipped."""
    status, message = _text(check.status), check.message or ""
    if status == "skipped":
        return SKIPPED
    if status == "failed":
        return SERVER
    if message.startswith((SCENARIO_PREFIX, HARNESS_PREFIX)):
        return SETUP
    return UNJUDGED


def shape(check: Any) -> str:
    """The message without what differs from check to check: file:line prefixes, message markers;
    for a harness bug, the exception line at the end of the traceback."""
    message = check.message or ""
    if message.startswith(HARNESS_PREFIX):
        tail = [line for line in message.splitlines() if line.strip()]
        return "harness bug (please report): " + (tail[-1].strip() if len(tail) > 1 else "")
    first = message.splitlines()[0] if message else ""
    return _MARKER.sub(lambda m: "mh-…" + (m.group(1) or ""), _WHERE.sub("", first)).strip()


# Suggested fixes: (error class or None for any, a regex on the shared message, the fix). The first
# match wins; {address} is the HOST:PORT named in the message, when there is one.
_FIXES: tuple[tuple[str | None, str, str], ...] = (
    (None, r"^harness bug", "a bug in mailharness, not in the server: please report it with results.json "
                            "(the traceback is in the check's message); the server was not judged"),
    (None, r"^scenario error: .*(undefined|template)", "a check's template does not fit this target: a bundled "
                                                      "check is a harness bug (please report it), your own "
                                                      "scenario file needs a fix at the line named"),
    (None, r"^scenario error:", "a scenario file cannot run against this target: fix the file at the line "
                                "named (for a bundled check, please report it)"),
    ("delivery", r"", "check `delivery` in the target file: does the SMTP server deliver to the mailbox that "
                      "POP3 reads (the preflight's canary did not arrive; docs/target-file.md, Preflight)?"),
    (None, r"no POP3 login works", "check `users` (login and password) in the target file: the POP3 server "
                                  "refused every login"),
    ("tls", r"", "does the server's TLS accept the harness's handshake (TLS 1.2 or newer, its certificate; "
                 "`tls_verify`)? Check `tls:` of {address} in the target file: starttls vs implicit"),
    ("connection-refused", r"", "is the server listening on {address}? Check host and port in the target file"),
    ("timeout", r"(connect|greeting)", "is the server listening on {address} and answering? (no greeting "
                                       "within --timeout; a firewall that drops packets looks the same)"),
    ("timeout", r"stayed busy", "another check held the mailbox: give the target more users, or lower --jobs"),
    ("timeout", r"", "the server did not answer in time: raise --timeout if it is slow, else look at "
                     "{address}'s logs for the command named"),
    ("connection-closed", r"greeting|421|-ERR", "the server refused service in its greeting: is it overloaded "
                                               "or does it block the harness's address?"),
    ("connection-closed", r"", "the server closed the connection where a reply was due: look at its logs"),
    ("connection-reset", r"", "the server reset the connection: look at its logs (a crash, a limit, a firewall)"),
    ("protocol-violation", r"", "the server sent bytes that are not a reply: is {address} really an "
                                "SMTP/POP3 server (not TLS, HTTP or another protocol)?"),
    ("oversize", r"", "the server sent a reply beyond the size bounds: look at the transcript"),
)
_ADDRESS = re.compile(r"\b((?:\[[0-9a-fA-F:]+\]|[\w.-]+):\d{1,5})\b")


def suggest_fix(status: str, error_class: str | None, message: str) -> str:
    """What to change or look at for a cause, or "" when nothing general can be said (a server failure)."""
    if status in ("failed", "skipped", "passed"):
        return ""
    for cls, pattern, fix in _FIXES:
        if (cls is None or cls == error_class) and re.search(pattern, message):
            found = _ADDRESS.search(message)
            return fix.replace("{address}", found.group(1) if found else "the endpoint")
    return ""


@dataclass(frozen=True, slots=True)
class Cause:
    status: str                  # error | skipped | failed
    error_class: str | None
    message: str                 # the first line the checks share
    ids: tuple[str, ...]
    levels: tuple[str, ...]      # one per id
    kind: str = UNJUDGED         # server | unjudged | setup | skipped
    fix: str = ""                # what to change or look at, when something general can be said

    @property
    def count(self) -> int:
        return len(self.ids)

    def verb(self) -> str:
        return {SERVER: "failed", SETUP: "could not run (setup problem)", SKIPPED: "skipped"}.get(
            self.kind, "could not be judged")

    def headline(self) -> str:
        noun = "check" if self.count == 1 else "checks"
        if self.status == "skipped":
            return f"{self.count} {noun} skipped: {self.message}"
        kind = f" ({self.error_class})" if self.error_class else ""
        return f"{self.count} {noun} {self.verb()}{kind}: {self.message}"

    def sample(self, n: int = 4) -> str:
        more = f" and {self.count - n} more" if self.count > n else ""
        return ", ".join(self.ids[:n]) + more

    def worst_level(self) -> str:
        return min(self.levels, key=lambda lv: SEVERITY.index(lv) if lv in SEVERITY else len(SEVERITY),
                   default="")

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "kind": self.kind, "error_class": self.error_class,
                "message": self.message, "count": self.count, "checks": list(self.ids),
                "levels": sorted(set(self.levels), key=lambda lv: SEVERITY.index(lv) if lv in SEVERITY else 9),
                "fix": self.fix or None}


# Most severe first: the order of the terminal's failures and the report's first screen.
SEVERITY = ("SECURITY", "MUST", "SHOULD", "MAY", "POLICY")


def group_causes(checks: Iterable[Any], statuses: Iterable[str] = ("error",)) -> list[Cause]:
    """Checks with the given statuses grouped by (status, error class, message shape), largest first."""
    wanted = set(statuses)
    groups: dict[tuple[str, str | None, str], list[Any]] = {}
    for c in checks:
        status = _text(c.status)
        if status in wanted:
            groups.setdefault((status, c.error_class, shape(c)), []).append(c)
    causes = [Cause(status, cls, msg, tuple(c.id for c in members), tuple(_text(c.level) for c in members),
                    kind_of(members[0]), suggest_fix(status, cls, msg))
              for (status, cls, msg), members in groups.items()]
    return sorted(causes, key=lambda cause: -cause.count)


def all_causes(checks: Iterable[Any]) -> list[Cause]:
    """Every failed or error check in exactly one cause: setup problems first, then what could not be
    judged, then server failures; larger causes and more severe levels first within each."""
    order = {SETUP: 0, UNJUDGED: 1, SERVER: 2}
    causes = group_causes(checks, ("error", "failed"))
    sev = {lv: i for i, lv in enumerate(SEVERITY)}
    return sorted(causes, key=lambda c: (order.get(c.kind, 3), -c.count, sev.get(c.worst_level(), 9)))


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
