"""The transcript: every byte each way, with a monotonic timestamp (docs/architecture.md).

It is the primary artifact of a check: pytest failures, results.json, JUnit and
the HTML report all render this one object. Secrets (passwords and the base64
forms the AUTH steps send) are masked in everything rendered or written; the
raw bytes stay in memory only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from harness.escapes import encode_escapes

__all__ = ["Exchange", "Transcript", "MASK", "render_entries"]

MASK = "****"


@dataclass(frozen=True, slots=True)
class Exchange:
    conn: str          # connection name within the check ("smtp", "pop3", or a user-given name)
    direction: str     # "C" client → server, "S" server → client, "*" event (TLS, close, sleep)
    t: float           # seconds since the transcript started
    raw: bytes
    note: str = ""


class Transcript:
    def __init__(self, secrets: Iterable[str] = (), clock: Callable[[], float] = time.perf_counter,
                 max_bytes: int = 4 * 1024 * 1024) -> None:
        self._clock = clock
        self._t0 = clock()
        self.exchanges: list[Exchange] = []
        self._secrets: set[bytes] = set()
        self.max_bytes = max_bytes      # what is kept for display; a hostile server must not fill memory
        self._kept = 0
        self.truncated = False
        for s in secrets:
            self.add_secret(s)

    def add_secret(self, secret: str | bytes) -> None:
        value = secret.encode("utf-8") if isinstance(secret, str) else secret
        if len(value) >= 3:          # masking very short strings would garble the transcript
            self._secrets.add(value)

    def record(self, conn: str, direction: str, raw: bytes, note: str = "") -> None:
        if self._kept + len(raw) > self.max_bytes:
            if not self.truncated:
                self.truncated = True
                self.exchanges.append(Exchange(conn, "*", self.elapsed(), b"",
                                               "transcript truncated (size bound reached)"))
            return
        self._kept += len(raw)
        self.exchanges.append(Exchange(conn, direction, self.elapsed(), raw, note))

    def event(self, conn: str, note: str) -> None:
        self.exchanges.append(Exchange(conn, "*", self.elapsed(), b"", note))

    def elapsed(self) -> float:
        return self._clock() - self._t0

    def mask(self, raw: bytes) -> bytes:
        for secret in sorted(self._secrets, key=len, reverse=True):
            raw = raw.replace(secret, MASK.encode())
        return raw

    def shown(self, ex: Exchange) -> str:
        return encode_escapes(self.mask(ex.raw))

    def to_json(self) -> list[dict[str, Any]]:
        return [{"conn": ex.conn, "dir": ex.direction, "t": round(ex.t, 6),
                 "text": self.shown(ex), "note": ex.note} for ex in self.exchanges]

    def render_text(self, limit: int | None = None) -> str:
        return render_entries(self.to_json(), limit)


def render_entries(entries: list[dict[str, Any]], limit: int | None = None) -> str:
    """``C:``/``S:`` lines, one per wire line, from the JSON form (results.json, pytest, terminal).

    The text is already escaped (``encode_escapes``), so control characters a
    hostile server sent cannot reach the terminal.
    """
    out: list[str] = []
    multi = len({e["conn"] for e in entries}) > 1
    for e in entries:
        prefix = f"[{e['conn']}] " if multi else ""
        if e["dir"] == "*":
            out.append(f"{prefix}-- {e.get('note', '')}")
            continue
        pieces = [p + "\\n" for p in e["text"].split("\\n")]
        pieces[-1] = pieces[-1][:-2]
        for piece in pieces:
            if piece:
                out.append(f"{prefix}{e['dir']}: {piece}")
        if e.get("note"):
            out.append(f"{prefix}   ({e['note']})")
    if limit is not None and len(out) > limit:
        out = out[: limit // 2] + [f"... {len(out) - limit} lines elided ..."] + out[-limit // 2:]
    return "\n".join(out)
