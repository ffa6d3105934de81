"""Every check passes against the clean reference server and fails against each defect it names.

This is what makes a conformance check trustworthy: a check that cannot fail
is worthless, and a check that fails on a healthy server is noise.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from harness.refserver import DEFECTS, ReferenceServer
from harness.results import Status
from harness.scenario.loader import load_paths
from harness.scenario.model import Check
from harness.scenario.runner import Runner, RunOptions
from harness.session import Limits
from harness.config.target import target_from_mapping

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
CHECKS: list[Check] = [c for f in load_paths([SCENARIOS]) for c in f.checks]
BY_DEFECT: dict[str, list[Check]] = defaultdict(list)
for _c in CHECKS:
    for _d in _c.defects:
        BY_DEFECT[_d].append(_c)

# Knobs kept for checks that need a feature the scenario format does not have yet.
RESERVED: dict[str, str] = {}   # knob → why no check catches it yet

# Safe variants: behaviour real servers show that is no hole. No check names them; the
# checks whose id contains one of the words must *pass* against them (no false alarm).
SAFE_VARIANTS: dict[str, tuple[str, ...]] = {
    # No PIPELINING, pipelined input refused with 500 and the connection closed (as MTAs with a
    # synchronization check do): STARTTLS with plaintext behind it is refused, never run in TLS,
    # and the smuggling probe (separate writes, silence after the fake end) must see a safe server.
    "smtp-no-pipelining-close": ("smuggling", "injection"),
}


def _run(defects: tuple[str, ...], checks: list[Check]):
    server = ReferenceServer(defects=defects)
    server.start()
    try:
        target = target_from_mapping(server.target(), "reference server")
        limits = Limits(read_timeout=3.0, reply_deadline=3.0)
        return Runner(target, RunOptions(jobs=8, limits=limits)).run(checks)
    finally:
        server.stop()


def test_every_check_names_a_defect_that_exists():
    assert CHECKS, "no checks found"
    for check in CHECKS:
        assert check.defects, f"{check.id} names no defect knob, so nothing proves it can fail"
        unknown = set(check.defects) - set(DEFECTS)
        assert not unknown, f"{check.id}: unknown defects {unknown}"


def test_every_defect_is_caught_by_some_check():
    uncovered = set(DEFECTS) - set(BY_DEFECT) - set(RESERVED) - set(SAFE_VARIANTS)
    assert not uncovered, f"defect knobs no check catches: {sorted(uncovered)}"
    assert not set(SAFE_VARIANTS) & set(BY_DEFECT), "a safe variant must not be named as a defect"


@pytest.mark.parametrize("knob", sorted(SAFE_VARIANTS))
def test_safe_variant_is_not_flagged(knob: str):
    checks = [c for c in CHECKS if any(word in c.id for word in SAFE_VARIANTS[knob])]
    assert len(checks) >= 10, [c.id for c in checks]
    run = _run((knob,), checks)
    bad = [(r.id, r.status.value, r.message[:200]) for r in run.checks if r.status is not Status.PASSED]
    assert not bad, f"with {knob} on (no hole), these checks did not pass: {bad}"


def test_clean_server_passes_every_check():
    run = _run((), CHECKS)
    bad = [(r.id, r.status.value, r.message) for r in run.checks if r.status is not Status.PASSED]
    assert not bad, bad
    assert run.gate_passed


@pytest.mark.parametrize("defect", sorted(BY_DEFECT))
def test_defect_makes_its_checks_fail(defect: str):
    run = _run((defect,), BY_DEFECT[defect])
    passed = [r.id for r in run.checks if r.status in (Status.PASSED, Status.SKIPPED)]
    assert not passed, f"with {defect} on, these checks still passed or skipped: {passed}"
    assert not run.gate_passed or all(r.level.value not in ("MUST", "SECURITY") for r in run.checks)
