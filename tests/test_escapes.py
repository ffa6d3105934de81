"""harness.escapes: scenario escape strings <-> exact wire bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.escapes import EscapeError, decode_escapes, encode_escapes


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("", b""),
        ("plain ascii", b"plain ascii"),
        (r"\r\n", b"\r\n"),
        (r"bare\rCR", b"bare\rCR"),
        (r"bare\nLF", b"bare\nLF"),
        (r"\t", b"\t"),
        (r"\0", b"\x00"),
        (r"\e[0m", b"\x1b[0m"),
        ("\\\\", b"\\"),
        (r"\\r", b"\\r"),  # an escaped backslash, then a literal r
        (r"\x80\xff\x00", b"\x80\xff\x00"),
        (r"\xAb\xaB", b"\xab\xab"),  # hex digits in either case
        (r"\x41\x4142", b"AA42"),  # exactly two digits are consumed
        ("é€", "é€".encode()),  # other characters: UTF-8
        (r"DATA\r\n.\n", b"DATA\r\n.\n"),  # smuggling-style bare LF end of data
    ],
)
def test_decode_table(text: str, wire: bytes) -> None:
    assert decode_escapes(text) == wire


@pytest.mark.parametrize(
    ("text", "column", "shown"),
    [
        (r"\q", 0, r"'\q'"),
        (r"abcdefg\q", 7, r"'\q'"),
        (r"\x4", 0, r"'\x4'"),
        (r"ab\x4 z", 2, r"'\x4'"),
        (r"\xZZ", 0, r"'\xZZ'"),
        (r"\x", 0, r"'\x'"),
        ("abc\\", 3, "'\\'"),
        (r"\R", 0, r"'\R'"),  # escapes are case-sensitive
        ("é\\u00e9", 1, r"'\u'"),  # columns count characters, not octets
    ],
)
def test_decode_errors_name_the_column(text: str, column: int, shown: str) -> None:
    with pytest.raises(EscapeError) as info:
        decode_escapes(text)
    assert info.value.column == column
    assert f"invalid escape {shown} at column {column}" in str(info.value)


def test_escape_error_is_value_error_and_scenario_error() -> None:
    with pytest.raises(ValueError):
        decode_escapes(r"\q")
    assert issubclass(EscapeError, ScenarioError)


def test_lone_surrogate_is_an_error() -> None:
    with pytest.raises(EscapeError) as info:
        decode_escapes("ab\ud800")
    assert info.value.column == 2


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"hello", "hello"),
        (b"a\r\nb", r"a\r\nb"),
        (b"\t\x00\x1b\x7f", r"\t\x00\x1b\x7f"),
        (b"\\", "\\\\"),
        (b"\x80\xff", r"\x80\xff"),
        ("é".encode(), r"\xc3\xa9"),
        (b" ~", " ~"),
    ],
)
def test_encode_table(data: bytes, text: str) -> None:
    assert encode_escapes(data) == text


def test_encode_output_is_printable_ascii() -> None:
    out = encode_escapes(bytes(range(256)))
    assert out.isascii() and out.isprintable()


@given(st.binary())
def test_round_trip_bytes(data: bytes) -> None:
    assert decode_escapes(encode_escapes(data)) == data


@given(st.text().filter(lambda t: "\\" not in t and not any(0xD800 <= ord(c) <= 0xDFFF for c in t)))
def test_text_without_backslashes_is_utf8(text: str) -> None:
    assert decode_escapes(text) == text.encode("utf-8")
