"""The one byte-stream protocol, the one exception classifier, and what every backend shares.

A ``Stream`` is a connected byte pipe with a timeout on every call (httpcore's
NetworkStream shape). ``start_tls`` returns a *new* stream, as STARTTLS and STLS
need. Backends: ``blocking.TcpStream`` (stdlib sockets), ``hub.HubStream``
(gevent's hub, Locust processes only), ``mock.MockStream`` (unit tests).

``classify``/``map_exceptions`` turn socket and ssl exceptions into the
harness's ``TransportError`` classes (docs/results.md, ``error_class``):
timeout, connection-refused, connection-reset, connection-closed, tls.
Protocol violations and oversize replies are raised by the sans-I/O readers
(harness/protocol/) with the same base class. No other module maps exceptions.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from harness.errors import (
    ConnectionClosed,
    ConnectionReset,
    ConnectRefused,
    Timeout,
    TlsError,
    TransportError,
)

__all__ = [
    "Stream",
    "Endpoint",
    "Connector",
    "Connecting",
    "classify",
    "map_exceptions",
    "client_tls_context",
    "resolve",
    "with_implicit_tls",
]


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


def classify(action: str, exc: BaseException) -> TransportError:
    """The classified ``TransportError`` for a socket/ssl exception; ``TransportError``s pass through."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return Timeout(f"{action}: timed out")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectRefused(f"{action}: connection refused")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return ConnectionReset(f"{action}: connection reset by peer")
    if isinstance(exc, ssl.SSLError):
        # ``reason`` is only set by the C layer; SSLErrors made in Python (gevent's
        # handshake/read timeouts, for one) lack it.
        return TlsError(f"{action}: TLS error: {getattr(exc, 'reason', None) or exc}")
    if isinstance(exc, socket.gaierror):
        return ConnectRefused(f"{action}: cannot resolve host: {exc}")
    if isinstance(exc, OSError):
        return ConnectionClosed(f"{action}: {exc.strerror or exc}")
    raise TypeError(f"not a transport exception: {exc!r}")


@contextlib.contextmanager
def map_exceptions(action: str) -> Iterator[None]:
    """``with map_exceptions("read"):`` OSErrors leave as classified ``TransportError``s; bugs pass."""
    try:
        yield
    except TransportError:
        raise
    except OSError as exc:
        raise classify(action, exc) from exc


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


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A pre-resolved address: load sessions connect without a resolver call each."""

    family: int
    sockaddr: tuple
    tls: str = "none"           # none | starttls | implicit

    @property
    def connecting(self) -> str:
        """The action named in a connect error."""
        return f"connect to {self.sockaddr[0]}:{self.sockaddr[1]}"


def resolve(host: str, port: int, tls: str = "none") -> Endpoint:
    """Resolve once per process; sessions then connect to the address."""
    host = host.strip("[]")
    with map_exceptions(f"connect to {host}:{port}"):
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return Endpoint(info[0], info[4], tls)


# (endpoint, timeout) -> a connected stream: ``blocking.connect_endpoint`` or ``hub.connect``
Connector = Callable[[Endpoint, float], Stream]


class Connecting:
    """``with Connecting(ep, sock):`` a connect's errors close ``sock`` and are classified and named after ``ep``."""

    __slots__ = ("ep", "resource")

    def __init__(self, ep: Endpoint, resource: Any) -> None:
        self.ep = ep
        self.resource = resource

    def __enter__(self) -> "Connecting":
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> bool:
        if exc is None:
            return False
        self.resource.close()
        if isinstance(exc, Timeout):
            raise Timeout(f"{self.ep.connecting}: timed out") from exc
        if isinstance(exc, OSError):
            raise classify(self.ep.connecting, exc) from exc
        return False


def with_implicit_tls(stream: Stream, ep: Endpoint, timeout: float) -> Stream:
    """``stream`` after the TLS handshake when the endpoint is implicit TLS (closed if it fails)."""
    if ep.tls != "implicit":
        return stream
    try:
        return stream.start_tls(client_tls_context(), None, timeout)
    except TransportError:
        stream.close()
        raise
