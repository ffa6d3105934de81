"""A check with ``variants:``: one body, several checks, expanded when the file is loaded.

Each variant is a mapping of check fields (``id``, ``title``, ``level``, ``defects``, ``quote`` ...)
that replace or add to the body's, plus ``with:``, the values that ``${name}`` references in the
body stand for (docs/scenario-format.md, "Variants"). Expansion works on the YAML nodes, before
the schema check, and keeps their line numbers, so an error in an expanded check points at the
body or the variant line that caused it. ``$${`` writes a literal ``${``.
"""

from __future__ import annotations

import re
from typing import Any

from harness.config.yamlload import LineDict, LineList

__all__ = ["REFERENCE", "expand_variants", "without_variants"]

REFERENCE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCALARS = (str, int, float, bool)


class _Substitution:
    def __init__(self, values: dict[str, Any], in_variant: bool = True) -> None:
        self.values = values
        self.in_variant = in_variant
        self.used: set[str] = set()
        self.problems: list[tuple[str, int]] = []

    def value(self, name: str, line: int) -> Any:
        if name not in self.values:
            known = ", ".join(sorted(self.values)) or "none"
            self.problems.append((f"${{{name}}} has no value in this variant's 'with' (it has: {known})"
                                  if self.in_variant else
                                  f"${{{name}}} outside a check with variants (write $${{ for a literal ${{)", line))
            return None
        self.used.add(name)
        return self.values[name]

    def string(self, text: str, line: int) -> Any:
        whole = REFERENCE.fullmatch(text)
        if whole and not whole.group(1):
            return self.value(whole.group(2), line)     # keeps the value's type: a list, a mapping, a number

        def one(m: re.Match[str]) -> str:
            if m.group(1):
                return "${" + m.group(2) + "}"
            value = self.value(m.group(2), line)
            if value is not None and not isinstance(value, _SCALARS):
                self.problems.append((f"${{{m.group(2)}}} is inside a string, so its value must be a "
                                      f"string or number, not a {_kind(value)}", line))
                return m.group(0)
            return "" if value is None else str(value)
        return REFERENCE.sub(one, text)

    def node(self, node: Any, line: int) -> Any:
        if isinstance(node, str):
            return self.string(node, line)
        if isinstance(node, LineDict):
            out = LineDict()
            out.line, out.end_line, out.key_lines = node.line, node.end_line, dict(node.key_lines)
            for key, value in node.items():
                out[key] = self.node(value, node.key_lines.get(key, node.line))
            return out
        if isinstance(node, LineList):
            out_list = LineList()
            out_list.line, out_list.end_line = node.line, node.end_line
            for index, item in enumerate(node):
                item_line = node.item_lines[index] if index < len(node.item_lines) else node.line
                whole = REFERENCE.fullmatch(item) if isinstance(item, str) else None
                value = self.node(item, item_line)
                if whole and not whole.group(1) and isinstance(value, list):
                    # "- ${probe}" with a list value: its items take the reference's place
                    lines = getattr(value, "item_lines", [])
                    out_list += value
                    out_list.item_lines += [lines[i] if i < len(lines) else item_line for i in range(len(value))]
                else:
                    out_list.append(value)
                    out_list.item_lines.append(item_line)
            return out_list
        return node


def without_variants(check: LineDict) -> tuple[LineDict, list[tuple[str, int]]]:
    """A check without ``variants``: ``${name}`` is an error there, ``$${`` still a literal ``${``."""
    sub = _Substitution({}, in_variant=False)
    return sub.node(check, check.line), sub.problems


def expand_variants(body: LineDict) -> tuple[list[LineDict], list[tuple[str, int]]]:
    """The checks that ``body`` (a check with ``variants``) stands for, and (problem, line) pairs.

    The schema has checked that ``variants`` is a list of mappings and ``with`` a mapping.
    """
    checks: list[LineDict] = []
    problems: list[tuple[str, int]] = []
    for number, variant in enumerate(body["variants"], 1):
        values = variant.get("with") or {}
        sub = _Substitution(dict(values))
        check = LineDict()
        check.line, check.end_line = variant.line, variant.end_line
        for key, value in body.items():
            if key != "variants":
                check[key] = sub.node(value, body.key_lines.get(key, body.line))
                check.key_lines[key] = body.key_lines.get(key, body.line)
        for key, value in variant.items():
            if key != "with":
                check[key] = value
                check.key_lines[key] = variant.key_lines.get(key, variant.line)
        problems += [(f"variant {number}: {text}", line) for text, line in sub.problems]
        unused = sorted(set(values) - sub.used)
        if unused:
            problems.append((f"variant {number}: with: {', '.join(unused)} not used by the check "
                             f"(refer to a value as ${{name}})", variant.key_lines.get("with", variant.line)))
        checks.append(check)
    return checks, problems


def _kind(value: Any) -> str:
    return "list" if isinstance(value, list) else "mapping" if isinstance(value, dict) else type(value).__name__
