"""Further message-content (MIME, 7-bit/8-bit, trace) delivery defect knobs: (name, one-sentence description citing the RFC)."""

from __future__ import annotations

MIME_DEFECTS: tuple[tuple[str, str], ...] = (
)
