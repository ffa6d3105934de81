"""report.html: the self-contained page a human opens when the gate fails.

Rendered from the report model (``model.py``) with Jinja2 autoescaping on for
every template *and* for string templates, so server text can only ever
appear as text; the templates never use ``|safe``. The page loads nothing: no
external URL, no external script, charts are inline SVG, and the "All checks" filters work in
CSS alone (radio buttons and ``:checked`` sibling selectors), so it opens from
a CI artifact store or an air-gapped disk alike.

The Content-Security-Policy is ``default-src 'none'`` plus the SHA-256 of the
one ``<style>`` element and of the one ``<script>`` (``report.js``: filters,
search, collapse-all, their state in the URL fragment; a fixed file, no
template variables). Even if an escaping bug let markup through, no other
script would run, nothing would be fetched and no injected style would apply. The
stylesheet is rendered first (its only variables are integers: the number of
suites, for the filter rules) so that its hash can go into the policy.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from harness.report._atomic import atomic_write_bytes
from harness.report.charts import fmt
from harness.report.model import LEVEL_ORDER, RFC_NAMES, RunReport, build_report
from harness.results import RunResult

__all__ = ["write_html", "render_html", "render_report", "TEMPLATE"]

TEMPLATE = "report.html"
STYLESHEET = "report.css"
SCRIPT = "report.js"
OPEN_CARDS = 5          # failure cards open on the first screen; the rest are one line each

# Fixed vocabulary for CSS classes: a class name is never built from input text.
_VERDICT_CLASSES = ("passed", "failed", "error", "skipped", "failed-not-gated", "error-not-gated")

Source = RunResult | Mapping[str, Any]


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
    env.globals["level_order"] = LEVEL_ORDER
    env.globals["rfc_names"] = RFC_NAMES
    env.filters["num"] = fmt
    return env


def render_report(report: RunReport) -> str:
    """The page for an already built ``RunReport``."""
    env = _environment()
    css = env.get_template(STYLESHEET).render(report=report).strip()
    script = _script()
    # Markup: the stylesheet is our own template output (integers only) and the script a fixed
    # file; neither may be HTML-escaped or the CSP hashes and the selectors would break.
    return env.get_template(TEMPLATE).render(report=report, checks=report.by_priority(),
                                             css=Markup(css), style_hash=_hash(css),
                                             script=Markup(script), script_hash=_hash(script),
                                             open_cards=OPEN_CARDS)


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


@functools.cache
def _script() -> str:
    """The one inline script (filters, search, collapse-all; state in the URL fragment): a fixed file
    with no template variables, allowed by its hash in the CSP. It must never contain "</"."""
    loader = _environment().loader
    assert loader is not None
    text = loader.get_source(_environment(), SCRIPT)[0].strip()
    assert "</" not in text
    return text


def render_html(run: Source | Sequence[Source], *, baseline: Mapping[str, Any] | None = None,
                **options: Any) -> str:
    """The report page for ``run`` (a RunResult, a loaded results.json dict, or several)."""
    return render_report(build_report(run, baseline=baseline, **options))


def write_html(run: Source | Sequence[Source], path: Path, *, baseline: Mapping[str, Any] | None = None,
               **options: Any) -> None:
    """Write report.html for ``run`` at ``path`` (parent directories created, atomic replace)."""
    # clean() (harness.untrusted) already removed lone surrogates; backslashreplace is only a
    # guard so a future template mistake cannot turn into a crash at the end of a run.
    html = render_html(run, baseline=baseline, **options)
    atomic_write_bytes(Path(path), html.encode("utf-8", "backslashreplace"))
