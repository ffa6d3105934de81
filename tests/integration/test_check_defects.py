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
from harness.target import target_from_mapping

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
CHECKS: list[Check] = [c for f in load_paths([SCENARIOS]) for c in f.checks]
BY_DEFECT: dict[str, list[Check]] = defaultdict(list)
for _c in CHECKS:
    for _d in _c.defects:
        BY_DEFECT[_d].append(_c)

# Knobs kept for checks that need a feature the scenario format does not have yet.
RESERVED: dict[str, str] = {}   # knob → why no check catches it yet


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
    uncovered = set(DEFECTS) - set(BY_DEFECT) - set(RESERVED)
    assert not uncovered, f"defect knobs no check catches: {sorted(uncovered)}"


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
