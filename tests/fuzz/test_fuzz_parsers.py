"""Property tests of everything that reads untrusted bytes or text.

Only the harness's typed errors may escape: ``RemoteProtocolError`` / ``Oversize``
from the reply readers, ``ScenarioError`` from the scenario loader. Anything
else (IndexError, UnicodeDecodeError, RecursionError, ...) is a bug, and
hypothesis shrinks it to a replayable example.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hypothesis import HealthCheck, example, given, settings, strategies as st

from harness.errors import Oversize, RemoteProtocolError, ScenarioError
from harness.message import dot_stuff, dot_unstuff
from harness.protocol.common import CLOSED, NEED_DATA
from harness.protocol.pop3 import Pop3ResponseReader, parse_capa
from harness.protocol.replies import Pop3Response, SmtpReply
from harness.protocol.smtp import SmtpReplyReader, parse_ehlo
from harness.scenario.loader import load_file

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Wire-ish bytes: mostly protocol pieces, sometimes noise, so the interesting paths are reached.
PIECES = st.sampled_from([b"250", b"220", b"421", b"999", b"2x0", b"-", b" ", b"\r\n", b"\n", b"\r", b".", b"..",
                          b"+OK", b"-ERR", b"+ok", b"+", b"OK", b"text", b"\xff\xfe", b"\x00", b"\x1b[2J",
                          b"250-PIPELINING\r\n", b"250 SIZE 1000\r\n", b".\r\n", b"..x\r\n", b"5.1.1 "])
WIRE = st.one_of(st.binary(max_size=300), st.lists(PIECES, max_size=60).map(b"".join))


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in points + [len(data)]:
        out.append(data[prev:p])
        prev = p
    return [c for c in out if c]


def drain(reader, chunks: list[bytes], eof: bool, before_each=None) -> list:
    events = []
    for chunk in chunks + ([b""] if eof else []):
        reader.receive_data(chunk)
        while True:
            if before_each:
                before_each(reader, len(events))
            ev = reader.next_event()
            if ev is NEED_DATA or ev is CLOSED:
                break
            events.append(ev)
        if events and events[-1] is CLOSED:
            break
    return events


def run_reader(make, data: bytes, cuts: list[int], eof: bool, before_each=None):
    try:
        return drain(make(), chunked(data, cuts), eof, before_each)
    except (RemoteProtocolError, Oversize) as exc:
        return type(exc)


@SETTINGS
@given(WIRE, st.lists(st.integers(0, 400), max_size=8), st.booleans())
@example(b"250-a\r\n251 b\r\n", [3], True)
@example(b"250-" + b"x" * 70000, [], False)
def test_smtp_reader_only_typed_errors_and_split_invariant(data: bytes, cuts: list[int], eof: bool) -> None:
    make = lambda: SmtpReplyReader(max_line=4096, max_lines=50)  # noqa: E731
    whole = run_reader(make, data, [], eof)
    split = run_reader(make, data, cuts, eof)
    # TCP segmentation must not change what is parsed (nor whether it fails)
    if isinstance(whole, list) and isinstance(split, list):
        assert [r.raw for r in whole] == [r.raw for r in split]
        for r in whole:
            assert isinstance(r, SmtpReply) and 0 <= r.code <= 999
            assert isinstance(str(r), str)
            parse_ehlo(r)            # must not raise on anything the reader accepted
            assert b"".join(r.lines) is not None
    else:
        # an error may show earlier or later with other cuts, but the kind of outcome is stable
        assert not isinstance(whole, list) or not isinstance(split, list) or whole == split


@SETTINGS
@given(WIRE, st.lists(st.integers(0, 400), max_size=8), st.booleans(), st.lists(st.booleans(), min_size=1, max_size=8))
@example(b"+OK\r\n..a\r\n.b\r\n.\r\n", [5], True, [True])
def test_pop3_reader_only_typed_errors_and_split_invariant(data: bytes, cuts: list[int], eof: bool,
                                                           multiline: list[bool]) -> None:
    def hint(reader: Pop3ResponseReader, n: int) -> None:
        reader.expect(multiline[n % len(multiline)])

    make = lambda: Pop3ResponseReader(max_line=4096, max_body=8192)  # noqa: E731
    whole = run_reader(make, data, [], eof, hint)
    split = run_reader(make, data, cuts, eof, hint)
    if isinstance(whole, list) and isinstance(split, list):
        assert [r.raw for r in whole] == [r.raw for r in split]
        for r in whole:
            assert isinstance(r, Pop3Response)
            assert isinstance(r.status, str) and (r.resp_code is None or isinstance(r.resp_code, str))
            if r.body is not None:
                parse_capa(r)
                # the body, re-stuffed, is what came on the wire between status and terminator
                assert r.raw.endswith(b"\n")


@SETTINGS
@given(st.lists(st.sampled_from([b"", b".", b"..", b"...x", b"a.b", b"text", b" .", b".\r", b"\xff"]), max_size=20))
def test_dot_stuffing_roundtrip(lines: list[bytes]) -> None:
    message = b"".join(line + b"\r\n" for line in lines)
    stuffed = dot_stuff(message)
    assert dot_unstuff(stuffed) == message
    # after stuffing, no line is a lone "." (which would end DATA early)
    assert b"\r\n.\r\n" not in b"\r\n" + stuffed
    # every line that starts with a dot starts with two
    for line in (b"\r\n" + stuffed).split(b"\r\n")[1:]:
        assert not line.startswith(b".") or line.startswith(b"..")


@SETTINGS
@given(st.binary(max_size=200))
def test_dot_unstuff_of_stuff_is_identity_on_any_bytes(data: bytes) -> None:
    assert dot_unstuff(dot_stuff(data)) == data


@SETTINGS
@given(st.lists(st.sampled_from([b"", b".", b"x", b".y"]), max_size=12))
def test_pop3_reader_unstuffs_what_dot_stuff_made(lines: list[bytes]) -> None:
    message = b"".join(line + b"\r\n" for line in lines)
    reader = Pop3ResponseReader()
    reader.expect(True)
    reader.receive_data(b"+OK\r\n" + dot_stuff(message) + b".\r\n")
    response = reader.next_event()
    assert isinstance(response, Pop3Response) and response.body_bytes == message
    assert not [v for v in response.violations if v.rule == "unstuffed-dot"]


# -- the scenario loader --------------------------------------------------------------------

YAML_TOKENS = st.sampled_from([
    "suite: s\n", "protocol: smtp\n", "protocol: pop3\n", "checks:\n", "  - id: a.b\n", "    title: t\n",
    "    level: MUST\n", "    level: NOPE\n", "    rfc: [\"5321#4.1\"]\n", "    steps:\n", "      - greeting:\n",
    "      - send: NOOP\n", "        expect: {code: 250}\n", "        expect: {code: x}\n", "      - sleep: 1s\n",
    "      - slow_send: {data: 'a\\r\\n'}\n", "      - drop: rst\n", "      - repeat: 3\n", "&a [*a]\n",
    "x: &x [a, *x]\n", "!!python/object:os.system x\n", "{", "}", "[", "]", ":", "- ", "  ", "\t", "'", '"',
    "{{ users[0] }}", "{% for %}", "\\xZZ", "\x00", "\ufeff", "key: key: key\n", "suite: s\nsuite: t\n",
    "? [a]\n: b\n", "%YAML 9.9\n", "--- \n", "...\n", "*undefined\n", "checks: 5\n",
])
YAMLISH = st.one_of(st.lists(YAML_TOKENS, max_size=30).map("".join), st.text(max_size=200))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(YAMLISH)
@example("a: &a [*a, *a]\nb: [*a, *a, *a, *a]\n")
@example("suite: s\nprotocol: smtp\nchecks:\n  - id: a.b\n    title: t\n    level: MUST\n    rfc: [\"1\"]\n"
         "    steps:\n      - slow_send: {data: '\\xZZ'}\n")
def test_loader_raises_only_scenario_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        load_file(path)
    except ScenarioError as exc:
        assert str(exc)          # rendering the error must not fail either


# Found by the test above: a merge key that aliases its own mapping sent
# harness/config/yamlload.py:_last_line into unbounded recursion.
def test_loader_self_referential_merge_key(tmp_path: Path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("x: &x {<<: *x}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert str(path) in str(info.value)
