"""Full-resolution load statistics: HDR histograms per phase and the round-trip ledger.

Locust's own percentiles come from rounded response times, so every process
also records each request into an ``HdrHistogram`` (1 µs .. 1 h, 3 significant
digits) per phase, e.g. ``"SMTP DATA"``. Workers ship *deltas* to the master
(encoded histograms, counters, ledger entries) inside Locust's periodic
``report_to_master`` payload; the master merges them into one ``Collector``
and writes it to ``load-stats.json`` when it quits; the CLI reads that file.

The ``Ledger`` is the round trip: every message accepted by SMTP (``sent``:
id, wall-clock time of the 250, digest) and every message seen over POP3
(``seen``: id, time, digest of what came back). An id can be seen before its
``sent`` entry arrives (another worker's report came first), so unmatched
sightings wait in ``orphans``. Delivery latency is ``seen - sent`` for the
first good sighting. Wall-clock times are compared across processes, which
is only meaningful on one machine or with synchronised clocks.

The ``Series`` keeps the run over time for the charts: per wall-clock second
the requests, failures, messages (successful ``SMTP DATA``), sessions
(``connect`` attempts) and, for the key phases (``SERIES_PHASES``), response
times rounded to two significant digits, so per-interval percentiles cost a
few dozen counters per second instead of a histogram. Seconds are wall clock
(one machine, or synchronised clocks), so worker reports that arrive late
still land in the second they were measured.

Pure Python (hdrhistogram + stdlib): no locust or gevent import.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = ["MAX_ERROR_SAMPLES", "SERIES_PHASES", "Collector", "Ledger", "Series", "new_histogram", "summarize"]

LOWEST_US, HIGHEST_US, DIGITS = 1, 3_600_000_000, 3
MAX_ERROR_SAMPLES = 5
SERIES_PHASES = ("SMTP DATA", "POP3 RETR")       # latency over time is kept for these phases
SERIES_MAX_POINTS = 120
_INTERVALS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600)


def _round2(micros: int) -> int:
    """Two significant digits (1234 -> 1200): the series' latency buckets, within 5 %."""
    if micros < 100:
        return micros
    e = 10 ** (len(str(micros)) - 2)
    return round(micros / e) * e


def _percentile(counts: dict[int, int], pct: float) -> float | None:
    total = sum(counts.values())
    if not total:
        return None
    rank, seen = math.ceil(total * pct / 100), 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value / 1000
    return max(counts) / 1000


class Series:
    """Per-second counts of one run (see the module docstring); ``add`` deltas, ``rows`` for charts."""

    KEYS = ("requests", "failures", "messages", "sessions")

    def __init__(self) -> None:
        self.counts: dict[int, Counter[str]] = {}
        self.latency: dict[int, dict[str, Counter[int]]] = {}
        self.users: dict[int, int] = {}

    def __bool__(self) -> bool:
        return bool(self.counts or self.users)

    def record(self, second: int, phase: str, micros: list[int] | None, failures: int = 0) -> None:
        """``micros``: the successful requests' times; ``failures``: failed requests of ``phase``."""
        ok = len(micros) if micros else 0
        c = self.counts.get(second)
        if c is None:
            c = self.counts[second] = Counter()
        c["requests"] += ok + failures
        c["failures"] += failures
        if phase == "SMTP DATA":
            c["messages"] += ok
        if phase.endswith(" connect"):
            c["sessions"] += ok + failures
        if ok and phase in SERIES_PHASES:
            lat = self.latency.setdefault(second, {}).setdefault(phase, Counter())
            lat.update(map(_round2, micros))  # type: ignore[arg-type]

    def sample_users(self, second: int, users: int) -> None:
        self.users[second] = max(users, self.users.get(second, 0))

    def merge(self, data: dict[str, Any]) -> None:
        for sec, counts in data.get("counts", {}).items():
            self.counts.setdefault(int(sec), Counter()).update(counts)
        for sec, phases in data.get("latency", {}).items():
            slot = self.latency.setdefault(int(sec), {})
            for phase, values in phases.items():
                slot.setdefault(phase, Counter()).update({int(v): n for v, n in values.items()})
        for sec, users in data.get("users", {}).items():
            self.sample_users(int(sec), users)

    def to_json(self) -> dict[str, Any]:
        return {"counts": {str(k): dict(v) for k, v in self.counts.items()},
                "latency": {str(k): {ph: {str(v): n for v, n in c.items()} for ph, c in v.items()}
                            for k, v in self.latency.items()},
                "users": {str(k): v for k, v in self.users.items()}}

    def rows(self, verified_at: list[float] | None = None, until: float | None = None,
             interval: int | None = None) -> list[dict[str, Any]]:
        """One row per interval (at most ``SERIES_MAX_POINTS``): rates per second and per-interval percentiles.

        ``t`` is the end of the interval in seconds since the first second with
        data; ``verified_at``: wall-clock times of verified messages (the
        ledger); ``until``: leave out seconds at or after it (still filling).
        """
        seconds = sorted(set(self.counts) | set(self.users))
        if until is not None:
            seconds = [s for s in seconds if s < until]
        if not seconds:
            return []
        first, last = seconds[0], seconds[-1]
        span = last - first + 1
        step = interval or next((i for i in _INTERVALS if span / i <= SERIES_MAX_POINTS), _INTERVALS[-1])
        verified: Counter[int] = Counter(int(t) for t in verified_at or ())
        phases = [p for p in SERIES_PHASES if any(p in v for v in self.latency.values())]
        rows = []
        for start in range(first, last + 1, step):
            width = min(step, last + 1 - start)
            secs = range(start, start + width)
            c: Counter[str] = Counter()
            for sec in secs:
                c.update(self.counts.get(sec, {}))
            row: dict[str, Any] = {"t": float(start - first + width), "interval_s": width,
                                   "rps": round(c["requests"] / width, 2), "failures": c["failures"],
                                   "messages_per_s": round(c["messages"] / width, 2),
                                   "sessions_per_s": round(c["sessions"] / width, 2)}
            users = [self.users[s] for s in secs if s in self.users]
            if users:
                row["users"] = max(users)
            if verified_at is not None:
                row["verified_per_s"] = round(sum(verified[s] for s in secs) / width, 2)
            for phase in phases:
                counts: Counter[int] = Counter()
                for sec in secs:
                    counts.update(self.latency.get(sec, {}).get(phase, {}))
                if counts:
                    row.setdefault("latency", {})[phase] = {
                        "p50": _percentile(counts, 50), "p95": _percentile(counts, 95),
                        "p99": _percentile(counts, 99)}
            rows.append(row)
        return rows


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def summarize(hist: HdrHistogram) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds (0 for an empty histogram)."""
    if hist.get_total_count() == 0:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    q = hist.get_value_at_percentile
    return {"p50": round(q(50) / 1000, 3), "p95": round(q(95) / 1000, 3),
            "p99": round(q(99) / 1000, 3), "max": round(hist.get_max_value() / 1000, 3)}


class Ledger:
    """Sent and seen messages of a round-trip run (see the module docstring)."""

    def __init__(self) -> None:
        self.sent: dict[str, tuple[float, str]] = {}
        self.seen: dict[str, float] = {}             # first sighting with the right digest
        self.corrupted: dict[str, str] = {}          # id -> digest that came back
        self.duplicates = 0
        self.orphans: dict[str, list[tuple[float, str | None]]] = {}
        self.unidentified = 0                        # retrieved with no/unknown marker of this run
        self.delivery = new_histogram()

    def add_sent(self, mid: str, t: float, digest: str) -> None:
        self.sent[mid] = (t, digest)
        for seen_t, seen_digest in self.orphans.pop(mid, ()):
            self.add_seen(mid, seen_t, seen_digest)

    def add_seen(self, mid: str, t: float, digest: str | None) -> None:
        sent = self.sent.get(mid)
        if sent is None:
            self.orphans.setdefault(mid, []).append((t, digest))
            return
        if digest != sent[1]:
            self.corrupted.setdefault(mid, digest or "")
            return
        if mid in self.seen:
            self.duplicates += 1
            return
        self.seen[mid] = t
        self.delivery.record_value(max(LOWEST_US, int((t - sent[0]) * 1e6)))

    @property
    def lost(self) -> int:
        return sum(1 for mid in self.sent if mid not in self.seen and mid not in self.corrupted)

    def pending_ids(self) -> set[str]:
        return {mid for mid in self.sent if mid not in self.seen and mid not in self.corrupted}

    def summary(self) -> dict[str, Any]:
        return {
            "messages_verified": len(self.seen),
            "messages_lost": self.lost,
            "messages_corrupted": len(self.corrupted),
            "messages_duplicated": self.duplicates,
            "messages_unexpected": self.unidentified + sum(len(v) for v in self.orphans.values()),
            "delivery_latency_ms": summarize(self.delivery),
        }

    def to_json(self) -> dict[str, Any]:
        return {"sent": {k: list(v) for k, v in self.sent.items()}, "seen": self.seen,
                "corrupted": self.corrupted, "duplicates": self.duplicates,
                "orphans": {k: [list(o) for o in v] for k, v in self.orphans.items()},
                "unidentified": self.unidentified, "delivery": self.delivery.encode().decode("ascii")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        led = cls()
        led.sent = {k: (v[0], v[1]) for k, v in data["sent"].items()}
        led.seen = dict(data["seen"])
        led.corrupted = dict(data["corrupted"])
        led.duplicates = data["duplicates"]
        led.orphans = {k: [(o[0], o[1]) for o in v] for k, v in data["orphans"].items()}
        led.unidentified = data["unidentified"]
        led.delivery.decode_and_add(data["delivery"].encode("ascii"))
        return led


class Collector:
    """Per-process recorder (``record``/``sent``/``seen``) plus the merged totals.

    Recording goes into a *delta* that ``flush()`` hands out (and resets);
    ``merge()`` adds a delta into the totals. A worker sends its flushes to the
    master; the master (or a lone local runner) merges its own and theirs.
    Under gevent there is one OS thread, but a lock keeps the class honest if
    a caller ever uses it from threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset_delta()
        self.hist: dict[str, HdrHistogram] = {}
        self.requests: dict[str, int] = defaultdict(int)
        self.failures: dict[str, int] = defaultdict(int)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.counters: dict[str, int] = defaultdict(int)
        self.ledger = Ledger()
        self.series = Series()
        self.elapsed_s = 0.0

    def _reset_delta(self) -> None:
        self._d_hist: dict[str, HdrHistogram] = {}
        self._d_pending: dict[str, Counter[int]] = {}      # record_many's counts, folded at flush
        self._d_req: dict[str, int] = defaultdict(int)
        self._d_fail: dict[str, int] = defaultdict(int)
        self._d_err: dict[str, list[str]] = defaultdict(list)
        self._d_count: dict[str, int] = defaultdict(int)
        self._d_sent: list[tuple[str, float, str]] = []
        self._d_seen: list[tuple[str, float, str | None]] = []
        self._d_unidentified = 0
        self._d_series = Series()

    # -- recording (any process) ---------------------------------------------------------

    def record(self, phase: str, micros: int, error: str | None = None, t: float | None = None) -> None:
        """One request; with ``t`` (wall clock) it also goes into the series."""
        if t is not None:
            self._d_series.record(int(t), phase, None if error else [micros], 1 if error else 0)
        self._d_req[phase] += 1
        if error is None:
            h = self._d_hist.get(phase)
            if h is None:
                h = self._d_hist[phase] = new_histogram()
            h.record_value(min(max(micros, LOWEST_US), HIGHEST_US))
        else:
            self._d_fail[phase] += 1
            if len(self._d_err[phase]) < MAX_ERROR_SAMPLES:
                self._d_err[phase].append(error[:300])

    def record_many(self, phase: str, micros: list[int], t: float | None = None) -> None:
        """Successful requests in bulk: counted now at C speed, folded into the histogram at ``flush``.

        The same histogram as ``record`` per value: ``_fold`` puts each value's
        count into the bucket a single ``record`` would use. With ``t`` (wall
        clock) they also go into the series.
        """
        if not micros:
            return
        if t is not None:
            self._d_series.record(int(t), phase, micros)
        self._d_req[phase] += len(micros)
        pending = self._d_pending.get(phase)
        if pending is None:
            pending = self._d_pending[phase] = Counter()
        pending.update(micros)

    def _fold(self) -> None:
        """Pending counts into the delta histograms: one ``record_value`` per HDR bucket, not per request.

        A value is first reduced to the lowest value of its bucket (3
        significant digits: 2048 sub-buckets, so above 2047 µs the low
        ``bit_length - 11`` bits are dropped); the counts land in exactly the
        buckets single records would use, so percentiles are unchanged.
        """
        for phase, pending in self._d_pending.items():
            h = self._d_hist.get(phase)
            if h is None:
                h = self._d_hist[phase] = new_histogram()
            buckets: dict[int, int] = defaultdict(int)
            for v, n in pending.items():
                v = min(max(v, LOWEST_US), HIGHEST_US)
                s = v.bit_length() - 11
                buckets[(v >> s) << s if s > 0 else v] += n
            for v, n in buckets.items():
                h.record_value(v, n)
        self._d_pending = {}

    def count(self, name: str, n: int = 1) -> None:
        self._d_count[name] += n

    def sent(self, mid: str, t: float, digest: str) -> None:
        self._d_sent.append((mid, t, digest))

    def seen(self, mid: str | None, t: float, digest: str | None) -> None:
        if mid is None:
            self._d_unidentified += 1
        else:
            self._d_seen.append((mid, t, digest))

    # -- shipping ------------------------------------------------------------------------

    def flush(self) -> dict[str, Any]:
        with self._lock:
            self._fold()
            payload = {
                "hist": {k: h.encode().decode("ascii") for k, h in self._d_hist.items()},
                "requests": dict(self._d_req), "failures": dict(self._d_fail), "errors": dict(self._d_err),
                "counters": dict(self._d_count), "sent": self._d_sent, "seen": self._d_seen,
                "unidentified": self._d_unidentified,
            }
            if self._d_series:
                payload["series"] = self._d_series.to_json()
            self._reset_delta()
        return payload

    def merge(self, payload: dict[str, Any]) -> None:
        with self._lock:
            for k, enc in payload.get("hist", {}).items():
                h = self.hist.get(k)
                if h is None:
                    h = self.hist[k] = new_histogram()
                h.decode_and_add(enc.encode("ascii") if isinstance(enc, str) else enc)
            for k, n in payload.get("requests", {}).items():
                self.requests[k] += n
            for k, n in payload.get("failures", {}).items():
                self.failures[k] += n
            for k, msgs in payload.get("errors", {}).items():
                room = MAX_ERROR_SAMPLES - len(self.errors[k])
                self.errors[k].extend(msgs[:max(room, 0)])
            for k, n in payload.get("counters", {}).items():
                self.counters[k] += n
            for mid, t, digest in payload.get("sent", ()):
                self.ledger.add_sent(mid, t, digest)
            for mid, t, digest in payload.get("seen", ()):
                self.ledger.add_seen(mid, t, digest)
            self.ledger.unidentified += payload.get("unidentified", 0)
            if payload.get("series"):
                self.series.merge(payload["series"])

    def merge_own(self) -> None:
        self.merge(self.flush())

    # -- views ---------------------------------------------------------------------------

    def phases(self, duration_s: float) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for phase in sorted(set(self.requests) | set(self.hist)):
            req, fail = self.requests.get(phase, 0), self.failures.get(phase, 0)
            row: dict[str, Any] = {"requests": req, "failures": fail,
                                   "rps": round(req / duration_s, 3) if duration_s > 0 else 0.0}
            row.update(summarize(self.hist[phase]) if phase in self.hist else summarize(new_histogram()))
            if self.errors.get(phase):
                row["errors"] = list(self.errors[phase])
            out[phase] = row
        return out

    def to_json(self) -> dict[str, Any]:
        return {"hist": {k: h.encode().decode("ascii") for k, h in self.hist.items()},
                "requests": dict(self.requests), "failures": dict(self.failures), "errors": dict(self.errors),
                "counters": dict(self.counters), "ledger": self.ledger.to_json(), "elapsed_s": self.elapsed_s,
                "series": self.series.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Collector:
        c = cls()
        c.merge({k: data[k] for k in ("hist", "requests", "failures", "errors", "counters", "series") if k in data})
        c.ledger = Ledger.from_json(data["ledger"])
        c.elapsed_s = data.get("elapsed_s", 0.0)
        return c
