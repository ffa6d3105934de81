"""The report model: results.json (one run or several) turned into plain values for the writers.

A model first, then a template (docs/architecture.md). ``build_report``
takes loaded results.json dicts (or ``RunResult`` objects), optionally a
baseline, and returns a frozen ``RunReport``; ``html.py`` and ``junit.py`` only
lay it out. Everything that came from a server (banners, replies, notes) or
from a hand-edited file is untrusted: ``harness.untrusted.clean`` makes it legal XML 1.0 and
inert in a terminal (no control, bidi or escape characters survive, they are
shown as ``\\x1b``-style escapes), and Jinja autoescaping does the markup.
Nothing read from input is ever used as a CSS class, an id or a URL without
being mapped onto a fixed vocabulary or an index first.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.report.baseline import diff_runs, ungate_for_baseline
from harness.report.evidence import broke_index, fold_repeats, judged
from harness.report.loadmodel import build_load
from harness.results import RunResult
from harness.rootcause import (SERVER, SETUP, SEVERITY, Cause, all_causes, group_causes, kind_of, preflight_lines,
                               unjudged_security)
from harness.untrusted import clean

__all__ = ["LineView", "CheckView", "RunReport", "GateLine", "build_report", "ATTENTION_STATUSES",
           "LEVEL_ORDER", "STATUS_ORDER"]

# Statuses that get the detailed view (failure cards, JUnit body).
ATTENTION_STATUSES = ("failed", "error")
STATUS_ORDER = ("failed", "error", "skipped", "passed")
LEVEL_ORDER = ("MUST", "SECURITY", "SHOULD", "MAY", "POLICY")

# Sort rank within the gated / not-gated groups; unknown statuses from a
# hand-edited file land between the problems and the good news.
_STATUS_RANK = {"failed": 0, "error": 1, "skipped": 3, "passed": 4}

# Names for the RFC matrix (display only; unknown numbers show bare).
RFC_NAMES = {"5321": "SMTP", "5322": "Message format", "1939": "POP3", "2449": "POP3 extensions",
             "2595": "STLS", "3207": "STARTTLS", "1870": "SIZE", "6152": "8BITMIME", "4954": "SMTP AUTH",
             "4616": "PLAIN", "2195": "CRAM-MD5", "2045": "MIME", "2046": "MIME media types",
             "2920": "PIPELINING", "3463": "Enhanced status codes", "2034": "ENHANCEDSTATUSCODES",
             "6531": "SMTPUTF8", "3030": "CHUNKING", "8314": "Implicit TLS", "1652": "8BITMIME (old)",
             "5034": "POP3 SASL"}

_SECRET_KEY = re.compile(r"pass|secret|token", re.IGNORECASE)

# Display bounds so a 4 MB DATA transcript cannot make a 100 MB page: full
# detail for problems, a generous excerpt for the rest. results.json keeps all.
_TEXT_MAX = {True: 65536, False: 4096}          # characters per transcript entry
_LINES_MAX = {True: 4000, False: 400}           # entries per check
_WIRE_MAX = {True: 4000, False: 24}             # wire lines per entry (a message body sent with DATA)

# Client lines whose argument is a secret (defence in depth: the transcript
# already masks known secrets, but a hand-made file or a new step might not).
_SECRET_LINE = re.compile(r"^((?:PASS|AUTH\s+PLAIN)\s+)(?!\*{4})(.+?)((?:\\r)?\\n)?$", re.IGNORECASE)
MASK = "****"


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
    wire: tuple[tuple[str, str], ...] = ()   # (line text, line ending as shown: "\\r\\n", "\\n" or "")
    delta_ms: float | None = None            # server reply: time since the previous client line
    broke: bool = False                      # the reply (or event) that made the check fail
    elided: int = 0                          # characters of text not shown
    repeat: int = 0                          # a fold marker: the exchange above was repeated this often

    def timed(self) -> str:
        """The line with its offset from check start, for plain-text views (JUnit)."""
        stamp = f"{self.t:8.3f}s " if self.t is not None else " " * 10
        return stamp + self.line

    @property
    def kind(self) -> str:
        """CSS vocabulary: c (client), s (server), x (event)."""
        return {"C": "c", "S": "s"}.get(self.dir, "x")


@dataclass(frozen=True, slots=True)
class CheckView:
    index: int                    # position in the report, for a stable sort and element ids
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
    baseline_status: str | None = None   # status in the baseline, "absent", or None without one
    pcap: str | None = None              # a relative link to the check's capture, if safe
    run: str = ""                        # label of the results file, when several were merged
    quote: str = ""                      # the RFC sentence that binds the server, verbatim
    suite_index: int = 0                 # for CSS filter classes (never the suite text itself)
    transcript_elided: int = 0           # entries not shown in HTML
    judged: tuple[str, ...] = ()         # what the check judged: the reply and its command, or the mailbox

    @property
    def needs_detail(self) -> bool:
        return self.status in ATTENTION_STATUSES

    @property
    def status_class(self) -> str:
        return self.status if self.status in _STATUS_RANK else "unknown"

    @property
    def level_class(self) -> str:
        return self.level.lower() if self.level in LEVEL_ORDER else "other"

    @property
    def in_baseline_failing(self) -> bool:
        return self.baseline_status in ATTENTION_STATUSES

    @property
    def regression(self) -> bool:
        """Failing now, not failing in the baseline (only meaningful with a baseline)."""
        return self.baseline_status is not None and self.needs_detail and not self.in_baseline_failing

    @property
    def not_gated_reason(self) -> str:
        if not self.needs_detail or self.gated:
            return ""
        if self.known_deviation:
            return "known deviation for this target"
        if self.in_baseline_failing:
            return f"failing in the baseline too ({self.baseline_status})"
        return f"level {self.level} is not gated"

    @property
    def broke_line(self) -> LineView | None:
        return next((line for line in self.transcript if line.broke), None)

    def broke_excerpt(self, head: int = 3, tail: int = 5) -> list[tuple[str, str]]:
        """The wire lines of the breaking reply: all, or its first and last lines around a gap marker."""
        line = self.broke_line
        if line is None:
            return []
        wire = list(line.wire)
        if len(wire) <= head + tail + 1:
            return wire
        return wire[:head] + [(f"… {len(wire) - head - tail} lines …", "")] + wire[-tail:]

    def transcript_text(self) -> str:
        return "\n".join(line.timed() for line in self.transcript)

    def detail_text(self) -> str:
        """Rule, failures, message, findings and transcript as one plain-text block (JUnit)."""
        parts: list[str] = []
        head = f"{self.id} [{self.level}{', RFC ' + ', '.join(self.rfc) if self.rfc else ''}]"
        parts.append(head + (f": {self.title}" if self.title else ""))
        if self.rationale:
            parts.append(f"Rule: {self.rationale}")
        if self.quote:
            parts.append(f"RFC text: {self.quote}")
        if self.failures:
            parts.append("Failures:\n" + "\n".join(f"  - {f}" for f in self.failures))
        if self.message and self.message not in self.failures:
            parts.append(f"Message: {self.message}")
        if self.findings:
            parts.append("Findings:\n" + "\n".join(f"  - {f}" for f in self.findings))
        if self.known_deviation:
            parts.append("Known deviation for this target: reported, not gated.")
        if self.baseline_status is not None:
            parts.append(f"Baseline: {self.baseline_status}")
        if self.source:
            parts.append(f"Source: {self.source}")
        if self.pcap:
            parts.append(f"Capture: {self.pcap}")
        if self.transcript:
            parts.append("Transcript:\n" + self.transcript_text())
        return "\n\n".join(parts)


@dataclass(frozen=True, slots=True)
class GateLine:
    """One reason in the verdict banner, with the check ids it names (linked to their cards)."""

    text: str                              # "3 checks at MUST failed"
    ids: tuple[tuple[str, int], ...] = ()  # (check id, report index)
    more: int = 0                          # ids not listed
    kind: str = ""                         # server | unjudged | setup | cause | load | stored


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One merged results file, for the header."""

    label: str
    started: str
    kind: str                  # "conformance", "load" or "conformance+load"
    gate: str


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
    runs: tuple[RunInfo, ...] = ()
    gate_reasons: tuple[str, ...] = ()    # why the gate failed (or what passed it), one line each
    suites_list: tuple[str, ...] = ()     # suite names; CheckView.suite_index points in here
    load: Any = None                      # loadmodel.LoadView or None
    baseline: Any = None                  # baseline.BaselineDiff or None
    preflight: tuple[str, ...] = ()       # what the preflight found, one line each
    causes: tuple[Cause, ...] = ()        # errors that several checks share, largest first
    skips: tuple[Cause, ...] = ()         # why checks were skipped, grouped by reason
    unjudged_security: tuple[str, ...] = ()   # SECURITY checks skipped or not run: not a pass
    gate_lines: tuple[GateLine, ...] = ()     # gate_reasons with their check ids, for the banner
    baseline_warning: str = ""                # the baseline was taken against another target

    def cause_of(self, check_id: str) -> Cause | None:
        return next((c for c in self.causes if check_id in c.ids), None)

    def shared_causes(self) -> list[Cause]:
        """Causes that are not one server failure of one check: what to read before the cards."""
        return [c for c in self.causes if c.count > 1 or c.kind != SERVER]

    def by_severity(self) -> list[tuple[str, list[CheckView]]]:
        """Failed/error checks grouped by level, most severe first (SECURITY, MUST, SHOULD, MAY, POLICY)."""
        problems = self.problems()
        order = list(SEVERITY) + sorted({c.level for c in problems} - set(SEVERITY))
        return [(lv, [c for c in problems if c.level == lv]) for lv in order
                if any(c.level == lv for c in problems)]

    def by_priority(self) -> list[CheckView]:
        """Gated problems first, then regressions, other failures/errors, skipped, passed; run order within."""
        return sorted(self.checks, key=lambda c: (not c.gated, not c.regression,
                                                  _STATUS_RANK.get(c.status, 2), c.index))

    def index_of(self, check_id: str) -> int:
        """The report index of the first check with this id (for links to its row)."""
        return next((c.index for c in self.checks if c.id == check_id), 0)

    def problems(self) -> list[CheckView]:
        return [c for c in self.by_priority() if c.needs_detail]

    def suites(self) -> dict[str, list[CheckView]]:
        """Checks grouped by suite, suites and checks in run order."""
        grouped: dict[str, list[CheckView]] = {}
        for check in self.checks:
            grouped.setdefault(check.suite, []).append(check)
        return grouped

    def levels(self) -> list[str]:
        present = {c.level for c in self.checks}
        return [lv for lv in LEVEL_ORDER if lv in present] + sorted(present - set(LEVEL_ORDER))

    def counts_by(self, attr: str) -> list[tuple[str, dict[str, int]]]:
        """[(suite or level, {status: n, "total": n})] for the summary tables."""
        keys = list(self.suites()) if attr == "suite" else self.levels()
        rows = []
        for key in keys:
            group = [c for c in self.checks if getattr(c, attr) == key]
            counts = {s: sum(c.status == s for c in group) for s in STATUS_ORDER}
            counts["total"] = len(group)
            counts["gated"] = sum(c.gated for c in group)
            rows.append((key, counts))
        return rows

    def rfc_matrix(self) -> list[tuple[str, str, list[CheckView]]]:
        """[(rfc document, section, checks)] sorted by document number, then section numerically."""
        cells: dict[str, list[CheckView]] = {}
        for check in self.checks:
            for ref in check.rfc or ("(none)",):
                cells.setdefault(ref, []).append(check)

        def key(ref: str) -> tuple:
            doc, _, section = ref.partition("#")
            return (not doc.isdigit(), int(doc) if doc.isdigit() else 0, doc,
                    [int(p) if p.isdigit() else 0 for p in section.split(".")] if section else [])

        out = []
        for ref in sorted(cells, key=key):
            doc, _, section = ref.partition("#")
            out.append((doc, section, sorted(cells[ref], key=lambda c: (_STATUS_RANK.get(c.status, 2), c.index))))
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- transcript ---------------------------------------------------------------------------------

def _mask(direction: str, text: str) -> str:
    if direction != "C":
        return text
    m = _SECRET_LINE.match(text)
    return f"{m.group(1)}{MASK}{m.group(3) or ''}" if m else text


def _wire(text: str) -> tuple[tuple[str, str], ...]:
    """Split escaped text (``\\r\\n`` as four characters) into wire lines with their endings."""
    out: list[tuple[str, str]] = []
    for piece in re.split(r"(\\r\\n|\\n)", text):
        if piece in ("\\r\\n", "\\n"):
            if out and out[-1][1] == "":
                out[-1] = (out[-1][0], piece)
            else:
                out.append(("", piece))
        elif piece:
            out.append((piece, ""))
    return tuple(out) or (("", ""),)


def _bounded(wire: tuple[tuple[str, str], ...], limit: int) -> tuple[tuple[str, str], ...]:
    if len(wire) <= limit:
        return wire
    head, tail = limit * 2 // 3, limit // 3
    gap = (f"… {len(wire) - head - tail} more lines (all are in results.json) …", "")
    return wire[:head] + (gap,) + wire[-tail:]


def _lines(entries: object, status: str, failures: tuple[str, ...], message: str
           ) -> tuple[tuple[LineView, ...], int, tuple[str, ...]]:
    if not isinstance(entries, list):
        return (), 0, ()
    rows = [e if isinstance(e, Mapping) else {"dir": "*", "text": e} for e in entries]
    problem = status in ATTENTION_STATUSES
    elided = max(0, len(rows) - _LINES_MAX[problem])
    if elided:
        half = _LINES_MAX[problem] // 2
        rows = rows[:half] + [{"dir": "*", "note": f"{elided} transcript entries not shown "
                                                   "(all are in results.json)"}] + rows[-half:]
    # Only name the connection when there is more than one: "C:" alone reads best.
    several = len({r.get("conn") for r in rows if r.get("dir") != "*" or r.get("conn")}) > 1
    built: list[dict[str, Any]] = []
    last_client_t: float | None = None
    for row in rows:
        conn, direction = clean(row.get("conn", "")), clean(row.get("dir", "*")) or "*"
        text, note = _mask(direction, clean(row.get("text", ""))), clean(row.get("note") or "")
        cut = max(0, len(text) - _TEXT_MAX[problem])
        if cut:
            text = text[: _TEXT_MAX[problem]]
        t = _num(row["t"]) if row.get("t") is not None else None
        head = f"* {text or note}" if direction == "*" else f"{direction}: {text}"
        if note and not (direction == "*" and not text):
            head += f"  # {note}"
        if several and conn:
            head = f"[{conn}] {head}"
        delta = None
        if direction == "C" and t is not None:
            last_client_t = t
        elif direction == "S" and t is not None and last_client_t is not None:
            delta, last_client_t = (t - last_client_t) * 1000.0, None
        built.append(dict(t=t, conn=conn, dir=direction, text=text, note=note, line=head,
                          wire=_bounded(_wire(text), _WIRE_MAX[problem]) if direction != "*" else (),
                          delta_ms=delta, elided=cut))
    index = broke_index(built, status, failures, message) if problem and built else None
    if index is not None:
        built[index]["broke"] = True
    said = judged(built, status, failures, message, index) if problem or status == "passed" else ()
    return tuple(LineView(**b) for b in fold_repeats(built)), elided, said


# -- checks -------------------------------------------------------------------------------------

_SAFE_LINK = re.compile(r"^[A-Za-z0-9._~/+-][A-Za-z0-9._~/+ -]*$")


def _pcap_link(value: object, link_base: Path | None, out_dir: Path | None) -> str | None:
    """A relative link to a capture file, or None: never a scheme, never markup, never a query."""
    if not isinstance(value, str) or not value or ":" in value or "\\" in value:
        return None
    path = value
    if link_base is not None and out_dir is not None and not value.startswith("/"):
        try:
            import os
            path = os.path.relpath(link_base / value, out_dir).replace(os.sep, "/")
        except ValueError:
            path = value
    path = posixpath.normpath(path)
    return path if _SAFE_LINK.match(path) and not path.startswith("//") else None


def _check_view(index: int, data: Mapping[str, Any], run: str = "", link_base: Path | None = None,
                out_dir: Path | None = None) -> CheckView:
    status = clean(data.get("status", "error")) or "error"
    gated = bool(data.get("gated"))
    verdict = status if gated or status not in ATTENTION_STATUSES else f"{status}-not-gated"
    failures = _texts(data.get("failures"))
    message = clean(data.get("message", ""))
    transcript, elided, said = _lines(data.get("transcript"), status, failures, message)
    baseline = data.get("baseline_status")
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
        message=message,
        duration_ms=_num(data.get("duration_ms")),
        failures=failures,
        findings=_texts(data.get("findings")),
        rationale=clean(data.get("rationale", "")),
        quote=clean(data.get("quote", "")),
        source=clean(data.get("source", "")),
        transcript=transcript,
        baseline_status=clean(baseline) if isinstance(baseline, str) and baseline else None,
        pcap=_pcap_link(data.get("pcap"), link_base, out_dir),
        run=run,
        transcript_elided=elided,
        judged=said,
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


def _as_dict(source: RunResult | Mapping[str, Any]) -> Mapping[str, Any]:
    return source.to_json() if isinstance(source, RunResult) else source


def build_report(source: RunResult | Mapping[str, Any] | Sequence[RunResult | Mapping[str, Any]],
                 *, baseline: Mapping[str, Any] | None = None, baseline_label: str = "baseline",
                 labels: Sequence[str] = (),
                 link_base: Sequence[Path | None] = (), out_dir: Path | None = None) -> RunReport:
    """Turn one or several runs (RunResult or loaded results.json) into a ``RunReport``.

    Several runs are merged: their checks are listed together (labelled by
    ``labels`` when there is more than one conformance run) and the first
    ``load`` section is the load view. With ``baseline`` every check gets its
    baseline status and a check failing in both runs does not fail the gate
    (exactly what ``run --baseline`` does). ``link_base``/``out_dir`` rebase
    relative pcap links from each results file's folder to the report's.
    """

    sources = [source] if isinstance(source, (RunResult, Mapping)) else list(source)
    datas = [_as_dict(s) for s in sources] or [{}]
    conformance = [d for d in datas if d.get("checks")]
    checks: list[CheckView] = []
    runs: list[RunInfo] = []
    for n, data in enumerate(datas):
        label = clean(labels[n]) if n < len(labels) else f"run {n + 1}"
        base = link_base[n] if n < len(link_base) else None
        run_label = label if len(conformance) > 1 else ""
        raw = data.get("checks") or []
        for c in raw:
            if isinstance(c, Mapping):
                checks.append(_check_view(len(checks), c, run_label, base, out_dir))
        stored = data.get("summary") if isinstance(data.get("summary"), Mapping) else {}
        kind = "+".join(k for k, present in (("conformance", bool(raw)), ("load", "load" in data)) if present)
        runs.append(RunInfo(label=label, started=clean(data.get("started", "")), kind=kind or "empty",
                            gate=clean(stored.get("gate", ""))))

    diff = None
    if baseline is not None:
        checks = ungate_for_baseline(checks, baseline)
        diff = diff_runs(checks, datas, baseline, baseline_label)
    suites_list = tuple(dict.fromkeys(c.suite for c in checks))
    checks = [dataclasses.replace(c, suite_index=suites_list.index(c.suite)) for c in checks]

    first = datas[0]
    load_data = next((d["load"] for d in datas if isinstance(d.get("load"), Mapping)), None)
    load = build_load(load_data) if load_data is not None else None
    stored0 = first.get("summary") if isinstance(first.get("summary"), Mapping) else {}
    fail_on = _texts(stored0.get("fail_on")) or ("MUST", "SECURITY")

    reasons: list[str] = []
    lines: list[GateLine] = []
    gated = [c for c in checks if c.gated]
    extra = " (new since the baseline)" if diff is not None else ""
    for kind, verb in ((SERVER, "failed"), ("unjudged", "could not be judged (error)"),
                       (SETUP, "could not run (setup problem, not the server)")):
        group = [c for c in gated if kind_of(c) == kind]
        if not group:
            continue
        levels = ", ".join(lv for lv in (*SEVERITY, *sorted({c.level for c in group} - set(SEVERITY)))
                           if any(c.level == lv for c in group))
        noun = "check" if len(group) == 1 else "checks"
        text = f"{len(group)} {noun} at {levels} {verb}{extra}"
        shown = sorted(group, key=lambda c: (SEVERITY.index(c.level) if c.level in SEVERITY else 9, c.index))[:8]
        reasons.append(f"{text}: " + ", ".join(c.id for c in shown) + (" …" if len(group) > 8 else ""))
        lines.append(GateLine(text, tuple((c.id, c.index) for c in shown), len(group) - len(shown), kind))
    gated_ids = {c.id for c in gated}
    for cause in [c for c in all_causes(checks) if gated_ids.intersection(c.ids)][:3]:
        if cause.count >= 3:
            reasons.append(cause.headline())
            lines.append(GateLine(cause.headline() + (f" — {cause.fix}" if cause.fix else ""), kind="cause"))
    if load is not None:
        for t in load.thresholds:
            if t.verdict == "failed":
                reasons.append(f"load threshold {t.name}: {t.value_text} (limit {t.limit_text})")
                lines.append(GateLine(reasons[-1], kind="load"))
    # A stored verdict we cannot explain (no gated flags, e.g. a load run that
    # failed for a reason it did not itemise) still fails the report, unless a
    # baseline re-judged the checks.
    for info, data in zip(runs, datas):
        if info.gate == "failed" and not reasons and not (diff is not None and data.get("checks")):
            reasons.append(f"{info.label}: the stored results say the gate failed")
            lines.append(GateLine(reasons[-1], kind="stored"))
    gate_passed = not reasons

    counts = {s: sum(c.status == s for c in checks) for s in STATUS_ORDER}
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
        "duration_s": sum(_num((d.get("summary") or {}).get("duration_s"))
                          for d in datas if isinstance(d.get("summary"), Mapping)),
    }
    target = first.get("target")
    return RunReport(
        tool=clean(first.get("tool", "mailharness")),
        version=clean(first.get("version", "")),
        started=clean(first.get("started", "")),
        target=tuple((clean(k), _display(v, str(k))) for k, v in target.items())
        if isinstance(target, Mapping) else (),
        summary=summary,
        gate_passed=gate_passed,
        fail_on=fail_on,
        duration_s=summary["duration_s"],
        checks=tuple(checks),
        runs=tuple(runs),
        gate_reasons=tuple(reasons),
        suites_list=suites_list,
        load=load,
        baseline=diff,
        preflight=tuple(clean(line) for d in conformance for line in preflight_lines(
            d.get("preflight") if isinstance(d.get("preflight"), Mapping) else None)),
        causes=tuple(all_causes(checks)),
        gate_lines=tuple(lines),
        baseline_warning=getattr(diff, "target_warning", "") if diff is not None else "",
        skips=tuple(group_causes(checks, ("skipped",))),
        unjudged_security=tuple(c.id for c in unjudged_security(checks)),
    )
