"""Load profiles (``scenarios/load/*.yaml``) → a frozen ``Profile``, errors as ``file:line``.

A profile says *what* load to put on a target: the user mix (SMTP senders and
POP3 readers with their weights), the messages (size distribution, line
length, 8-bit content), the shape over time (ramp, step, spike, soak, explicit
stages, or an open-model arrival rate), the round-trip verification, and the
thresholds that make ``mailharness load`` exit 1.

Validation happens here, before any process is started, with the scenario
loader's machinery (``yamlload.load_yaml`` keeps line numbers; JSON Schema
checks the structure; semantic checks come after). This module imports
neither locust nor gevent: the CLI and the tests use it directly, and the
Locust process gets the profile as JSON (``to_json``/``from_json``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import jsonschema

from harness.scenario.yamlfile import ScenarioErrors, YamlFileLoader, locate as _locate
from harness.scenario.model import parse_duration

__all__ = [
    "PHASE_NAME",
    "Messages",
    "Profile",
    "Shape",
    "Thresholds",
    "UserMix",
    "load_profile",
    "profile_from_json",
]

_DURATION = {"anyOf": [{"type": "number", "minimum": 0},
                       {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(ms|s|m)?$"}]}
_RATE = {"anyOf": [{"type": "number", "exclusiveMinimum": 0},
                   {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(/s|/m)?$"}]}
_POS_INT = {"type": "integer", "minimum": 1}
_WAIT = {"anyOf": [_DURATION, {"type": "array", "items": _DURATION, "minItems": 2, "maxItems": 2}]}
PHASE_NAME = r"^(SMTP|POP3) [A-Za-z0-9 _.-]+$|^\*$"

SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["users", "shape"],
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "duration": _DURATION,
        "users": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["kind"],
            "properties": {
                "kind": {"enum": ["smtp", "pop3"]},
                "weight": {"type": "integer", "minimum": 0},
                "fixed_count": {"type": "integer", "minimum": 0},
                "wait": _WAIT,
                "messages_per_session": _POS_INT,
                "recipients": _POS_INT,
                "starttls": {"type": "boolean"},
                "auth": {"type": "boolean"},
                "pipelining": {"type": "boolean"},
                "dele": {"type": "boolean"},
                "max_retrieve": _POS_INT,
                "abort_ratio": {"type": "number", "minimum": 0, "maximum": 1},
            }}},
        "messages": {"type": "object", "additionalProperties": False, "properties": {
            "sizes": {"anyOf": [_POS_INT, {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["size"],
                "properties": {"size": _POS_INT, "weight": {"type": "integer", "minimum": 1}}}}]},
            "line_length": {"type": "integer", "minimum": 10, "maximum": 998},
            "eight_bit": {"type": "boolean"},
        }},
        "shape": {"type": "object", "additionalProperties": False, "required": ["kind"], "properties": {
            "kind": {"enum": ["ramp", "step", "spike", "soak", "stages", "arrival"]},
            "users": {"type": "integer", "minimum": 0},
            "spawn_rate": {"type": "number", "exclusiveMinimum": 0},
            "ramp": _DURATION,
            "steps": _POS_INT,
            "step_duration": _DURATION,
            "base_users": {"type": "integer", "minimum": 0},
            "spike_users": _POS_INT,
            "at": _DURATION,
            "length": _DURATION,
            "stages": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["duration", "users"],
                "properties": {"duration": _DURATION, "users": {"type": "integer", "minimum": 0},
                               "spawn_rate": {"type": "number", "exclusiveMinimum": 0}}}},
            "rate": _RATE,
            "max_in_flight": _POS_INT,
            "generators": _POS_INT,
        }},
        "roundtrip": {"type": "object", "additionalProperties": False, "properties": {
            "verify": {"type": "boolean"},
            "drain_timeout": _DURATION,
        }},
        "prefill": {"type": "object", "additionalProperties": False, "required": ["messages"],
                    "properties": {"messages": {"type": "integer", "minimum": 0, "maximum": 100000}}},
        "thresholds": {"type": "object", "additionalProperties": False, "properties": {
            "failure_ratio": {"type": "number", "minimum": 0, "maximum": 1},
            "min_messages_per_s": {"type": "number", "minimum": 0},
            "max_lost_messages": {"type": "integer", "minimum": 0},
            "max_corrupted_messages": {"type": "integer", "minimum": 0},
            "max_duplicated_messages": {"type": "integer", "minimum": 0},
            "max_not_started": {"type": "integer", "minimum": 0},
            "delivery_p95": _DURATION,
            "delivery_p99": _DURATION,
            "phases": {"type": "object", "propertyNames": {"pattern": PHASE_NAME},
                       "additionalProperties": {
                           "type": "object", "additionalProperties": False, "minProperties": 1,
                           "properties": {"p50": _DURATION, "p95": _DURATION, "p99": _DURATION,
                                          "max": _DURATION}}},
        }},
    },
}


@dataclass(frozen=True, slots=True)
class UserMix:
    kind: str                              # smtp | pop3
    weight: int = 1
    fixed_count: int | None = None
    wait: tuple[float, float] = (0.0, 0.0)  # seconds between sessions, uniform in [min, max]
    messages_per_session: int = 1
    recipients: int = 1
    starttls: bool = False
    auth: bool = False
    pipelining: bool = False                # RFC 2920 when the server advertises it
    dele: bool = True
    max_retrieve: int = 100                 # RETRs per POP3 session
    abort_ratio: float = 0.0               # POP3 sessions that RST after DELE, without QUIT


@dataclass(frozen=True, slots=True)
class Messages:
    sizes: tuple[tuple[int, int], ...] = ((1000, 1),)   # (octets, weight)
    line_length: int = 76
    eight_bit: bool = False


@dataclass(frozen=True, slots=True)
class Shape:
    kind: str = "ramp"
    users: int = 10
    spawn_rate: float | None = None
    ramp: float | None = None
    steps: int = 5
    step_duration: float | None = None
    base_users: int = 1
    spike_users: int = 10
    at: float | None = None
    length: float | None = None
    stages: tuple[tuple[float, int, float | None], ...] = ()   # (duration, users, spawn_rate)
    rate: float = 0.0                    # arrival: sessions per second (all processes together)
    max_in_flight: int = 1000
    generators: int | None = None        # arrival: generator users (default: one per process)


@dataclass(frozen=True, slots=True)
class Thresholds:
    failure_ratio: float | None = None
    min_messages_per_s: float | None = None
    max_lost_messages: int | None = None
    max_corrupted_messages: int | None = None
    max_duplicated_messages: int | None = None
    max_not_started: int | None = None
    delivery_p95: float | None = None     # seconds
    delivery_p99: float | None = None
    phases: tuple[tuple[str, str, float], ...] = ()   # (phase, stat, seconds)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    source: str
    duration: float
    users: tuple[UserMix, ...]
    shape: Shape
    messages: Messages = Messages()
    verify: bool = False
    drain_timeout: float | None = None
    prefill: int = 0
    thresholds: Thresholds = Thresholds()
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def kinds(self) -> set[str]:
        return {u.kind for u in self.users if u.weight or u.fixed_count}

    def with_overrides(self, *, users: int | None = None, spawn_rate: float | None = None,
                       duration: float | None = None, rate: float | None = None) -> Profile:
        shape = self.shape
        if users is not None:
            if shape.kind == "stages":
                shape = replace(shape, stages=tuple((d, users, r) for d, _, r in shape.stages))
            elif shape.kind == "spike":
                shape = replace(shape, spike_users=users)
            else:
                shape = replace(shape, users=users)
        if spawn_rate is not None:
            shape = replace(shape, spawn_rate=spawn_rate, ramp=None)
        if rate is not None:
            shape = replace(shape, rate=rate)
        return replace(self, shape=shape, duration=duration if duration is not None else self.duration)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra", None)
        return data


def profile_from_json(data: dict[str, Any]) -> Profile:
    """The inverse of ``Profile.to_json`` (the Locust process reads its profile this way)."""
    th = data["thresholds"]
    sh = data["shape"]
    return Profile(
        name=data["name"], source=data["source"], duration=data["duration"],
        users=tuple(UserMix(**{**u, "wait": tuple(u["wait"])}) for u in data["users"]),
        shape=Shape(**{**sh, "stages": tuple(tuple(s) for s in sh["stages"])}),
        messages=Messages(**{**data["messages"],
                             "sizes": tuple(tuple(s) for s in data["messages"]["sizes"])}),
        verify=data["verify"], drain_timeout=data["drain_timeout"], prefill=data["prefill"],
        thresholds=Thresholds(**{**th, "phases": tuple(tuple(p) for p in th["phases"])}),
        description=data.get("description", ""),
    )


_RATE_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(/s|/m)?$")


def parse_rate(value: Any) -> float:
    """Sessions per second from ``50``, ``"50/s"`` or ``"600/m"``."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _RATE_RE.match(str(value).strip())
    if not m:
        raise ValueError(f"not a rate: {value!r}")
    return float(m.group(1)) / (60.0 if m.group(2) == "/m" else 1.0)


def _dur(value: Any) -> float | None:
    return None if value is None else parse_duration(value)


class _ProfileLoader(YamlFileLoader):
    def at(self, root: Any, path: list[Any]) -> tuple[int | None, int | None]:
        return _locate(root, path)

    def load(self) -> Profile:
        data = self.read_mapping("a load profile must be a mapping with 'users' and 'shape'")
        self.schema_errors(jsonschema.Draft202012Validator(SCHEMA), data, [], data)
        if self.errors:
            raise ScenarioErrors(self.errors)
        profile = self.build(data)
        if self.errors:
            raise ScenarioErrors(self.errors)
        return profile

    def build(self, data: dict[str, Any]) -> Profile:
        users = tuple(self.user(u) for u in data["users"])
        if not any(u.weight or u.fixed_count for u in users):
            self.error("users: every user kind has weight 0 and no fixed_count", *self.at(data, ["users"]))
        shape = self.shape(data["shape"], data)
        duration = _dur(data.get("duration"))
        if duration is None:
            duration = self.implied_duration(shape)
            if duration is None:
                self.error(f"duration: required for shape kind {shape.kind!r}", *self.at(data, ["shape"]))
                duration = 0.0
        if duration <= 0 and not self.errors:
            self.error("duration: must be positive", *self.at(data, ["duration"]))
        m = data.get("messages", {})
        sizes = m.get("sizes", 1000)
        sizes_t = ((sizes, 1),) if isinstance(sizes, int) else tuple((s["size"], s.get("weight", 1)) for s in sizes)
        messages = Messages(sizes_t, m.get("line_length", 76), m.get("eight_bit", False))
        rt = data.get("roundtrip", {})
        verify = bool(rt.get("verify", False))
        if verify and not any(u.kind == "smtp" for u in users):
            self.error("roundtrip.verify needs an smtp user kind to send the messages", *self.at(data, ["roundtrip"]))
        if verify and any(u.kind == "pop3" and not u.dele for u in users):
            self.error("roundtrip.verify needs pop3 users with dele: true (else every session sees the "
                       "same messages again)", *self.at(data, ["roundtrip"]))
        th = data.get("thresholds", {})
        phases = tuple((phase, stat, parse_duration(limit))
                       for phase, stats in th.get("phases", {}).items() for stat, limit in stats.items())
        for key in ("max_lost_messages", "max_corrupted_messages", "max_duplicated_messages",
                    "delivery_p95", "delivery_p99"):
            if key in th and not verify:
                self.error(f"thresholds.{key}: needs roundtrip: {{verify: true}}", *self.at(data, ["thresholds", key]))
        if "max_not_started" in th and shape.kind != "arrival":
            self.error("thresholds.max_not_started: only an arrival shape can fail to start sessions",
                       *self.at(data, ["thresholds", "max_not_started"]))
        thresholds = Thresholds(
            failure_ratio=th.get("failure_ratio"), min_messages_per_s=th.get("min_messages_per_s"),
            max_lost_messages=th.get("max_lost_messages"), max_corrupted_messages=th.get("max_corrupted_messages"),
            max_duplicated_messages=th.get("max_duplicated_messages"), max_not_started=th.get("max_not_started"),
            delivery_p95=_dur(th.get("delivery_p95")), delivery_p99=_dur(th.get("delivery_p99")), phases=phases)
        return Profile(
            name=data.get("name", self.path.stem), source=self.name, duration=duration, users=users, shape=shape,
            messages=messages, verify=verify, drain_timeout=_dur(rt.get("drain_timeout")),
            prefill=data.get("prefill", {}).get("messages", 0), thresholds=thresholds,
            description=data.get("description", ""))

    def user(self, u: dict[str, Any]) -> UserMix:
        wait = u.get("wait", 0)
        pair = (parse_duration(wait[0]), parse_duration(wait[1])) if isinstance(wait, list) else \
            (parse_duration(wait), parse_duration(wait))
        if pair[1] < pair[0]:
            self.error("wait: [min, max] with max < min", getattr(u, "key_lines", {}).get("wait"))
        return UserMix(kind=u["kind"], weight=u.get("weight", 1), fixed_count=u.get("fixed_count"), wait=pair,
                       messages_per_session=u.get("messages_per_session", 1), recipients=u.get("recipients", 1),
                       starttls=u.get("starttls", False), auth=u.get("auth", False), dele=u.get("dele", True),
                       pipelining=u.get("pipelining", False),
                       max_retrieve=u.get("max_retrieve", 100), abort_ratio=u.get("abort_ratio", 0.0))

    def shape(self, s: dict[str, Any], root: dict[str, Any]) -> Shape:
        kind = s["kind"]
        needs = {"ramp": ["users"], "soak": ["users"], "step": ["users"], "spike": ["spike_users", "at", "length"],
                 "stages": ["stages"], "arrival": ["rate"]}[kind]
        allowed = {"ramp": {"users", "spawn_rate", "ramp"}, "soak": {"users", "spawn_rate", "ramp"},
                   "step": {"users", "steps", "step_duration", "spawn_rate"},
                   "spike": {"base_users", "spike_users", "at", "length", "spawn_rate"},
                   "stages": {"stages"}, "arrival": {"rate", "max_in_flight", "generators"}}[kind] | {"kind"}
        for key in needs:
            if key not in s:
                self.error(f"shape: kind {kind!r} needs {key!r}", *self.at(root, ["shape"]))
        for key in s:
            if key not in allowed:
                self.error(f"shape.{key}: not used by kind {kind!r} (allowed: {', '.join(sorted(allowed))})",
                           *self.at(root, ["shape", key]))
        if "spawn_rate" in s and "ramp" in s:
            self.error("shape: give spawn_rate or ramp, not both", *self.at(root, ["shape"]))
        return Shape(
            kind=kind, users=s.get("users", 10), spawn_rate=s.get("spawn_rate"), ramp=_dur(s.get("ramp")),
            steps=s.get("steps", 5), step_duration=_dur(s.get("step_duration")), base_users=s.get("base_users", 1),
            spike_users=s.get("spike_users", 10), at=_dur(s.get("at")), length=_dur(s.get("length")),
            stages=tuple((parse_duration(st["duration"]), st["users"], st.get("spawn_rate"))
                         for st in s.get("stages", ())),
            rate=parse_rate(s["rate"]) if "rate" in s else 0.0, max_in_flight=s.get("max_in_flight", 1000),
            generators=s.get("generators"))

    @staticmethod
    def implied_duration(shape: Shape) -> float | None:
        if shape.kind == "stages":
            return sum(d for d, _, _ in shape.stages)
        if shape.kind == "step" and shape.step_duration:
            return shape.steps * shape.step_duration
        return None


def load_profile(path: Path | str) -> Profile:
    """Parse and validate one profile; every problem is a ``ScenarioError`` with file and line."""
    return _ProfileLoader(Path(path)).load()
