"""Sans-I/O sequence trackers: which command each reply answers, and whether the RFCs list that reply.

A tracker is fed the client's bytes exactly as they were written (``sent``)
and each reply as the reader returns it (``received``). It splits the client
bytes into command lines, queues them (pipelining puts several in flight), and
pairs every reply with the oldest command still waiting. The state follows the
tables in ``smtp_states`` / ``pop3_states``; the codes come from the
codes-per-command tables beside them. A reply the tables do not list for its
command comes back as an INFO ``Violation``. Nothing is refused: a conformance
tool must be able to send commands out of order, and so it does.

Message text after a 354 and BDAT chunks are not commands, and a line after a
``334``/``+`` continuation answers AUTH. Where the pairing cannot be known
(a command line ended by a bare LF or holding a CR, an empty line, text sent
after DATA that the server then refused, a reply no command asked for) the
tracker stops judging that connection rather than guess: a wrong pairing would
blame the server for the harness's own probes.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Generic, TypeVar

from harness.protocol import pop3_states, smtp_states
from harness.protocol.common import Violation
from harness.protocol.pop3_states import Pop3State
from harness.protocol.protocols import Protocol
from harness.protocol.replies import Pop3Response, ReplyClass, SmtpReply
from harness.protocol.smtp_states import SmtpCommand, SmtpState

__all__ = ["SmtpTracker", "Pop3Tracker", "tracker_for", "RULE"]

RULE = "unlisted-reply"
# A command line longer than this (RFC 5321 §4.5.3.1.4 allows 512 octets) may be cut, answered
# twice or end the session, depending on the server: the pairing is unknown after it.
_MAX_COMMAND = 4096
_BDAT = re.compile(rb"^BDAT[ \t]+([0-9]{1,15})(?:[ \t]+LAST)?[ \t]*$", re.IGNORECASE)

Cmd = TypeVar("Cmd")


class _Tracker(Generic[Cmd]):
    """Client-line splitting and reply pairing shared by both protocols."""

    def __init__(self) -> None:
        self.lost = False                  # pairing unknown from here on: judge nothing more
        self.pending: deque[Cmd] = deque()
        self._buf = bytearray()
        self._skip = 0                     # octets still to pass over unparsed (a BDAT chunk)
        self._overlong = False             # inside a line already over _MAX_COMMAND octets

    def sent(self, data: bytes) -> None:
        """The client wrote ``data`` (all of it, as it went on the wire)."""
        if self.lost:
            return
        self._buf += data
        while self._buf and not self.lost:
            if self._skip:
                taken = min(self._skip, len(self._buf))
                del self._buf[:taken]
                self._skip -= taken
                continue
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > _MAX_COMMAND:
                    self._overlong = True
                    del self._buf[:-1]          # keep a possible CR
                return
            raw = bytes(self._buf[: end + 1])
            del self._buf[: end + 1]
            if self._overlong:
                self._overlong = False
                self._line(None, b"\r\n" if raw.endswith(b"\r\n") else b"\n")
            elif raw.endswith(b"\r\n"):
                self._line(raw[:-2], b"\r\n")
            else:
                self._line(raw[:-1], b"\n")

    def _command_line(self, content: bytes | None, terminator: bytes) -> bool:
        """True when ``content`` is unambiguously one command the server answers once (None: over-long)."""
        if content is None or terminator != b"\r\n" or b"\r" in content or not content.strip() \
                or len(content) > _MAX_COMMAND:
            self.lost = True
            return False
        return True

    def _next_command(self) -> Cmd | None:
        if self.pending:
            return self.pending.popleft()
        self.lost = True                   # a reply nobody asked for: later pairs are uncertain
        return None

    def _line(self, content: bytes | None, terminator: bytes) -> None:
        raise NotImplementedError


class SmtpTracker(_Tracker[SmtpCommand]):
    def __init__(self) -> None:
        super().__init__()
        self.state = SmtpState.CONNECTED
        self._text = False             # client lines are message text (DATA sent, no end yet)
        self._text_lines = 0           # ... this many of them (the dot too) sent before the 354 came
        self._awaiting_354 = False     # DATA sent, its reply not seen yet
        self._after_crlf = True        # the previous text line ended in CRLF (".": end of data)
        self._auth_continues = False   # the last reply was AUTH's 334: the next line answers it
        self._greeted = False
        self._refused = False          # the greeting was 554 (RFC 5321 §3.1)

    def _line(self, content: bytes | None, terminator: bytes) -> None:
        if self._text:
            self._text_lines += self._awaiting_354
            if content == b"." and terminator == b"\r\n" and self._after_crlf:
                self._text = False
                self.pending.append(SmtpCommand.END_OF_DATA)
            self._after_crlf = terminator == b"\r\n"
            return
        if not self._command_line(content, terminator):
            return
        assert content is not None
        if self._auth_continues:
            self._auth_continues = False
            self.pending.append(SmtpCommand.AUTH)
            return
        command = smtp_states.classify(content)
        self.pending.append(command)
        if command is SmtpCommand.DATA:
            # What follows is message text if the server says 354; decided when the reply comes.
            self._text, self._text_lines, self._awaiting_354, self._after_crlf = True, 0, True, True
        elif command is SmtpCommand.BDAT:
            m = _BDAT.match(content)
            if m is None:
                self.lost = True
            else:
                self._skip = int(m.group(1))

    def received(self, reply: SmtpReply | Pop3Response) -> Violation | None:
        """Pair ``reply`` with its command, move the state; a finding when its code is not listed."""
        if not isinstance(reply, SmtpReply):
            raise TypeError("an SMTP tracker is fed SMTP replies")
        if self.lost:
            return None
        if not self._greeted:
            command: SmtpCommand | None = SmtpCommand.GREETING   # even if the client spoke first
            self._greeted, self._refused = True, reply.code == 554
        else:
            command = self._next_command()
            if command is None:
                return None
        finding = self._judge(command, reply)
        self.state = smtp_states.next_state(self.state, command, reply.kind)
        if command is SmtpCommand.DATA and self._awaiting_354:
            self._awaiting_354 = False
            if reply.code != 354:
                self._text = False
                # text sent ahead of a refused DATA was read as commands by the server
                self.lost = self._text_lines > 0
        if command is SmtpCommand.STARTTLS and reply.kind is ReplyClass.POSITIVE_COMPLETION:
            # RFC 3207 §4.2: the server discards what was pipelined behind STARTTLS.
            self.pending.clear()
            self._buf.clear()
        self._auth_continues = command is SmtpCommand.AUTH and reply.code == 334
        return finding

    def _judge(self, command: SmtpCommand, reply: SmtpReply) -> Violation | None:
        listed = smtp_states.allowed_codes(command, self._refused)
        if listed is None or reply.code in listed or reply.kind is ReplyClass.INVALID:
            return None            # an invalid code is the reader's finding already
        what = "the greeting" if command is SmtpCommand.GREETING else \
            ("the end of data" if command is SmtpCommand.END_OF_DATA else command.value)
        rfc = smtp_states.CODES_RFC.get(command, "5321#4.3.2")
        return Violation(RULE, f"{reply.code} is not a reply the RFC lists for {what} "
                               f"(listed: {', '.join(map(str, sorted(listed)))})", rfc, "INFO")


class Pop3Tracker(_Tracker[str]):
    def __init__(self) -> None:
        super().__init__()
        self.state = Pop3State.AUTHORIZATION
        self._greeted = False
        self._after_user = False       # the last command was a successful USER (PASS may follow)
        self._auth_continues = False   # the last reply was AUTH's "+": the next line answers it

    def _line(self, content: bytes | None, terminator: bytes) -> None:
        if not self._command_line(content, terminator):
            return
        assert content is not None
        if self._auth_continues:
            self._auth_continues = False
            self.pending.append("AUTH")
            return
        verb = content.split(None, 1)[0]
        self.pending.append(verb.decode("ascii", "replace").upper())

    def received(self, reply: SmtpReply | Pop3Response) -> Violation | None:
        """Pair ``reply`` with its command, move the state; a finding when the status is not listed."""
        if not isinstance(reply, Pop3Response):
            raise TypeError("a POP3 tracker is fed POP3 responses")
        if self.lost:
            return None
        if not self._greeted:
            self._greeted = True
            return None            # +OK or -ERR: both are greetings (RFC 1939 §4, RFC 2449 §8.1.2)
        command = self._next_command()
        if command is None:
            return None
        listed = pop3_states.allowed_responses(self.state, command, self._after_user, reply.resp_code)
        finding = None
        if listed is not None and reply.ok not in listed:
            shown = " or ".join({True: "+OK", False: "-ERR", None: "+"}[x] for x in (True, False, None)
                                if x in listed)
            finding = Violation(RULE, f"{reply.status} is not a response RFC 1939 lists for {command} in the "
                                      f"{self.state.value} state (listed: {shown})",
                                pop3_states.RESPONSES_RFC.get(command, "1939#3"), "INFO")
        if reply.ok is not None:
            self.state = pop3_states.next_state(self.state, command, reply.ok)
        self._after_user = command == "USER" and reply.ok is True
        self._auth_continues = command == "AUTH" and reply.ok is None
        if command == "STLS" and reply.ok:
            self.pending.clear()       # RFC 2595 §4: pipelined plaintext after STLS is discarded
            self._buf.clear()
        return finding


def tracker_for(protocol: Protocol) -> SmtpTracker | Pop3Tracker:
    """The tracker for one connection speaking ``protocol``."""
    return SmtpTracker() if protocol is Protocol.SMTP else Pop3Tracker()
