"""The pure parts of the reference server, without sockets."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.refserver.accounts import DEFAULT_USERS, UserDirectory
from harness.refserver.address import AddressError, parse_params, parse_path
from harness.refserver.auth import SaslCancelled, SaslMalformed, authenticate
from harness.refserver.defects import DefectSet
from harness.refserver.maildir import MaildirStore
from harness.refserver.pop3_maildrop import dot_stuff, top_of
from harness.refserver.smtp_data import receive_data

USERS = UserDirectory(DEFAULT_USERS)


@pytest.mark.parametrize("text, kind", [
    ("garbage", "syntax"), ("<a@bad_host.test>", "syntax"), ("<a@b.test>x", "syntax"),
    ("<a@-b.test>", "syntax"), ("<a..b@b.test>", "syntax"), ("<jörg@b.test>", "non-ascii"),
    ("<" + "a" * 65 + "@b.test>", "too-long"), ("<a@" + "b" * 250 + ".test>", "too-long"),
])
def test_bad_paths(text: str, kind: str) -> None:
    with pytest.raises(AddressError) as info:
        parse_path(text, utf8=False, allow_null=True, allow_bare_postmaster=False)
    assert info.value.kind == kind


@pytest.mark.parametrize("text, mailbox, rest", [
    ("<>", None, ""), ("<a@b.test> SIZE=1", "a@b.test", " SIZE=1"),
    ('<"x y"@b.test>', '"x y"@b.test', ""), ("<@r.test,@s.test:u@b.test>", "u@b.test", ""),
    ("<u@[127.0.0.1]>", "u@[127.0.0.1]", ""), ("<u@[IPv6:::1]>", "u@[IPv6:::1]", ""),
    ("<" + "a" * 64 + "@b.test>", "a" * 64 + "@b.test", ""),
])
def test_good_paths(text: str, mailbox: str | None, rest: str) -> None:
    got, tail = parse_path(text, utf8=False, allow_null=True, allow_bare_postmaster=False)
    assert (None if got is None else str(got), tail) == (mailbox, rest)


def test_params_and_postmaster() -> None:
    assert parse_params(" SIZE=10 body=8BITMIME SMTPUTF8") == {"SIZE": "10", "BODY": "8BITMIME", "SMTPUTF8": None}
    assert parse_params(" SIZE=") is None and parse_params(" A=1 a=2") is None and parse_params(" -X") is None
    box, _ = parse_path("<PostMaster>", utf8=False, allow_null=False, allow_bare_postmaster=True)
    assert box is not None and box.domain is None
    with pytest.raises(AddressError):
        parse_path("<postmaster>", utf8=False, allow_null=True, allow_bare_postmaster=False)


def _feed(wire: bytes, **options: object):
    segments = re.findall(rb"[^\n]*\n", wire)

    async def read_segment() -> tuple[bytes, bool]:
        if not segments:
            raise asyncio.IncompleteReadError(b"", None)
        return segments.pop(0), False

    outcome = asyncio.run(receive_data(read_segment, size_limit=10_000, **options))  # type: ignore[arg-type]
    return outcome, b"".join(segments)


def test_receive_data_unstuffs_and_leaves_pipelined_input() -> None:
    outcome, rest = _feed(b"..a\r\n\r\nb.\r\n...\r\n.\r\nQUIT\r\n")
    assert outcome.content == b".a\r\n\r\nb.\r\n..\r\n" and not outcome.bare_eol
    assert rest == b"QUIT\r\n"


@pytest.mark.parametrize("fake", [b"\n.\n", b"\r\n.\n", b"\n.\r\n"])
def test_receive_data_bare_lf_end(fake: bytes) -> None:
    wire = b"x" + fake + b"MAIL\r\n.\r\n"
    clean, rest = _feed(wire)
    assert clean.bare_eol and rest == b""
    buggy, rest = _feed(wire, bare_lf_end=True)
    assert not buggy.bare_eol and rest == b"MAIL\r\n.\r\n"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=20))
def test_receive_data_round_trips_any_crlf_text(lines: list[bytes]) -> None:
    original = b"".join(line + b"\r\n" for line in lines)
    wire = re.sub(rb"(?m)^\.", b"..", original) + b".\r\n"
    outcome, rest = _feed(wire)
    assert outcome.content == original and rest == b"" and not outcome.bare_eol


def test_top_and_stuffing() -> None:
    message = b"H: 1\r\n\r\n.a\r\nb\r\nc\r\n"
    assert top_of(message, 0) == b"H: 1\r\n\r\n"
    assert top_of(message, 2) == b"H: 1\r\n\r\n.a\r\nb\r\n"
    assert top_of(message, 99) == message
    assert dot_stuff(message) == b"H: 1\r\n\r\n..a\r\nb\r\nc\r\n"
    assert dot_stuff(b".x") == b"..x\r\n"


def test_maildir_store(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path, "mail.example.test")
    keys = [store.deliver("alice", f"m{i}\r\n".encode()) for i in range(5)]
    listed = store.list("alice")
    assert [m.key for m in listed] == keys == sorted(keys) and len(set(keys)) == 5
    assert all(re.fullmatch(r"[\x21-\x7e]{1,70}", k) for k in keys)
    assert not list((tmp_path / "alice" / "tmp").iterdir())
    assert store.read(listed[0]) == b"m0\r\n" and store.delete(listed[0]) and not store.delete(listed[0])
    owner, other = object(), object()
    assert store.lock("alice", owner) and store.lock("alice", owner) and not store.lock("alice", other)
    store.unlock("alice", other)
    assert not store.lock("alice", other)
    store.unlock("alice", owner)
    assert store.lock("alice", other)


def _sasl(mechanism: str, initial: str | None, *responses: bytes | str):
    queue = [r if isinstance(r, str) else base64.b64encode(r).decode() for r in responses]

    async def challenge(_: bytes) -> str:
        return queue.pop(0)

    return asyncio.run(authenticate(mechanism, initial, challenge, USERS, "mail.example.test"))


def test_sasl_plain_and_login() -> None:
    good = base64.b64encode(b"\0alice\0alicepw").decode()
    assert _sasl("PLAIN", good).login == "alice"
    assert _sasl("PLAIN", None, b"alice\0alice\0alicepw").login == "alice"
    assert _sasl("PLAIN", None, b"bob\0alice\0alicepw") is None  # no acting as another user
    assert _sasl("PLAIN", "=") is None
    assert _sasl("LOGIN", None, b"bob", b"bobpw").login == "bob"
    assert _sasl("LOGIN", base64.b64encode(b"bob").decode(), b"nope") is None
    with pytest.raises(SaslCancelled):
        _sasl("LOGIN", None, "*")
    with pytest.raises(SaslMalformed):
        _sasl("PLAIN", "not base64!")
    with pytest.raises(SaslMalformed):
        _sasl("CRAM-MD5", "initial-not-allowed")


def test_defect_set_rejects_typos() -> None:
    on = DefectSet(["pop3-no-lock"])
    assert "pop3-no-lock" in on and "smtp-no-trace" not in on
    with pytest.raises(KeyError):
        "pop3-no-lok" in on  # noqa: B015
    with pytest.raises(ValueError, match="valid names"):
        DefectSet(["nope"])


def test_a_quoted_local_part_names_the_same_mailbox():
    # RFC 5321 §4.1.2: all quoted forms of a local-part are equivalent.
    from harness.refserver.address import Mailbox
    assert Mailbox('"alice"', "example.test").mailbox_name == "alice"
    assert Mailbox('"al\\ice"', "example.test").mailbox_name == "alice"
    assert Mailbox('"first last"', "example.test").mailbox_name == "first last"
    assert Mailbox("alice", "example.test").mailbox_name == "alice"
