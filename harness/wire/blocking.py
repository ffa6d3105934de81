"""The blocking backend: stdlib sockets with a timeout on every call.

Used by the checks (through ``harness.session``), the CLI's load prefill and
drain, and, over a gevent socket, by the hub backend after a TLS handshake.
The socket's timeout is set only when a caller passes a different one than the
last call (a load client passes the same every time; a check's reads shrink
towards their reply deadline), and exceptions are classified on the error path
only, so the common call is one ``recv``/``sendall``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import ssl
import struct

from harness.errors import TlsError, TransportError
from harness.wire.stream import (
    Connecting,
    Endpoint,
    classify,
    map_exceptions,
    with_implicit_tls,
)

__all__ = ["TcpStream", "connect_tcp", "connect_endpoint"]


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
    __slots__ = ("_sock", "_host", "_timeout")

    def __init__(self, sock: socket.socket, host: str | None = None, timeout: float | None = None) -> None:
        self._sock = sock
        self._host = host          # what the certificate must name when it is verified
        self._timeout = timeout    # what the socket's timeout is set to now (None: unknown)

    @property
    def socket(self) -> socket.socket:
        return self._sock

    @property
    def tls_version(self) -> str | None:
        return self._sock.version() if isinstance(self._sock, ssl.SSLSocket) else None

    def read(self, max_bytes: int, timeout: float) -> bytes:
        try:
            if timeout != self._timeout:
                self._sock.settimeout(max(timeout, 0.001))
                self._timeout = timeout
            return self._sock.recv(max_bytes)
        except OSError as exc:
            raise classify("read", exc) from exc

    def write(self, data: bytes, timeout: float) -> None:
        # sendall's timeout covers the whole call since Python 3.5, so a
        # peer that stops reading cannot stall us beyond it.
        try:
            if timeout != self._timeout:
                self._sock.settimeout(max(timeout, 0.001))
                self._timeout = timeout
            self._sock.sendall(data)
        except OSError as exc:
            raise classify("write", exc) from exc

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
        return TcpStream(tls, self._host, timeout)

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
        abort_socket(self._sock)


def abort_socket(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0): shared with the hub backend."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def connect_tcp(host: str, port: int, timeout: float,
                tls_context: ssl.SSLContext | None = None,
                server_hostname: str | None = None) -> TcpStream:
    """Connect by name (and, with ``tls_context``, do implicit TLS). An IP address is used without a resolver."""
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
    stream = TcpStream(sock, host, timeout)
    if tls_context is not None:
        name = server_hostname if server_hostname else (None if _is_ip(host) else host)
        try:
            stream = stream.start_tls(tls_context, name, timeout)
        except TransportError:
            stream.close()
            raise
    return stream


def connect_endpoint(ep: Endpoint, timeout: float) -> TcpStream:
    """Connect to a pre-resolved address (no resolver), TCP_NODELAY, implicit TLS when the endpoint says so."""
    try:
        sock = socket.socket(ep.family, socket.SOCK_STREAM)
    except OSError as exc:
        raise classify(ep.connecting, exc) from exc
    with Connecting(ep, sock):
        sock.settimeout(max(timeout, 0.001))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect(ep.sockaddr)
    stream = with_implicit_tls(TcpStream(sock, None, timeout), ep, timeout)
    assert isinstance(stream, TcpStream)
    return stream
