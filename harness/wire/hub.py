"""The hub backend: raw non-blocking sockets waited on with gevent's hub (Locust processes only).

Imports gevent, so only the Locust processes (and tests that run a hub in
their own main thread) import it; it never monkey-patches
(docs/architecture.md, "the Locust process boundary").

Why not gevent's patched ``socket``: measured with strace and py-spy on an
smtp-throughput run, its wrapper costs per SMTP session 8 syscalls we do not
need (``getsockopt(SO_ERROR)`` around every connect attempt, ``fcntl``/
``ioctl`` to set a non-blocking mode the socket could be created with) and a
``gevent.Timeout`` (an exception object and a timer watcher, started and
stopped) around every blocking wait. Here a socket is created with
``SOCK_NONBLOCK``, a wait is one ``hub.wait`` on the connection's own io
watcher, and deadlines are enforced by one watchdog greenlet per hub (one per
Locust process) that cancels waits past their deadline (resolution
``WATCHDOG_INTERVAL_S``; the load client's timeouts are seconds, so a quarter
second late is harmless). A read waits before its ``recv`` (see ``read``).

STARTTLS and implicit TLS hand the descriptor to gevent's socket and ``ssl``
and go on as a ``blocking.TcpStream`` over it (cooperative, since gevent's
socket parks on the hub): the handshake is not the cost this module removes.
"""

from __future__ import annotations

import _socket
import errno
import time
import weakref
from typing import Any

import gevent
from gevent import get_hub
from gevent import socket as gsocket

from harness.errors import Timeout, TransportError
from harness.wire.blocking import TcpStream, abort_socket
from harness.wire.stream import Connecting, Endpoint, Stream, classify, map_exceptions, with_implicit_tls

__all__ = ["WATCHDOG_INTERVAL_S", "HubStream", "connect", "watchdog"]

WATCHDOG_INTERVAL_S = 0.25
_READ, _WRITE = 1, 2
_NONBLOCK = _socket.SOCK_STREAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC
_PENDING = (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK)


class _Watchdog:
    """Cancels the waits past their deadline: one greenlet per hub, started with its first stream."""

    def __init__(self, hub: Any) -> None:
        self.waiting: dict[Any, float] = {}     # io watcher being waited on -> its deadline (monotonic)
        self._hub = hub
        gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            gevent.sleep(WATCHDOG_INTERVAL_S)
            now = time.monotonic()
            for watcher, deadline in list(self.waiting.items()):
                if deadline <= now:
                    del self.waiting[watcher]
                    action = "write" if watcher.events & _WRITE else "read"
                    self._hub.cancel_wait(watcher, Timeout(f"{action}: timed out"))


_WATCHDOGS: weakref.WeakKeyDictionary[Any, _Watchdog] = weakref.WeakKeyDictionary()


def watchdog(hub: Any = None) -> _Watchdog:
    """The watchdog of ``hub`` (default: the current one; a hub belongs to one thread, so do its waits)."""
    if hub is None:
        hub = get_hub()
    dog = _WATCHDOGS.get(hub)
    if dog is None:
        dog = _WATCHDOGS[hub] = _Watchdog(hub)
    return dog


class HubStream:
    """A connected non-blocking socket; ``read``/``write`` park the greenlet on the hub when they must wait."""

    __slots__ = ("_hub", "_io_read", "_io_write", "_more", "_sock", "_waiting")

    def __init__(self, sock: _socket.socket) -> None:
        self._sock = sock
        self._hub = get_hub()
        self._waiting = watchdog(self._hub).waiting
        self._io_read = self._hub.loop.io(sock.fileno(), _READ)
        self._io_write: Any = None      # made on the first wait for writability: most sessions never need one
        self._more = False              # the last recv filled its buffer: more may be queued

    @property
    def socket(self) -> _socket.socket:
        return self._sock

    @property
    def tls_version(self) -> str | None:
        return None                     # TLS continues as a blocking.TcpStream (start_tls)

    def _wait(self, watcher: Any, timeout: float) -> None:
        waiting = self._waiting
        waiting[watcher] = time.monotonic() + timeout
        try:
            self._hub.wait(watcher)
        finally:
            waiting.pop(watcher, None)

    def _writable(self) -> Any:
        if self._io_write is None:
            self._io_write = self._hub.loop.io(self._sock.fileno(), _WRITE)
        return self._io_write

    def wait_connected(self, timeout: float) -> None:
        self._wait(self._writable(), timeout)
        err = self._sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if err:
            raise OSError(err, errno.errorcode.get(err, str(err)))

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Wait for readability first unless the previous read filled its buffer.

        A load client reads when it needs a reply to what it just sent; the
        reply is not there yet (measured: 4.0 waits per SMTP session of 4
        replies against smtp-sink), so trying ``recv`` first costs an EAGAIN
        syscall and an exception per reply. A full previous read means more
        may be queued: then ``recv`` comes first.
        """
        sock = self._sock
        try:
            if not self._more:
                self._wait(self._io_read, timeout)
            while True:
                try:
                    data = sock.recv(max_bytes)
                except BlockingIOError:
                    self._wait(self._io_read, timeout)
                    continue
                self._more = len(data) == max_bytes
                return data
        except TransportError:
            raise
        except OSError as exc:
            raise classify("read", exc) from exc

    def write(self, data: bytes, timeout: float) -> None:
        sock = self._sock
        try:
            sent = sock.send(data)
            if sent == len(data):
                return
            view = memoryview(data)[sent:]
            deadline = time.monotonic() + timeout
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout("write: timed out")
                try:
                    sent = sock.send(view)
                except BlockingIOError:
                    sent = 0
                if sent:
                    view = view[sent:]
                else:
                    self._wait(self._writable(), remaining)
        except TransportError:
            raise
        except OSError as exc:
            raise classify("write", exc) from exc

    def _release(self) -> None:
        """Close the watchers (``close`` also stops them); the descriptor stays with ``self._sock``."""
        if self._io_read is not None:
            self._io_read.close()
            self._io_read = None
        if self._io_write is not None:
            self._io_write.close()
            self._io_write = None

    def start_tls(self, context: Any, server_hostname: str | None, timeout: float) -> TcpStream:
        self._release()
        sock = gsocket.socket(self._sock.family, _socket.SOCK_STREAM, fileno=self._sock.detach())
        return TcpStream(sock).start_tls(context, server_hostname, timeout)

    def shutdown_write(self) -> None:
        with map_exceptions("shutdown"):
            self._sock.shutdown(_socket.SHUT_WR)

    def close(self) -> None:
        self._release()
        self._sock.close()          # a no-op when already closed or detached

    def abort(self) -> None:
        """Close with an RST (SO_LINGER 0)."""
        self._release()
        abort_socket(self._sock)


def connect(ep: Endpoint, timeout: float) -> Stream:
    """``blocking.connect_endpoint``'s contract on the hub: pre-resolved address, TCP_NODELAY, implicit TLS."""
    try:
        sock = _socket.socket(ep.family, _NONBLOCK)
    except OSError as exc:
        raise classify(ep.connecting, exc) from exc
    stream = HubStream(sock)
    with Connecting(ep, stream):
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        err = sock.connect_ex(ep.sockaddr)
        if err in _PENDING:
            # A second attempt reports a handshake that has completed meanwhile (on loopback: always)
            # for one syscall, where a wait for writability costs a hub round trip and getsockopt.
            err = sock.connect_ex(ep.sockaddr)
            if err in _PENDING:
                stream.wait_connected(timeout)
                err = 0
            elif err == errno.EISCONN:
                err = 0
        if err:
            raise OSError(err, errno.errorcode.get(err, str(err)))
    return with_implicit_tls(stream, ep, timeout)
