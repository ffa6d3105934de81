"""Helpers for the sans-I/O reader tests and the session/transport tests.

Kept deliberately small: feeding helpers for the readers (whole, chunked,
byte by byte), a fake monotonic clock, and a one-connection loopback TCP
server run in a thread (always joined, sockets always closed, timeouts <= 2 s).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pytest

from harness.protocol.common import CLOSED, NEED_DATA

IO_TIMEOUT = 2.0


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (duplicates/out-of-range ignored); no empty pieces."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    pieces, start = [], 0
    for p in points:
        pieces.append(data[start:p])
        start = p
    pieces.append(data[start:])
    return [p for p in pieces if p]


def drain(reader: Any) -> list[Any]:
    """Every complete event currently available (stops at NEED_DATA; CLOSED is included)."""
    events = []
    while True:
        ev = reader.next_event()
        if ev is NEED_DATA:
            return events
        events.append(ev)
        if ev is CLOSED:
            return events


def feed_chunks(reader: Any, chunks: Sequence[bytes], *, eof: bool = False) -> list[Any]:
    """Feed each chunk, collecting events after each one, as a driver would."""
    events: list[Any] = []
    for chunk in chunks:
        reader.receive_data(chunk)
        events += drain(reader)
    if eof:
        reader.receive_data(b"")
        events += drain(reader)
    return events


def bytewise(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


class FakeClock:
    """A monotonic clock that advances ``step`` seconds every time it is read."""

    def __init__(self, step: float = 1.0, start: float = 1000.0) -> None:
        self.now = start
        self.step = step
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        value = self.now
        self.now += self.step
        return value


class LoopbackServer:
    """Accept one connection on 127.0.0.1:<ephemeral> and run ``handler(conn, server)`` in a thread."""

    def __init__(self, handler: Callable[[socket.socket, LoopbackServer], None]) -> None:
        self.handler = handler
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(IO_TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.release = threading.Event()      # handlers that hold the connection wait on this
        self.result: Any = None               # whatever the handler wants the test to see
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError as exc:          # nobody connected in time: the test will say why
            self.error = exc
            return
        try:
            conn.settimeout(IO_TIMEOUT)
            self.handler(conn, self)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.error = exc
        finally:
            conn.close()

    def close(self) -> None:
        self.release.set()
        self._thread.join(IO_TIMEOUT + 1)
        self.listener.close()
        assert not self._thread.is_alive(), "loopback server thread did not finish"


@pytest.fixture
def loopback() -> Iterator[Callable[[Callable[[socket.socket, LoopbackServer], None]], LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def start(handler: Callable[[socket.socket, LoopbackServer], None]) -> LoopbackServer:
        server = LoopbackServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
