"""Durations as the user's files and the command line write them (``5``, ``2.5``, ``"200ms"``, ``"5s"``, ``"1m"``)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m)?$")


def parse_duration(value: Any) -> float:
    """Seconds from ``5``, ``2.5``, ``"200ms"``, ``"5s"`` or ``"1m"`` (the schema already checked the form)."""
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(str(value).strip())
    if not m:
        raise ValueError(f"not a duration: {value!r}")
    number, unit = float(m.group(1)), m.group(2) or "s"
    return number / 1000 if unit == "ms" else number * 60 if unit == "m" else number
