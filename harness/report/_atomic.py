"""Atomic file writes for report artifacts.

CI jobs upload ``reports/latest/*`` and other tools read results.json while a
run may still be writing it, so a reader must see either the old file or the
complete new one, never a torn write.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["atomic_write_bytes"]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same directory plus ``os.replace``.

    The temp file lives next to the target because ``os.replace`` is only atomic
    within one filesystem. It is created with ``os.open(..., 0o666)`` rather than
    ``tempfile.mkstemp`` so the umask applies as for any ordinary file (mkstemp
    would leave a 0600 report that a CI artifact uploader may not read).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Leave no half-written ".tmp" litter behind in the report directory.
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
