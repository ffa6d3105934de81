"""Further POP3 defect knobs: (name, one-sentence description citing the RFC)."""

from __future__ import annotations

POP3_DEFECTS: tuple[tuple[str, str], ...] = (
)
