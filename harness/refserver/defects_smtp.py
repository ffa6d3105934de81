"""Further RFC 5321 core SMTP defect knobs: (name, one-sentence description citing the RFC)."""

from __future__ import annotations

SMTP_DEFECTS: tuple[tuple[str, str], ...] = (
)
