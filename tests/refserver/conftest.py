"""Raw-socket helpers for the reference server tests (never smtplib/poplib: they rewrite the wire)."""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Self

import pytest

from harness.refserver import ReferenceServer

TIMEOUT = 5.0
_SMTP_FINAL = re.compile(rb"(?m)^\d{3}(?: [^\r\n]*)?\r\n")


def client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the reference certificate is self-signed
    return ctx


class Wire:
    """A blocking client connection that keeps every unread byte in ``buf``."""

    def __init__(self, port: int, *, tls: bool = False, timeout: float = TIMEOUT) -> None:
        self.sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            self.sock = client_context().wrap_socket(self.sock)
        self.buf = b""
        self.timeout = timeout

    # --- sending ---
    def send(self, data: bytes | str) -> None:
        """Bytes go out as they are; a str is one command line and gets CRLF."""
        raw = data if isinstance(data, bytes) else data.encode() + b"\r\n"
        self.sock.sendall(raw)

    def starttls(self) -> None:
        assert not self.buf, f"unread bytes before the TLS handshake: {self.buf!r}"
        self.sock = client_context().wrap_socket(self.sock)

    # --- receiving ---
    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete reply; have {self.buf!r}")
        self.sock.settimeout(remaining)
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def _take_until(self, pattern: re.Pattern[bytes], timeout: float | None) -> bytes:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = pattern.search(self.buf)
            if m:
                out, self.buf = self.buf[: m.end()], self.buf[m.end():]
                return out
            if not self._fill(deadline):
                raise ConnectionError(f"closed; have {self.buf!r}")

    def smtp(self, timeout: float | None = None) -> tuple[int, list[bytes]]:
        """One SMTP reply: (code of the last line, texts of all lines)."""
        raw = self._take_until(_SMTP_FINAL, timeout)
        lines = raw[:-2].split(b"\r\n")
        return int(lines[-1][:3]), [line[4:] for line in lines]

    def code(self, timeout: float | None = None) -> int:
        return self.smtp(timeout)[0]

    def cmd(self, line: str | bytes) -> int:
        self.send(line)
        return self.code()

    def line(self, timeout: float | None = None) -> bytes:
        """One CRLF-terminated line (a POP3 status line), without the CRLF."""
        return self._take_until(re.compile(rb"\r\n"), timeout)[:-2]

    def multi(self, timeout: float | None = None) -> bytes:
        """A POP3 multi-line body up to and excluding the terminator, still byte-stuffed."""
        raw = self._take_until(re.compile(rb"(?:\A|\r\n)\.\r\n"), timeout)
        return b"" if raw == b".\r\n" else raw[:-5]

    def silent(self, wait: float = 0.3) -> bool:
        """True if no byte arrives and the peer keeps the connection open for ``wait`` seconds."""
        if self.buf:
            return False
        try:
            self._fill(time.monotonic() + wait)
        except TimeoutError:
            return True
        return False  # data arrived, or the peer closed

    def closed(self, wait: float = 2.0) -> bool:
        """True if the peer closes within ``wait`` seconds (any unread data is drained)."""
        deadline = time.monotonic() + wait
        try:
            while self._fill(deadline):
                pass
            return True
        except TimeoutError:
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def smtp_session(port: int, ehlo: str | None = "EHLO client.test", *, tls: bool = False) -> Wire:
    w = Wire(port, tls=tls)
    assert w.code() == 220
    if ehlo:
        w.send(ehlo)
        assert w.code() == 250
    return w


def pop3_login(port: int, login: str = "alice", password: str = "alicepw", *, tls: bool = False) -> Wire:
    w = Wire(port, tls=tls)
    assert w.line().startswith(b"+OK")
    w.send(f"USER {login}")
    assert w.line().startswith(b"+OK")
    w.send(f"PASS {password}")
    status = w.line()
    assert status.startswith(b"+OK"), status
    return w


def send_mail(port: int, body: bytes, *, rcpt: str = "alice@example.test",
              sender: str = "sender@remote.test") -> int:
    """One complete transaction; ``body`` is sent as given (already dot-stuffed, ending in CRLF)."""
    with smtp_session(port) as w:
        assert w.cmd(f"MAIL FROM:<{sender}>") == 250
        assert w.cmd(f"RCPT TO:<{rcpt}>") == 250
        assert w.cmd("DATA") == 354
        w.send(body + b".\r\n")
        code = w.code()
        w.send("QUIT")
        return code


def stored(srv: ReferenceServer, login: str = "alice") -> list[bytes]:
    box = srv.maildir_path(login)
    files = sorted(p for sub in ("new", "cur") for p in (box / sub).iterdir())
    return [p.read_bytes() for p in files]


def wait_for(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


@pytest.fixture
def server() -> Iterator[ReferenceServer]:
    """A fresh clean server per test: mailbox state never leaks between tests."""
    with ReferenceServer() as srv:
        yield srv
