"""harness.message: deterministic MIME builder, dot-stuffing and round-trip digests."""

from __future__ import annotations

import base64
import email
import email.policy
import quopri
import re
from email.message import EmailMessage
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.message import (
    DEFAULT_DATE,
    MessageSpec,
    MessageSpecError,
    Part,
    RawValue,
    body_digest,
    build_message,
    dot_stuff,
    dot_unstuff,
    find_marker,
    qp_encode,
    spec_from_mapping,
    strip_trace,
)

ENVELOPE: dict[str, Any] = {"sender": "alice@example.test", "recipients": ["bob@example.test"]}


def build(data: dict[str, Any], marker: str = "mh-1", **kw: Any) -> bytes:
    return build_message(spec_from_mapping(data), marker=marker, **{**ENVELOPE, **kw})


def parse(message: bytes) -> EmailMessage:
    msg = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def lines(message: bytes) -> list[bytes]:
    assert message.endswith(b"\r\n")
    return message[:-2].split(b"\r\n")


# ------------------------------------------------------------------ byte-exact output
def test_simple_text_message_is_byte_exact() -> None:
    out = build({"subject": "Hello", "body": "one\ntwo"}, recipients=["bob@example.test", "carol@example.test"])
    assert out == (
        b"X-Harness-Id: mh-1\r\n"
        b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
        b"From: alice@example.test\r\n"
        b"To: bob@example.test, carol@example.test\r\n"
        b"Message-ID: <mh-1@mailharness.test>\r\n"
        b"Subject: Hello\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 7bit\r\n"
        b"\r\n"
        b"one\r\ntwo\r\n"
    )


def test_us_ascii_text_needs_no_mime_headers() -> None:
    # RFC 2045 §5.2: absent MIME headers mean text/plain; charset=us-ascii, 7bit.
    out = build({"body": "hi\r\n", "charset": "us-ascii"}, date="Tue, 02 Jan 2024 10:00:00 +0100",
                message_id="<x@y>")
    assert out == (
        b"X-Harness-Id: mh-1\r\nDate: Tue, 02 Jan 2024 10:00:00 +0100\r\nFrom: alice@example.test\r\n"
        b"To: bob@example.test\r\nMessage-ID: <x@y>\r\n\r\nhi\r\n"
    )


def test_empty_spec_and_no_recipients() -> None:
    out = build_message(MessageSpec(), marker="m", sender="a@b.test", recipients=[])
    assert out == (b"X-Harness-Id: m\r\nDate: " + DEFAULT_DATE.encode() +
                   b"\r\nFrom: a@b.test\r\nMessage-ID: <m@mailharness.test>\r\n\r\n")


def test_output_is_deterministic_and_all_lines_crlf() -> None:
    data = {"subject": "Grüße", "parts": [{"body": "ä" * 300}, {"content_type": "image/png", "body_bytes": r"\x89PNG"}]}
    out = build(data)
    assert out == build(data)
    assert b"\n" not in out.replace(b"\r\n", b"") and b"\r" not in out.replace(b"\r\n", b"")


def test_user_headers_override_defaults_in_place_and_append_others() -> None:
    out = build({"headers": [["X-Extra", "1"], ["from", "Someone <s@example.test>"], ["Date", "Wed, 03 Jan 2024 00:00:00 +0000"]],
                 "body": "x"})
    names = [line.split(b":")[0] for line in lines(out) if line and b":" in line][:9]
    assert names == [b"X-Harness-Id", b"Date", b"from", b"To", b"Message-ID", b"MIME-Version",
                     b"Content-Type", b"Content-Transfer-Encoding", b"X-Extra"]
    assert b"from: Someone <s@example.test>\r\n" in out
    assert b"Date: Wed, 03 Jan 2024 00:00:00 +0000\r\n" in out and DEFAULT_DATE.encode() not in out


def test_raw_header_values_are_verbatim_and_folds_are_kept() -> None:
    out = build({"headers": {"X-Raw": {"value": "a\nb", "raw": True}, "References": "<a@b>\n <c@d>"}})
    assert b"X-Raw: a\nb\r\n" in out
    assert b"References: <a@b>\r\n <c@d>\r\n" in out  # RFC 5322 §2.2.3 folding preserved (M17)
    spec = MessageSpec(headers=(("X-Raw", RawValue("ü")),))
    assert b"X-Raw: \xc3\xbc\r\n" in build_message(spec, marker="m", **ENVELOPE)


def test_generated_long_lines_are_intact() -> None:
    out = build({"lines": {"count": 3, "length": 998, "char": "y"}})
    body = out.split(b"\r\n\r\n", 1)[1]
    assert body == (b"y" * 998 + b"\r\n") * 3


def test_eight_bit_and_binary_bodies_are_verbatim() -> None:
    out = build({"body_bytes": r"a\nb\rc\x80\x00", "encoding": "binary", "content_type": "application/x-test"})
    assert out.endswith(b"\r\n\r\na\nb\rc\x80\x00\r\n")  # bare CR/LF kept; final CRLF added
    assert b"Content-Transfer-Encoding: binary\r\n" in out


def test_raw_message_gets_marker_only_when_missing() -> None:
    raw = build({"raw": r"From: a\r\n\r\nbody"})
    assert raw == b"X-Harness-Id: mh-1\r\nFrom: a\r\n\r\nbody"  # no CRLF added for raw
    marked = build({"raw": r"From: a\r\nx-harness-ID: other\r\n\r\nbody\r\n"})
    assert marked == b"From: a\r\nx-harness-ID: other\r\n\r\nbody\r\n"
    # A marker-like line in the *body* does not count.
    assert build({"raw": r"From: a\r\n\r\nX-Harness-Id: b\r\n"}).startswith(b"X-Harness-Id: mh-1\r\n")


def test_yaml_scenario_mapping() -> None:
    doc = yaml.safe_load(r"""
headers: {Subject: "héllo wörld", X-Custom: foo, X-Count: 5}
parts:
  - {body: "hi\n"}
  - {content_type: application/octet-stream, body_bytes: '\x80\xff', filename: "€.pdf"}
""")
    msg = parse(build(doc))
    assert str(msg["subject"]) == "héllo wörld" and msg["x-count"] == "5"
    text, blob = msg.iter_parts()
    assert text.get_content() == "hi\r\n"
    assert blob.get_payload(decode=True) == b"\x80\xff" and blob.get_filename() == "€.pdf"
    raw = yaml.safe_load(r"""raw: "From: a\\r\\n\\r\\nbody\\r\\n" """)
    assert spec_from_mapping(raw) == MessageSpec(raw=b"From: a\r\n\r\nbody\r\n")


# ------------------------------------------------------------------ MIME structure
def test_multipart_round_trips_through_the_email_parser() -> None:
    pdf = bytes(range(256)) * 5
    qp_text = "Grüße = ünïcode\ttab \nnext line with trailing space \n" + "long " * 40
    out = build({
        "subject": "tree",
        "parts": [
            {"body": qp_text, "encoding": "quoted-printable"},
            {"content_type": "application/pdf", "body_bytes": "".join(f"\\x{b:02x}" for b in pdf),
             "encoding": "base64", "filename": "€.pdf"},
        ],
    })
    msg = parse(out)
    assert msg.get_content_type() == "multipart/mixed"
    assert msg["Content-Transfer-Encoding"] == "7bit"
    text, attachment = msg.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content() == qp_text.replace("\n", "\r\n")  # `body` lines are sent as CRLF
    assert text.get_payload(decode=True) == qp_text.replace("\n", "\r\n").encode()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "€.pdf"  # RFC 2231 (M12)
    assert attachment.get_payload(decode=True) == pdf
    assert b"filename*0*=UTF-8''%E2%82%AC.pdf" in out
    assert all(not p.defects for p in msg.walk())
    assert all(len(line) <= 76 for line in lines(out))


def test_nested_multipart_boundaries_are_distinct_and_valid() -> None:
    out = build({"parts": [
        {"content_type": "multipart/alternative", "parts": [
            {"body": "plain"},
            {"content_type": "multipart/related", "parts": [{"content_type": "text/html", "body": "<b>x</b>"}]},
        ]},
        {"body": "second"},
    ]})
    msg = parse(out)
    boundaries = [p.get_boundary() for p in msg.walk() if p.is_multipart()]
    assert len(boundaries) == 3 and len(set(boundaries)) == 3
    assert all(b is not None and len(b) <= 70 for b in boundaries)  # RFC 2046 §5.1.1
    tree = [(p.get_content_type(), p.get_content() if not p.is_multipart() else None) for p in msg.walk()]
    assert tree == [("multipart/mixed", None), ("multipart/alternative", None), ("text/plain", "plain"),
                    ("multipart/related", None), ("text/html", "<b>x</b>"), ("text/plain", "second")]


def test_boundary_changes_when_content_contains_it() -> None:
    first = parse(build({"parts": [{"body": "x"}]})).get_boundary()
    assert first is not None
    out = build({"parts": [{"body": f"--{first}\n--{first}--"}]})
    msg = parse(out)
    assert msg.get_boundary() != first
    (only,) = msg.iter_parts()
    assert only.get_content() == f"--{first}\r\n--{first}--"


def test_eight_bit_child_makes_the_container_8bit() -> None:
    out = build({"parts": [{"body": "é", "encoding": "8bit"}, {"body": "ok"}]})
    assert out.count(b"Content-Transfer-Encoding: 8bit\r\n") == 2  # RFC 2045 §6.4


def test_default_encodings() -> None:
    spec = spec_from_mapping({"parts": [{"body": "ascii"}, {"body": "é"}, {"content_type": "application/zip", "body_bytes": "PK"}]})
    assert spec.root is not None
    assert [p.encoding for p in spec.root.parts] == ["7bit", "quoted-printable", "base64"]
    assert spec.root.parts[0].charset == "utf-8" and spec.root.parts[2].charset is None


@pytest.mark.parametrize("filename", ["report.pdf", "a" * 120, "ü" * 40 + ".txt", 'quote"and\\slash.txt', "名前.doc"])
def test_filenames_round_trip(filename: str) -> None:
    out = build({"parts": [{"content_type": "application/octet-stream", "body_bytes": "x", "filename": filename}]})
    (part,) = parse(out).iter_parts()
    assert part.get_filename() == filename
    assert all(len(line) <= 76 for line in lines(out))


# ------------------------------------------------------------------ RFC 2047 headers
@pytest.mark.parametrize("subject", [
    "héllo wörld",
    "plain words then ümlaut and more plain words",
    "日本語の件名" * 10,
    "emoji 🎉 party 🎉🎉 " * 5,
    "Ünïcödé " + "x" * 90,  # a long ASCII word after encoded text
    '"quotes" (parens) = ? _ underscore é',
])
def test_encoded_subject_decodes_back(subject: str) -> None:
    out = build({"subject": subject})
    assert str(parse(out)["subject"]) == subject
    header = out.split(b"\r\nSubject:", 1)[1].split(b"\r\n\r\n")[0]
    encoded_words = re.findall(rb"=\?UTF-8\?[BQ]\?[^?]*\?=", header)
    assert encoded_words and all(len(w) <= 75 for w in encoded_words)  # RFC 2047 §2
    for line in (b"Subject:" + header).split(b"\r\n"):
        if line.startswith(b"MIME"):
            break
        assert len(line) <= 76 or b"x" * 90 in line


def test_display_name_encoded_but_address_kept() -> None:
    out = build({"body": "x"}, sender="Jörg Müller <jorg@example.test>")
    assert b"From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <jorg@example.test>\r\n" in out
    assert str(parse(out)["from"]) == "Jörg Müller <jorg@example.test>"


@settings(max_examples=150)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S"]),
                        min_size=1, max_size=30), min_size=1, max_size=8))
def test_any_unicode_subject_decodes_back(words: list[str]) -> None:
    subject = " ".join(words)
    out = build({"subject": subject})
    assert str(parse(out)["subject"]) == subject
    header = out.split(b"\r\nSubject:", 1)[1].split(b"\r\nMIME-Version:")[0]
    for line in (b"Subject:" + header).split(b"\r\n"):  # only a lone over-long word may exceed 76
        assert len(line) <= 76 or len(line.split()) == 1, line


def test_long_recipient_lists_are_folded() -> None:
    rcpts = [f"user{i}@example.test" for i in range(8)]
    out = build({"body": "x"}, recipients=rcpts)
    assert b"To: user0@example.test,\r\n user1@example.test,\r\n" in out
    assert [a.addr_spec for a in parse(out)["to"].addresses] == rcpts


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(("data", "path"), [
    ({"parts": [{"body": "a"}, {"body": "b", "encoding": "uuencode"}]}, "parts[1].encoding"),
    ({"parts": [{"parts": [{"body": "a"}, {"body_bytes": r"\q"}]}]}, "parts[0].parts[1].body_bytes"),
    ({"body_bytes": r"\x80", "encoding": "7bit"}, "encoding"),
    ({"parts": [{"body": "a", "encodng": "7bit"}]}, "parts[0].encodng"),
    ({"parts": [{"body": "a"}], "encoding": "base64"}, "encoding"),
    ({"parts": []}, "parts"),
    ({"content_type": "multipart/mixed", "body": "x"}, "parts"),
    ({"content_type": "text", "body": "x"}, "content_type"),
    ({"content_type": "image/png", "charset": "utf-8", "body": "x"}, "charset"),
    ({"charset": "no-such-charset", "body": "x"}, "charset"),
    ({"charset": "ascii", "body": "é"}, "body"),
    ({"body": "a", "body_bytes": "b"}, "body_bytes"),
    ({"raw": "x", "subject": "y"}, "raw"),
    ({"subject": "a", "headers": {"subject": "b"}}, "subject"),
    ({"headers": {"Bad Name": "x"}}, "headers.Bad Name"),
    ({"headers": {"X-Fold": "a\nb"}}, "headers.X-Fold"),
    ({"headers": {"X-Ctl": "a\x00b"}}, "headers.X-Ctl"),
    ({"headers": {"X-Harness-Id": "mine"}}, "headers.X-Harness-Id"),
    ({"headers": [["only-name"]]}, "headers[0]"),
    ({"headers": {"X-List": ["a"]}}, "headers.X-List"),
    ({"lines": {"count": -1}}, "lines.count"),
    ({"lines": {"count": 1, "char": "ab"}}, "lines.char"),
    ({"parts": [{"content_type": "text/plain", "parts": [{"body": "x"}]}]}, "parts[0].content_type"),
])
def test_errors_carry_key_paths(data: dict[str, Any], path: str) -> None:
    with pytest.raises(MessageSpecError) as info:
        build(data)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")


def test_error_message_lists_choices_and_escape_column() -> None:
    with pytest.raises(MessageSpecError, match=r"^parts\[1\]\.encoding: must be one of 7bit, 8bit, "):
        spec_from_mapping({"parts": [{"body": "a"}, {"body": "b", "encoding": "x"}]})
    with pytest.raises(MessageSpecError, match=r"invalid escape '\\q' at column 3"):
        spec_from_mapping({"body_bytes": r"abc\q"})
    with pytest.raises(ValueError):  # MessageSpecError is a ValueError too
        spec_from_mapping({"nope": 1})


def test_builder_checks_hand_made_specs() -> None:
    spec = MessageSpec(root=Part(parts=(Part(body=b"\xff"),), content_type="multipart/mixed"))
    with pytest.raises(MessageSpecError, match=r"^parts\[0\]\.encoding: 7bit body has octet 0xff at offset 0"):
        build_message(spec, marker="m", **ENVELOPE)
    with pytest.raises(ValueError, match="marker"):
        build_message(MessageSpec(), marker="has space", **ENVELOPE)


# ------------------------------------------------------------------ dot-stuffing
@pytest.mark.parametrize(("plain", "stuffed"), [
    (b"", b""),
    (b".", b".."),
    (b".a\r\n.\r\nb.\r\n..c\r\n", b"..a\r\n..\r\nb.\r\n...c\r\n"),
    (b"a\n.b\r.c", b"a\n.b\r.c"),  # only CRLF starts a line (RFC 5321 §2.3.8)
])
def test_dot_stuff_table(plain: bytes, stuffed: bytes) -> None:
    assert dot_stuff(plain) == stuffed
    assert dot_unstuff(stuffed) == plain


@given(st.binary())
def test_dot_stuff_round_trip(data: bytes) -> None:
    assert dot_unstuff(dot_stuff(data)) == data


@given(st.lists(st.sampled_from([b".", b"..", b"\r\n", b"\r", b"\n", b"a", b" "]), max_size=30).map(b"".join))
def test_dot_stuffed_lines_never_start_with_a_lone_dot(data: bytes) -> None:
    stuffed = dot_stuff(data)
    original_lines = data.split(b"\r\n")
    stuffed_lines = stuffed.split(b"\r\n")
    assert len(original_lines) == len(stuffed_lines)
    for before, after in zip(original_lines, stuffed_lines):
        if after.startswith(b"."):  # every dot-led line was stuffed: it is '.' + the original
            assert after == b"." + before and after.startswith(b"..")
        else:
            assert after == before
    assert b"\r\n.\r\n" not in stuffed


# ------------------------------------------------------------------ QP / base64
@given(st.binary(max_size=600))
def test_qp_binary_mode_round_trips_exactly(data: bytes) -> None:
    encoded = qp_encode(data, text=False)
    assert quopri.decodestring(encoded) == data
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    assert encoded.isascii()


@given(st.lists(st.sampled_from([b"\r\n", b" ", b"\t", b"=", b".", b"a", b"\xc3\xa9", b"\r", b"\n", b"\x00", b"x" * 80]),
                max_size=60).map(b"".join))
def test_qp_text_mode_round_trips(data: bytes) -> None:
    encoded = qp_encode(data, text=True)
    # Hard line breaks come back as CRLF; bare CR/LF were encoded (=0D/=0A), so they survive too.
    assert quopri.decodestring(encoded) == data
    assert all(len(line) <= 76 and not line.endswith((b" ", b"\t")) for line in encoded.split(b"\r\n"))
    assert encoded.count(b"\r\n") >= data.count(b"\r\n")


def test_qp_fixed_examples() -> None:
    assert qp_encode(b"a=b \r\nc\t") == b"a=3Db=20\r\nc=09"
    assert qp_encode(b"x" * 80) == b"x" * 75 + b"=\r\n" + b"x" * 5
    assert qp_encode(b"x" * 74 + b"\xff") == b"x" * 74 + b"=\r\n=FF"  # an escape is never split


@settings(max_examples=50)
@given(st.binary(max_size=2000))
def test_base64_part_lines_and_payload(data: bytes) -> None:
    spec = MessageSpec(root=Part("multipart/mixed", parts=(Part("application/octet-stream", None, "base64", data),)))
    out = build_message(spec, marker="b64", **ENVELOPE)
    body = out.split(b"\r\n\r\n", 2)[2].split(b"\r\n--")[0]
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    assert base64.b64decode(body.replace(b"\r\n", b"")) == data
    (part,) = parse(out).iter_parts()
    assert part.get_payload(decode=True) == data


# ------------------------------------------------------------------ trace / digest
TRACE = st.lists(st.sampled_from([
    b"Received: x\r\n",
    b"Return-Path: <a@b>\r\n",
    b"Received: from a (b [127.0.0.1])\r\n\tby c; Mon, 1 Jan 2024 00:00:00 +0000\r\n",
    b"Delivered-To: bob@example.test\r\n",
    b"X-Original-To: bob@example.test\r\n",
]), max_size=4).map(b"".join)


@given(TRACE, st.text(max_size=50), st.sampled_from(["7bit", "quoted-printable", "base64"]))
def test_digest_ignores_prepended_trace_fields(trace: bytes, body: str, encoding: str) -> None:
    if encoding == "7bit":
        body = body.encode("ascii", "ignore").decode().replace("\x00", "")
    message = build({"subject": "d", "body": body, "encoding": encoding})
    assert body_digest(b"Received: x\r\n" + message) == body_digest(message)
    assert body_digest(trace + message) == body_digest(message)
    assert strip_trace(trace + message) == message
    assert find_marker(trace + message) == "mh-1"


def test_digest_detects_changes_and_missing_marker() -> None:
    message = build({"body": "x"})
    assert body_digest(message) != body_digest(message.replace(b"x\r\n", b"y\r\n"))
    assert strip_trace(b"From: a\r\n\r\nX-Harness-Id: no\r\n") == b"From: a\r\n\r\nX-Harness-Id: no\r\n"
    assert find_marker(b"From: a\r\n\r\nX-Harness-Id: no\r\n") is None


def test_find_marker_unfolds_and_ignores_case() -> None:
    assert find_marker(b"Received: a\r\nx-harness-id :\r\n  abc-1 \r\nFrom: a\r\n\r\n") == "abc-1"
    assert find_marker(b"X-Harness-Id: last") == "last"


# ------------------------------------------------------------------ preamble, epilogue, omit, message/*
def test_multipart_preamble_and_epilogue_frame_the_delimiters() -> None:
    out = build({"preamble": "This is MIME.\n.dot", "epilogue": "bye\n", "parts": [{"body": "a"}]})
    body = out.split(b"\r\n\r\n", 1)[1]
    boundary = re.search(rb'boundary="([^"]+)"', out).group(1)
    assert body == (b"This is MIME.\r\n.dot\r\n--" + boundary + b"\r\n"
                    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\na\r\n"
                    b"--" + boundary + b"--\r\nbye\r\n")
    msg = parse(out)
    assert msg.preamble.startswith("This is MIME.") and msg.epilogue.strip() == "bye"
    assert [p.get_content() for p in msg.iter_parts()] == ["a"]  # the CRLF before a delimiter is the delimiter's


def test_epilogue_without_final_newline_gets_one_and_nested_preambles_work() -> None:
    out = build({"epilogue": "end", "parts": [{"content_type": "multipart/alternative", "preamble": "inner",
                                                "parts": [{"body": "x"}]}]})
    assert out.endswith(b"--\r\nend\r\n")
    inner = next(parse(out).iter_parts())
    assert inner.preamble.strip() == "inner"


def test_8bit_preamble_raises_the_multipart_encoding() -> None:
    out = build({"preamble": "Gr\u00fc\u00dfe", "parts": [{"body": "a"}]})
    assert b"\r\nContent-Transfer-Encoding: 8bit\r\n" in out


@pytest.mark.parametrize("data, path", [
    ({"body": "x", "preamble": "p"}, "preamble"),
    ({"parts": [{"body": "x", "epilogue": "e"}]}, "parts[0].epilogue"),
    ({"omit": ["Subject"]}, "omit[0]"),
    ({"omit": "Date"}, "omit"),
    ({"content_type": "message/rfc822", "encoding": "base64", "body": "From: a\n\nb\n"}, "encoding"),
])
def test_new_keys_are_checked(data: dict[str, Any], path: str) -> None:
    with pytest.raises(MessageSpecError) as exc:
        spec_from_mapping(data)
    assert exc.value.path == path


def test_omit_leaves_out_default_fields() -> None:
    out = build({"omit": ["date", "Message-ID"], "subject": "s"})
    assert out == (b"X-Harness-Id: mh-1\r\nFrom: alice@example.test\r\nTo: bob@example.test\r\n"
                   b"Subject: s\r\n\r\n")
    again = build({"omit": ["Date"], "headers": {"Date": "Tue, 02 Jan 2024 00:00:00 +0000"}})
    assert b"\r\nDate: Tue, 02 Jan 2024 00:00:00 +0000\r\nFrom:" in again  # a user value still fills the slot


def test_message_rfc822_part_defaults_to_an_identity_encoding() -> None:
    out = build({"parts": [{"content_type": "message/rfc822", "body": "From: a@b\nSubject: in\n\nhi\n"}]})
    assert b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 7bit\r\n\r\nFrom: a@b\r\n" in out
    inner = next(parse(out).iter_parts()).get_content()
    assert inner["Subject"] == "in"
    eight = build({"parts": [{"content_type": "message/rfc822", "body": "Subject: x\n\nna\u00efve\n"}]})
    assert b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n" in eight
