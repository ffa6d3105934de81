"""Shared fixtures: the repository's scenario folder and an embedded reference server per test."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"


@pytest.fixture(scope="session")
def scenario_dir() -> Path:
    return SCENARIOS
