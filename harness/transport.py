"""Blocking byte streams with a timeout on every call (httpcore's NetworkStream shape).

Plain stdlib sockets on purpose: under Locust's gevent monkey patching they
become cooperative, so the conformance runner and the load users share one
transport. Socket and ssl exceptions are translated into the harness's
classified ``TransportError``s here and only here.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
import ssl
import struct
from typing import Iterator, Protocol, Sequence

from harness.errors import (
    ConnectionClosed,
    ConnectionReset,
    ConnectRefused,
    Timeout,
    TlsError,
    TransportError,
)

__all__ = ["Stream", "TcpStream", "MockStream", "connect_tcp", "client_tls_context", "map_exceptions"]


@contextlib.contextmanager
def map_exceptions(action: str) -> Iterator[None]:
    try:
        yield
    except TransportError:
        raise
    except (socket.timeout, TimeoutError) as exc:
        raise Timeout(f"{action}: timed out") from exc
    except ConnectionRefusedError as exc:
        raise ConnectRefused(f"{action}: connection refused") from exc
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
        raise ConnectionReset(f"{action}: connection reset by peer") from exc
    except ssl.SSLError as exc:
        # ``reason`` is only set by the C layer; SSLErrors made in Python (gevent's
        # handshake/read timeouts, for one) lack it.
        raise TlsError(f"{action}: TLS error: {getattr(exc, 'reason', None) or exc}") from exc
    except socket.gaierror as exc:
        raise ConnectRefused(f"{action}: cannot resolve host: {exc}") from exc
    except OSError as exc:
        raise ConnectionClosed(f"{action}: {exc.strerror or exc}") from exc


class Stream(Protocol):
    def read(self, max_bytes: int, timeout: float) -> bytes: ...
    def write(self, data: bytes, timeout: float) -> None: ...
    def start_tls(self, context: ssl.SSLContext, server_hostname: str | None,
                  timeout: float) -> "Stream": ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def shutdown_write(self) -> None: ...
    @property
    def tls_version(self) -> str | None: ...


@functools.lru_cache(maxsize=2)
def client_tls_context(verify: bool = False) -> ssl.SSLContext:
    """Test servers use self-signed certificates, so verification is off unless asked for.

    Cached: loading the system CA store costs tens of milliseconds of CPU under
    the GIL, and a context is safe to share between threads.
    """
    if verify:
        return ssl.create_default_context()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _plaintext_left(tls: ssl.SSLSocket) -> str:
    """What a server that answered the ClientHello in plaintext still has in the socket, shown.

    OpenSSL gives up after the first record header (5 octets), so the rest of a line such as
    ``454 4.7.0 TLS not available`` is still unread: it is the server's own explanation.
    """
    try:
        raw = socket.socket(fileno=os.dup(tls.fileno()))
    except OSError:
        return ""
    try:
        raw.settimeout(0.2)
        data = raw.recv(512)
    except OSError:
        data = b""
    finally:
        raw.close()
    text = data.decode("ascii", "replace").strip()
    if not text or not all(c.isprintable() or c in "\r\n\t" for c in text):
        return ""
    return repr("..." + text[:200])


class TcpStream:
    def __init__(self, sock: socket.socket, host: str | None = None) -> None:
        self._sock = sock
        self._host = host          # what the certificate must name when it is verified

    @property
    def socket(self) -> socket.socket:
        return self._sock

    @property
    def tls_version(self) -> str | None:
        return self._sock.version() if isinstance(self._sock, ssl.SSLSocket) else None

    def read(self, max_bytes: int, timeout: float) -> bytes:
        with map_exceptions("read"):
            self._sock.settimeout(max(timeout, 0.001))
            return self._sock.recv(max_bytes)

    def write(self, data: bytes, timeout: float) -> None:
        with map_exceptions("write"):
            # sendall's timeout covers the whole call since Python 3.5, so a
            # peer that stops reading cannot stall us beyond it.
            self._sock.settimeout(max(timeout, 0.001))
            self._sock.sendall(data)

    def start_tls(self, context: ssl.SSLContext, server_hostname: str | None,
                  timeout: float) -> "TcpStream":
        if server_hostname is None and context.check_hostname:
            # A verifying context cannot match a certificate without a name (an IP is matched
            # against the IP SANs; SNI is not sent for it).
            server_hostname = self._host
        try:
            with map_exceptions("TLS handshake"):
                self._sock.settimeout(max(timeout, 0.001))
                tls = context.wrap_socket(self._sock, server_hostname=server_hostname,
                                          do_handshake_on_connect=False)
                try:
                    tls.do_handshake()
                except BaseException:
                    said = _plaintext_left(tls)
                    tls.close()     # wrap_socket took over the fd: closing self._sock would not free it
                    if said:
                        raise TlsError(f"TLS handshake failed; the server sent plaintext instead: {said}") from None
                    raise
        except TlsError:
            raise
        except TransportError as exc:
            # One cause, one class: a handshake that ends because the server closed, reset or
            # stalled the connection is a failed TLS handshake (docs/results.md, ``tls``).
            raise TlsError(f"TLS handshake failed: {exc}") from exc
        return TcpStream(tls, self._host)

    def set_nodelay(self, on: bool = True) -> None:
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if on else 0)

    def shutdown_write(self) -> None:
        with map_exceptions("shutdown"):
            self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()

    def abort(self) -> None:
        """Close with an RST instead of a FIN (SO_LINGER 0)."""
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def connect_tcp(host: str, port: int, timeout: float,
                tls_context: ssl.SSLContext | None = None,
                server_hostname: str | None = None) -> TcpStream:
    """Connect (and, with ``tls_context``, do implicit TLS). An IP address is used without a resolver."""
    host = host.strip("[]")
    flags = socket.AI_NUMERICHOST if _is_ip(host) else 0
    with map_exceptions(f"connect to {host}:{port}"):
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=flags)
        last: Exception | None = None
        for family, socktype, proto, _, addr in infos:
            sock = socket.socket(family, socktype, proto)
            try:
                sock.settimeout(max(timeout, 0.001))
                sock.connect(addr)
                break
            except OSError as exc:
                sock.close()
                last = exc
        else:
            assert last is not None
            raise last
    stream = TcpStream(sock, host)
    if tls_context is not None:
        name = server_hostname if server_hostname else (None if _is_ip(host) else host)
        try:
            stream = stream.start_tls(tls_context, name, timeout)
        except TransportError:
            stream.close()
            raise
    return stream


class MockStream:
    """A scripted peer for unit tests: ``chunks`` are returned by successive reads, then EOF."""

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
