"""Judging one reply against one ``expect``: pure, returns every mismatch (not only the first).

Codes decide, not text (RFC 5321 §4.2): ``text`` regexes are for checks that
really are about the text, such as enhanced codes in greetings.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable

from harness.protocol.pop3 import parse_capa
from harness.protocol.protocols import Protocol
from harness.protocol.replies import Capabilities, Pop3Response, SmtpReply
from harness.protocol.smtp import parse_ehlo
from harness.scenario.context import CheckFailed
from harness.scenario.model import Expect

__all__ = ["judge", "describe_expect", "server_violations", "shown"]


_VISIBLE = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", "\t": "\\t", '"': '\\"'}


def _octet(ch: str) -> str:
    code = ord(ch)
    if 0xdc80 <= code <= 0xdcff:                 # an undecodable octet (surrogateescape)
        return f"\\x{code - 0xdc00:02x}"
    return f"\\x{code:02x}" if code < 0x20 or 0x7f <= code < 0xa0 else ch


def shown(value: str | bytes, limit: int = 200) -> str:
    """A value as the user should see it: in double quotes, line ends and control octets as ``\\r``,
    ``\\n``, ``\\xHH`` (the transcript's escapes), bounded; never a Python ``b'...'`` repr."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "surrogateescape")
    more = f"... ({len(value)} characters)" if len(value) > limit else ""
    text = "".join(_VISIBLE.get(ch) or _octet(ch) for ch in value[:limit])
    return f'"{text}{more}"'


def _fmt_codes(codes: frozenset[int]) -> str:
    return " or ".join(map(str, sorted(codes)))


def describe_expect(e: Expect) -> str:
    parts = []
    if e.code:
        parts.append(f"code {_fmt_codes(e.code)}")
    if e.klass:
        parts.append(f"class {'/'.join(f'{k}xx' for k in sorted(e.klass))}")
    if e.not_code:
        parts.append(f"not {_fmt_codes(e.not_code)}")
    if e.ok is not None:
        parts.append("+OK" if e.ok else "-ERR")
    if e.closed:
        parts.append("connection closed")
    return ", ".join(parts) or "a reply"


def server_violations(reply: SmtpReply | Pop3Response, level: str = "MUST") -> list[str]:
    return [str(v) for v in reply.violations if not v.local and v.level == level]


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)


def judge(e: Expect, reply: SmtpReply | Pop3Response, captured: dict[str, Any],
          render: Callable[[str], str] = lambda s: s) -> list[str]:
    """Every way ``reply`` misses ``e``; ``render`` expands templates in regexes; captures go to ``captured``."""
    def regex(pattern: str) -> re.Pattern[str]:
        try:
            return _compiled(render(pattern))
        except re.error as exc:
            raise CheckFailed([f"invalid regular expression after templating: {exc}"]) from None

    if isinstance(reply, SmtpReply):
        problems = _judge_smtp(e, reply, regex, render)
    else:
        problems = _judge_pop3(e, reply, regex, render)
    if e.violations in ("fail", "strict"):
        problems += [f"protocol violation: {v}" for v in server_violations(reply)]
    if e.violations == "strict":
        problems += [f"protocol violation: {v}" for v in server_violations(reply, "SHOULD")]
    for name, pattern in e.capture:
        # SMTP captures see "code text" so a check can branch on the code it got.
        m = pattern.search(str(reply) if isinstance(reply, SmtpReply) else reply.text.decode("utf-8", "replace"))
        if m:
            captured[name] = m.group(1) if m.groups() else m.group(0)
        else:
            problems.append(f"capture {name!r}: /{pattern.pattern}/ did not match "
                            f"{shown(str(reply) if isinstance(reply, SmtpReply) else reply.text.decode('utf-8', 'replace'))}")
    return problems


def _caps(e: Expect, caps: Capabilities) -> list[str]:
    problems = [f"capability {c!r} not advertised" for c in e.capabilities if not caps.has(c)]
    problems += [f"capability {c!r} advertised but must not be" for c in e.no_capabilities if caps.has(c)]
    return problems


def _judge_smtp(e: Expect, r: SmtpReply, regex: Callable[[str], re.Pattern[str]],
                render: Callable[[str], str]) -> list[str]:
    p: list[str] = []
    if e.code and r.code not in e.code:
        p.append(f"expected code {_fmt_codes(e.code)}, got {r.code}")
    if e.not_code and r.code in e.not_code:
        p.append(f"code {r.code} is not allowed here")
    if e.klass and r.code // 100 not in e.klass:
        p.append(f"expected a {'/'.join(f'{k}xx' for k in sorted(e.klass))} reply, got {r.code}")
    if e.enhanced and str(r.enhanced) != e.enhanced:
        p.append(f"expected enhanced status {e.enhanced}, got {r.enhanced or 'none'}")
    if e.enhanced_class and (r.enhanced is None or r.enhanced.klass != e.enhanced_class):
        p.append(f"expected an enhanced status of class {e.enhanced_class}, got {r.enhanced or 'none'}")
    if e.text is not None and not regex(e.text).search(r.text):
        p.append(f"reply text does not match /{render(e.text)}/: the text was {shown(r.text)}")
    if e.multiline is not None and r.is_multiline != e.multiline:
        p.append(f"expected a {'multi' if e.multiline else 'single'}-line reply, got {len(r.lines)} line(s)")
    if e.capabilities or e.no_capabilities:
        p += _caps(e, parse_ehlo(r))
    for attr in e.only_for(Protocol.POP3):
        p.append(f"'{attr}' applies to POP3 responses, not SMTP replies")
    return p


def _judge_pop3(e: Expect, r: Pop3Response, regex: Callable[[str], re.Pattern[str]],
                render: Callable[[str], str]) -> list[str]:
    p: list[str] = []
    if e.ok is not None and r.ok is not e.ok:
        p.append(f"expected {'+OK' if e.ok else '-ERR'}, got {r.status}")
    if e.continuation is not None and r.is_continuation != e.continuation:
        p.append(f"expected {'a' if e.continuation else 'no'} continuation ('+ '), got {r.status}")
    if e.resp_code and r.resp_code != e.resp_code.upper():
        p.append(f"expected response code [{e.resp_code}], got {('[' + r.resp_code + ']') if r.resp_code else 'none'}")
    if e.text is not None and not regex(e.text).search(r.text.decode("utf-8", "replace")):
        p.append(f"status text does not match /{render(e.text)}/: the text was "
                 f"{shown(r.text.decode('utf-8', 'replace'))}")
    body = r.body or ()
    if e.multiline is not None and (r.body is not None) != e.multiline:
        p.append(f"expected {'a' if e.multiline else 'no'} multi-line body")
    if e.body is not None and not regex(e.body).search(r.body_bytes.decode("utf-8", "replace")):
        p.append(f"body does not match /{render(e.body)}/: the body was "
                 f"{shown(r.body_bytes.decode('utf-8', 'replace'))}")
    if e.body_lines is not None and len(body) != e.body_lines:
        p.append(f"expected {e.body_lines} body line(s), got {len(body)}")
    if e.min_body_lines is not None and len(body) < e.min_body_lines:
        p.append(f"expected at least {e.min_body_lines} body line(s), got {len(body)}")
    if e.stuffed is not None and (r.stuffed_lines > 0) != e.stuffed:
        p.append("expected byte-stuffed lines" if e.stuffed else "unexpected byte-stuffed lines")
    if e.capabilities or e.no_capabilities:
        p += _caps(e, parse_capa(r))
    for attr in e.only_for(Protocol.SMTP):
        p.append(f"'{attr}' applies to SMTP replies, not POP3 responses")
    return p
