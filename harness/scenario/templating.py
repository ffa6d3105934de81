"""Sandboxed Jinja2 for ``{{ ... }}`` in scenario strings.

Scenario files may come from anyone, so templates run in a
``SandboxedEnvironment`` (no attribute access to internals) with
``StrictUndefined`` (a typo is an error, not an empty string) and no
autoescaping (the output is wire text, not HTML).
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any, Mapping

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["TemplateProblem", "render", "syntax_error", "is_template", "parse"]


class TemplateProblem(Exception):
    """A template that fails to compile or render; the caller adds the file and line."""


@functools.lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                               keep_trailing_newline=True)
    env.filters["regex_escape"] = re.escape      # for expectations built from captured text
    env.filters["md5"] = lambda text: hashlib.md5(str(text).encode("utf-8")).hexdigest()  # APOP (RFC 1939 §7)
    return env


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> jinja2.Template:
    return _env().from_string(text)


def parse(text: str) -> nodes.Template:
    """The syntax tree, for reading what a template uses (raises ``jinja2.TemplateSyntaxError``)."""
    return _env().parse(text)


def syntax_error(text: str) -> str | None:
    if not is_template(text):
        return None
    try:
        _compile(text)
    except jinja2.TemplateSyntaxError as exc:
        return f"template syntax error: {exc.message}"
    return None


def render(text: str, context: Mapping[str, Any]) -> str:
    if not is_template(text):
        return text
    try:
        return _compile(text).render(**context)
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(f"template variable error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise TemplateProblem(f"template error: {exc}") from None
    except jinja2.sandbox.SecurityError as exc:  # type: ignore[attr-defined]
        raise TemplateProblem(f"template refused by the sandbox: {exc}") from None
