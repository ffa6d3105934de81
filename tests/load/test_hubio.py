"""``harness.load.hubio``: the Locust processes' sockets, against real servers.

gevent's hub runs in this process's main thread without monkey patching
(hubio uses raw ``_socket`` objects and the hub's own watchers, never the
patched stdlib); the servers run in threads: the reference server (SMTP with
STARTTLS and implicit TLS, POP3 and POP3S) and the hostile server of
tests/hostile for the error classes.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import gevent
import pytest

from harness.errors import (
    ConnectionReset,
    ConnectRefused,
    Oversize,
    RemoteProtocolError,
    Timeout,
)
from harness.wire import hub as hubio
from harness.load.clients import (
    MessageFactory,
    SessionContext,
    SmtpLoadClient,
    pop3_session,
    resolve,
    smtp_session,
)
from harness.load.profile import Messages, UserMix
from harness.refserver.server import ReferenceServer
from tests.hostile.server import HostileServer


@pytest.fixture(scope="module")
def refserver() -> Iterator[ReferenceServer]:
    with ReferenceServer() as srv:
        yield srv


def _ctx(events: list, smtp: tuple[int, str] | None = None, pop3: tuple[int, str] | None = None,
         timeout: float = 10.0) -> SessionContext:
    def fire(rtype: str, name: str, ms: float, length: int, exc: BaseException | None) -> None:
        events.append((rtype, name, exc))
    return SessionContext(
        smtp=resolve("127.0.0.1", smtp[0], smtp[1]) if smtp else None,
        pop3=resolve("127.0.0.1", pop3[0], pop3[1]) if pop3 else None,
        fire=fire, factory=MessageFactory(Messages(), f"hub{os.getpid()}", "load@example.test"),
        recipients=("bob@example.test",), mailboxes=(("bob", "bobpw"),), timeout=timeout,
        verify=True, id_prefix=f"hub{os.getpid()}", connect=hubio.connect)


def _on_hub(fn, *args, timeout: float = 60):
    return gevent.spawn(fn, *args).get(timeout=timeout)


def _errors(events: list) -> list:
    return [(name, exc) for _, name, exc in events if exc is not None]


@pytest.mark.parametrize("tls,pipelining", [("none", False), ("none", True), ("starttls", True), ("implicit", False)])
def test_smtp_sessions_on_the_hub_deliver(refserver: ReferenceServer, tls: str, pipelining: bool) -> None:
    events: list = []
    port = refserver.smtps_port if tls == "implicit" else refserver.smtp_port
    ctx = _ctx(events, smtp=(port, tls))
    accepted = _on_hub(smtp_session, ctx, UserMix(kind="smtp", pipelining=pipelining, messages_per_session=2))
    assert accepted == 2 and _errors(events) == []
    names = [name for _, name, _ in events]
    assert names.count("DATA") == 2 and names[-1] == "QUIT"
    if tls != "none":
        assert "TLS" in names or tls == "implicit"


def test_round_trip_on_the_hub_is_byte_exact(refserver: ReferenceServer) -> None:
    events: list = []
    sent: dict = {}
    seen: dict = {}
    ctx = _ctx(events, smtp=(refserver.smtp_port, "none"), pop3=(refserver.pop3s_port, "implicit"))
    ctx.on_sent = lambda mid, t, digest: sent.__setitem__(mid, digest)
    ctx.on_seen = lambda mid, t, digest: seen.__setitem__(mid, digest)
    # Twenty concurrent senders share the hub: every wait parks one greenlet, not the process.
    jobs = [gevent.spawn(smtp_session, ctx, UserMix(kind="smtp", pipelining=True)) for _ in range(20)]
    gevent.joinall(jobs, timeout=60, raise_error=True)
    assert sum(j.value for j in jobs) == 20 and len(sent) == 20
    deadline = time.monotonic() + 15
    while set(sent) - set(seen) and time.monotonic() < deadline:
        _on_hub(pop3_session, ctx, UserMix(kind="pop3", dele=True, max_retrieve=100), ("bob", "bobpw"))
    assert _errors(events) == []
    assert {mid: seen.get(mid) for mid in sent} == sent


@pytest.mark.parametrize("mode,error", [
    ("silent", Timeout),                      # the watchdog ends a wait that is past its deadline
    ("endless-line", Oversize),
    ("garbage", RemoteProtocolError),
    ("reset-mid-reply", (ConnectionReset, RemoteProtocolError)),
])
def test_hostile_servers_end_the_session_with_the_error_class(mode: str, error) -> None:
    events: list = []
    with HostileServer(mode) as hostile:
        ctx = _ctx(events, smtp=(hostile.ports["smtp"], "none"), timeout=1.0)
        t0 = time.monotonic()
        assert _on_hub(smtp_session, ctx, UserMix(kind="smtp")) == 0
        elapsed = time.monotonic() - t0
    failures = _errors(events)
    assert len(failures) == 1, failures
    assert failures[0][0] == "banner" and isinstance(failures[0][1], error), failures
    if mode == "silent":
        assert 1.0 <= elapsed < 1.0 + 10 * hubio.WATCHDOG_INTERVAL_S
        assert "no complete reply within 1 s" in str(failures[0][1])


def test_refused_connection_is_classified() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]          # bound, never listening: the kernel refuses
        events: list = []
        assert _on_hub(smtp_session, _ctx(events, smtp=(port, "none")), UserMix(kind="smtp")) == 0
    (name, exc), = _errors(events)
    assert name == "connect" and isinstance(exc, ConnectRefused)


def _listener() -> socket.socket:
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    return ls


def test_blocked_write_times_out_and_a_slow_reader_gets_every_byte() -> None:
    payload = os.urandom(1 << 22)            # far more than the socket buffers hold
    with _listener() as ls:                  # never accepts, never reads: the writes must block
        stream = _on_hub(hubio.connect, resolve(*ls.getsockname()), 5.0)
        with pytest.raises(Timeout):
            _on_hub(stream.write, payload, 0.5)
        stream.close()

    got = bytearray()

    def slow_reader(conn: socket.socket) -> None:
        with conn:
            while chunk := conn.recv(65536):
                got.extend(chunk)
                time.sleep(0.002)

    with _listener() as ls:
        stream = _on_hub(hubio.connect, resolve(*ls.getsockname()), 5.0)
        conn, _ = ls.accept()
        reader = threading.Thread(target=slow_reader, args=(conn,))
        reader.start()
        _on_hub(stream.write, payload, 30.0)
        stream.close()
        reader.join(30)
    assert bytes(got) == payload


def test_watchdog_cancels_only_the_waits_past_their_deadline() -> None:
    with _listener() as ls:
        ep = resolve(*ls.getsockname())
        short = _on_hub(hubio.connect, ep, 5.0)
        long = _on_hub(hubio.connect, ep, 5.0)
        first, _ = ls.accept()              # the backlog hands connections out in connect order
        conn, _ = ls.accept()
        threading.Timer(0.8, conn.sendall, (b"220 late\r\n",)).start()
        waits = [gevent.spawn(short.read, 100, 0.3), gevent.spawn(long.read, 100, 5.0)]
        gevent.joinall(waits, timeout=10)
        assert isinstance(waits[0].exception, Timeout)
        assert waits[1].value == b"220 late\r\n"
        for s in (short, long, first, conn):
            s.close()
    assert hubio.watchdog().waiting == {}


def test_abort_resets_and_sessions_leave_no_descriptors(refserver: ReferenceServer) -> None:
    with _listener() as ls:
        stream = _on_hub(hubio.connect, resolve(*ls.getsockname()), 5.0)
        conn, _ = ls.accept()
        stream.abort()
        with conn, pytest.raises(ConnectionResetError):
            conn.recv(10)

    before = len(os.listdir("/proc/self/fd"))
    events: list = []
    ctx = _ctx(events, smtp=(refserver.smtp_port, "none"))
    for _ in range(30):
        client = SmtpLoadClient(ctx.smtp, ctx.fire, 5.0, hubio.connect)
        _on_hub(client.connect)
        _on_hub(client.phase, "banner", None, (220,))
        client.close()
    assert _errors(events) == []
    assert len(os.listdir("/proc/self/fd")) <= before + 2
