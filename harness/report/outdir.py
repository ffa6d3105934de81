"""Where a run's reports go without ``--out``: ``reports/<UTC stamp>``, with ``reports/latest`` pointing there.

``mailharness run`` and ``mailharness load`` share this, so both kinds of run land side by side and
``reports/latest`` (what CI jobs upload) is always the newest of either.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

__all__ = ["report_dir", "link_latest"]


def report_dir(out: Path | None, suffix: str = "") -> Path:
    """``out`` if given, else ``reports/<UTC stamp><suffix>`` (relative to the working directory)."""
    if out:
        return Path(out)
    return Path("reports") / (dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + suffix)


def link_latest(out_dir: Path) -> None:
    """Point ``latest`` beside ``out_dir`` at it (relative link)."""
    latest = out_dir.parent / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(out_dir.name)
    except OSError:
        pass       # a filesystem without symlinks: the report is still in out_dir
