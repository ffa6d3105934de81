"""Fixtures for tests/report; the sample data lives in report_samples.py."""

from __future__ import annotations

import pytest

from harness.results import RunResult
from report_samples import make_run


@pytest.fixture
def run() -> RunResult:
    return make_run()
