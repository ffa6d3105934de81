"""The report model: one display-ready view of a run for the HTML and JUnit writers.

Architecture principle 11: a model first, then a template. ``build_report``
accepts either a live ``RunResult`` or the dict of a stored results.json, so
``mailharness run`` and ``mailharness report results.json`` render through the
same code. The input is always normalised through the results.json shape
(``RunResult.to_json()``), which keeps that contract the single source of truth.

Server banners and replies are hostile. Every string that reaches a view goes
through ``clean()``, which replaces characters that are illegal in XML 1.0,
unsafe for terminals (ESC, C1 controls) or misleading to readers (bidi
overrides) with a visible ``\\xNN``/``\\uNNNN`` escape. Escaping instead of
deleting keeps the evidence (the server *did* send ESC) while making the text
safe for XML, HTML and ``cat``. Markup escaping is left to the writers
(ElementTree, Jinja2 autoescape), which know their context.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.results import RunResult

__all__ = ["clean", "LineView", "CheckView", "RunReport", "build_report", "ATTENTION_STATUSES"]

# XML 1.0 "Char" excludes C0 controls other than TAB/LF/CR, surrogates and
# U+FFFE/U+FFFF; DEL and C1 (which includes the 8-bit CSI, 0x9B) drive
# terminals; U+202A-202E and U+2066-2069 reorder text ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
                     "\ud800-\udfff\ufffe\uffff]")

# Statuses that get the detailed view (details block, JUnit body).
ATTENTION_STATUSES = ("failed", "error")

# Sort rank within the gated / not-gated groups; unknown statuses from a
# hand-edited file land between the problems and the good news.
_STATUS_RANK = {"failed": 0, "error": 1, "skipped": 3, "passed": 4}

_SECRET_KEY = re.compile(r"pass|secret|token", re.IGNORECASE)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object) -> str:
    """Return ``value`` as text that is legal XML 1.0 and inert in a terminal."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return _UNSAFE.sub(_escape_char, text)


def _num(value: object) -> float:
    # Stored files may be hand-edited; a bad number must not crash the report.
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _texts(value: object) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(clean(v) for v in value)
    return (clean(value),) if value else ()


@dataclass(frozen=True, slots=True)
class LineView:
    """One transcript entry, rendered as a ``C: ...`` / ``S: ...`` line."""

    t: float | None
    conn: str
    dir: str
    text: str
    note: str
    line: str          # "C: EHLO client.test\r\n", conn-prefixed when a check used several connections

    def timed(self) -> str:
        """The line with its offset from check start, for plain-text views (JUnit)."""
        stamp = f"{self.t:8.3f}s " if self.t is not None else " " * 10
        return stamp + self.line


@dataclass(frozen=True, slots=True)
class CheckView:
    index: int                    # position in the run, for a stable sort
    id: str
    title: str
    suite: str
    level: str
    rfc: tuple[str, ...]
    status: str
    verdict: str                  # status, or "failed-not-gated"/"error-not-gated"
    gated: bool
    known_deviation: bool
    error_class: str | None
    message: str
    duration_ms: float
    failures: tuple[str, ...]
    findings: tuple[str, ...]
    rationale: str
    source: str
    transcript: tuple[LineView, ...]

    @property
    def needs_detail(self) -> bool:
        return self.status in ATTENTION_STATUSES

    def transcript_text(self) -> str:
        return "\n".join(line.timed() for line in self.transcript)

    def detail_text(self) -> str:
        """Failures, message, findings and transcript as one plain-text block."""
        parts: list[str] = []
        if self.failures:
            parts.append("Failures:\n" + "\n".join(f"  - {f}" for f in self.failures))
        if self.message and self.message not in self.failures:
            parts.append(f"Message: {self.message}")
        if self.findings:
            parts.append("Findings:\n" + "\n".join(f"  - {f}" for f in self.findings))
        if self.known_deviation:
            parts.append("Known deviation for this target: reported, not gated.")
        if self.source:
            parts.append(f"Source: {self.source}")
        if self.transcript:
            parts.append("Transcript:\n" + self.transcript_text())
        return "\n\n".join(parts)


@dataclass(frozen=True, slots=True)
class RunReport:
    tool: str
    version: str
    started: str
    target: tuple[tuple[str, str], ...]   # (key, display value), secrets masked
    summary: dict[str, Any]
    gate_passed: bool
    fail_on: tuple[str, ...]
    duration_s: float
    checks: tuple[CheckView, ...]         # run order

    def by_priority(self) -> list[CheckView]:
        """Gated problems first, then other failures/errors, skipped, passed; run order within."""
        return sorted(self.checks, key=lambda c: (not c.gated, _STATUS_RANK.get(c.status, 2), c.index))

    def suites(self) -> dict[str, list[CheckView]]:
        """Checks grouped by suite, suites and checks in run order."""
        grouped: dict[str, list[CheckView]] = {}
        for check in self.checks:
            grouped.setdefault(check.suite, []).append(check)
        return grouped

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _lines(entries: object) -> tuple[LineView, ...]:
    if not isinstance(entries, list):
        return ()
    rows = [e if isinstance(e, Mapping) else {"dir": "*", "text": e} for e in entries]
    # Only name the connection when there is more than one: "C:" alone reads best.
    several = len({r.get("conn") for r in rows}) > 1
    out: list[LineView] = []
    for row in rows:
        conn, direction = clean(row.get("conn", "")), clean(row.get("dir", "*")) or "*"
        text, note = clean(row.get("text", "")), clean(row.get("note") or "")
        t = row.get("t")
        head = f"* {text}" if direction == "*" else f"{direction}: {text}"
        if note:
            head += f"  # {note}"
        if several and conn:
            head = f"[{conn}] {head}"
        out.append(LineView(t=_num(t) if t is not None else None, conn=conn, dir=direction,
                            text=text, note=note, line=head))
    return tuple(out)


def _check_view(index: int, data: Mapping[str, Any]) -> CheckView:
    status = clean(data.get("status", "error")) or "error"
    gated = bool(data.get("gated"))
    verdict = status if gated or status not in ATTENTION_STATUSES else f"{status}-not-gated"
    return CheckView(
        index=index,
        id=clean(data.get("id", f"check-{index}")),
        title=clean(data.get("title", "")),
        suite=clean(data.get("suite", "")) or "default",
        level=clean(data.get("level", "")),
        rfc=_texts(data.get("rfc")),
        status=status,
        verdict=verdict,
        gated=gated,
        known_deviation=bool(data.get("known_deviation")),
        error_class=clean(data["error_class"]) if data.get("error_class") else None,
        message=clean(data.get("message", "")),
        duration_ms=_num(data.get("duration_ms")),
        failures=_texts(data.get("failures")),
        findings=_texts(data.get("findings")),
        rationale=clean(data.get("rationale", "")),
        source=clean(data.get("source", "")),
        transcript=_lines(data.get("transcript")),
    )


def _display(value: object, key: str = "") -> str:
    # Passwords are masked upstream; masking again here costs nothing and keeps
    # a hand-written results file from leaking one into a shared HTML artifact.
    if key and _SECRET_KEY.search(key) and value not in (None, ""):
        return "***"
    if isinstance(value, Mapping):
        return ", ".join(f"{clean(k)}={_display(v, str(k))}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(f"{{{_display(v)}}}" if isinstance(v, Mapping) else _display(v) for v in value)
    return clean(value)


def build_report(source: RunResult | Mapping[str, Any]) -> RunReport:
    """Turn a ``RunResult`` or a loaded results.json dict into a ``RunReport``."""
    data: Mapping[str, Any] = source.to_json() if isinstance(source, RunResult) else source
    raw_checks = data.get("checks") or []
    checks = tuple(_check_view(i, c) for i, c in enumerate(raw_checks) if isinstance(c, Mapping))
    stored = data.get("summary") if isinstance(data.get("summary"), Mapping) else {}
    # A load run can fail its gate on a threshold with no gated check, so the
    # stored verdict wins; derive it only when the file has none.
    gate = stored.get("gate")
    gate_passed = gate == "passed" if gate in ("passed", "failed") else not any(c.gated for c in checks)
    fail_on = _texts(stored.get("fail_on")) or ("MUST", "SECURITY")
    counts = {s: sum(c.status == s for c in checks) for s in ("passed", "failed", "error", "skipped")}
    summary = {
        "total": len(checks),
        "passed": counts["passed"],
        "failed": counts["failed"],
        "errors": counts["error"],
        "skipped": counts["skipped"],
        "not_gated": sum(c.needs_detail and not c.gated for c in checks),
        "known_deviations": sum(c.known_deviation for c in checks),
        "gate": "passed" if gate_passed else "failed",
        "fail_on": list(fail_on),
        "duration_s": _num(stored.get("duration_s")),
    }
    target = data.get("target")
    return RunReport(
        tool=clean(data.get("tool", "mailharness")),
        version=clean(data.get("version", "")),
        started=clean(data.get("started", "")),
        target=tuple((clean(k), _display(v, str(k))) for k, v in target.items())
        if isinstance(target, Mapping) else (),
        summary=summary,
        gate_passed=gate_passed,
        fail_on=fail_on,
        duration_s=summary["duration_s"],
        checks=checks,
    )
