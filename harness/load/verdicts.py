"""The results.json ``load`` section and threshold verdicts, from a merged ``Collector``.

Used twice: live on the Locust master (the web UI's verdict tab, with
``final=False``: undelivered messages are *pending*, not lost) and by the CLI
after the run and the final POP3 drain (``final=True``). Pure Python.
"""

from __future__ import annotations

from typing import Any

from harness.load.profile import Profile
from harness.load.stats import SERIES_PHASES, Collector

__all__ = ["NOT_MEASURED", "evaluate", "load_section", "value_text", "verdict_line", "verdict_rows"]


def load_section(profile: Profile, collector: Collector, duration_s: float, *, final: bool = True,
                 until: float | None = None) -> dict[str, Any]:
    """The ``load`` section; ``until``: leave the series' seconds from then on out (still filling, live view)."""
    phases = collector.phases(duration_s)
    requests = sum(p["requests"] for p in phases.values())
    failures = sum(p["failures"] for p in phases.values())
    sent = collector.counters.get("messages_sent", 0)
    out: dict[str, Any] = {
        "profile": profile.name,
        "profile_source": profile.source,
        "shape": profile.shape.kind,
        "duration_s": round(duration_s, 3),
        "requests": requests,
        "failures": failures,
        "failure_ratio": round(failures / requests, 6) if requests else 0.0,
        "messages_sent": sent,
        "messages_per_s": round(sent / duration_s, 3) if duration_s > 0 else 0.0,
        "messages_retrieved": collector.counters.get("messages_retrieved", 0),
        "sessions": {k[len("sessions_"):]: v for k, v in sorted(collector.counters.items())
                     if k.startswith("sessions_")},
        "users": collector.counters.get("users_max", 0),
        "phases": phases,
        "roundtrip": profile.verify,
    }
    connects = sum(p["requests"] for name, p in phases.items() if name.endswith(" connect"))
    out["sessions_per_s"] = round(connects / duration_s, 3) if duration_s > 0 else 0.0
    if profile.verify:
        summary = collector.ledger.summary()
        if not final:
            summary["messages_pending"] = summary.pop("messages_lost")
        out.update(summary)
    else:
        # not measured: a profile without roundtrip.verify has no ledger (null, never a misleading 0)
        out.update({"messages_verified": None, "messages_lost": None, "messages_corrupted": None,
                    "messages_duplicated": None, "delivery_latency_ms": None})
    out["series"] = collector.series.rows(
        verified_at=list(collector.ledger.seen.values()) if profile.verify else None, until=until)
    out["series_phases"] = [p for p in SERIES_PHASES if p in phases]
    out["thresholds"] = evaluate(profile, out, final=final)
    out["gate"] = "failed" if any(t["verdict"] == "failed" for t in out["thresholds"]) else "passed"
    return out


def _row(name: str, value: float | None, limit: float, ok: bool | None, unit: str = "") -> dict[str, Any]:
    verdict = "pending" if ok is None else ("passed" if ok else "failed")
    return {"name": name, "value": value, "limit": limit, "unit": unit, "verdict": verdict}


def evaluate(profile: Profile, load: dict[str, Any], *, final: bool = True) -> list[dict[str, Any]]:
    """One row per threshold: value, limit, verdict (``pending`` for lost messages while running)."""
    th = profile.thresholds
    rows: list[dict[str, Any]] = []
    for phase, stat, limit_s in th.phases:
        limit = round(limit_s * 1000, 3)
        targets = [phase] if phase != "*" else sorted(load["phases"])
        for name in targets:
            row = load["phases"].get(name)
            value = row[stat] if row and row.get("requests") else None
            ok = None if value is None else value <= limit
            if value is None and final:
                ok = False          # a phase with a threshold that never ran cannot pass
            rows.append(_row(f"{name} {stat}", value, limit, ok, "ms"))
    if th.failure_ratio is not None:
        rows.append(_row("failure ratio", load["failure_ratio"], th.failure_ratio,
                         load["failure_ratio"] <= th.failure_ratio, "ratio"))
    if th.min_messages_per_s is not None:
        ok = load["messages_per_s"] >= th.min_messages_per_s
        rows.append(_row("messages/s (minimum)", load["messages_per_s"], th.min_messages_per_s,
                         ok if final or ok else None, "msgs/s"))
    if th.max_not_started is not None:
        value = load["sessions"].get("not_started", 0)
        rows.append(_row("sessions not started", value, th.max_not_started, value <= th.max_not_started,
                         "sessions"))
    if profile.verify:
        for key, limit, label in (("messages_lost", th.max_lost_messages, "lost messages"),
                                  ("messages_corrupted", th.max_corrupted_messages, "corrupted messages"),
                                  ("messages_duplicated", th.max_duplicated_messages, "duplicated messages")):
            if limit is None:
                continue
            if key == "messages_lost" and not final:
                rows.append(_row(label, load.get("messages_pending"), limit, None, "messages"))
            else:
                rows.append(_row(label, load[key], limit, load[key] <= limit, "messages"))
        lat = load.get("delivery_latency_ms") or {}
        for stat, limit_s in (("p95", th.delivery_p95), ("p99", th.delivery_p99)):
            if limit_s is None:
                continue
            value = lat.get(stat) if load.get("messages_verified") else None
            ok = None if value is None else value <= limit_s * 1000
            if value is None and final:
                ok = False
            rows.append(_row(f"delivery latency {stat}", value, round(limit_s * 1000, 3), ok, "ms"))
    return rows


def verdict_line(load: dict[str, Any]) -> tuple[str, str]:
    """(PASSED | FAILED | RUNNING, a sentence): the overall verdict for the web UI and the terminal."""
    rows = load["thresholds"]
    failed = [t["name"] for t in rows if t["verdict"] == "failed"]
    pending = sum(1 for t in rows if t["verdict"] == "pending")
    passed = len(rows) - len(failed) - pending
    if not rows:
        return "PASSED", "no thresholds in this profile"
    if failed:
        return "FAILED", f"{len(failed)} of {len(rows)} thresholds crossed: {', '.join(failed)}"
    if pending:
        return "RUNNING", f"{passed} of {len(rows)} thresholds pass so far, {pending} pending until the end"
    return "PASSED", f"all {len(rows)} thresholds pass"


def verdict_rows(load: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for the web UI tab: the verdict line, the mail rates, the thresholds, then the round-trip figures."""
    verdict, sentence = verdict_line(load)
    rows = [{"name": "VERDICT", "value": sentence, "limit": "", "verdict": verdict}]
    rps = sum(p["rps"] for p in load["phases"].values())
    rows += [{"name": "messages/s", "value": value_text(load["messages_per_s"], "msgs/s"),
              "limit": f"the header's RPS ({value_text(rps, '')}) counts every SMTP/POP3 command", "verdict": "info"},
             {"name": "sessions/s", "value": value_text(load.get("sessions_per_s"), "sessions/s"),
              "limit": "connects (SMTP and POP3)", "verdict": "info"}]
    rows += [{"name": t["name"], "value": value_text(t["value"], t["unit"]),
              "limit": value_text(t["limit"], t["unit"]), "verdict": t["verdict"].upper()}
             for t in load["thresholds"]]
    info: list[tuple[str, Any]] = [("messages sent", load["messages_sent"]), ("requests failed", load["failures"])]
    if load.get("roundtrip"):
        lat = load.get("delivery_latency_ms") or {}
        info += [("messages verified", load.get("messages_verified")),
                 ("messages pending" if "messages_pending" in load else "messages lost",
                  load.get("messages_pending", load.get("messages_lost"))),
                 ("messages corrupted", load.get("messages_corrupted")),
                 ("messages duplicated", load.get("messages_duplicated"))]
        info += [(f"delivery latency {s}", value_text(lat.get(s), "ms")) for s in ("p50", "p95", "p99", "max")]
    else:
        info += [("messages verified / lost", NOT_MEASURED + " (the profile has no roundtrip.verify)")]
    for key, value in load.get("sessions", {}).items():
        info.append((f"sessions {key.replace('_', ' ')}", value))
    rows += [{"name": n, "value": v if isinstance(v, str) else value_text(v, ""), "limit": "", "verdict": "info"}
             for n, v in info]
    return rows


NOT_MEASURED = "not measured"


def value_text(value: Any, unit: str) -> str:
    """A threshold value or limit with its unit: ``12.5 ms``, ``480 msgs/s``, ``1.2 %`` (unit ``ratio``)."""
    if value is None:
        return NOT_MEASURED
    if unit == "ratio" and isinstance(value, (int, float)):
        value, unit = value * 100, "%"
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".")
    else:
        text = str(value)
    return f"{text} {unit}".strip()
