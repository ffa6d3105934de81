"""results.json: the stable, machine-readable contract (docs/results.md).

The document is exactly ``RunResult.to_json()``; this module only owns how it
reaches the disk (UTF-8, indent 2, atomic) and how a stored file is read back
for ``mailharness report``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import ScenarioError
from harness.report._atomic import atomic_write_bytes
from harness.results import RunResult

__all__ = ["write_json", "load_json", "dumps_json"]


def dumps_json(data: Any) -> bytes:
    """Serialise ``data`` as UTF-8 JSON bytes, indent 2, in contract key order.

    Server text may reach us with lone surrogates (bytes decoded with
    ``surrogateescape``), which strict UTF-8 cannot encode. Encoding with
    ``backslashreplace`` turns such a character into the six characters
    ``\\udcff``; as it can only occur inside a JSON string literal, that is a
    valid JSON escape and reads back as the very same character, so the file
    stays valid UTF-8 and still round-trips exactly.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return (text + "\n").encode("utf-8", "backslashreplace")


def write_json(run: RunResult | Mapping[str, Any], path: Path) -> None:
    """Write ``run`` (or a results.json document built elsewhere, as ``mailharness load`` does) at ``path``.

    Parent directories are created and the file is replaced atomically.
    """
    atomic_write_bytes(Path(path), dumps_json(run.to_json() if isinstance(run, RunResult) else run))


def load_json(path: Path | str) -> dict[str, Any]:
    """Read a results.json written by mailharness.

    Every expected problem (missing, unreadable, not JSON, not a results file)
    becomes a ``ScenarioError`` naming the file, so the CLI prints one line and
    exits 2 instead of showing a traceback.
    """
    where = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ScenarioError("results file not found", file=where) from None
    except IsADirectoryError:
        raise ScenarioError("is a directory, not a results file", file=where) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read results file: {exc.strerror or exc}", file=where) from None
    try:
        text = raw.decode("utf-8-sig")  # tolerate a BOM added by an editor
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"not UTF-8 (bad byte at offset {exc.start})", file=where) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"not valid JSON: {exc.msg} (column {exc.colno})",
                            file=where, line=exc.lineno) from None
    _check_shape(data, where)
    return data


def _check_shape(data: Any, where: str) -> None:
    # Only what the report code relies on; extra keys are allowed because the
    # contract grows by adding keys (results.py docstring).
    if not isinstance(data, dict):
        raise ScenarioError(f"not a mailharness results file: top level is {type(data).__name__}, "
                            "expected an object", file=where)
    if data.get("tool") != "mailharness":
        raise ScenarioError("not a mailharness results file: missing \"tool\": \"mailharness\"",
                            file=where)
    if "summary" in data and not isinstance(data["summary"], dict):
        raise ScenarioError("malformed results file: \"summary\" must be an object", file=where)
    checks = data.get("checks", [])
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise ScenarioError("malformed results file: \"checks\" must be a list of objects", file=where)
