"""SMTP client side, sans-I/O: reply reader and command encoding.

Theory of operation. The reader is fed whatever bytes the transport got
(``receive_data``) and yields complete replies (``next_event``: ``next_frame``
finds a reply's end, ``parse_reply`` parses it). A reply is one
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
from harness.protocol.common import CLOSED, NEED_DATA, Sentinel, Violation
from harness.protocol.replies import Capabilities, EnhancedStatus, SmtpReply

__all__ = ["SmtpReplyReader", "Frame", "parse_reply", "encode_command", "parse_ehlo", "REPLY_LINE_LIMIT", "COMMAND_LINE_LIMIT"]

REPLY_LINE_LIMIT = 512      # RFC 5321 §4.5.3.1.5, code and CRLF included
COMMAND_LINE_LIMIT = 512    # RFC 5321 §4.5.3.1.4

_LINE = re.compile(rb"^(\d{3})([ -]?)(.*)$", re.DOTALL)


class SmtpReplyReader:
    """Frames replies, then parses them: one framer for the checks and the load users.

    ``next_frame`` finds where the next reply ends (RFC 5321 §4.2.1: at the
    first line whose code is not followed by ``-``) and returns its exact wire
    bytes, enforcing the line and line-count bounds as the bytes come in.
    ``parse_reply`` turns those bytes into an ``SmtpReply`` with its
    violations. ``next_event`` does both. A load client that acts only on the
    code takes ``next_frame`` (it gives the code with the bytes) and parses only
    the replies it did not expect.
    """

    def __init__(self, *, max_line: int = 65536, max_lines: int = 1000) -> None:
        self.max_line = max_line
        self.max_lines = max_lines
        self._buf = bytearray()
        self._scan = 0          # where the first line not yet looked at starts
        self._lines = 0         # lines of the current reply before ``_scan``
        self._eof = False

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the wire; ``b""`` means the peer closed."""
        if data:
            self._buf += data
        else:
            self._eof = True

    @property
    def buffered(self) -> int:
        return len(self._buf)

    @property
    def in_reply(self) -> bool:
        return len(self._buf) > 0

    def take_unread(self) -> bytes:
        """Discard and return buffered bytes (at STARTTLS: what came before the handshake)."""
        rest = bytes(self._buf)
        self._buf.clear()
        self._scan = self._lines = 0
        return rest

    def next_frame(self) -> Frame | Sentinel:
        """``(code, wire bytes)`` of the next complete reply, ``NEED_DATA`` or ``CLOSED``.

        ``code`` is -1 when the last line is not a code followed by SP or the
        line end: ``parse_reply`` of the bytes then says what is wrong (lines
        before the last are continuations, so they start with a code).
        """
        buf = self._buf
        if not buf:             # the usual wait for a reply to what was just sent
            return CLOSED if self._eof else NEED_DATA
        start = self._scan
        lines = self._lines
        max_line = self.max_line
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                # ``+ 1``: a line of exactly ``max_line`` octets may have its CR here and its LF
                # in the next segment; it is accepted when it arrives whole, so it must be here too.
                if len(buf) - start > max_line + 1:
                    raise Oversize(f"line longer than {max_line} octets without a line end")
                if lines > self.max_lines:
                    raise Oversize(f"reply has more than {self.max_lines} lines")
                self._scan, self._lines = start, lines
                if self._eof:
                    raise RemoteProtocolError("connection closed in the middle of a reply (missing final line)")
                return NEED_DATA
            if nl - start > max_line + 1:
                raise Oversize(f"line of {nl - start + 1} octets exceeds the {max_line}-octet bound")
            # A continuation is "NNN-"; anything else ends the reply (and fails parsing if garbage).
            if nl - start > 3 and buf[start + 3] == 45 and buf[start:start + 3].isdigit():
                lines += 1
                start = nl + 1
                continue
            if lines >= self.max_lines:
                raise Oversize(f"reply has more than {self.max_lines} lines")
            well_formed = nl - start >= 3 and buf[start + 3] in _FINAL_SEP and buf[start:start + 3].isdigit()
            if nl + 1 == len(buf):      # the reply is all there is: one copy, no slice
                raw = bytes(buf)
                buf.clear()
            else:
                raw = bytes(buf[:nl + 1])
                del buf[:nl + 1]
            self._scan = self._lines = 0
            return (int(raw[:3]) if well_formed else -1), raw

    def next_event(self) -> SmtpReply | Sentinel:
        frame = self.next_frame()
        if isinstance(frame, Sentinel):
            return frame
        return parse_reply(frame[1])


Frame = tuple[int, bytes]       # (code or -1, the reply's exact wire bytes)
_FINAL_SEP = (32, 13, 10)       # SP, CR, LF after the code of a reply's last line


def parse_reply(raw: bytes) -> SmtpReply:
    """An ``SmtpReply`` with its violations from the wire bytes of one framed reply."""
    violations: list[Violation] = []
    pending: list[tuple[int, bytes]] = []
    segments = raw.split(b"\n")
    for segment in segments[:-1]:         # every line of a frame ends with LF: the last segment is empty
        if segment.endswith(b"\r"):
            content, crlf = segment[:-1], True
        else:
            content, crlf = segment, False
        m = _LINE.match(content)
        if not m:
            shown = content[:80].decode("utf-8", "replace")
            raise RemoteProtocolError(f"not an SMTP reply line: {shown!r}")
        code, sep, text = int(m.group(1)), m.group(2), m.group(3)
        if sep == b"" and text:
            shown = content[:80].decode("utf-8", "replace")
            raise RemoteProtocolError(f"reply code not followed by SP or '-': {shown!r}")
        _observe_line(violations, pending, code, sep, crlf, len(segment) + 1)
        pending.append((code, text))
    code = pending[0][0]
    lines = tuple(text for _, text in pending)
    enhanced = EnhancedStatus.parse(lines[0])
    if enhanced is not None and enhanced.klass != code // 100:
        violations.append(Violation(
            "enhanced-class-mismatch",
            f"enhanced code {enhanced} does not match reply class {code // 100}",
            "3463#3.1", "SHOULD"))
    return SmtpReply(code, lines, raw, enhanced, tuple(violations))


def _observe_line(violations: list[Violation], pending: list[tuple[int, bytes]], code: int, sep: bytes,
                  crlf: bool, length: int) -> None:
    add = violations.append
    if not crlf:
        add(Violation("bare-lf", "reply line ended by a bare LF, not CRLF", "5321#2.3.8"))
    if not 200 <= code <= 599:
        add(Violation("reply-code-range", f"reply code {code} is not 2xx-5xx", "5321#4.2"))
    if pending and code != pending[0][0]:
        add(Violation("multiline-code-mismatch",
                      f"continuation line has code {code}, first line {pending[0][0]}",
                      "5321#4.2.1"))
    if length > REPLY_LINE_LIMIT:
        add(Violation("reply-line-length", f"reply line of {length} octets exceeds 512",
                      "5321#4.5.3.1.5"))
    if sep == b"":
        add(Violation("bare-code", "reply code sent without the <SP>", "5321#4.2.1", "SHOULD"))


def encode_command(verb: str, argument: str | None = None) -> bytes:
    """A command line with CRLF. No validation: the engine may send anything on purpose."""
    line = verb if not argument else f"{verb} {argument}"
    return line.encode("utf-8") + b"\r\n"


def parse_ehlo(reply: SmtpReply) -> Capabilities:
    """EHLO keywords from a 250 reply (RFC 5321 §4.1.1.1): line 1 is the domain, then one keyword per line."""
    greeting = reply.lines[0].decode("utf-8", "replace") if reply.lines else ""
    return Capabilities.from_lines(reply.lines[1:], greeting)
