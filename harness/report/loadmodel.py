"""The load section of the report, built from the ``load`` key of a results.json.

The shape (docs/results.md; written by ``mailharness load``)::

    {"duration_s", "users", "messages_sent", "messages_per_s", "failures",
     "phases": {name: {"requests", "failures", "rps", "p50", "p95", "p99", "max"}},
     "messages_verified", "messages_lost",
     "delivery_latency_ms": {"p50", "p95", "p99", "max", "histogram": [{"le": ms, "count": n}]},
     "thresholds": [{"name", "value", "limit", "unit", "verdict"}],
     "series": [{"t": s, "interval_s", "users", "rps", "failures", "messages_per_s", "sessions_per_s",
                 "verified_per_s"?, "latency": {phase: {"p50", "p95", "p99"}}}]}

Older or hand-made series rows may carry ``phase`` and flat ``p50/p95/p99``.
A threshold's ``unit`` (ms, msgs/s, ratio, messages, sessions) is shown with
its value and limit (a ratio as a percentage). ``null`` round-trip figures
(a profile that does not verify) show as "not measured", never as 0.

Every key is optional and every value may be malformed (a hand-edited or an
older file): a missing number shows as "-" and a chart without data is left
out, never a crash. ``series`` may also be spelt ``time_series``/``timeseries``,
or be a mapping {phase: [rows]}.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.report.charts import Chart, column_chart, fmt, hbar_chart, line_chart
from harness.untrusted import clean

__all__ = ["LoadView", "PhaseView", "ThresholdView", "build_load", "mail_series_charts"]

_PCT = ("p50", "p95", "p99", "max")
NOT_MEASURED = "not measured"
_LATENCY_CLASSES = ("p95", "p99", "max", "p50")      # one colour per phase in the latency-per-interval chart


def _n(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    v = float(value)
    return v if v == v and abs(v) != float("inf") else None


def _t(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if value == int(value) and digits != 2 else f"{value:,.{digits}f}"
    return f"{text} {unit}".rstrip()


@dataclass(frozen=True, slots=True)
class PhaseView:
    name: str
    requests: str
    failures: str
    fail_pct: str
    has_failures: bool
    rps: str
    p50: str
    p95: str
    p99: str
    max: str


@dataclass(frozen=True, slots=True)
class ThresholdView:
    name: str
    value_text: str
    limit_text: str
    verdict: str            # passed | failed | unknown (CSS vocabulary)
    verdict_text: str


@dataclass(frozen=True, slots=True)
class LoadView:
    tiles: tuple[tuple[str, str, str], ...]     # (label, value, "bad"|"na"|""); na: not measured
    phases: tuple[PhaseView, ...]
    thresholds: tuple[ThresholdView, ...]
    charts: tuple[Chart, ...]
    delivery: tuple[tuple[str, str], ...]       # (percentile, value text)
    interrupted: str = ""                       # the signal that stopped the run early (SIGINT, SIGTERM)

    @property
    def failed_thresholds(self) -> tuple[ThresholdView, ...]:
        return tuple(t for t in self.thresholds if t.verdict == "failed")


def _with_unit(value: object, unit: str) -> str:
    """A threshold's value or limit with its unit; a ratio as a percentage; ``None`` is "not measured"."""
    if value is None:
        return NOT_MEASURED
    num = _n(value) if not isinstance(value, str) else None
    if num is None:
        return clean(value) or "-"
    if unit == "ratio":
        num, unit = num * 100, "%"
    text = f"{num:.3f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".rstrip()


def _interrupted(value: object) -> str:
    if value is True:
        return "interrupted"
    return clean(value)[:20] if isinstance(value, str) else ""


def _verdict(value: object) -> tuple[str, str]:
    if isinstance(value, bool):
        return ("passed", "passed") if value else ("failed", "failed")
    text = clean(value).strip()
    low = text.lower()
    if low in ("passed", "pass", "ok", "true", "met"):
        return "passed", text
    if "fail" in low or low in ("crossed", "breached", "false", "exceeded"):
        return "failed", text
    return "unknown", text or "-"


def _series_rows(load: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    raw = next((load[k] for k in ("series", "time_series", "timeseries") if k in load), None)
    if isinstance(raw, list):
        rows = [r for r in raw if isinstance(r, Mapping)]
        named: dict[str, list[Mapping[str, Any]]] = {}
        for r in rows:
            named.setdefault(clean(r.get("phase", "")) or "all", []).append(r)
        return named
    if isinstance(raw, Mapping):
        return {clean(k): [r for r in v if isinstance(r, Mapping)]
                for k, v in raw.items() if isinstance(v, list)}
    return {}


def _time(row: Mapping[str, Any]) -> float | None:
    return next((v for k in ("t", "time", "elapsed_s", "elapsed") if (v := _n(row.get(k))) is not None), None)


def mail_series_charts(rows: list[Mapping[str, Any]]) -> list[Chart]:
    """Messages/s and sessions/s (and verified/s) over time, and p95 latency per interval per key phase."""
    charts = []
    series = []
    for key, cls, label in (("messages_per_s", "msgs", "messages/s"), ("sessions_per_s", "sess", "sessions/s"),
                            ("verified_per_s", "verif", "verified/s")):
        pts = [(t, v) for r in rows if (t := _time(r)) is not None and (v := _n(r.get(key))) is not None]
        if pts:
            series.append((cls, label, sorted(pts)))
    if series:
        charts.append(line_chart("Messages and sessions per second over time", series, y_unit="/s"))
    phases: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        lat, t = r.get("latency"), _time(r)
        if not isinstance(lat, Mapping) or t is None:
            continue
        for phase, pct in lat.items():
            if isinstance(pct, Mapping) and (v := _n(pct.get("p95"))) is not None:
                phases.setdefault(clean(phase), []).append((t, v))
    if phases:
        lines = [(_LATENCY_CLASSES[i % len(_LATENCY_CLASSES)], f"{name} p95", sorted(pts))
                 for i, (name, pts) in enumerate(list(phases.items())[:4])]
        charts.append(line_chart("p95 latency per interval", lines))
    return charts


def _series_charts(load: Mapping[str, Any]) -> list[Chart]:
    charts = []
    per_phase = _series_rows(load)
    all_rows = [r for rows in per_phase.values() for r in rows]
    charts += mail_series_charts(all_rows)
    for name, rows in list(per_phase.items())[:6]:
        series = []
        for m in ("p50", "p95", "p99"):
            pts = [(t, v) for r in rows if (t := _time(r)) is not None and (v := _n(r.get(m))) is not None]
            if pts:
                series.append((m, m, sorted(pts)))
        if series:
            title = "Latency over time" + ("" if name == "all" and len(per_phase) == 1 else f": {name}")
            charts.append(line_chart(title, series))
    series = []
    for key, cls, label in (("rps", "rps", "requests/s"), ("users", "users", "users"),
                            ("failures", "fail", "failures")):
        pts = [(t, v) for r in all_rows if (t := _time(r)) is not None and (v := _n(r.get(key))) is not None]
        if pts:
            series.append((cls, label, sorted(pts)))
    if series:
        charts.append(line_chart("Throughput, users and failures over time", series, y_unit=""))
    return charts


def _histogram(delivery: Mapping[str, Any]) -> Chart | None:
    raw = delivery.get("histogram") or delivery.get("buckets")
    cols: list[tuple[str, float]] = []
    if isinstance(raw, Mapping):
        raw = [{"le": k, "count": v} for k, v in raw.items()]
    if isinstance(raw, list):
        for b in raw[:60]:
            if isinstance(b, Mapping):
                le, count = b.get("le", b.get("upper", b.get("ms"))), _n(b.get("count"))
            elif isinstance(b, (list, tuple)) and len(b) == 2:
                le, count = b[0], _n(b[1])
            else:
                continue
            if count is not None:
                num = _n(le)
                cols.append((f"≤{fmt(num)}" if num is not None else clean(le), count))
    return column_chart("Delivery latency distribution (messages per bucket, ms)", cols) if cols else None


def build_load(load: Mapping[str, Any]) -> LoadView:
    phases_raw = load.get("phases") if isinstance(load.get("phases"), Mapping) else {}
    phases, groups = [], []
    for name, row in phases_raw.items():
        if not isinstance(row, Mapping):
            continue
        req, fail = _n(row.get("requests")), _n(row.get("failures"))
        pct = (fail / req * 100.0) if req and fail is not None else None
        phases.append(PhaseView(
            name=clean(name), requests=_t(req), failures=_t(fail),
            fail_pct=f"{pct:.2f} %" if pct is not None else "-", has_failures=bool(fail),
            rps=_t(_n(row.get("rps"))), **{m: _t(_n(row.get(m)), "ms") for m in _PCT}))
        bars = [(m, v) for m in _PCT if (v := _n(row.get(m))) is not None]
        if bars:
            groups.append((clean(name), bars))

    thresholds = []
    for t in load.get("thresholds") or []:
        if isinstance(t, Mapping):
            verdict, text = _verdict(t.get("verdict", t.get("passed")))
            unit = clean(t.get("unit", "")) if isinstance(t.get("unit"), str) else ""
            thresholds.append(ThresholdView(clean(t.get("name", "")) or "-", _with_unit(t.get("value", "-"), unit),
                                            _with_unit(t.get("limit", "-"), unit), verdict, text))

    delivery_raw = load.get("delivery_latency_ms") if isinstance(load.get("delivery_latency_ms"), Mapping) else {}
    delivery = tuple((m, _t(_n(delivery_raw.get(m)), "ms")) for m in _PCT if m in delivery_raw)

    charts: list[Chart] = []
    if groups:
        charts.append(hbar_chart("Latency percentiles per phase", groups))
    charts += _series_charts(load)
    dbars = [(m, v) for m in _PCT if (v := _n(delivery_raw.get(m))) is not None]
    if dbars:
        charts.append(hbar_chart("Delivery latency (SMTP accepted → visible in POP3)", [("delivery", dbars)]))
    hist = _histogram(delivery_raw)
    if hist:
        charts.append(hist)

    sent, lost = _n(load.get("messages_sent")), _n(load.get("messages_lost"))
    failures = _n(load.get("failures"))
    users = _n(load.get("users", load.get("users_max", load.get("max_users"))))
    # A profile without roundtrip.verify measures no verified/lost messages: say so instead of "0".
    measured = load.get("roundtrip") is not False and load.get("messages_verified") is not None

    def rt(text: str) -> str:
        return text if measured else NOT_MEASURED

    tiles = [
        ("duration", _t(_n(load.get("duration_s")), "s"), ""),
        ("users", _t(users), ""),
        ("messages sent", _t(sent), ""),
        ("messages/s", _t(_n(load.get("messages_per_s")), digits=2), ""),
        ("sessions/s", _t(_n(load.get("sessions_per_s")), digits=2), ""),
        ("failures", _t(failures), "bad" if failures else ""),
        ("verified", rt(_t(_n(load.get("messages_verified")))), "" if measured else "na"),
        ("lost", rt(_t(lost)), ("bad" if lost else "") if measured else "na"),
        ("delivery p95", rt(_t(_n(delivery_raw.get("p95")), "ms")), "" if measured else "na"),
    ]
    if "roundtrip" not in load and not measured:
        tiles = [t for t in tiles if t[2] != "na"]     # an older or hand-made file: leave out what it lacks
    return LoadView(tiles=tuple(t for t in tiles if t[1] != "-"), phases=tuple(phases),
                    thresholds=tuple(thresholds), charts=tuple(charts), delivery=delivery,
                    interrupted=_interrupted(load.get("interrupted")))
