"""junit.xml: the CI gate view, one ``<testcase>`` per RFC rule (docs/reports.md).

JUnit consumers (GitLab, Jenkins, GitHub annotations) turn every
``<failure>``/``<error>`` into a red test, so those elements are emitted only
for checks the gate counted (``CheckResult.gated``). A failure or error at a
level outside ``--fail-on``, or a known deviation, is still visible: its
detail goes to ``<system-out>`` and the property ``mailharness.verdict`` says
``failed-not-gated``/``error-not-gated``. That way the JUnit verdict and the
exit code never disagree.

``xml.etree.ElementTree`` does the markup escaping; ``harness.untrusted.clean`` has
already made every string legal XML 1.0, since server replies are hostile.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.report._atomic import atomic_write_bytes
from harness.report.model import CheckView, RunReport, build_report
from harness.results import RunResult
from harness.rootcause import Cause

__all__ = ["write_junit", "junit_bytes"]

# Attribute values show up as one-line summaries in CI UIs; the full text is in
# the element body, so a megabyte reply need not be repeated in an attribute.
_ATTR_MAX = 1000


def _short(text: str) -> str:
    return text if len(text) <= _ATTR_MAX else text[: _ATTR_MAX - 1] + "…"


def _seconds(ms: float) -> str:
    return f"{ms / 1000.0:.3f}"


def _properties(parent: ET.Element, props: list[tuple[str, str]]) -> None:
    box = ET.SubElement(parent, "properties")
    for name, value in props:
        ET.SubElement(box, "property", name=name, value=value)


def _testcase(suite_el: ET.Element, check: CheckView, fail_on: tuple[str, ...], cause: Cause | None = None) -> None:
    case = ET.SubElement(suite_el, "testcase", classname=f"mailharness.{check.suite}",
                         name=check.id, time=_seconds(check.duration_ms))
    if check.source:
        # Not in every JUnit schema, but GitLab and pytest readers show it.
        case.set("file", check.source.rsplit(":", 1)[0])
    props = [("mailharness.level", check.level)]
    props += [("mailharness.rfc", section) for section in check.rfc]
    props.append(("mailharness.verdict", check.verdict))
    if check.title:
        props.append(("mailharness.title", check.title))
    if check.error_class:
        props.append(("mailharness.error_class", check.error_class))
    if check.known_deviation:
        props.append(("mailharness.known_deviation", "true"))
    if check.baseline_status is not None:
        props.append(("mailharness.baseline", check.baseline_status))
    if check.source:
        props.append(("mailharness.source", check.source))
    if cause is not None:
        # The root cause this check shares with others (results.json "causes"): CI shows one cause,
        # not many red tests with nothing in common.
        props += [("mailharness.cause", _short(cause.headline())), ("mailharness.cause_kind", cause.kind),
                  ("mailharness.cause_checks", str(cause.count))]
        if cause.fix:
            props.append(("mailharness.fix", cause.fix))
    _properties(case, props)

    summary = _short(check.message or (check.failures[0] if check.failures else check.status))
    if check.status == "skipped":
        ET.SubElement(case, "skipped", message=_short(check.message or "skipped"))
    elif check.needs_detail and check.gated:
        if check.status == "failed":
            el = ET.SubElement(case, "failure", message=summary, type=check.level or "failure")
        else:
            el = ET.SubElement(case, "error", message=summary, type=check.error_class or "error")
        el.text = check.detail_text()
    elif check.needs_detail:
        out = ET.SubElement(case, "system-out")
        why = (f"level {check.level} is not in --fail-on {','.join(fail_on)}"
               if check.not_gated_reason.startswith("level") else check.not_gated_reason)
        out.text = f"{check.status.upper()}, not gated: {why}\n\n{check.detail_text()}"
    elif check.findings:
        out = ET.SubElement(case, "system-out")
        out.text = "Findings:\n" + "\n".join(f"  - {f}" for f in check.findings)


def _counts(checks: list[CheckView]) -> dict[str, str]:
    # Counts follow the elements actually emitted, as JUnit readers recompute them.
    return {
        "tests": str(len(checks)),
        "failures": str(sum(c.gated and c.status == "failed" for c in checks)),
        "errors": str(sum(c.gated and c.status == "error" for c in checks)),
        "skipped": str(sum(c.status == "skipped" for c in checks)),
    }


def build_junit(report: RunReport) -> ET.Element:
    root = ET.Element("testsuites", name="mailharness", **_counts(list(report.checks)))
    total_ms = sum(c.duration_ms for c in report.checks)
    root.set("time", f"{report.duration_s:.3f}" if report.duration_s > 0 else _seconds(total_ms))
    causes = {check_id: cause for cause in report.causes for check_id in cause.ids}
    for name, checks in report.suites().items():
        suite_el = ET.SubElement(root, "testsuite", name=name, **_counts(checks),
                                 time=_seconds(sum(c.duration_ms for c in checks)))
        if report.started:
            suite_el.set("timestamp", report.started)
        _properties(suite_el, [("mailharness.version", report.version),
                               ("mailharness.gate", report.summary["gate"]),
                               ("mailharness.fail_on", ",".join(report.fail_on))])
        for check in checks:
            _testcase(suite_el, check, report.fail_on, causes.get(check.id))
    return root


def junit_bytes(run: RunResult | Mapping[str, Any]) -> bytes:
    """The junit.xml document for ``run`` (a RunResult or a loaded results.json dict)."""
    root = build_junit(build_report(run))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(run: RunResult | Mapping[str, Any], path: Path) -> None:
    """Write junit.xml for ``run`` at ``path`` (parent directories created, atomic replace)."""
    atomic_write_bytes(Path(path), junit_bytes(run))
