"""Load shapes as stage tables: pure functions of time, no locust import.

A profile's ``shape`` compiles into a table of ``Stage(end_s, users, spawn_rate)``
rows; ``tick(table, t)`` gives the ``(users, spawn_rate)`` Locust should aim
for at ``t`` seconds, or ``None`` once the run is over. ``locust_shape.py``
wraps this in Locust's ``LoadTestShape``; the unit tests call it directly.

The open model (``kind: arrival``) is different: the number of Locust users is
a constant set of *generators*, each starting sessions on its own schedule
(``arrival_schedule``) whether or not earlier sessions have finished. Sessions
that cannot start because ``max_in_flight`` are already running are counted,
not silently delayed (that would turn the open model back into a closed one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.load.profile import Shape

__all__ = ["Stage", "arrival_interval", "compile_stages", "due_sessions", "tick"]


@dataclass(frozen=True, slots=True)
class Stage:
    end_s: float
    users: int
    spawn_rate: float


def _rate(shape: Shape, users: int, ramp: float | None = None) -> float:
    if shape.spawn_rate:
        return float(shape.spawn_rate)
    ramp = ramp if ramp is not None else shape.ramp
    if ramp:
        return max(users / ramp, 0.1)
    return float(max(users, 1))         # reach the target within about a second


def compile_stages(shape: Shape, duration: float, processes: int = 1) -> list[Stage]:
    kind = shape.kind
    rows: list[Stage]
    if kind in ("ramp", "soak"):
        rows = [Stage(duration, shape.users, _rate(shape, shape.users))]
    elif kind == "step":
        step = shape.step_duration or duration / shape.steps
        increment = shape.users / shape.steps
        rate = shape.spawn_rate or max(increment, 1.0)
        rows = [Stage((i + 1) * step, round(increment * (i + 1)), rate) for i in range(shape.steps)]
    elif kind == "spike":
        at, length = shape.at or 0.0, shape.length or 0.0
        base_rate = _rate(shape, shape.base_users)
        spike_rate = shape.spawn_rate or float(max(shape.spike_users - shape.base_users, 1))
        rows = [Stage(at, shape.base_users, base_rate), Stage(at + length, shape.spike_users, spike_rate),
                Stage(duration, shape.base_users, spike_rate)]
    elif kind == "stages":
        rows, end = [], 0.0
        for d, users, rate in shape.stages:
            end += d
            rows.append(Stage(end, users, rate or float(max(users, 1))))
    elif kind == "arrival":
        generators = generator_count(shape, processes)
        rows = [Stage(duration, generators, float(generators))]
    else:
        raise ValueError(f"unknown shape kind {kind!r}")
    # Every run is bounded by ``duration``: drop stages past it, stretch or clip the last.
    out = [r for r in rows if r.end_s < duration and r.end_s > 0]
    last = rows[-1] if not out or out[-1] is not rows[-1] else out.pop()
    tail = next((r for r in rows if r.end_s >= duration), last)
    out.append(Stage(duration, tail.users, tail.spawn_rate))
    return out


def generator_count(shape: Shape, processes: int = 1) -> int:
    return shape.generators or max(1, processes)


def tick(table: list[Stage], t: float) -> tuple[int, float] | None:
    for stage in table:
        if t < stage.end_s:
            return stage.users, stage.spawn_rate
    return None


def arrival_interval(shape: Shape, processes: int = 1) -> float:
    """Seconds between session starts of one generator (rate is for the whole run)."""
    per_generator = shape.rate / generator_count(shape, processes)
    return math.inf if per_generator <= 0 else 1.0 / per_generator


def due_sessions(started: int, elapsed: float, interval: float, offset: float = 0.0) -> int:
    """How many sessions a generator should have started after ``elapsed`` seconds.

    Sessions are due at ``offset + k * interval`` (k = 0, 1, ...); the generator
    starts ``due - started`` of them now (several, if it fell behind).
    """
    if elapsed < offset or math.isinf(interval):
        return 0
    return int((elapsed - offset) // interval) + 1 - started
