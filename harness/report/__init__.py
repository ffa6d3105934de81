"""Report writers: results.json (the contract), junit.xml (the CI gate view), report.html (for humans).

All three are rendered from one run; see ``model.py`` for the shared view and
for how hostile server text is made safe. Every writer creates parent
directories and replaces its file atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from typing import Any

from harness.report.html import render_html, render_report, write_html
from harness.report.jsonout import load_json, write_json
from harness.report.junit import junit_bytes, write_junit
from harness.report.model import RunReport, build_report
from harness.results import RunResult

__all__ = [
    "write_json",
    "load_json",
    "write_junit",
    "write_html",
    "write_report",
    "render_report",
    "write_all",
    "render_html",
    "junit_bytes",
    "build_report",
    "RunReport",
    "REPORT_FILES",
]

# File names inside --out, part of the public contract (docs/results.md).
REPORT_FILES: Mapping[str, str] = {"json": "results.json", "junit": "junit.xml", "html": "report.html"}


def write_report(report: RunReport, path: Path) -> None:
    """Write an already built ``RunReport`` (``mailharness report``) as HTML at ``path``."""
    from harness.report._atomic import atomic_write_bytes
    atomic_write_bytes(Path(path), render_report(report).encode("utf-8", "backslashreplace"))


def write_all(run: RunResult, out_dir: Path, baseline: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write results.json, junit.xml and report.html into ``out_dir``; return them by kind.

    results.json goes first: it is the contract other tools read, so if a later
    writer fails the machine-readable result is already on disk.
    """
    out = Path(out_dir)
    paths = {kind: out / name for kind, name in REPORT_FILES.items()}
    write_json(run, paths["json"])
    write_junit(run, paths["junit"])
    write_html(run, paths["html"], baseline=baseline)
    return paths
