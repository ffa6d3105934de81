"""The user's files before anything runs: line-numbered YAML, schema-checked file loading, the target file.

Scenario files (``harness.scenario.loader``), load profiles (``harness.load.profile``) and the target
file (``target.py``) all read YAML the same way and report every problem as ``file:line: message``.
This package is what they share; it imports only ``harness.errors``, so none of those three has to
import another to read its file (docs/architecture.md, "Layers").
"""

from __future__ import annotations

__all__: list[str] = []
