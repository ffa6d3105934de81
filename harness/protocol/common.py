"""Pieces shared by the SMTP and POP3 readers: sentinels, violations, a bounded line splitter.

Both protocols are line based with CRLF terminators (RFC 5321 §2.3.8,
RFC 1939 §3). The splitter is deliberately tolerant: it splits on LF so a
server that ends lines with a bare LF is still understood, but it reports the
terminator it saw so the caller can record the violation (strict observer,
permissive reader).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from harness.errors import Oversize

__all__ = ["NEED_DATA", "CLOSED", "Sentinel", "Violation", "Line", "LineBuffer"]


class Sentinel(enum.Enum):
    NEED_DATA = "NEED_DATA"
    CLOSED = "CLOSED"


NEED_DATA = Sentinel.NEED_DATA
CLOSED = Sentinel.CLOSED


@dataclass(frozen=True, slots=True)
class Violation:
    """A protocol rule broken on the wire.

    ``local`` is True when the harness itself sent it on purpose (e.g. a bare
    LF in a smuggling probe): that is recorded but never blamed on the server.
    """

    rule: str
    message: str
    rfc: str
    level: str = "MUST"          # MUST | SHOULD | INFO
    local: bool = False

    def __str__(self) -> str:
        who = "client" if self.local else "server"
        return f"{self.level} {self.rule} (RFC {self.rfc}, {who}): {self.message}"


@dataclass(frozen=True, slots=True)
class Line:
    content: bytes        # without the terminator
    terminator: bytes     # b"\r\n", b"\n" (bare LF) or b"" (EOF without a terminator)

    @property
    def raw(self) -> bytes:
        return self.content + self.terminator


class LineBuffer:
    """Accumulates bytes and hands out complete lines, never holding more than ``max_line`` (+ a CR) without a LF."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._buf = bytearray()
        self._scan_from = 0
        self.eof = False

    def feed(self, data: bytes) -> None:
        if not data:
            self.eof = True
            return
        self._buf += data

    def next_line(self) -> Line | None:
        idx = self._buf.find(b"\n", self._scan_from)
        if idx < 0:
            # ``+ 1``: a line of exactly ``max_line`` octets may have its CR here and its LF in
            # the next segment; it is accepted when it arrives whole, so it must be here too.
            if len(self._buf) > self.max_line + 1:
                raise Oversize(f"line longer than {self.max_line} octets without a line end")
            self._scan_from = len(self._buf)
            return None
        if idx + 1 > self.max_line + 2:
            raise Oversize(f"line of {idx + 1} octets exceeds the {self.max_line}-octet bound")
        raw = bytes(self._buf[: idx + 1])
        del self._buf[: idx + 1]
        self._scan_from = 0
        if raw.endswith(b"\r\n"):
            return Line(raw[:-2], b"\r\n")
        return Line(raw[:-1], b"\n")

    def take_rest(self) -> bytes:
        """Remove and return whatever is buffered (e.g. plaintext left over at STARTTLS)."""
        rest = bytes(self._buf)
        self._buf.clear()
        self._scan_from = 0
        return rest

    def __len__(self) -> int:
        return len(self._buf)
