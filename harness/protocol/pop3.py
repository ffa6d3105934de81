"""POP3 client side, sans-I/O: status/multi-line reader and command helpers.

Theory of operation. POP3 responses are a status line (``+OK``/``-ERR``,
RFC 1939 §3) optionally followed, for some commands, by a multi-line body
ending in ``.CRLF`` with byte-stuffed lines. Whether a body follows depends on
the *command* (and on the status being positive), so the driver tells the
reader what it expects with ``expect(multiline)`` before reading each
response. SASL continuations (``+ base64``, RFC 5034 §4) are their own
response kind.

Strict observer: a lower-case status, a bare-LF line end, an over-long status
line, or a body line starting with a single unstuffed ``.`` are recorded as
violations; bytes that are no POP3 status at all raise ``RemoteProtocolError``.
Body size is bounded (``Oversize``).
"""

from __future__ import annotations

import re

from harness.errors import Oversize, RemoteProtocolError
from harness.protocol.common import CLOSED, NEED_DATA, LineBuffer, Sentinel, Violation
from harness.protocol.replies import Capabilities, Pop3Response

__all__ = ["Pop3ResponseReader", "expects_multiline", "parse_capa", "MULTILINE_COMMANDS"]

_BODY_LINE = re.compile(rb"[^\n]*\n")

STATUS_LINE_LIMIT = 512     # RFC 1939 §3: responses may be up to 512 characters, CRLF included

# Commands whose positive response carries a multi-line body (RFC 1939 §5, §7; RFC 2449 §5).
MULTILINE_COMMANDS = frozenset({"CAPA", "RETR", "TOP"})
_MULTILINE_WITHOUT_ARG = frozenset({"LIST", "UIDL"})


def expects_multiline(line: bytes | str) -> bool:
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    words = line.split()
    if not words:
        return False
    verb = words[0].upper()
    if verb in MULTILINE_COMMANDS:
        return True
    return verb in _MULTILINE_WITHOUT_ARG and len(words) == 1


class Pop3ResponseReader:
    def __init__(self, *, max_line: int = 65536, max_body: int = 64 * 1024 * 1024) -> None:
        self._lines = LineBuffer(max_line)
        self.max_body = max_body
        self._multiline = False
        self._status: tuple[bool | None, bytes, bytes] | None = None
        # The body lines exactly as sent, in one buffer: a list of small bytes objects
        # costs ~40 octets of overhead per line, so an endless body of short lines
        # would use many times ``max_body`` before the bound trips. Lines are split
        # (and unstuffed) only once the terminator has arrived.
        self._wire = bytearray()
        self._body_raw = 0
        self._stuffed = 0
        self._violations: list[Violation] = []

    def expect(self, multiline: bool) -> None:
        """Declare whether the next positive response has a multi-line body."""
        self._multiline = multiline

    def receive_data(self, data: bytes) -> None:
        self._lines.feed(data)

    @property
    def in_reply(self) -> bool:
        return self._status is not None or len(self._lines) > 0

    def take_unread(self) -> bytes:
        rest = self._lines.take_rest()
        self._reset()
        return rest

    def next_event(self) -> Pop3Response | Sentinel:
        while True:
            line = self._lines.next_line()
            if line is None:
                if self._lines.eof:
                    if self._status is not None or len(self._lines):
                        raise RemoteProtocolError(
                            "connection closed before the multi-line terminator '.'"
                            if self._status is not None else
                            "connection closed in the middle of a response line")
                    return CLOSED
                return NEED_DATA
            if line.terminator != b"\r\n":
                self._violations.append(
                    Violation("bare-lf", "line ended by a bare LF, not CRLF", "1939#3"))
            if self._status is None:
                response = self._status_line(line.content, line.raw)
                if response is not None:
                    return response
                continue
            done = self._body_line(line.content, line.raw)
            if done is not None:
                return done

    def _status_line(self, content: bytes, raw: bytes) -> Pop3Response | None:
        head = content[:4]
        if head.upper() == b"+OK" or content[:3].upper() == b"+OK":
            ok: bool | None = True
            text = content[3:]
            if content[:3] != b"+OK":
                self._violations.append(Violation(
                    "status-case", "'+OK' must be sent in upper case", "1939#3"))
        elif content[:4].upper() == b"-ERR":
            ok = False
            text = content[4:]
            if content[:4] != b"-ERR":
                self._violations.append(Violation(
                    "status-case", "'-ERR' must be sent in upper case", "1939#3"))
        elif content[:1] == b"+" and content[1:2] in (b" ", b""):
            ok, text = None, content[1:]
        else:
            shown = content[:80].decode("utf-8", "replace")
            raise RemoteProtocolError(f"not a POP3 status line: {shown!r}")
        if text[:1] == b" ":
            text = text[1:]
        if len(raw) > STATUS_LINE_LIMIT:
            self._violations.append(Violation(
                "status-line-length", f"status line of {len(raw)} octets exceeds 512",
                "1939#3", "SHOULD"))
        if ok and self._multiline:
            self._status = (ok, text, raw)
            return None
        return self._make(ok, text, raw, None)

    def _body_line(self, content: bytes, raw: bytes) -> Pop3Response | None:
        if content == b".":
            ok, text, status_raw = self._status  # type: ignore[misc]
            wire = bytes(self._wire)
            body_wire = status_raw + wire + raw
            # Every body line ends with LF (the splitter guarantees it); a line that
            # starts with ".." was byte-stuffed and loses one dot, a single "." line
            # was already reported as a violation and is kept as sent.
            lines = tuple(line[1:] if line.startswith(b"..") else line
                          for line in _BODY_LINE.findall(wire))
            return self._make(ok, text, body_wire, lines)
        self._body_raw += len(raw)
        if self._body_raw > self.max_body:
            raise Oversize(f"multi-line response larger than {self.max_body} octets")
        self._wire += raw
        if content.startswith(b"."):
            if content.startswith(b".."):
                self._stuffed += 1
            else:
                self._violations.append(Violation(
                    "unstuffed-dot", "body line starts with a single '.' that was not byte-stuffed",
                    "1939#3"))
        return None

    def _make(self, ok: bool | None, text: bytes, raw: bytes,
              body: tuple[bytes, ...] | None) -> Pop3Response:
        response = Pop3Response(ok, text, raw, body, self._stuffed, tuple(self._violations))
        self._reset()
        return response

    def _reset(self) -> None:
        self._status, self._wire, self._body_raw, self._stuffed = None, bytearray(), 0, 0
        self._violations.clear()


def parse_capa(response: Pop3Response) -> Capabilities:
    """CAPA tags (RFC 2449 §6) from a multi-line +OK response."""
    lines = [line.rstrip(b"\r\n") for line in (response.body or ())]
    return Capabilities.from_lines(lines)
