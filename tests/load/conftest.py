"""Load tests: every run is a real ``python -m harness load`` subprocess.

Nothing here imports locust (it would hang with server threads alive in this
process, docs/architecture.md): the CLI subprocess starts the
embedded reference server and spawns the Locust processes itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PROFILES = Path(__file__).resolve().parent / "profiles"
BUNDLED = REPO / "scenarios" / "load"


def run_load(*args: str, out: Path, timeout: float = 90) -> tuple[int, dict[str, Any] | None, str]:
    """Run ``mailharness load`` (bounded); return exit code, results.json (if any), combined output."""
    env = dict(os.environ)        # harness as installed (the wheel in CI)
    proc = subprocess.run([sys.executable, "-m", "harness", "load", *args, "--out", str(out), "-q"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    results = out / "results.json"
    data = json.loads(results.read_text()) if results.exists() else None
    return proc.returncode, data, proc.stdout + proc.stderr


@pytest.fixture
def load_run(tmp_path: Path):
    def run(*args: str, timeout: float = 90) -> tuple[int, dict[str, Any] | None, str]:
        return run_load(*args, out=tmp_path / "out", timeout=timeout)
    return run
