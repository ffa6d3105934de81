"""Shared fixtures: the repository's scenario folder and an embedded reference server per test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"

# Test modules import helpers as ``tests.<folder>.<module>``, so the checkout must be on sys.path; it goes
# last: ci/test.sh runs pytest with PYTHONSAFEPATH=1 so that ``harness`` is the installed package (the
# wheel in CI), not the checkout's folder of the same name.
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))


@pytest.fixture(scope="session")
def scenario_dir() -> Path:
    return SCENARIOS
