"""POP3 response reader: status lines, multi-line bodies, byte-stuffing, bounds, property tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import Oversize, RemoteProtocolError
from harness.protocol import CLOSED, NEED_DATA
from harness.protocol.pop3 import Pop3ResponseReader, expects_multiline, parse_capa
from harness.protocol.replies import Pop3Response

from .conftest import bytewise, feed_chunks, split_at


def read_one(wire: bytes, multiline: bool = False, **kw: int) -> Pop3Response:
    reader = Pop3ResponseReader(**kw)
    reader.expect(multiline)
    reader.receive_data(wire)
    response = reader.next_event()
    assert isinstance(response, Pop3Response), response
    assert reader.next_event() is NEED_DATA
    return response


def rules(response: Pop3Response) -> list[str]:
    return [v.rule for v in response.violations]


# -- status lines: (wire, multiline expected, ok, text, body, stuffed, rules) -------------------------

RETR_WIRE = (b"+OK 120 octets\r\n"
             b"Subject: dots\r\n"
             b"\r\n"
             b"..leading dot\r\n"
             b"...two dots\r\n"
             b"..\r\n"
             b"end. not stuffed\r\n"
             b".\r\n")

STATUS_TABLE = [
    pytest.param(b"+OK POP3 ready <1896.697170952@dbc.mil>\r\n", False, True,
                 b"POP3 ready <1896.697170952@dbc.mil>", None, 0, [], id="ok"),
    pytest.param(b"+OK\r\n", False, True, b"", None, 0, [], id="ok-no-text"),
    pytest.param(b"-ERR no such message\r\n", False, False, b"no such message", None, 0, [], id="err"),
    pytest.param(b"-ERR\r\n", False, False, b"", None, 0, [], id="err-no-text"),
    pytest.param(b"+ dGVzdA==\r\n", False, None, b"dGVzdA==", None, 0, [], id="sasl-continuation"),
    pytest.param(b"+ \r\n", False, None, b"", None, 0, [], id="empty-continuation"),
    pytest.param(b"+\r\n", False, None, b"", None, 0, [], id="bare-plus-continuation"),
    pytest.param(b"+ok fine\r\n", False, True, b"fine", None, 0, ["status-case"], id="lowercase-ok"),
    pytest.param(b"-err nope\r\n", False, False, b"nope", None, 0, ["status-case"], id="lowercase-err"),
    pytest.param(b"+Ok\r\n", False, True, b"", None, 0, ["status-case"], id="mixed-case-ok"),
    pytest.param(b"+OK bare\n", False, True, b"bare", None, 0, ["bare-lf"], id="bare-lf-status"),
    pytest.param(b"+OK " + b"x" * 600 + b"\r\n", False, True, b"x" * 600, None, 0,
                 ["status-line-length"], id="status-over-512"),
    pytest.param(b"-ERR [IN-USE] maildrop locked\r\n", False, False, b"[IN-USE] maildrop locked", None, 0,
                 [], id="resp-code"),
    pytest.param(RETR_WIRE, True, True, b"120 octets",
                 (b"Subject: dots\r\n", b"\r\n", b".leading dot\r\n", b"..two dots\r\n", b".\r\n",
                  b"end. not stuffed\r\n"), 3, [], id="retr-byte-stuffed"),
    pytest.param(b"+OK\r\n.\r\n", True, True, b"", (), 0, [], id="empty-multiline-body"),
    pytest.param(b"+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n", True, True, b"2 messages",
                 (b"1 120\r\n", b"2 200\r\n"), 0, [], id="list"),
    pytest.param(b"+OK\r\n.hidden\r\n.\r\n", True, True, b"", (b".hidden\r\n",), 0, ["unstuffed-dot"],
                 id="unstuffed-leading-dot"),
    pytest.param(b"+OK\nline\n..dot\n.\n", True, True, b"", (b"line\n", b".dot\n"), 1,
                 ["bare-lf", "bare-lf", "bare-lf", "bare-lf"], id="bare-lf-multiline"),
    pytest.param(b"+OK\r\nmixed\n.\r\n", True, True, b"", (b"mixed\n",), 0, ["bare-lf"],
                 id="bare-lf-body-line-kept-as-sent"),
    pytest.param(b"-ERR no such message\r\n", True, False, b"no such message", None, 0, [],
                 id="err-when-multiline-expected"),
    pytest.param(b"+ challenge\r\n", True, None, b"challenge", None, 0, [],
                 id="continuation-when-multiline-expected"),
]


@pytest.mark.parametrize("wire, multiline, ok, text, body, stuffed, expected_rules", STATUS_TABLE)
def test_response_table(wire: bytes, multiline: bool, ok: bool | None, text: bytes,
                        body: tuple[bytes, ...] | None, stuffed: int, expected_rules: list[str]) -> None:
    response = read_one(wire, multiline)
    assert response.ok is ok
    assert response.text == text
    assert response.body == body
    assert response.stuffed_lines == stuffed
    assert rules(response) == expected_rules
    assert response.raw == wire


@pytest.mark.parametrize("wire, multiline, ok, text, body, stuffed, expected_rules", STATUS_TABLE)
def test_response_table_bytewise_is_identical(wire: bytes, multiline: bool, ok: bool | None, text: bytes,
                                              body: tuple[bytes, ...] | None, stuffed: int,
                                              expected_rules: list[str]) -> None:
    reader = Pop3ResponseReader()
    reader.expect(multiline)
    assert feed_chunks(reader, bytewise(wire)) == [read_one(wire, multiline)]


def test_retr_body_bytes_is_the_unstuffed_message() -> None:
    response = read_one(RETR_WIRE, multiline=True)
    assert response.body_bytes == (b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n"
                                   b"end. not stuffed\r\n")
    assert response.raw == RETR_WIRE


@pytest.mark.parametrize("wire, code", [
    (b"-ERR [IN-USE] locked\r\n", "IN-USE"),
    (b"-ERR [sys/temp] later\r\n", "SYS/TEMP"),
    (b"-ERR [AUTH] bad password\r\n", "AUTH"),
    (b"-ERR locked [IN-USE]\r\n", None),
    (b"-ERR no code\r\n", None),
    (b"+OK [] empty\r\n", None),
])
def test_resp_code(wire: bytes, code: str | None) -> None:
    assert read_one(wire).resp_code == code


def test_status_helpers() -> None:
    assert (read_one(b"+OK hi\r\n").status, str(read_one(b"+OK hi\r\n"))) == ("+OK", "+OK hi")
    assert (read_one(b"-ERR\r\n").status, str(read_one(b"-ERR\r\n"))) == ("-ERR", "-ERR")
    cont = read_one(b"+ abc\r\n")
    assert cont.is_continuation and cont.status == "+" and str(cont) == "+ abc"
    assert read_one(b"+OK\r\n").body_bytes == b""


def test_err_when_multiline_expected_reads_no_body() -> None:
    reader = Pop3ResponseReader()
    reader.expect(True)
    reader.receive_data(b"-ERR no such message\r\n+OK next\r\n")
    first = reader.next_event()
    assert (first.ok, first.body, first.raw) == (False, None, b"-ERR no such message\r\n")
    reader.expect(False)
    second = reader.next_event()
    assert (second.ok, second.raw) == (True, b"+OK next\r\n")


def test_violations_do_not_leak_into_next_response() -> None:
    reader = Pop3ResponseReader()
    events = feed_chunks(reader, [b"+ok lower\r\n+OK upper\r\n"])
    assert [rules(e) for e in events] == [["status-case"], []]


# -- errors and bounds -------------------------------------------------------------------------

@pytest.mark.parametrize("wire", [
    b"OK fine\r\n", b"220 smtp here\r\n", b"*OK\r\n", b"+x\r\n", b"\r\n", b"ERR\r\n",
], ids=["no-sign", "smtp-greeting", "star", "plus-junk", "empty", "err-no-dash"])
def test_not_a_status_line_is_remote_protocol_error(wire: bytes) -> None:
    reader = Pop3ResponseReader()
    reader.receive_data(wire)
    with pytest.raises(RemoteProtocolError, match="not a POP3 status line"):
        reader.next_event()


@pytest.mark.parametrize("wire, match", [
    (b"+OK\r\nline one\r\n", "multi-line terminator"),
    (b"+OK\r\nline one\r\n.", "multi-line terminator"),
    (b"+OK\r\n", "multi-line terminator"),
    (b"+OK no line end", "middle of a response line"),
])
def test_eof_before_terminator_is_remote_protocol_error(wire: bytes, match: str) -> None:
    reader = Pop3ResponseReader()
    reader.expect(True)
    reader.receive_data(wire)
    assert reader.next_event() is NEED_DATA
    reader.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match=match):
        reader.next_event()


def test_eof_at_boundary_is_closed() -> None:
    reader = Pop3ResponseReader()
    events = feed_chunks(reader, [b"+OK bye\r\n"], eof=True)
    assert events[0].ok and events[1:] == [CLOSED]


def test_body_over_max_body_is_oversize() -> None:
    reader = Pop3ResponseReader(max_body=100)
    reader.expect(True)
    reader.receive_data(b"+OK\r\n" + b"x" * 48 + b"\r\n")
    assert reader.next_event() is NEED_DATA       # 50 octets so far
    reader.receive_data(b"y" * 48 + b"\r\n")
    assert reader.next_event() is NEED_DATA       # 100: still within the bound
    reader.receive_data(b"z\r\n")
    with pytest.raises(Oversize):
        reader.next_event()


def test_body_line_without_lf_over_max_line_is_oversize() -> None:
    reader = Pop3ResponseReader(max_line=64)
    reader.expect(True)
    reader.receive_data(b"+OK\r\n" + b"x" * 100)
    with pytest.raises(Oversize):
        reader.next_event()


def test_take_unread_returns_buffered_bytes() -> None:
    reader = Pop3ResponseReader()
    reader.receive_data(b"+OK begin TLS\r\n+OK injected\r\n")
    assert reader.next_event().text == b"begin TLS"
    assert reader.in_reply
    assert reader.take_unread() == b"+OK injected\r\n"
    assert not reader.in_reply and reader.next_event() is NEED_DATA


# -- which commands have a multi-line answer --------------------------------------------------------

@pytest.mark.parametrize("line, multiline", [
    ("CAPA", True), ("LIST", True), ("LIST 1", False), ("UIDL", True), ("UIDL 2", False),
    ("RETR 1", True), ("TOP 1 0", True), ("STAT", False), ("USER x", False), ("PASS secret", False),
    ("retr 1", True), ("list", True), (b"UIDL", True), (b"DELE 1", False), ("", False), ("   ", False),
    ("LIST  ", True), ("NOOP", False), ("STLS", False),
])
def test_expects_multiline(line: str | bytes, multiline: bool) -> None:
    assert expects_multiline(line) is multiline


def test_parse_capa() -> None:
    wire = (b"+OK Capability list follows\r\n"
            b"TOP\r\nUSER\r\nsasl PLAIN cram-md5\r\nRESP-CODES\r\nEXPIRE 60\r\nIMPLEMENTATION Ref 1.0\r\n.\r\n")
    caps = parse_capa(read_one(wire, multiline=True))
    assert list(caps) == ["TOP", "USER", "SASL", "RESP-CODES", "EXPIRE", "IMPLEMENTATION"]
    assert caps["SASL"] == ("PLAIN", "cram-md5")
    assert caps.has("SASL=CRAM-MD5") and not caps.has("SASL=LOGIN") and not caps.has("STLS")
    assert caps["EXPIRE"] == ("60",)


def test_parse_capa_of_single_line_response_is_empty() -> None:
    assert len(parse_capa(read_one(b"-ERR no CAPA\r\n", multiline=True))) == 0


# -- property tests ----------------------------------------------------------------------------

body_line = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
# bias towards the interesting lines: ".", "..", ".x", empty
body_line = st.one_of(body_line, st.sampled_from([b".", b"..", b".x", b"", b"...", b". "]))


def stuff(lines: list[bytes]) -> bytes:
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"


@settings(max_examples=150, deadline=None)
@given(lines=st.lists(body_line, max_size=12), cuts=st.lists(st.integers(0, 600), max_size=20))
def test_property_stuffed_body_round_trips_under_any_chunking(lines: list[bytes], cuts: list[int]) -> None:
    wire = b"+OK message follows\r\n" + stuff(lines)
    reader = Pop3ResponseReader()
    reader.expect(True)
    events = feed_chunks(reader, split_at(wire, cuts), eof=True)
    assert events[-1] is CLOSED
    (response,) = events[:-1]
    assert response.ok is True
    assert response.body == tuple(line + b"\r\n" for line in lines)
    assert response.body_bytes == b"".join(line + b"\r\n" for line in lines)
    assert response.stuffed_lines == sum(line.startswith(b".") for line in lines)
    assert response.violations == ()
    assert response.raw == wire


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=10),
       eof=st.booleans(), multiline=st.booleans(), max_line=st.integers(1, 64))
def test_property_arbitrary_bytes_never_raise_anything_unexpected(data: bytes, cuts: list[int], eof: bool,
                                                                  multiline: bool, max_line: int) -> None:
    reader = Pop3ResponseReader(max_line=max_line, max_body=200)
    reader.expect(multiline)
    try:
        events = feed_chunks(reader, split_at(data, cuts), eof=eof)
    except (RemoteProtocolError, Oversize):
        return
    assert all(e is CLOSED or isinstance(e, Pop3Response) for e in events)
