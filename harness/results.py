"""Run results as values: what results.json, junit.xml and the reports are made from.

The JSON shape is a public contract (docs/results.md): add keys,
never rename them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Status", "Level", "CheckResult", "RunResult", "LEVELS"]


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class Level(str, enum.Enum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"
    SECURITY = "SECURITY"
    POLICY = "POLICY"


LEVELS = tuple(level.value for level in Level)


@dataclass(slots=True)
class CheckResult:
    id: str
    title: str
    suite: str
    level: Level
    rfc: tuple[str, ...]
    status: Status
    message: str = ""
    error_class: str | None = None
    duration_ms: float = 0.0
    transcript: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)   # every failed expectation of the check
    findings: list[str] = field(default_factory=list)   # server protocol violations seen on the way
    rationale: str = ""
    quote: str = ""           # the RFC sentence that binds the server, 'RFC 5321 §4.1.4: "..."'
    source: str = ""          # "file.yaml:line" of the check, for reports and pytest
    pcap: str | None = None   # capture file, relative to the report folder
    pcap_method: str | None = None   # "live" (sniffed on the wire) or "synthesized" (from the transcript)
    known_deviation: bool = False
    gated: bool = False       # set by the gate: this result made the run fail
    # With ``run --baseline``: this check's status in the baseline run ("absent"
    # when the baseline did not have it); None when no baseline was given.
    baseline_status: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "title": self.title,
            "suite": self.suite,
            "level": self.level.value,
            "rfc": list(self.rfc),
            "status": self.status.value,
            "error_class": self.error_class,
            "message": self.message,
            "duration_ms": round(self.duration_ms, 3),
            "failures": list(self.failures),
            "findings": list(self.findings),
            "rationale": self.rationale,
            **({"quote": self.quote} if self.quote else {}),
            "source": self.source,
            "known_deviation": self.known_deviation,
            **({"pcap": self.pcap, "pcap_method": self.pcap_method} if self.pcap else {}),
            "gated": self.gated,
            "transcript": list(self.transcript),
        }
        if self.baseline_status is not None:      # additive key, only with --baseline
            data["baseline_status"] = self.baseline_status
        return data


@dataclass(slots=True)
class RunResult:
    tool_version: str
    started: str                       # ISO 8601 UTC
    target: dict[str, Any]             # passwords already masked
    checks: list[CheckResult]
    duration_s: float = 0.0
    fail_on: tuple[str, ...] = ("MUST", "SECURITY")
    # With ``run --baseline``: {"file", "started", "regressions", "still_failing", "fixed"}
    # (see harness/report/baseline.py); written as a top-level "baseline" key.
    baseline: dict[str, Any] | None = None
    # What the preflight found (harness/scenario/preflight.py), written as a top-level "preflight" key.
    preflight: dict[str, Any] | None = None

    def gate_failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.gated]

    @property
    def gate_passed(self) -> bool:
        return not self.gate_failures()

    def summary(self) -> dict[str, Any]:
        counts = {s: 0 for s in Status}
        for c in self.checks:
            counts[c.status] += 1
        return {
            "total": len(self.checks),
            "passed": counts[Status.PASSED],
            "failed": counts[Status.FAILED],
            "errors": counts[Status.ERROR],
            "skipped": counts[Status.SKIPPED],
            "gate": "passed" if self.gate_passed else "failed",
            "fail_on": list(self.fail_on),
            "duration_s": round(self.duration_s, 3),
        }

    def to_json(self) -> dict[str, Any]:
        data = {
            "tool": "mailharness",
            "version": self.tool_version,
            "started": self.started,
            "target": self.target,
            "summary": self.summary(),
            "checks": [c.to_json() for c in self.checks],
        }
        if self.baseline is not None:
            data["baseline"] = self.baseline
        if self.preflight is not None:
            data["preflight"] = self.preflight
        # Every failed or error check in exactly one cause, with a suggested fix (docs/results.md).
        from harness.rootcause import all_causes
        data["causes"] = [cause.to_json() for cause in all_causes(self.checks)]
        return data

    def setup_problems(self) -> list[CheckResult]:
        """Checks that could not run because of the scenario or the harness, not the server (exit 2)."""
        from harness.rootcause import SETUP, kind_of
        return [c for c in self.checks if kind_of(c) == SETUP]
