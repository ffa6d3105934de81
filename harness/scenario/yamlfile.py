"""A YAML file checked against a JSON schema, with every problem as ``file:line: what is wrong``.

What the scenario, target and load-profile loaders share; it imports none of them, so any of them
can use it without an import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import jsonschema

from harness.errors import ScenarioError
from harness.scenario.yamlload import LineDict, load_yaml, node_lines, snippet

__all__ = ["ScenarioErrors", "YamlFileLoader", "locate"]


class ScenarioErrors(ScenarioError):
    """Several problems in one or more files."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line,
                         end_line=first.end_line, snippet=first.snippet)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(ScenarioError.__str__(e) for e in self.errors)


def _describe(err: jsonschema.ValidationError, where: str) -> str:
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        allowed = ", ".join(sorted(err.schema.get("properties", {})))
        return f"{where}: unknown key {', '.join(map(repr, extra))} (allowed: {allowed})"
    if err.validator == "required":
        return f"{where}: {err.message}"
    if err.validator == "enum":
        return f"{where}: {err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
    if err.validator in ("anyOf", "oneOf") and err.context:
        # Explain the branch that got furthest: a type mismatch says least.
        inner = max(err.context, key=lambda e: (e.validator != "type", len(e.absolute_path)))
        inner_where = ".".join([where] + [str(p) for p in inner.relative_path]) if inner.relative_path else where
        return _describe(inner, inner_where)
    return f"{where}: {err.message}"


def locate(root: Any, path: Iterable[Any]) -> tuple[int | None, int | None]:
    node, parent, key = root, None, None
    for part in path:
        parent, key = node, part
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    if isinstance(parent, LineDict) and key in parent.key_lines:
        return node_lines(parent, key)
    return node_lines(node)


class YamlFileLoader:
    """What every schema-checked YAML file loader shares: errors with file, line and snippet."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self.text = ""
        self.errors: list[ScenarioError] = []

    def error(self, message: str, line: int | None, end: int | None = None) -> None:
        # A suite default step or a variant body is in many checks: say its problem once.
        if any(e.message == message and e.line == line for e in self.errors):
            return
        self.errors.append(ScenarioError(message, file=self.name, line=line, end_line=end,
                                         snippet=snippet(self.text, line, end)))

    def read_mapping(self, what: str) -> LineDict:
        """The file's top-level mapping; ``what`` says what it must contain."""
        try:
            self.text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            pass
        data = load_yaml(self.path)
        if not isinstance(data, dict):
            raise ScenarioError(what, file=self.name, line=1)
        return data

    def schema_errors(self, validator: jsonschema.protocols.Validator, node: Any, base: list[Any],
                      root: Any) -> bool:
        """Record every schema problem of ``node`` (at ``base`` in ``root``) at its line; True if none."""
        errors = sorted(validator.iter_errors(node), key=lambda e: list(map(str, e.absolute_path)))
        for err in errors[:8]:
            line, end = locate(root, base + list(err.absolute_path))
            if err.validator == "additionalProperties" and isinstance(err.instance, LineDict):
                extra = [k for k in err.instance if k not in err.schema.get("properties", {})]
                if extra and extra[0] in err.instance.key_lines:
                    line = end = err.instance.key_lines[extra[0]]
            where = ".".join(str(p) for p in base + list(err.absolute_path)) or "(top level)"
            self.error(_describe(err, where), line, end)
        return not errors
