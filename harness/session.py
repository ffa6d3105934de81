"""The SMTP and POP3 engine: drives the sans-I/O readers over a ``wire.Stream``.

One ``Connection`` is one TCP connection speaking SMTP or POP3, for the checks
and the load users alike. Every read has a per-read timeout *and* an overall
per-reply deadline, so a server that drips a byte a second cannot hold a caller
longer than the deadline; writes, connects and TLS handshakes are bounded too,
and lines, reply line counts and POP3 bodies have size bounds (``Limits``).
With a ``Transcript`` every wire byte is recorded, including the deliberately
illegal ones sent with ``send``; the load users pass ``transcript=None`` and
record nothing. Their SMTP fast path is ``read_frame``: the same reader and
read loop, but a reply is returned as its code and wire bytes, to be parsed
only when the caller did not expect the code.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from harness.errors import ConnectionClosed, Timeout, TransportError
from harness.protocol.common import CLOSED, NEED_DATA, Sentinel, Violation
from harness.protocol.pop3 import Pop3ResponseReader, expects_multiline, parse_capa
from harness.protocol.protocols import Protocol
from harness.protocol.replies import Capabilities, Pop3Response, SmtpReply
from harness.protocol.sequencing import tracker_for
from harness.protocol.smtp import Frame, SmtpReplyReader, parse_ehlo
from harness.transcript import Transcript
from harness.wire.blocking import TcpStream, connect_tcp
from harness.wire.stream import Stream, client_tls_context

__all__ = ["Limits", "Connection", "open_connection", "ServiceRefused"]

_T = TypeVar("_T")


class ServiceRefused(TransportError):
    """The greeting said "no service" (SMTP 421, POP3 -ERR): the check cannot be judged.

    Deliberately not a ``ConnectionClosed``: steps treat that as an answer
    ("the server closed instead of replying"), while this is a refusal to talk.
    """

    error_class = "connection-closed"


@dataclass(frozen=True, slots=True)
class Limits:
    read_timeout: float = 10.0          # one recv
    reply_deadline: float = 30.0        # one whole reply, however it trickles in
    write_timeout: float = 10.0
    connect_timeout: float = 10.0
    max_line: int = 64 * 1024           # a line without LF beyond this is ``oversize``
    max_reply_lines: int = 1000
    max_body: int = 64 * 1024 * 1024    # a POP3 multi-line body
    # Server octets of one reply kept in the transcript; the rest is counted, not kept.
    # The transcript is for people (report, pytest output): a 60 MB RETR or an endless
    # reply would only make every report writer slow and memory-hungry.
    max_recorded_reply: int = 256 * 1024

    # Every wait is also bounded by the per-reply deadline, so ``--timeout 2`` means
    # that no single network operation (connect, TLS handshake, a blocked write)
    # can hold a check longer than 2 s, whatever the other limits say.
    @property
    def write_deadline(self) -> float:
        return min(self.write_timeout, self.reply_deadline)

    @property
    def connect_deadline(self) -> float:
        return min(self.connect_timeout, self.reply_deadline)


class Connection:
    """The engine: one connection speaking SMTP or POP3 (checks with a transcript, load users without)."""

    def __init__(self, name: str, protocol: Protocol | str, stream: Stream, transcript: Transcript | None,
                 limits: Limits = Limits(), clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.protocol = Protocol.parse(protocol)     # "smtp"/"pop3" accepted at this edge too
        self.stream = stream
        self.transcript = transcript
        self.limits = limits
        self._write_deadline = limits.write_deadline
        self._clock = clock
        self.closed = False
        self.capabilities: Capabilities | None = None
        self.findings: list[Violation] = []     # server violations seen on this connection
        self._replies = 0                       # replies read so far
        self._sent = False                      # a reply read before we sent anything is the greeting
        self._reply_recorded = 0                # octets of the current reply in the transcript
        self._reply_unrecorded = 0              # ... and beyond max_recorded_reply, only counted
        self._smtp: SmtpReplyReader | None = None
        self._pop3: Pop3ResponseReader | None = None
        if self.protocol is Protocol.SMTP:
            self._smtp = SmtpReplyReader(max_line=limits.max_line, max_lines=limits.max_reply_lines)
        else:
            self._pop3 = Pop3ResponseReader(max_line=limits.max_line, max_body=limits.max_body)
        self._read_reader: SmtpReplyReader | Pop3ResponseReader = self._smtp or self._pop3  # type: ignore[assignment]
        # Sequence hook (harness/protocol/sequencing.py): fed every byte sent and every reply read;
        # replies the RFCs do not list for their command become INFO findings. Checks only: a load
        # user keeps no findings, so it does not pay for the tracker.
        self.sequence = tracker_for(self.protocol) if transcript is not None else None

    def _event(self, text: str) -> None:
        if self.transcript is not None:
            self.transcript.event(self.name, text)

    def _record(self, direction: str, data: bytes, note: str = "") -> None:
        if self.transcript is not None:
            self.transcript.record(self.name, direction, data, note)

    # -- writing -----------------------------------------------------------------------

    def send(self, data: bytes, note: str = "") -> None:
        """Write exactly these bytes (nothing is added or fixed up)."""
        if self.transcript is not None:
            self.transcript.record(self.name, "C", data, note)
        self._sent = True
        if self.sequence is not None:           # sequence hook: what the replies will answer
            self.sequence.sent(data)
        try:
            self.stream.write(data, self._write_deadline)
        except TransportError as exc:
            self._event(f"write failed: {exc}")
            raise

    def send_line(self, line: str | bytes, note: str = "") -> None:
        data = line.encode("utf-8") if isinstance(line, str) else line
        if self._pop3 is not None:
            self._pop3.expect(expects_multiline(data))
        self.send(data + b"\r\n", note)

    # -- reading -----------------------------------------------------------------------

    def _reader(self) -> SmtpReplyReader | Pop3ResponseReader:
        return self._read_reader

    def _read_event(self, timeout: float | None) -> SmtpReply | Pop3Response:
        try:
            return self._read_event_inner(timeout)
        except TransportError:
            self._end_reply_recording()     # say how much of the failed reply went unrecorded
            raise

    def _read_event_inner(self, timeout: float | None) -> SmtpReply | Pop3Response:
        event = self._await(self._read_reader.next_event, timeout)
        assert isinstance(event, (SmtpReply, Pop3Response))
        for v in event.violations:
            self.findings.append(v)
        if self.sequence is not None and (unlisted := self.sequence.received(event)) is not None:  # sequence hook
            self.findings.append(unlisted)
        greeting = self._replies == 0 and not self._sent
        self._replies += 1
        self._end_reply_recording()
        if greeting and _refuses_service(event):
            # RFC 5321 §3.1/§4.2.2 (421 at connect), RFC 2449 §8.1.2 ([SYS/TEMP]):
            # the server declined the session, so nothing on this connection
            # can be judged. That is an ``error``, not a ``failed`` check.
            raise ServiceRefused(f"the server refused service at connect: "
                                 f"{str(event)[:200]!r}")
        return event

    def _await(self, step: Callable[[], _T | Sentinel], timeout: float | None) -> _T:
        """The one read loop: ``step()`` (a reader's ``next_event`` or ``next_frame``) until it has a result.

        Reads are bounded by ``read_timeout`` each and by the reply deadline
        together; what arrives goes to the transcript (if any), then the reader.
        """
        reader = self._read_reader
        budget = timeout if timeout is not None else self.limits.reply_deadline
        read_timeout = self.limits.read_timeout
        deadline = -1.0
        while True:
            event = step()
            if event is not NEED_DATA:
                if event is CLOSED:
                    self.closed = True
                    self._event("connection closed by server")
                    raise ConnectionClosed("connection closed by the server while waiting for a reply")
                return event  # type: ignore[return-value]
            if deadline < 0:        # the first wait of this reply: the whole budget is left
                deadline = self._clock() + budget
                remaining = budget
            else:
                remaining = deadline - self._clock()
            if remaining <= 0:
                raise Timeout(f"no complete reply within {budget:g} s"
                              + (" (part of it received)" if reader.in_reply else ""))
            per_read = read_timeout if read_timeout < remaining else remaining
            try:
                data = self.stream.read(65536, per_read)
            except Timeout:
                if remaining <= read_timeout:   # the reply deadline ran out, not one read
                    raise Timeout(f"no complete reply within {budget:g} s"
                                  + (" (part of it received)" if reader.in_reply else "")) from None
                raise
            if data and self.transcript is not None:
                self._record_reply_bytes(data)
            reader.receive_data(data)

    def read_frame(self, timeout: float | None = None) -> Frame:
        """SMTP fast path: the next reply as ``(code, wire bytes)``, framed by the reader but not parsed.

        For callers that act on the code and parse (``protocol.smtp.parse_reply``)
        only what they did not expect; the code is -1 for a reply that cannot be
        parsed. Violations of replies read this way are not collected in ``findings``.
        """
        assert self._smtp is not None, "read_frame is for SMTP connections"
        if self.transcript is None:     # nothing to record: the load users' hot path
            frame = self._await(self._smtp.next_frame, timeout)
        else:
            try:
                frame = self._await(self._smtp.next_frame, timeout)
            except TransportError:
                self._end_reply_recording()
                raise
            self._end_reply_recording()
        self._replies += 1
        return frame

    def _record_reply_bytes(self, data: bytes) -> None:
        cap = self.limits.max_recorded_reply
        kept = max(0, min(len(data), cap - self._reply_recorded))
        if kept and self.transcript is not None:
            self.transcript.record(self.name, "S", data[:kept])
        self._reply_recorded += kept
        self._reply_unrecorded += len(data) - kept

    def _end_reply_recording(self) -> None:
        if self._reply_unrecorded:
            self._event(f"{self._reply_unrecorded} further octets of this reply "
                                             f"received but not recorded (over {self.limits.max_recorded_reply})")
        self._reply_recorded = self._reply_unrecorded = 0

    def read_reply(self, timeout: float | None = None) -> SmtpReply:
        if self.protocol is not Protocol.SMTP:
            raise TypeError("read_reply is for SMTP connections")
        reply = self._read_event(timeout)
        assert isinstance(reply, SmtpReply)
        return reply

    def read_response(self, multiline: bool | None = None, timeout: float | None = None) -> Pop3Response:
        if self.protocol is not Protocol.POP3:
            raise TypeError("read_response is for POP3 connections")
        if multiline is not None:
            assert self._pop3 is not None
            self._pop3.expect(multiline)
        response = self._read_event(timeout)
        assert isinstance(response, Pop3Response)
        return response

    def read_any(self, timeout: float | None = None) -> SmtpReply | Pop3Response:
        return self._read_event(timeout)

    def expect_silence(self, wait: float) -> bytes:
        """Read for ``wait`` seconds; return whatever arrived (b"" = the server said nothing more)."""
        deadline = self._clock() + wait
        # A second reply that came in the same segment as the first is already
        # buffered: it counts as arrived, not as silence.
        got = bytearray(self._reader().take_unread())
        while not got and (remaining := deadline - self._clock()) > 0:
            try:
                data = self.stream.read(65536, remaining)
            except Timeout:
                break
            if not data:
                self.closed = True
                self._event("connection closed by server")
                break
            self._record("S", data)
            self._reader().receive_data(data)
            got += data
            if len(got) > self.limits.max_line:
                break
        return bytes(got)

    def wait_closed(self, timeout: float) -> bool:
        """True when the server closes (FIN or RST) within ``timeout``; bytes that arrive are recorded."""
        deadline = self._clock() + timeout
        while (remaining := deadline - self._clock()) > 0:
            try:
                data = self.stream.read(65536, remaining)
            except Timeout:
                return False
            except TransportError:
                self.closed = True
                return True
            if not data:
                self.closed = True
                self._event("connection closed by server")
                return True
            self._record("S", data)
        return False

    # -- higher-level helpers --------------------------------------------------------------

    def command(self, line: str | bytes, timeout: float | None = None) -> SmtpReply | Pop3Response:
        self.send_line(line)
        return self._read_event(timeout)

    def ehlo(self, name: str) -> SmtpReply:
        reply = self.command(f"EHLO {name}")
        assert isinstance(reply, SmtpReply)
        if reply.code == 250:
            self.capabilities = parse_ehlo(reply)
        return reply

    def capa(self) -> Pop3Response:
        response = self.command("CAPA")
        assert isinstance(response, Pop3Response)
        if response.ok:
            self.capabilities = parse_capa(response)
        return response

    def start_tls(self, context: ssl.SSLContext | None = None, server_hostname: str | None = None) -> bytes:
        """TLS handshake on this connection (after STARTTLS/STLS was accepted).

        Returns any plaintext the server had sent beyond its go-ahead reply:
        RFC 3207 §4.2 / 2595 §4 require it to be discarded, so it is dropped
        here and reported (the caller decides whether that is a finding).
        """
        leftover = self._reader().take_unread()
        if leftover:
            self._event(f"{len(leftover)} plaintext octets before TLS discarded")
        self._event("TLS handshake")
        self.stream = self.stream.start_tls(context or client_tls_context(), server_hostname,
                                            self.limits.connect_deadline)
        self.capabilities = None       # RFC 3207 §4.2: forget what was learnt before TLS
        self._event(f"TLS established ({self.stream.tls_version})")
        return leftover

    def close(self) -> None:
        if not self.closed:
            self._event("client closed the connection")
        self.stream.close()
        self.closed = True

    def abort(self) -> None:
        self._event("client reset the connection (RST)")
        self.stream.abort()
        self.closed = True

    def shutdown_write(self) -> None:
        self._event("client half-closed the connection")
        self.stream.shutdown_write()


def _refuses_service(event: SmtpReply | Pop3Response) -> bool:
    if isinstance(event, SmtpReply):
        return event.code == 421
    return event.ok is False


def open_connection(name: str, protocol: Protocol | str, host: str, port: int, transcript: Transcript, *,
                    implicit_tls: bool = False, tls_context: ssl.SSLContext | None = None,
                    limits: Limits = Limits()) -> Connection:
    transcript.event(name, f"connect {host}:{port}{' (implicit TLS)' if implicit_tls else ''}")
    try:
        stream: TcpStream = connect_tcp(host, port, limits.connect_deadline,
                                        (tls_context or client_tls_context()) if implicit_tls else None)
    except TransportError as exc:
        transcript.event(name, f"connect failed: {exc}")
        raise
    # The client's own address: it names the TCP stream in a capture (harness/capture.py
    # finds a check's packets, or synthesizes them, by this port).
    local = _sockname(stream)
    if local:
        transcript.event(name, f"connected from {local} to {host}:{port}")
    return Connection(name, protocol, stream, transcript, limits)


def _sockname(stream: TcpStream) -> str:
    try:
        addr = stream.socket.getsockname()
    except (OSError, AttributeError):
        return ""
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
