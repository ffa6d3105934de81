"""Comparison against a baseline run: what regressed, what was fixed, what is still broken.

One rule, used by both ``mailharness run --baseline OLD.json`` (the CI gate)
and ``mailharness report NEW.json --baseline OLD.json`` (the regression view):

* a check that fails (``failed`` or ``error``) now **and** failed in the
  baseline is *still failing*: reported, but it does not fail the gate;
* a check that fails now and passed, was skipped, or did not exist in the
  baseline is a *regression*: gated as usual (level in ``--fail-on``, not a
  known deviation);
* a check that failed in the baseline and passes now is *fixed*.

Load sections are compared percentile by percentile; a percentile that grew
by more than ``LATENCY_GROWTH`` (and by at least ``LATENCY_MIN_MS``) is a
latency regression. Latency regressions are shown, not gated: load gates are
the thresholds in the load profile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.results import RunResult, Status
from harness.untrusted import clean

__all__ = ["BaselineDiff", "CheckChange", "LatencyChange", "baseline_statuses", "apply_baseline",
           "ungate_for_baseline", "diff_runs", "LATENCY_GROWTH", "LATENCY_MIN_MS"]

LATENCY_GROWTH = 0.10      # +10 %
LATENCY_MIN_MS = 1.0       # and at least 1 ms, so sub-millisecond noise is not a regression
_FAILING = ("failed", "error")
_PERCENTILES = ("p50", "p95", "p99", "max")


@dataclass(frozen=True, slots=True)
class CheckChange:
    index: int              # CheckView.index, for links
    id: str
    title: str
    level: str
    old: str                # baseline status or "absent"
    new: str
    gated: bool


@dataclass(frozen=True, slots=True)
class LatencyChange:
    scope: str              # phase name, or "delivery"
    metric: str             # p50 / p95 / p99 / max
    old: float
    new: float
    regression: bool

    @property
    def change_pct(self) -> float:
        return (self.new - self.old) / self.old * 100.0 if self.old else 0.0


@dataclass(frozen=True, slots=True)
class BaselineDiff:
    label: str
    started: str
    regressions: tuple[CheckChange, ...]
    fixed: tuple[CheckChange, ...]
    still_failing: tuple[CheckChange, ...]
    removed: tuple[str, ...]                 # ids in the baseline, not in this run
    latency: tuple[LatencyChange, ...]       # every compared percentile
    target_warning: str = ""                 # the baseline was taken against another target

    @property
    def latency_regressions(self) -> tuple[LatencyChange, ...]:
        return tuple(c for c in self.latency if c.regression)


def baseline_statuses(baseline: Mapping[str, Any]) -> dict[str, str]:
    """{check id: status} of a loaded baseline results.json; a failing duplicate wins."""
    out: dict[str, str] = {}
    for c in baseline.get("checks") or []:
        if isinstance(c, Mapping) and isinstance(c.get("id"), str):
            status = str(c.get("status", "error"))
            if out.get(c["id"]) not in _FAILING:
                out[c["id"]] = status
    return out


def _endpoints(target: Any) -> tuple[str, dict[str, str]]:
    if not isinstance(target, Mapping):
        return "", {}
    found = {}
    for name in ("smtp", "pop3", "smtps", "pop3s"):
        ep = target.get(name)
        if isinstance(ep, Mapping):
            found[name] = f"{ep.get('host')}:{ep.get('port')}"
    return str(target.get("name") or ""), found


def target_warning(current: Any, baseline: Any) -> str:
    """A sentence when the baseline ran against another target (a different name or endpoints), else "".

    The embedded reference server listens on fresh ports each run: by that name, ports are not compared."""
    (new_name, new_eps), (old_name, old_eps) = _endpoints(current), _endpoints(baseline)
    if not old_name and not old_eps or not new_name and not new_eps:
        return ""
    if new_name == old_name == "embedded reference server":
        return ""
    differ = [f"{k} {old_eps.get(k, 'none')} then, {new_eps.get(k, 'none')} now" for k in sorted(set(new_eps) | set(old_eps))
              if new_eps.get(k) != old_eps.get(k)]
    if new_name != old_name:
        differ.insert(0, f"target {old_name or '(unnamed)'!s} then, {new_name or '(unnamed)'} now")
    if not differ:
        return ""
    return ("the baseline was taken against a different target (" + "; ".join(differ) + "): "
            "regressions and fixes may be differences between the servers")


def apply_baseline(run: RunResult, baseline: Mapping[str, Any], label: str = "") -> dict[str, Any]:
    """``run --baseline``: record baseline statuses and un-gate checks failing in both runs.

    Mutates ``run`` (its checks' ``baseline_status``/``gated`` and ``run.baseline``)
    and returns the ``baseline`` object written to results.json.
    """
    old = baseline_statuses(baseline)
    regressions, still, fixed = [], [], []
    for c in run.checks:
        c.baseline_status = old.get(c.id, "absent")
        failing = c.status in (Status.FAILED, Status.ERROR)
        if failing and c.baseline_status in _FAILING:
            c.gated = False
            still.append(c.id)
        elif failing:
            regressions.append(c.id)
        elif c.baseline_status in _FAILING and c.status == Status.PASSED:
            fixed.append(c.id)
    run.baseline = {"file": label, "started": str(baseline.get("started", "")),
                    "regressions": regressions, "still_failing": still, "fixed": fixed}
    warning = target_warning(run.target, baseline.get("target"))
    if warning:
        run.baseline["target_warning"] = warning
    return run.baseline


def ungate_for_baseline(checks: Sequence[Any], baseline: Mapping[str, Any]) -> list[Any]:
    """The same rule on report CheckViews (for ``report --baseline``)."""
    old = baseline_statuses(baseline)
    out = []
    for c in checks:
        status = clean(old.get(c.id, "absent"))
        gated = c.gated and status not in _FAILING
        verdict = c.status if gated or not c.needs_detail else f"{c.status}-not-gated"
        out.append(dataclasses.replace(c, baseline_status=status, gated=gated, verdict=verdict))
    return out


def _phase_numbers(load: Any) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    if not isinstance(load, Mapping):
        return out
    phases = load.get("phases")
    if isinstance(phases, Mapping):
        for name, row in phases.items():
            if isinstance(row, Mapping):
                for m in _PERCENTILES:
                    if isinstance(row.get(m), (int, float)):
                        out[(clean(name), m)] = float(row[m])
    delivery = load.get("delivery_latency_ms")
    if isinstance(delivery, Mapping):
        for m in _PERCENTILES:
            if isinstance(delivery.get(m), (int, float)):
                out[("delivery", m)] = float(delivery[m])
    return out


def diff_runs(checks: Sequence[Any], datas: Sequence[Mapping[str, Any]],
              baseline: Mapping[str, Any], label: str = "baseline") -> BaselineDiff:
    """Compare report CheckViews (already through ``ungate_for_baseline``) and load sections."""
    regressions, fixed, still = [], [], []
    for c in checks:
        change = CheckChange(c.index, c.id, c.title, c.level, c.baseline_status or "absent", c.status, c.gated)
        if c.needs_detail and change.old in _FAILING:
            still.append(change)
        elif c.needs_detail:
            regressions.append(change)
        elif change.old in _FAILING and c.status == "passed":
            fixed.append(change)
    seen = {c.id for c in checks}
    removed = tuple(clean(i) for i in baseline_statuses(baseline) if i not in seen) if checks else ()
    regressions.sort(key=lambda ch: (not ch.gated, ch.index))

    new_load = next((d.get("load") for d in datas if isinstance(d.get("load"), Mapping)), None)
    old_nums, new_nums = _phase_numbers(baseline.get("load")), _phase_numbers(new_load)
    latency = []
    for key, new in new_nums.items():
        if key in old_nums:
            old = old_nums[key]
            grew = new > old * (1 + LATENCY_GROWTH) and new - old >= LATENCY_MIN_MS
            latency.append(LatencyChange(key[0], key[1], old, new, grew))
    latency.sort(key=lambda ch: (not ch.regression, -ch.change_pct))
    return BaselineDiff(label=clean(label), started=clean(baseline.get("started", "")),
                        regressions=tuple(regressions), fixed=tuple(fixed), still_failing=tuple(still),
                        removed=removed, latency=tuple(latency),
                        target_warning=clean(target_warning(datas[0].get("target") if datas else None,
                                                             baseline.get("target"))))
