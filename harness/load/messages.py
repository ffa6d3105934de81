"""Messages for load runs: a fresh id per message, bodies precomputed per size class.

Pure (no I/O, no locust, no gevent): the Locust users, the CLI's prefill and
the unit tests make messages the same way.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from harness.load.profile import Messages
from harness.message import MARKER_HEADER, dot_stuff, strip_trace

__all__ = ["MessageFactory"]

_WORDS = (b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf", b"hotel", b"india",
          b"juliet", b"kilo", b"lima", b"mike", b"november", b"oscar", b"papa", b"quebec", b"romeo")
_EIGHT_BIT = "\u00e9t\u00e9 gr\u00fc\u00df \u00e6\u00f8\u00e5 ".encode("utf-8")


def _body(size: int, line_length: int, eight_bit: bool, rng: random.Random) -> bytes:
    """About ``size`` octets of CRLF lines, each ``line_length`` long (the last may be shorter)."""
    out = bytearray()
    while len(out) < size:
        line = bytearray()
        if eight_bit:
            line += _EIGHT_BIT
        while len(line) < line_length:
            line += rng.choice(_WORDS) + b" "
        line = line[:line_length].rstrip(b" .") or b"x"
        out += line + b"\r\n"
    return bytes(out)


class MessageFactory:
    """Messages for load: a fresh id per message, bodies precomputed per size class.

    The message starts with the ``X-Harness-Id`` marker (so ``strip_trace`` and
    ``find_marker`` of harness/message.py find it after the server's trace
    fields), and its digest is ``sha256(message)``, which equals
    ``message.body_digest`` of the retrieved copy when nothing was altered.
    """

    def __init__(self, spec: Messages, id_prefix: str, sender: str, seed: int = 0) -> None:
        self.spec = spec
        self.prefix = id_prefix
        self.sender = sender
        self._seq = 0
        rng = random.Random(seed)
        self._sizes = [s for s, _ in spec.sizes]
        self._weights = [w for _, w in spec.sizes]
        self._bodies = {s: _body(max(s - 260, 10), spec.line_length, spec.eight_bit, rng) for s in self._sizes}
        # The header lines never start with "." (field names), so the wire form is the header plus the
        # body dot-stuffed once per size class: no dot_stuff() of every message.
        self._wire_bodies = {s: dot_stuff(b) + b".\r\n" for s, b in self._bodies.items()}
        self._mime = (b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      b"Content-Transfer-Encoding: 8bit\r\n" if spec.eight_bit else b"")
        self._rng = rng

    def next(self, recipients: Sequence[str]) -> tuple[str, bytes, bytes]:
        """(id, message, wire bytes for DATA: dot-stuffed plus the ``.`` terminator)."""
        self._seq += 1
        mid = f"{self.prefix}.{self._seq}"
        size = self._sizes[0] if len(self._sizes) == 1 else self._rng.choices(self._sizes, self._weights)[0]
        head = (f"{MARKER_HEADER}: {mid}\r\nFrom: <{self.sender}>\r\nTo: {', '.join(f'<{r}>' for r in recipients)}"
                f"\r\nSubject: mailharness load {mid}\r\nMessage-ID: <{mid}@mailharness.test>\r\n"
                f"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n").encode("ascii") + self._mime + b"\r\n"
        return mid, head + self._bodies[size], head + self._wire_bodies[size]

    @staticmethod
    def digest(message: bytes) -> str:
        return hashlib.sha256(strip_trace(message)).hexdigest()
