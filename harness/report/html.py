"""report.html: the self-contained page a human opens when the gate fails.

Rendered from the report model with Jinja2 autoescaping on for every template
*and* for string templates, so server text can only ever appear as text; the
template never uses ``|safe``. The page loads nothing (no external URL, no
script), and a Content-Security-Policy of ``default-src 'none'`` keeps it that
way even if an escaping bug slipped in. It opens from a CI artifact store
or an air-gapped disk alike.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from harness.report._atomic import atomic_write_bytes
from harness.report.model import build_report
from harness.results import RunResult

__all__ = ["write_html", "render_html", "TEMPLATE"]

TEMPLATE = "report.html"

# Fixed vocabulary for CSS classes: a class name is never built from input text.
_VERDICT_CLASSES = ("passed", "failed", "error", "skipped", "failed-not-gated", "error-not-gated")


@functools.cache
def _environment() -> Environment:
    # StrictUndefined: a typo in the template fails the test suite instead of
    # silently rendering an empty cell.
    env = Environment(
        loader=PackageLoader("harness.report"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals["verdict_classes"] = _VERDICT_CLASSES
    return env


def render_html(run: RunResult | Mapping[str, Any]) -> str:
    """The report page for ``run`` (a RunResult or a loaded results.json dict)."""
    report = build_report(run)
    return _environment().get_template(TEMPLATE).render(report=report, checks=report.by_priority())


def write_html(run: RunResult | Mapping[str, Any], path: Path) -> None:
    """Write report.html for ``run`` at ``path`` (parent directories created, atomic replace)."""
    # model.clean() already removed lone surrogates; backslashreplace is only a
    # guard so a future template mistake cannot turn into a crash at the end of a run.
    atomic_write_bytes(Path(path), render_html(run).encode("utf-8", "backslashreplace"))
