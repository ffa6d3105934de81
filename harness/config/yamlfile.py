"""Schema-checked YAML files with every problem as ``file:line: what is wrong``.

``YamlFileLoader`` is what the scenario loader, the load profile loader and the target file share:
read the top-level mapping (``yamlload.load_yaml`` keeps line numbers), check it against a JSON
Schema, and collect every problem at the line of the offending node, so a user sees all of them at
once. ``ScenarioErrors`` carries them together; ``load_all`` runs several loaders and raises one
``ScenarioErrors`` with the problems of all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import jsonschema

from harness.config.yamlload import LineDict, load_yaml, node_lines, snippet
from harness.errors import ScenarioError

__all__ = ["ScenarioErrors", "YamlFileLoader", "describe", "locate", "load_all"]

T = TypeVar("T")


class ScenarioErrors(ScenarioError):
    """Several problems in one or more files."""

    def __init__(self, errors: list[ScenarioError]) -> None:
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line,
                         end_line=first.end_line, snippet=first.snippet)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(ScenarioError.__str__(e) for e in self.errors)


def describe(err: jsonschema.ValidationError, where: str) -> str:
    """One schema error as a sentence about ``where`` (a dotted path), naming the allowed keys or values."""
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
        return describe(inner, inner_where)
    return f"{where}: {err.message}"


def locate(root: Any, path: Iterable[Any]) -> tuple[int | None, int | None]:
    """First and last line of the node at ``path`` in ``root`` (or of the deepest node that exists)."""
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
            self.error(describe(err, where), line, end)
        return not errors


def load_all(loaders: Iterable[Callable[[], T]]) -> list[T]:
    """Run every loader; raise one ``ScenarioErrors`` with the problems of all of them."""
    results: list[T] = []
    errors: list[ScenarioError] = []
    for load in loaders:
        try:
            results.append(load())
        except ScenarioErrors as exc:
            errors += exc.errors
        except ScenarioError as exc:
            errors.append(exc)
    if errors:
        raise ScenarioErrors(errors)
    return results


