"""A deliberately hostile SMTP + POP3 server for resilience tests (127.0.0.1 only).

``HostileServer(mode)`` listens on two free loopback ports, one speaking SMTP and
one POP3. Both speak a small, sane dialect of their protocol (enough for a
greeting, EHLO/CAPA, a mail transaction, USER/PASS, STAT/LIST/RETR and QUIT)
until the *mode* makes them misbehave. ``MODES`` says, per mode, which
protocols misbehave and how; a protocol a mode leaves alone stays sane, so the
checks that use it must still pass while the others end in ``error``.

Plain blocking sockets, one thread per connection, every wait bounded, so
``stop()`` ends everything within a fraction of a second.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass

__all__ = ["HostileServer", "MODES", "Mode"]

HTML_PAYLOAD = (b"<script>alert('xss')</script><img src=x onerror=alert(1)> {{ 7*7 }} {% raw %}"
                b" \x1b[31mRED\x1b[0m \x1b]0;pwned\x07 \x1b[2J")


@dataclass(frozen=True)
class Mode:
    name: str
    smtp: bool            # does the SMTP side misbehave?
    pop3: bool            # does the POP3 side misbehave?
    description: str
    tls: str = "none"     # what the CLI asks for (--tls)


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("silent", True, True, "accepts the connection and never sends a byte"),
    Mode("drip", True, True, "sends its greeting one byte a second"),
    Mode("endless-line", True, True, "a greeting line that never ends (no LF)"),
    Mode("endless-multiline", True, True, "SMTP: 220- continuation lines forever; POP3: a CAPA body that never ends"),
    Mode("endless-retr", False, True, "POP3 RETR body that never ends (SMTP sane)"),
    Mode("garbage", True, True, "random binary bytes instead of a greeting"),
    Mode("invalid-codes", True, True, "SMTP '2x0' reply codes, POP3 a status without +OK/-ERR"),
    Mode("invalid-utf8", True, True, "invalid UTF-8 in banner and replies, then an unparseable reply line"),
    Mode("reset-mid-reply", True, True, "half a reply, then an RST"),
    Mode("halfclose-mid-reply", True, True, "half a reply, then shutdown(SHUT_WR) while still reading"),
    Mode("starttls-plaintext", True, True, "accepts STARTTLS/STLS, then sends plaintext instead of a ServerHello",
         tls="starttls"),
    Mode("tls-stall", True, True, "accepts STARTTLS/STLS, then never answers the ClientHello", tls="starttls"),
    Mode("stop-reading", True, False, "SMTP stops reading after DATA's 354, so the client's writes block"),
    Mode("tarpit", True, True, "SMTP '220-' lines every 0.3 s forever; POP3 a CAPA line every 0.3 s forever"),
    Mode("421-on-connect", True, True, "SMTP 421, POP3 -ERR, on connect; then closes"),
    Mode("html-banner", True, True, "HTML, template and terminal-escape payloads in the banner and replies"),
)}


class _Stop(Exception):
    pass


class HostileServer:
    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = MODES[mode]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listeners: dict[str, socket.socket] = {}
        self.ports: dict[str, int] = {}
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> "HostileServer":
        for proto in ("smtp", "pop3"):
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind(("127.0.0.1", 0))
            ls.listen(64)
            ls.settimeout(0.2)
            self._listeners[proto] = ls
            self.ports[proto] = ls.getsockname()[1]
            t = threading.Thread(target=self._accept_loop, args=(proto, ls), daemon=True,
                                 name=f"hostile-{proto}")
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for ls in self._listeners.values():
            ls.close()
        with self._lock:
            for c in self._conns:
                try:
                    c.close()
                except OSError:
                    pass
        for t in self._threads:
            t.join(timeout=2)

    def __enter__(self) -> "HostileServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self, proto: str, ls: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = ls.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self._conns.append(conn)
            t = threading.Thread(target=self._handle, args=(proto, conn), daemon=True)
            t.start()

    def _handle(self, proto: str, sock: socket.socket) -> None:
        sock.settimeout(0.2)
        try:
            hostile = getattr(self.mode, proto)
            if proto == "smtp":
                self._smtp(sock, hostile)
            else:
                self._pop3(sock, hostile)
        except (_Stop, OSError, ssl.SSLError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    # -- helpers ---------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stop

    def _idle(self, sock: socket.socket, drain: bool = True) -> None:
        """Keep the connection open, saying nothing, until the client goes or the server stops."""
        while not self._stop.is_set():
            if not drain:
                self._sleep(0.2)
                continue
            try:
                if not sock.recv(65536):
                    return
            except socket.timeout:
                continue

    def _send(self, sock: socket.socket, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = sock.send(view)
            except socket.timeout:
                if self._stop.is_set():
                    raise _Stop from None
                continue
            view = view[n:]

    def _readline(self, sock: socket.socket, buf: bytearray) -> bytes:
        while (idx := buf.find(b"\n")) < 0:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                if self._stop.is_set():
                    raise _Stop from None
                continue
            if not data:
                raise _Stop
            buf += data
        line = bytes(buf[:idx])
        del buf[:idx + 1]
        return line.rstrip(b"\r")

    def _await_client_hello(self, sock: socket.socket) -> None:
        # Answer the ClientHello, not the go-ahead: plaintext sent together with the
        # go-ahead is discarded by the client before its handshake (RFC 3207 §4.2).
        while True:
            try:
                if sock.recv(65536):
                    return
                raise _Stop
            except socket.timeout:
                if self._stop.is_set():
                    raise _Stop from None

    def _forever(self, sock: socket.socket, chunk: bytes, pause: float = 0.0) -> None:
        while True:
            self._send(sock, chunk)
            if pause:
                self._sleep(pause)
            elif self._stop.is_set():
                raise _Stop

    def _reset(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    def _common_opening(self, sock: socket.socket, proto: str) -> bool:
        """The misbehaviour that starts at connect time. True when the mode handled the connection."""
        m = self.mode.name
        greet_line = b"220 " if proto == "smtp" else b"+OK "
        if m == "silent":
            self._idle(sock)
        elif m == "drip":
            for byte in greet_line + b"hostile drip server says hello very slowly\r\n":
                self._send(sock, bytes([byte]))
                self._sleep(1.0)
            self._idle(sock)
        elif m == "endless-line":
            self._send(sock, greet_line)
            self._forever(sock, b"A" * 65536)
        elif m == "garbage":
            self._send(sock, os.urandom(64) + b"\r\n")
            self._forever(sock, os.urandom(4096), pause=0.05)
        elif m == "reset-mid-reply":
            self._send(sock, b"220-partial first line\r\n220-and a half" if proto == "smtp" else b"+OK half a gree")
            time.sleep(0.05)
            self._reset(sock)
        elif m == "halfclose-mid-reply":
            self._send(sock, b"220-partial first line\r\n220-and a half" if proto == "smtp" else b"+OK half a gree")
            sock.shutdown(socket.SHUT_WR)
            self._idle(sock)
        elif m == "421-on-connect":
            self._send(sock, b"421 4.3.2 Service not available, closing transmission channel\r\n"
                       if proto == "smtp" else b"-ERR [SYS/TEMP] service not available\r\n")
            sock.shutdown(socket.SHUT_WR)
            self._idle(sock)
        else:
            return False
        return True

    # -- SMTP ------------------------------------------------------------------------------

    def _smtp(self, sock: socket.socket, hostile: bool) -> None:
        m = self.mode.name
        if hostile and self._common_opening(sock, "smtp"):
            return
        if hostile and m == "endless-multiline":
            self._forever(sock, b"220-this greeting never ends\r\n" * 64)
        if hostile and m == "tarpit":
            self._forever(sock, b"220-please wait while we tarpit you\r\n", pause=0.3)
        if hostile and m == "invalid-codes":
            self._send(sock, b"2x0 hostile greeting with a letter in its code\r\n")
            self._idle(sock)
            return
        banner = b"220 hostile.test ESMTP ready\r\n"
        if hostile and m == "invalid-utf8":
            banner = b"220 hostile.test \xff\xfe\xc3\x28 \xed\xa0\x80 ready\r\n"
        if hostile and m == "html-banner":
            banner = b"220 hostile.test " + HTML_PAYLOAD + b"\r\n"
        self._send(sock, banner)
        buf = bytearray()
        tls_mode = hostile and m in ("starttls-plaintext", "tls-stall")
        while True:
            line = self._readline(sock, buf)
            verb = line.split(b" ", 1)[0].upper()
            if verb in (b"EHLO", b"HELO"):
                caps = [b"hostile.test", b"PIPELINING", b"8BITMIME"]
                if tls_mode:
                    caps.append(b"STARTTLS")
                if hostile and m == "invalid-utf8":
                    caps.append(b"X-\xff\xfe\xc0\xaf")
                if hostile and m == "html-banner":
                    caps.append(b"X-" + HTML_PAYLOAD)
                reply = b"".join(b"250-" + c + b"\r\n" for c in caps[:-1]) + b"250 " + caps[-1] + b"\r\n"
                self._send(sock, reply)
            elif verb == b"STARTTLS" and tls_mode:
                self._send(sock, b"220 2.0.0 go ahead\r\n")
                if m == "starttls-plaintext":
                    self._await_client_hello(sock)
                    self._send(sock, b"220 this is plaintext, not a TLS ServerHello\r\n" * 4)
                self._idle(sock)
                return
            elif verb == b"MAIL":
                if hostile and m == "invalid-utf8":
                    self._send(sock, b"\xff\xfe\xfd not even a reply code\r\n")
                    self._idle(sock)
                    return
                if hostile and m == "html-banner":
                    self._send(sock, b"550 5.7.1 " + HTML_PAYLOAD + b"\r\n")
                    continue
                self._send(sock, b"250 2.1.0 OK\r\n")
            elif verb == b"RCPT":
                self._send(sock, b"250 2.1.5 OK\r\n")
            elif verb == b"DATA":
                self._send(sock, b"354 go ahead\r\n")
                if hostile and m == "stop-reading":
                    self._idle(sock, drain=False)       # never read again: the client's writes block
                    return
                while self._readline(sock, buf) != b".":
                    pass
                self._send(sock, b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                self._send(sock, b"221 2.0.0 bye\r\n")
                return
            elif verb in (b"NOOP", b"RSET"):
                self._send(sock, b"250 2.0.0 OK\r\n")
            else:
                self._send(sock, b"500 5.5.2 unknown command\r\n")

    # -- POP3 ------------------------------------------------------------------------------

    MESSAGE = (b"From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\n"
               b"hello\r\n..stuffed\r\n")

    def _pop3(self, sock: socket.socket, hostile: bool) -> None:
        m = self.mode.name
        if hostile and self._common_opening(sock, "pop3"):
            return
        if hostile and m == "invalid-codes":
            self._send(sock, b"OK hostile greeting without the plus\r\n")
            self._idle(sock)
            return
        banner = b"+OK hostile POP3 ready\r\n"
        if hostile and m == "invalid-utf8":
            banner = b"+OK hostile \xff\xfe\xc3\x28 \xed\xa0\x80 ready\r\n"
        if hostile and m == "html-banner":
            banner = b"+OK " + HTML_PAYLOAD + b"\r\n"
        self._send(sock, banner)
        buf = bytearray()
        tls_mode = hostile and m in ("starttls-plaintext", "tls-stall")
        while True:
            line = self._readline(sock, buf)
            words = line.split()
            verb = words[0].upper() if words else b""
            if verb == b"CAPA":
                if hostile and m == "endless-multiline":
                    self._send(sock, b"+OK capabilities follow\r\n")
                    self._forever(sock, b"X-ENDLESS-CAPABILITY\r\n" * 256)
                if hostile and m == "tarpit":
                    self._send(sock, b"+OK capabilities follow\r\n")
                    self._forever(sock, b"X-SLOW\r\n", pause=0.3)
                caps = b"USER\r\nUIDL\r\n" + (b"STLS\r\n" if tls_mode else b"")
                self._send(sock, b"+OK\r\n" + caps + b".\r\n")
            elif verb == b"STLS" and tls_mode:
                self._send(sock, b"+OK begin TLS\r\n")
                if m == "starttls-plaintext":
                    self._await_client_hello(sock)
                    self._send(sock, b"+OK this is plaintext, not a TLS ServerHello\r\n" * 4)
                self._idle(sock)
                return
            elif verb in (b"USER", b"PASS", b"NOOP", b"RSET", b"DELE"):
                if hostile and m == "invalid-utf8" and verb == b"PASS":
                    self._send(sock, b"\xff\xfe not a status line\r\n")
                    self._idle(sock)
                    return
                if hostile and m == "html-banner" and verb == b"PASS":
                    self._send(sock, b"-ERR " + HTML_PAYLOAD + b"\r\n")
                    continue
                self._send(sock, b"+OK\r\n")
            elif verb == b"STAT":
                self._send(sock, b"+OK 1 %d\r\n" % len(self.MESSAGE))
            elif verb in (b"LIST", b"UIDL"):
                if len(words) > 1:
                    self._send(sock, b"+OK 1 %d\r\n" % len(self.MESSAGE))
                else:
                    self._send(sock, b"+OK\r\n1 %d\r\n.\r\n" % len(self.MESSAGE))
            elif verb in (b"RETR", b"TOP"):
                if hostile and m == "endless-retr":
                    self._send(sock, b"+OK message follows\r\n" + self.MESSAGE)
                    self._forever(sock, b"this body never ends, line after line after line\r\n" * 1024)
                self._send(sock, b"+OK message follows\r\n" + self.MESSAGE + b".\r\n")
            elif verb == b"QUIT":
                self._send(sock, b"+OK bye\r\n")
                return
            else:
                self._send(sock, b"-ERR unknown command\r\n")
