"""Safe YAML loading that remembers where every node came from.

Mappings and sequences come back as ``dict``/``list`` subclasses carrying the
1-based start and end line of the node and of each key, so that a schema
error can say ``file.yaml:14-17: ...`` (docs/architecture.md). Only
``yaml.SafeLoader`` constructors are used: no Python object tags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import ScenarioError

__all__ = ["LineDict", "LineList", "load_yaml", "node_lines", "snippet"]


class LineDict(dict):
    __slots__ = ("line", "end_line", "key_lines")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 0
        self.end_line = 0
        self.key_lines: dict[Any, int] = {}


class LineList(list):
    __slots__ = ("line", "end_line", "item_lines")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line = 0
        self.end_line = 0
        self.item_lines: list[int] = []    # where each item starts (scalars have no line of their own)


class _Loader(yaml.SafeLoader):
    pass


def _last_line(node: yaml.Node, seen: frozenset[int] = frozenset()) -> int:
    # A block collection's end mark sits on the next token, often a later
    # line; the last scalar inside it knows where the node really ends.
    # ``seen`` stops at aliases that point back into themselves (x: &x {<<: *x}).
    if id(node) in seen:
        return node.end_mark.line + 1
    seen = seen | {id(node)}
    if isinstance(node, yaml.MappingNode) and node.value:
        return _last_line(node.value[-1][1], seen)
    if isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style:
        return _last_line(node.value[-1], seen)
    return node.end_mark.line + (1 if node.end_mark.column > 0 else 0)


def _span(node: yaml.Node) -> tuple[int, int]:
    start = node.start_mark.line + 1
    return start, max(start, _last_line(node))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line, out.end_line = _span(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise ScenarioError("mapping keys must be scalars", line=key_node.start_mark.line + 1)
        if key in out:
            raise ScenarioError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line, out.end_line = _span(node)
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)

MAX_FILE_BYTES = 4 * 1024 * 1024


def load_yaml(path: Path) -> Any:
    """Parse one YAML document; every problem is a ``ScenarioError`` naming the file and line."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"cannot read file: {exc.strerror or exc}", file=name) from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(f"file is larger than {MAX_FILE_BYTES} bytes", file=name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 text (byte {exc.start})", file=name) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except ScenarioError as exc:
        exc.file = name
        exc.snippet = snippet(text, exc.line, exc.line)
        raise exc from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # An error at end of input points past the last line: show the last one.
        line = min(mark.line + 1, max(1, len(text.splitlines()))) if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ScenarioError(f"YAML syntax error: {problem}", file=name, line=line,
                            snippet=snippet(text, line, line)) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"YAML error: {exc}", file=name) from None
    except RecursionError:
        raise ScenarioError("YAML nests too deeply (or an alias refers to itself)", file=name) from None


def node_lines(node: Any, key: Any = None) -> tuple[int | None, int | None]:
    if isinstance(node, LineDict) and key is not None and key in node.key_lines:
        value = node[key]
        end = getattr(value, "end_line", None)
        start = node.key_lines[key]
        return start, (end if end and end >= start else start)
    line = getattr(node, "line", None)
    return line, getattr(node, "end_line", line)


def snippet(text: str, start: int | None, end: int | None, context: int = 1) -> str | None:
    if not start:
        return None
    lines = text.splitlines()
    end = min(end or start, start + 6)
    first, last = max(1, start - context), min(len(lines), end + context)
    width = len(str(last))
    return "\n".join(
        f"{'>' if start <= n <= end else ' '} {n:>{width}} | {lines[n - 1]}" for n in range(first, last + 1)
    )
