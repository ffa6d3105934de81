"""The smuggling verdict on every reply pattern a server may produce, judged from the replies alone.

A scripted SMTP server (no POP3, so the checks must be judged, never skipped)
plays each pattern: safe servers that keep a bare-LF end as data, normalise it,
refuse the message at the real end, or refuse at the bare LF and close (Postfix
``smtpd_forbid_bare_newline = reject``), with and without PIPELINING; and
vulnerable ones that answer the fake end late, or refuse it and then run the
smuggled commands. ``smuggling_problems`` is also tested on hand-made replies.
"""

from __future__ import annotations

import re
import socketserver
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.protocol.smtp import SmtpReplyReader
from harness.results import Status
from harness.scenario.loader import load_paths
from harness.scenario.runner import Runner, RunOptions
from harness.scenario.steps_smuggle import CLOSED, SILENT, Exchange, end_label, smuggling_problems
from harness.session import Limits
from harness.config.target import target_from_mapping

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SMUGGLING = [c for f in load_paths([SCENARIOS / "security.yaml"]) for c in f.checks if "smuggling" in c.id]
LF_IDS = {"security.smuggling-lf-dot-lf", "security.smuggling-crlf-dot-lf", "security.smuggling-lf-dot-crlf"}

STRICT_END = re.compile(rb"\r\n\.\r\n")
LF_END = re.compile(rb"(?:\r\n|\n)\.(?:\r\n|\n)")     # the bare-LF bug: \n.\n, \r\n.\n, \n.\r\n
BARE_LF = re.compile(rb"(?<!\r)\n")


@dataclass(frozen=True)
class Pattern:
    pipelining: bool = True
    ends: re.Pattern[bytes] = STRICT_END   # what the server takes for the end of data
    at_end: bytes = b"250 2.0.0 queued"    # reply at that end (safe servers: to the real end)
    reject_bare_lf_close: bool = False     # Postfix "reject": 521 at the first bare LF, then close
    delay: float = 0.0                     # before the end-of-data reply


class _Handler(socketserver.BaseRequestHandler):
    pattern: Pattern

    def handle(self) -> None:
        sock, p = self.request, self.server.pattern  # type: ignore[attr-defined]
        sock.settimeout(10)
        buf = b""

        def send(line: bytes) -> None:
            sock.sendall(line + b"\r\n")

        send(b"220 scripted ESMTP")
        try:
            while True:
                while b"\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                line, buf = buf.split(b"\r\n", 1)
                verb = line[:4].upper()
                if verb == b"EHLO":
                    send(b"250-scripted" + (b"\r\n250-PIPELINING" if p.pipelining else b"") + b"\r\n250 8BITMIME")
                elif verb in (b"MAIL", b"RCPT"):
                    send(b"250 2.1.0 ok")
                elif verb == b"QUIT":
                    send(b"221 bye")
                    return
                elif verb == b"DATA":
                    send(b"354 go ahead")
                    buf = b"\r\n" + buf           # the DATA line's CRLF starts the first data line
                    while True:
                        if p.reject_bare_lf_close and BARE_LF.search(buf):
                            send(b"521 5.5.2 Error: bare <LF> received")
                            return
                        m = p.ends.search(buf)
                        if m:
                            buf = buf[m.end():]
                            time.sleep(p.delay)
                            send(p.at_end)
                            break
                        chunk = sock.recv(65536)
                        if not chunk:
                            return
                        buf += chunk
                else:
                    send(b"500 5.5.2 unrecognized")
        except OSError:
            return


def _run(pattern: Pattern, checks=SMUGGLING):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.pattern = pattern  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        target = target_from_mapping({
            "name": "scripted", "smtp": {"host": "127.0.0.1", "port": server.server_address[1]},
            "domain": "example.test",
            "users": [{"address": "alice@example.test", "login": "alice", "password": "pw"}],
        })
        limits = Limits(read_timeout=5.0, reply_deadline=5.0)
        return {r.id: r for r in Runner(target, RunOptions(jobs=8, limits=limits)).run(checks).checks}
    finally:
        server.shutdown()
        server.server_close()


SAFE = {
    "keeps bare LF as data, 250 at the real end": Pattern(),
    "same, without PIPELINING": Pattern(pipelining=False),
    "refuses the message at the real end": Pattern(at_end=b"550 5.5.2 bare LF in message"),
    "refuses at the first bare LF and closes (Postfix reject)": Pattern(reject_bare_lf_close=True),
    "same, without PIPELINING ": Pattern(pipelining=False, reject_bare_lf_close=True),
}


@pytest.mark.parametrize("name", sorted(SAFE))
def test_safe_patterns_pass_without_pop3(name: str):
    checks = SMUGGLING if SAFE[name].pipelining else [c for c in SMUGGLING if c.id in LF_IDS]
    results = _run(SAFE[name], checks)
    bad = {cid: (r.status.value, r.message[:200]) for cid, r in results.items() if r.status is not Status.PASSED}
    assert not bad, bad


VULNERABLE = {
    "answers the fake end after the wait": Pattern(ends=LF_END, delay=1.5),
    "refuses at the fake end, then runs the smuggled commands": Pattern(ends=LF_END, at_end=b"550 5.5.2 bare LF"),
    "honours the fake end, without PIPELINING": Pattern(pipelining=False, ends=LF_END),
}


@pytest.mark.parametrize("name", sorted(VULNERABLE))
def test_vulnerable_patterns_fail_without_pop3(name: str):
    results = _run(VULNERABLE[name], [c for c in SMUGGLING if c.id in LF_IDS])
    for cid in LF_IDS:
        r = results[cid]
        assert r.status is Status.FAILED, (cid, r.status.value, r.message)
        assert any("no POP3 endpoint" in f for f in r.failures), r.failures


# -- the rule itself, on hand-made replies --------------------------------------------------------

def _reply(text: str):
    reader = SmtpReplyReader()
    reader.receive_data(text.encode() + b"\r\n")
    return reader.next_event()


def _ex(first, early=(), late=()) -> Exchange:
    ex = Exchange("<LF>.<LF>", first=first)
    ex.early = [(name, _reply(t)) for name, t in early]
    ex.late = [_reply(t) for t in late]
    return ex


@pytest.mark.parametrize("ex, vulnerable", [
    (_ex(SILENT, late=["250 ok"]), False),                        # kept as data or normalised
    (_ex(SILENT, late=["550 bare LF"]), False),                   # refused at the real end
    (_ex(_reply("521 bare LF")), False),                          # refused at the fake end, then closed
    (_ex(CLOSED), False),
    (_ex(_reply("554 no"), late=["503 bad sequence", "503 bad sequence", "503 x", "500 x"]), False),
    (_ex(SILENT, early=[("MAIL", "550 late refusal")], late=["500 x"]), False),
    (_ex(_reply("250 queued")), True),                            # the fake end alone accepted
    (_ex(_reply("354 odd")), True),
    (_ex(SILENT, early=[("MAIL", "250 late")]), True),            # a positive reply while sending data
    (_ex(SILENT, late=["250 a", "250 b", "250 c", "354 d", "250 e"]), True),
    (_ex(SILENT, late=["250 late fake end", "500 pipelining not supported"]), True),
    (_ex(_reply("550 bare LF"), late=["250 mail", "250 rcpt", "354", "250 end"]), True),
    (_ex(_reply("550 bare LF"), early=[("MAIL", "250 ok")]), True),
])
def test_smuggling_rule(ex: Exchange, vulnerable: bool):
    assert bool(smuggling_problems(ex)) is vulnerable


def test_end_label():
    assert end_label(b"\r\n.\0\r\n") == "<CR><LF>.<NUL><CR><LF>"

