"""SMTP reply reader: byte tables (wire -> SmtpReply), bounds, chunking and property tests."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import Oversize, RemoteProtocolError
from harness.protocol import CLOSED, NEED_DATA
from harness.protocol.replies import Capabilities, EnhancedStatus, ReplyClass, SmtpReply
from harness.protocol.smtp import SmtpReplyReader, encode_command, parse_ehlo, parse_reply

from .conftest import bytewise, drain, feed_chunks, split_at


def read_one(wire: bytes, **kw: int) -> SmtpReply:
    reader = SmtpReplyReader(**kw)
    reader.receive_data(wire)
    reply = reader.next_event()
    assert isinstance(reply, SmtpReply), reply
    assert reader.next_event() is NEED_DATA     # nothing left over
    return reply


def rules(reply: SmtpReply) -> list[str]:
    return [v.rule for v in reply.violations]


# -- byte table: (wire, code, lines, enhanced, violation rules) ---------------------------------

LONG_TEXT = b"x" * 600
EHLO_WIRE = (b"250-mail.example.test Hello\r\n"
             b"250-PIPELINING\r\n"
             b"250-SIZE 10240000\r\n"
             b"250-auth PLAIN LOGIN CRAM-MD5\r\n"
             b"250 8BITMIME\r\n")

REPLY_TABLE = [
    pytest.param(b"220 mail.example.test ESMTP ready\r\n", 220,
                 (b"mail.example.test ESMTP ready",), None, [], id="single-line"),
    pytest.param(EHLO_WIRE, 250,
                 (b"mail.example.test Hello", b"PIPELINING", b"SIZE 10240000",
                  b"auth PLAIN LOGIN CRAM-MD5", b"8BITMIME"), None, [], id="multi-line-ehlo"),
    pytest.param(b"250\r\n", 250, (b"",), None, ["bare-code"], id="bare-code"),
    pytest.param(b"250 \r\n", 250, (b"",), None, [], id="code-space-empty-text"),
    pytest.param(b"250-first\r\n250\r\n", 250, (b"first", b""), None, ["bare-code"],
                 id="bare-code-final-line"),
    pytest.param(b"199 too low\r\n", 199, (b"too low",), None, ["reply-code-range"], id="code-199"),
    pytest.param(b"600 too high\r\n", 600, (b"too high",), None, ["reply-code-range"], id="code-600"),
    pytest.param(b"000 zero\r\n", 0, (b"zero",), None, ["reply-code-range"], id="code-000"),
    pytest.param(b"250-one\r\n251 two\r\n", 250, (b"one", b"two"), None,
                 ["multiline-code-mismatch"], id="multiline-code-mismatch"),
    pytest.param(b"250-one\r\n250-two\r\n550 three\r\n", 250, (b"one", b"two", b"three"), None,
                 ["multiline-code-mismatch"], id="mismatch-on-final-line-only"),
    pytest.param(b"250 ok\n", 250, (b"ok",), None, ["bare-lf"], id="bare-lf-single"),
    pytest.param(b"250-a\n250-b\r\n250 c\n", 250, (b"a", b"b", b"c"), None, ["bare-lf", "bare-lf"],
                 id="bare-lf-per-line"),
    pytest.param(b"250 " + LONG_TEXT + b"\r\n", 250, (LONG_TEXT,), None, ["reply-line-length"],
                 id="line-over-512"),
    pytest.param(b"250 " + b"x" * 506 + b"\r\n", 250, (b"x" * 506,), None, [], id="line-exactly-512"),
    pytest.param(b"250 " + b"x" * 507 + b"\r\n", 250, (b"x" * 507,), None, ["reply-line-length"],
                 id="line-513"),
    pytest.param(b"550 5.1.1 <nobody@example.test>: user unknown\r\n", 550,
                 (b"5.1.1 <nobody@example.test>: user unknown",), EnhancedStatus(5, 1, 1), [],
                 id="enhanced-5.1.1"),
    pytest.param(b"250 2.0.0\r\n", 250, (b"2.0.0",), EnhancedStatus(2, 0, 0), [], id="enhanced-alone"),
    pytest.param(b"452-4.5.3 too many\r\n452 4.5.3 recipients\r\n", 452,
                 (b"4.5.3 too many", b"4.5.3 recipients"), EnhancedStatus(4, 5, 3), [],
                 id="enhanced-multiline"),
    pytest.param(b"250 5.7.1 odd\r\n", 250, (b"5.7.1 odd",), EnhancedStatus(5, 7, 1),
                 ["enhanced-class-mismatch"], id="enhanced-class-mismatch"),
    pytest.param(b"250 3.0.0 not a class\r\n", 250, (b"3.0.0 not a class",), None, [],
                 id="enhanced-class-3-is-not-enhanced"),
    pytest.param(b"250 2.0.0000 too long\r\n", 250, (b"2.0.0000 too long",), None, [],
                 id="enhanced-detail-4-digits"),
    pytest.param(b"250 2.1.5ok\r\n", 250, (b"2.1.5ok",), None, [], id="enhanced-needs-separator"),
    pytest.param(b"250 text with \xff\xfe 8-bit\r\n", 250, (b"text with \xff\xfe 8-bit",), None, [],
                 id="eight-bit-text-kept"),
    pytest.param(b"421-a\n421 b\n", 421, (b"a", b"b"), None, ["bare-lf", "bare-lf"],
                 id="bare-lf-421"),
    pytest.param(b"999-x\n998 y\n", 999, (b"x", b"y"), None,
                 ["bare-lf", "reply-code-range", "bare-lf", "reply-code-range", "multiline-code-mismatch"],
                 id="many-violations-in-order"),
]


@pytest.mark.parametrize("wire, code, lines, enhanced, expected_rules", REPLY_TABLE)
def test_reply_table(wire: bytes, code: int, lines: tuple[bytes, ...],
                     enhanced: EnhancedStatus | None, expected_rules: list[str]) -> None:
    reply = read_one(wire)
    assert reply.code == code
    assert reply.lines == lines
    assert reply.enhanced == enhanced
    assert rules(reply) == expected_rules
    assert reply.raw == wire
    assert all(not v.local for v in reply.violations)


@pytest.mark.parametrize("wire, code, lines, enhanced, expected_rules", REPLY_TABLE)
def test_reply_table_bytewise_is_identical(wire: bytes, code: int, lines: tuple[bytes, ...],
                                           enhanced: EnhancedStatus | None,
                                           expected_rules: list[str]) -> None:
    whole = read_one(wire)
    events = feed_chunks(SmtpReplyReader(), bytewise(wire))
    assert events == [whole]


@pytest.mark.parametrize("wire, code, lines, enhanced, expected_rules", REPLY_TABLE)
def test_reply_table_fast_path_frames_the_same_bytes(wire: bytes, code: int, lines: tuple[bytes, ...],
                                                     enhanced: EnhancedStatus | None,
                                                     expected_rules: list[str]) -> None:
    """The load users' fast path (``next_frame``: code and bytes), byte by byte, on the same table."""
    reader = SmtpReplyReader()
    frames = []
    for piece in bytewise(wire) + [b"250 next\r\n"]:
        reader.receive_data(piece)
        while (frame := reader.next_frame()) is not NEED_DATA:
            frames.append(frame)
    assert frames == [(code, wire), (250, b"250 next\r\n")]
    assert parse_reply(wire) == read_one(wire)


@pytest.mark.parametrize("wire", [b"hello there\r\n", b"25 short code\r\n", b"250-ok\r\nnot a reply\r\n",
                                  b"250x\r\n", b"2500 x\r\n", b"250-a\r\n25 b\r\n"])
def test_fast_path_never_takes_garbage_for_a_code(wire: bytes) -> None:
    reader = SmtpReplyReader()
    reader.receive_data(wire)
    assert reader.next_frame() == (-1, wire)
    with pytest.raises(RemoteProtocolError):
        parse_reply(wire)


def test_violation_levels_and_rfc_refs() -> None:
    bare = read_one(b"250\r\n").violations[0]
    assert (bare.rule, bare.level, bare.rfc) == ("bare-code", "SHOULD", "5321#4.2.1")
    rng = read_one(b"700 x\r\n").violations[0]
    assert (rng.rule, rng.level, rng.rfc) == ("reply-code-range", "MUST", "5321#4.2")
    mismatch = read_one(b"250 5.0.0 x\r\n").violations[0]
    assert (mismatch.level, mismatch.rfc) == ("SHOULD", "3463#3.1")
    assert "server" in str(rng) and "MUST" in str(rng)


@pytest.mark.parametrize("code, kind", [
    (220, ReplyClass.POSITIVE_COMPLETION), (354, ReplyClass.POSITIVE_INTERMEDIATE),
    (451, ReplyClass.TRANSIENT_NEGATIVE), (554, ReplyClass.PERMANENT_NEGATIVE),
    (199, ReplyClass.INVALID), (600, ReplyClass.INVALID),
])
def test_reply_kind(code: int, kind: ReplyClass) -> None:
    assert read_one(b"%d x\r\n" % code).kind is kind


def test_reply_value_helpers() -> None:
    reply = read_one(EHLO_WIRE)
    assert reply.is_multiline
    assert reply.text.splitlines()[0] == "mail.example.test Hello"
    assert str(read_one(b"221 2.0.0 Bye\r\n")) == "221 2.0.0 Bye"
    assert str(read_one(b"250\r\n")) == "250"
    assert not read_one(b"250 ok\r\n").is_multiline


# -- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("wire", [
    b"hello there\r\n",
    b"25 short code\r\n",
    b"-ERR pop3 answer\r\n",
    b"\r\n",
    b" 250 leading space\r\n",
    b"250-ok\r\nnot a reply\r\n",
    b"\x00\x01\x02\n",
], ids=["words", "two-digit-code", "pop3-status", "empty-line", "leading-space", "garbage-continuation",
        "binary"])
def test_garbage_line_is_remote_protocol_error(wire: bytes) -> None:
    reader = SmtpReplyReader()
    reader.receive_data(wire)
    with pytest.raises(RemoteProtocolError):
        drain(reader)


@pytest.mark.parametrize("wire", [b"250-first\r\n", b"250-first\r\n250 sec", b"25", b"250 no line end"])
def test_eof_mid_reply_is_remote_protocol_error(wire: bytes) -> None:
    reader = SmtpReplyReader()
    reader.receive_data(wire)
    assert reader.next_event() is NEED_DATA
    reader.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="closed"):
        reader.next_event()


def test_eof_at_reply_boundary_is_closed() -> None:
    reader = SmtpReplyReader()
    assert feed_chunks(reader, [b"221 bye\r\n"], eof=True)[1:] == [CLOSED]
    assert reader.next_event() is CLOSED       # and it stays closed


def test_eof_on_fresh_reader_is_closed() -> None:
    reader = SmtpReplyReader()
    reader.receive_data(b"")
    assert reader.next_event() is CLOSED


@pytest.mark.parametrize("partial", [b"2", b"250", b"250 ok", b"250 ok\r", b"250-a\r\n", b"250-a\r\n250 b"])
def test_partial_input_needs_data(partial: bytes) -> None:
    reader = SmtpReplyReader()
    reader.receive_data(partial)
    assert reader.next_event() is NEED_DATA
    assert reader.in_reply


def test_fresh_reader_needs_data() -> None:
    reader = SmtpReplyReader()
    assert reader.next_event() is NEED_DATA and not reader.in_reply


def test_two_pipelined_replies_in_one_chunk() -> None:
    wire = b"250 2.1.0 sender ok\r\n250-2.1.5 rcpt\r\n250 2.1.5 ok\r\n354 go ahead\r\n"
    events = feed_chunks(SmtpReplyReader(), [wire])
    assert [(e.code, e.raw) for e in events] == [
        (250, b"250 2.1.0 sender ok\r\n"),
        (250, b"250-2.1.5 rcpt\r\n250 2.1.5 ok\r\n"),
        (354, b"354 go ahead\r\n"),
    ]
    assert b"".join(e.raw for e in events) == wire


def test_violations_do_not_leak_into_next_reply() -> None:
    events = feed_chunks(SmtpReplyReader(), [b"250 bare lf\n250 clean\r\n"])
    assert [rules(e) for e in events] == [["bare-lf"], []]


def test_max_line_exceeded_without_lf_is_oversize() -> None:
    reader = SmtpReplyReader(max_line=100)
    reader.receive_data(b"250 " + b"a" * 90)
    assert reader.next_event() is NEED_DATA
    reader.receive_data(b"a" * 20)
    with pytest.raises(Oversize):
        reader.next_event()


def test_complete_line_over_max_line_is_oversize() -> None:
    reader = SmtpReplyReader(max_line=100)
    reader.receive_data(b"250 " + b"a" * 200 + b"\r\n")
    with pytest.raises(Oversize):
        reader.next_event()


def test_line_of_exactly_max_line_is_accepted_whatever_the_split() -> None:
    # Regression: a line of max_line octets whose CR and LF arrive in different
    # segments used to be Oversize although the same bytes in one chunk were fine.
    wire = b"250 " + b"a" * 96 + b"\r\n"          # 100 octets of content
    whole = read_one(wire, max_line=100)
    for cut in range(1, len(wire)):
        events = feed_chunks(SmtpReplyReader(max_line=100), split_at(wire, [cut]))
        assert events == [whole], cut


def test_more_than_max_lines_is_oversize() -> None:
    reader = SmtpReplyReader(max_lines=3)
    reader.receive_data(b"250-a\r\n250-b\r\n250 c\r\n")
    assert reader.next_event().lines == (b"a", b"b", b"c")    # exactly max_lines is fine
    reader.receive_data(b"250-a\r\n250-b\r\n250-c\r\n250 d\r\n")
    with pytest.raises(Oversize, match="3 lines"):
        reader.next_event()


def test_take_unread_returns_buffered_bytes() -> None:
    reader = SmtpReplyReader()
    reader.receive_data(b"220 go ahead\r\n250-injected\r\n250 pre-TLS\r\n5")
    assert reader.next_event().code == 220
    # one complete reply and a partial line are still buffered
    assert reader.buffered == len(b"250-injected\r\n250 pre-TLS\r\n5")
    assert reader.take_unread() == b"250-injected\r\n250 pre-TLS\r\n5"
    assert reader.buffered == 0 and not reader.in_reply
    assert reader.next_event() is NEED_DATA


def test_take_unread_includes_lines_of_a_half_read_reply() -> None:
    reader = SmtpReplyReader()
    reader.receive_data(b"250-one\n250-two\r\n250 th")
    assert reader.next_event() is NEED_DATA
    assert reader.take_unread() == b"250-one\n250-two\r\n250 th"
    reader.receive_data(b"220 fresh\r\n")
    fresh = reader.next_event()
    assert (fresh.code, fresh.lines, fresh.violations) == (220, (b"fresh",), ())   # bare-lf forgotten


# -- EHLO capabilities -------------------------------------------------------------------------

def test_parse_ehlo_keywords_and_params() -> None:
    caps = parse_ehlo(read_one(EHLO_WIRE))
    assert caps.greeting == "mail.example.test Hello"
    assert list(caps) == ["PIPELINING", "SIZE", "AUTH", "8BITMIME"]
    assert caps["size"] == ("10240000",)
    assert caps["AUTH"] == ("PLAIN", "LOGIN", "CRAM-MD5")
    assert caps["PIPELINING"] == ()
    assert "pipelining" in caps and "STARTTLS" not in caps and 42 not in caps
    assert len(caps) == 4
    assert caps.get("nope") is None


@pytest.mark.parametrize("spec, present", [
    ("AUTH", True), ("auth", True), ("AUTH=CRAM-MD5", True), ("auth=cram-md5", True),
    ("AUTH=GSSAPI", False), ("SIZE=10240000", True), ("STARTTLS", False), ("STARTTLS=X", False),
])
def test_capabilities_has(spec: str, present: bool) -> None:
    assert parse_ehlo(read_one(EHLO_WIRE)).has(spec) is present


def test_auth_equals_legacy_form_is_folded_into_auth() -> None:
    caps = parse_ehlo(read_one(b"250-host\r\n250-AUTH=LOGIN PLAIN\r\n250 AUTH CRAM-MD5\r\n"))
    assert list(caps) == ["AUTH"]
    assert caps["AUTH"] == ("LOGIN", "PLAIN", "CRAM-MD5")
    assert caps.has("AUTH=LOGIN") and caps.has("AUTH=cram-md5")


def test_parse_ehlo_single_line_has_no_keywords() -> None:
    caps = parse_ehlo(read_one(b"250 host.example\r\n"))
    assert caps.greeting == "host.example" and len(caps) == 0


def test_capabilities_from_lines_skips_blank_lines() -> None:
    caps = Capabilities.from_lines([b"", b"   ", b"8bitmime"])
    assert dict(caps.keywords) == {"8BITMIME": ()}


# -- command encoding --------------------------------------------------------------------------

@pytest.mark.parametrize("verb, arg, wire", [
    ("EHLO", "client.test", b"EHLO client.test\r\n"),
    ("QUIT", None, b"QUIT\r\n"),
    ("DATA", "", b"DATA\r\n"),
    ("MAIL", "FROM:<a@b.test> SMTPUTF8", b"MAIL FROM:<a@b.test> SMTPUTF8\r\n"),
    ("RCPT", "TO:<ü@b.test>", "RCPT TO:<ü@b.test>\r\n".encode()),
    ("NOOP", "bare\nlf", b"NOOP bare\nlf\r\n"),      # no validation: the engine may send anything
])
def test_encode_command(verb: str, arg: str | None, wire: bytes) -> None:
    assert encode_command(verb, arg) == wire


# -- property tests ----------------------------------------------------------------------------

text_line = st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


def encode_reply(code: int, lines: list[bytes]) -> bytes:
    out = [b"%d-%s\r\n" % (code, line) for line in lines[:-1]]
    out.append(b"%d %s\r\n" % (code, lines[-1]))
    return b"".join(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code=st.integers(200, 599), lines=st.lists(text_line, min_size=1, max_size=8),
       cuts=st.lists(st.integers(0, 2000), max_size=20))
def test_property_encoded_reply_round_trips_under_any_chunking(code: int, lines: list[bytes],
                                                                 cuts: list[int]) -> None:
    wire = encode_reply(code, lines)
    events = feed_chunks(SmtpReplyReader(), split_at(wire, cuts), eof=True)
    assert events[-1] is CLOSED
    (reply,) = events[:-1]
    assert reply.code == code
    assert reply.lines == tuple(lines)
    assert reply.raw == wire
    enhanced = EnhancedStatus.parse(lines[0])
    expected = ["enhanced-class-mismatch"] if enhanced and enhanced.klass != code // 100 else []
    assert rules(reply) == expected


@settings(max_examples=60, deadline=None)
@given(replies=st.lists(st.tuples(st.integers(200, 599), st.lists(text_line, min_size=1, max_size=3)),
                        min_size=1, max_size=5),
       cuts=st.lists(st.integers(0, 1500), max_size=15))
def test_property_pipelined_replies_split_anywhere(replies: list[tuple[int, list[bytes]]],
                                                   cuts: list[int]) -> None:
    wire = b"".join(encode_reply(code, lines) for code, lines in replies)
    events = feed_chunks(SmtpReplyReader(), split_at(wire, cuts))
    assert [(e.code, e.lines) for e in events] == [(c, tuple(ls)) for c, ls in replies]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=10),
       eof=st.booleans(), max_line=st.integers(1, 64))
def test_property_arbitrary_bytes_never_raise_anything_unexpected(data: bytes, cuts: list[int],
                                                                  eof: bool, max_line: int) -> None:
    reader = SmtpReplyReader(max_line=max_line, max_lines=4)
    try:
        events = feed_chunks(reader, split_at(data, cuts), eof=eof)
    except (RemoteProtocolError, Oversize):
        return
    for event in events:
        assert event is CLOSED or isinstance(event, SmtpReply)
    if events and events[-1] is CLOSED:
        assert eof


@pytest.mark.parametrize("wire", [b"250abc\r\n", b"2500 ok\r\n", b"250\tok\r\n"])
def test_code_must_be_followed_by_sp_hyphen_or_line_end(wire: bytes) -> None:
    reader = SmtpReplyReader()
    reader.receive_data(wire)
    with pytest.raises(RemoteProtocolError):
        reader.next_event()
