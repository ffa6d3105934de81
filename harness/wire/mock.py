"""A scripted peer for unit tests: the ``Stream`` protocol over canned chunks."""

from __future__ import annotations

import ssl
from typing import Sequence

from harness.errors import ConnectionClosed

__all__ = ["MockStream"]


class MockStream:
    """``chunks`` are returned by successive reads (an exception in the list is raised), then EOF."""

    def __init__(self, chunks: Sequence[bytes | Exception] = ()) -> None:
        self._chunks = list(chunks)
        self.written: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.tls_started = False

    @property
    def tls_version(self) -> str | None:
        return "TLSv1.3" if self.tls_started else None

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if not self._chunks:
            return b""
        chunk = self._chunks.pop(0)
        if isinstance(chunk, Exception):
            raise chunk
        if len(chunk) > max_bytes:
            self._chunks.insert(0, chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        return chunk

    def write(self, data: bytes, timeout: float) -> None:
        if self.closed:
            raise ConnectionClosed("write on a closed mock stream")
        self.written.append(data)

    def start_tls(self, context: ssl.SSLContext, server_hostname: str | None,
                  timeout: float) -> "MockStream":
        self.tls_started = True
        return self

    def shutdown_write(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True
        self.closed = True
