"""Pure units of the load package: shapes, HDR collector merging, the ledger, the load clients."""

from __future__ import annotations

import pytest

from harness.errors import ConnectionClosed
from harness.load.clients import (
    Endpoint,
    MessageFactory,
    SessionAborted,
    SessionContext,
    SmtpLoadClient,
    UnexpectedReply,
    pop3_session,
    smtp_session,
)
from harness.load.profile import Messages, Shape, UserMix
from harness.load.shapes import (
    Stage,
    arrival_interval,
    compile_stages,
    due_sessions,
    tick,
)
from harness.load.stats import Collector, Ledger
from harness.message import body_digest, find_marker
from harness.session import Connection
from harness.wire.mock import MockStream

# -- shapes ------------------------------------------------------------------------------------

def test_ramp_holds_until_the_duration_then_stops() -> None:
    table = compile_stages(Shape(kind="ramp", users=10, ramp=5), 30)
    assert table == [Stage(30, 10, 2.0)]
    assert tick(table, 0) == (10, 2.0) and tick(table, 29.9) == (10, 2.0) and tick(table, 30) is None


def test_step_adds_users_in_equal_steps() -> None:
    table = compile_stages(Shape(kind="step", users=10, steps=5), 30)
    assert [(s.end_s, s.users) for s in table] == [(6, 2), (12, 4), (18, 6), (24, 8), (30, 10)]
    assert tick(table, 13)[0] == 6


def test_spike_goes_up_and_back() -> None:
    table = compile_stages(Shape(kind="spike", base_users=2, spike_users=20, at=10, length=5), 30)
    assert [tick(table, t)[0] for t in (0, 9.9, 10, 14.9, 15, 29)] == [2, 2, 20, 20, 2, 2]


def test_stages_are_clipped_to_the_duration_and_the_last_one_holds() -> None:
    shape = Shape(kind="stages", stages=((5, 1, None), (10, 5, 2.0), (100, 3, None)))
    assert compile_stages(shape, 12) == [Stage(5, 1, 1.0), Stage(12, 5, 2.0)]
    assert compile_stages(Shape(kind="stages", stages=((5, 1, None),)), 8) == [Stage(8, 1, 1.0)]


def test_soak_and_arrival() -> None:
    assert compile_stages(Shape(kind="soak", users=3), 600) == [Stage(600, 3, 3.0)]
    shape = Shape(kind="arrival", rate=100)
    assert compile_stages(shape, 20, processes=2) == [Stage(20, 2, 2.0)]
    assert arrival_interval(shape, processes=2) == pytest.approx(0.02)


def test_due_sessions_catches_up_when_late() -> None:
    assert due_sessions(0, 0.0, 0.5) == 1          # the first session is due at once
    assert due_sessions(1, 0.4, 0.5) == 0
    assert due_sessions(1, 2.1, 0.5) == 4          # fell behind: 4 are due now
    assert due_sessions(0, 0.1, 0.5, offset=0.2) == 0


# -- statistics ---------------------------------------------------------------------------------

def test_collector_deltas_merge_like_one_recorder() -> None:
    workers = [Collector(), Collector()]
    master = Collector()
    for i, w in enumerate(workers):
        for v in range(1, 1001):
            w.record("SMTP DATA", v * (i + 1))
        w.record("SMTP DATA", 5, error="DATA: unexpected reply '554 no'")
        w.count("messages_sent", 1000)
        master.merge(w.flush())
        assert w.flush()["requests"] == {}            # a flush resets the delta
    phases = master.phases(duration_s=10)
    row = phases["SMTP DATA"]
    assert (row["requests"], row["failures"], row["rps"]) == (2002, 2, 200.2)
    assert row["max"] == pytest.approx(2.0, rel=1e-3)    # 2000 µs, full resolution
    assert row["p50"] == pytest.approx(0.667, rel=0.01)     # median of 1..1000 ∪ 2..2000 step 2
    assert row["errors"] == ["DATA: unexpected reply '554 no'"] * 2
    again = Collector.from_json(master.to_json())
    assert again.phases(10) == phases and again.counters["messages_sent"] == 2000


def test_ledger_counts_verified_lost_corrupted_duplicated_and_late_sent_entries() -> None:
    led = Ledger()
    led.add_seen("m0", 12.0, "d0")          # seen before its sent entry arrived (another worker)
    for i in range(4):
        led.add_sent(f"m{i}", 10.0, f"d{i}")
    led.add_seen("m1", 10.5, "d1")
    led.add_seen("m1", 11.0, "d1")          # duplicate
    led.add_seen("m2", 10.5, "XX")          # corrupted
    s = led.summary()
    assert (s["messages_verified"], s["messages_lost"], s["messages_corrupted"], s["messages_duplicated"]) == \
        (2, 1, 1, 1)
    assert s["delivery_latency_ms"]["max"] == pytest.approx(2000, rel=1e-3)
    assert Ledger.from_json(led.to_json()).summary() == s


# -- clients ------------------------------------------------------------------------------------

def test_message_factory_ids_digests_and_dot_stuffing() -> None:
    f = MessageFactory(Messages(sizes=((1000, 1),), line_length=600, eight_bit=True), "run.p1", "a@example.test")
    mid, message, wire = f.next(["b@example.test"])
    assert mid == "run.p1.1" and find_marker(message) == mid
    assert 900 <= len(message) <= 1700 and any(len(line) == 600 for line in message.split(b"\r\n"))
    assert any(b > 127 for b in message)
    assert wire.endswith(b"\r\n.\r\n")
    trace = b"Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    assert MessageFactory.digest(message) == body_digest(trace + message)
    assert f.next(["b@example.test"])[0] == "run.p1.2"


def _ctx(events: list) -> SessionContext:
    return SessionContext(smtp=Endpoint(0, ("127.0.0.1", 1)), pop3=Endpoint(0, ("127.0.0.1", 1)),
                          fire=lambda *e: events.append(e),
                          factory=MessageFactory(Messages(), "r", "a@example.test"),
                          recipients=("b@example.test",), mailboxes=(("b", "pw"),))


def test_smtp_phase_failure_carries_the_reply() -> None:
    events: list = []
    client = SmtpLoadClient(Endpoint(0, ("127.0.0.1", 1)), lambda *e: events.append(e))
    client.stream = MockStream([b"220 hi\r\n", b"554 5.7.1 go away\r\n"])
    assert isinstance(client.conn, Connection) and client.conn.transcript is None   # the checks' engine
    client.phase("banner", None, (220,))
    with pytest.raises(SessionAborted):
        client.phase("EHLO", b"EHLO x\r\n", (250,))
    assert [e[:2] for e in events] == [("SMTP", "banner"), ("SMTP", "EHLO")]
    exc = events[1][4]
    assert isinstance(exc, UnexpectedReply) and exc.reply.code == 554 and "go away" in str(exc)
    assert client.stream.written == [b"EHLO x\r\n"]


def test_smtp_session_over_a_scripted_server(monkeypatch: pytest.MonkeyPatch) -> None:
    replies = [b"220 hi\r\n", b"250-me\r\n250 8BITMIME\r\n", b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n",
               b"250 queued\r\n", b"221 bye\r\n"]
    stream = MockStream(replies)
    monkeypatch.setattr("harness.load.clients.connect_endpoint", lambda ep, timeout: stream)
    events: list = []
    sent: list = []
    ctx = _ctx(events)
    ctx.verify, ctx.on_sent = True, lambda *a: sent.append(a)
    assert smtp_session(ctx, UserMix(kind="smtp")) == 1
    assert [e[1] for e in events] == ["connect", "banner", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert all(e[4] is None for e in events)
    assert stream.written[1] == b"MAIL FROM:<a@example.test>\r\n" and stream.written[-1] == b"QUIT\r\n"
    assert len(stream.written) == 6 and stream.written[4].endswith(b"\r\n.\r\n")   # body + "." in one write
    assert sent[0][0] == "r.1" and len(sent[0][2]) == 64


def test_pop3_session_reports_sightings_only_after_quit(monkeypatch: pytest.MonkeyPatch) -> None:
    f = MessageFactory(Messages(), "r.p", "a@example.test")
    mid, message, wire = f.next(["b@example.test"])
    script = [b"+OK ready\r\n", b"+OK\r\n", b"+OK in\r\n", b"+OK 1 9\r\n", b"+OK\r\n1 9\r\n.\r\n",
              b"+OK\r\n" + wire, b"+OK del\r\n", b"+OK bye\r\n"]
    seen: list = []
    for abort, expected in ((False, [(mid, MessageFactory.digest(message))]), (True, [])):
        stream = MockStream(list(script))
        monkeypatch.setattr("harness.load.clients.connect_endpoint", lambda ep, timeout, s=stream: s)
        ctx = _ctx([])
        ctx.verify, ctx.id_prefix, ctx.on_seen = True, "r.", lambda m, t, d: seen.append((m, d))
        seen.clear()
        pop3_session(ctx, UserMix(kind="pop3"), ("b", "pw"), abort=abort)
        assert seen == expected
        assert stream.aborted is abort


def test_closed_connection_is_a_failure_with_the_transport_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.load.clients.connect_endpoint", lambda ep, timeout: MockStream([]))
    events: list = []
    assert smtp_session(_ctx(events), UserMix(kind="smtp")) == 0
    assert events[-1][1] == "banner" and isinstance(events[-1][4], ConnectionClosed)


def test_pipelined_session_writes_one_group_per_message_and_quits_with_the_body(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The server's replies arrive coalesced (as they do when the client pipelines).
    replies = [b"220 hi\r\n", b"250-me\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
               b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n", b"250 queued\r\n221 bye\r\n"]
    stream = MockStream(replies)
    monkeypatch.setattr("harness.load.clients.connect_endpoint", lambda ep, timeout: stream)
    events: list = []
    assert smtp_session(_ctx(events), UserMix(kind="smtp", pipelining=True)) == 1
    assert [e[1] for e in events] == ["connect", "banner", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert all(e[4] is None for e in events)
    assert stream.written[1] == b"MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"
    assert len(stream.written) == 3 and stream.written[2].endswith(b"\r\n.\r\nQUIT\r\n")


def test_pipelining_is_used_only_when_advertised(monkeypatch: pytest.MonkeyPatch) -> None:
    replies = [b"220 hi\r\n", b"250-me\r\n250 8BITMIME\r\n", b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n",
               b"250 queued\r\n", b"221 bye\r\n"]
    stream = MockStream(replies)
    monkeypatch.setattr("harness.load.clients.connect_endpoint", lambda ep, timeout: stream)
    events: list = []
    assert smtp_session(_ctx(events), UserMix(kind="smtp", pipelining=True, messages_per_session=1)) == 1
    assert len(stream.written) == 6 and stream.written[-1] == b"QUIT\r\n"


def test_pipelined_rcpt_refusal_is_a_rcpt_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    replies = [b"220 hi\r\n", b"250-me\r\n250 PIPELINING\r\n", b"250 ok\r\n550 5.1.1 no such user\r\n554 no\r\n"]
    monkeypatch.setattr("harness.load.clients.connect_endpoint", lambda ep, timeout: MockStream(replies))
    events: list = []
    assert smtp_session(_ctx(events), UserMix(kind="smtp", pipelining=True)) == 0
    assert [e[1] for e in events][-2:] == ["MAIL", "RCPT"]
    exc = events[-1][4]
    assert isinstance(exc, UnexpectedReply) and exc.reply.code == 550 and "no such user" in str(exc)


def test_replies_split_across_reads_and_garbage() -> None:
    events: list = []
    client = SmtpLoadClient(Endpoint(0, ("127.0.0.1", 1)), lambda *e: events.append(e))
    client.stream = MockStream([b"25", b"0-first\r\n250-sec", b"ond\r\n250 last\r\n22", b"0 x\r\n"])
    raw = client.phase("EHLO", None, (250,))
    assert raw == b"250-first\r\n250-second\r\n250 last\r\n"
    assert client.phase("QUIT", None, (220,)) == b"220 x\r\n"
    client.stream = MockStream([b"HTTP/1.1 400 Bad Request\r\n"])
    with pytest.raises(SessionAborted):
        client.phase("banner", None, (220,))
    assert "not an SMTP reply line" in str(events[-1][4])


def test_record_many_fills_the_same_histogram_as_record() -> None:
    import random as _random
    rng = _random.Random(7)
    values = [int(rng.lognormvariate(7, 1.5)) for _ in range(20_000)] + [0, 1, 2047, 2048, 4097, 10**12]
    one, many = Collector(), Collector()
    for v in values:
        one.record("SMTP DATA", v)
    many.record_many("SMTP DATA", values)
    a, b = one.flush(), many.flush()
    assert a["hist"] == b["hist"] and a["requests"] == b["requests"] == {"SMTP DATA": len(values)}
