"""SMTP client side, sans-I/O: reply reader and command encoding.

Theory of operation. The reader is fed whatever bytes the transport got
(``receive_data``) and yields complete replies (``next_event``). A reply is one
or more lines ``code-text`` ... ``code text`` (RFC 5321 §4.2.1). The reader is
a *strict observer*: everything the server gets wrong but that can still be
understood (bare-LF line ends, codes outside 2xx-5xx, a multi-line reply whose
lines carry different codes, over-long lines, bare codes) is recorded as a
``Violation`` on the reply. What cannot be understood at all (a line that does
not start with three digits, EOF in the middle of a reply) raises
``RemoteProtocolError``. Size bounds raise ``Oversize`` so a hostile server can
never make the harness buffer without limit.
"""

from __future__ import annotations

import re

from harness.errors import Oversize, RemoteProtocolError
from harness.protocol.common import CLOSED, NEED_DATA, LineBuffer, Sentinel, Violation
from harness.protocol.replies import Capabilities, EnhancedStatus, SmtpReply

__all__ = ["SmtpReplyReader", "encode_command", "parse_ehlo", "REPLY_LINE_LIMIT", "COMMAND_LINE_LIMIT"]

REPLY_LINE_LIMIT = 512      # RFC 5321 §4.5.3.1.5, code and CRLF included
COMMAND_LINE_LIMIT = 512    # RFC 5321 §4.5.3.1.4

_LINE = re.compile(rb"^(\d{3})([ -]?)(.*)$", re.DOTALL)


class SmtpReplyReader:
    def __init__(self, *, max_line: int = 65536, max_lines: int = 1000) -> None:
        self._lines = LineBuffer(max_line)
        self.max_lines = max_lines
        self._pending: list[tuple[int, bytes, bytes]] = []   # (code, text, raw line)
        self._violations: list[Violation] = []

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the wire; ``b""`` means the peer closed."""
        self._lines.feed(data)

    @property
    def buffered(self) -> int:
        return len(self._lines) + sum(len(raw) for _, _, raw in self._pending)

    @property
    def in_reply(self) -> bool:
        return bool(self._pending) or len(self._lines) > 0

    def take_unread(self) -> bytes:
        """Discard and return buffered bytes (at STARTTLS: what came before the handshake)."""
        pending = b"".join(raw for _, _, raw in self._pending)
        self._pending.clear()
        self._violations.clear()
        return pending + self._lines.take_rest()

    def next_event(self) -> SmtpReply | Sentinel:
        while True:
            line = self._lines.next_line()
            if line is None:
                if self._lines.eof:
                    if self._pending or len(self._lines):
                        raise RemoteProtocolError(
                            "connection closed in the middle of a reply (missing final line)")
                    return CLOSED
                return NEED_DATA
            m = _LINE.match(line.content)
            if not m:
                shown = line.content[:80].decode("utf-8", "replace")
                raise RemoteProtocolError(f"not an SMTP reply line: {shown!r}")
            code, sep, text = int(m.group(1)), m.group(2), m.group(3)
            if sep == b"" and text:
                shown = line.content[:80].decode("utf-8", "replace")
                raise RemoteProtocolError(f"reply code not followed by SP or '-': {shown!r}")
            if len(self._pending) >= self.max_lines:
                raise Oversize(f"reply has more than {self.max_lines} lines")
            self._observe_line(code, sep, line.terminator, len(line.raw))
            self._pending.append((code, text, line.raw))
            if sep != b"-":
                return self._finish()

    def _observe_line(self, code: int, sep: bytes, terminator: bytes, length: int) -> None:
        add = self._violations.append
        if terminator != b"\r\n":
            add(Violation("bare-lf", "reply line ended by a bare LF, not CRLF", "5321#2.3.8"))
        if not 200 <= code <= 599:
            add(Violation("reply-code-range", f"reply code {code} is not 2xx-5xx", "5321#4.2"))
        if self._pending and code != self._pending[0][0]:
            add(Violation("multiline-code-mismatch",
                          f"continuation line has code {code}, first line {self._pending[0][0]}",
                          "5321#4.2.1"))
        if length > REPLY_LINE_LIMIT:
            add(Violation("reply-line-length", f"reply line of {length} octets exceeds 512",
                          "5321#4.5.3.1.5"))
        if sep == b"":
            add(Violation("bare-code", "reply code sent without the <SP>", "5321#4.2.1", "SHOULD"))

    def _finish(self) -> SmtpReply:
        code = self._pending[0][0]
        lines = tuple(text for _, text, _ in self._pending)
        raw = b"".join(r for _, _, r in self._pending)
        enhanced = EnhancedStatus.parse(lines[0])
        if enhanced is not None and enhanced.klass != code // 100:
            self._violations.append(Violation(
                "enhanced-class-mismatch",
                f"enhanced code {enhanced} does not match reply class {code // 100}",
                "3463#3.1", "SHOULD"))
        reply = SmtpReply(code, lines, raw, enhanced, tuple(self._violations))
        self._pending.clear()
        self._violations.clear()
        return reply


def encode_command(verb: str, argument: str | None = None) -> bytes:
    """A command line with CRLF. No validation: the engine may send anything on purpose."""
    line = verb if not argument else f"{verb} {argument}"
    return line.encode("utf-8") + b"\r\n"


def parse_ehlo(reply: SmtpReply) -> Capabilities:
    """EHLO keywords from a 250 reply (RFC 5321 §4.1.1.1): line 1 is the domain, then one keyword per line."""
    greeting = reply.lines[0].decode("utf-8", "replace") if reply.lines else ""
    return Capabilities.from_lines(reply.lines[1:], greeting)
