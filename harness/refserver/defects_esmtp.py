"""Further ESMTP extension and security defect knobs: (name, one-sentence description citing the RFC)."""

from __future__ import annotations

ESMTP_DEFECTS: tuple[tuple[str, str], ...] = (
)
