"""Replies as values (docs/architecture.md): parsed once, raw bytes kept."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from harness.protocol.common import Violation

__all__ = ["ReplyClass", "EnhancedStatus", "SmtpReply", "Pop3Response", "Capabilities"]


class ReplyClass(enum.IntEnum):
    """First digit of an SMTP reply code (RFC 5321 §4.2.1)."""

    POSITIVE_COMPLETION = 2
    POSITIVE_INTERMEDIATE = 3
    TRANSIENT_NEGATIVE = 4
    PERMANENT_NEGATIVE = 5
    INVALID = 0

    @classmethod
    def of(cls, code: int) -> "ReplyClass":
        digit = code // 100
        return cls(digit) if digit in (2, 3, 4, 5) else cls.INVALID


_ENHANCED = re.compile(rb"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")


@dataclass(frozen=True, slots=True)
class EnhancedStatus:
    """RFC 3463 status code ``class.subject.detail``."""

    klass: int
    subject: int
    detail: int

    @classmethod
    def parse(cls, text: bytes) -> "EnhancedStatus | None":
        m = _ENHANCED.match(text)
        if not m:
            return None
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)))

    def __str__(self) -> str:
        return f"{self.klass}.{self.subject}.{self.detail}"


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class SmtpReply:
    code: int
    lines: tuple[bytes, ...]                 # text after "250-"/"250 ", one per line
    raw: bytes                               # exact wire bytes, terminators included
    enhanced: EnhancedStatus | None = None
    violations: tuple[Violation, ...] = ()

    @property
    def kind(self) -> ReplyClass:
        return ReplyClass.of(self.code)

    @property
    def is_multiline(self) -> bool:
        return len(self.lines) > 1

    @property
    def text(self) -> str:
        return "\n".join(_text(line) for line in self.lines)

    def __str__(self) -> str:
        return f"{self.code} {self.text}".rstrip()


@dataclass(frozen=True, slots=True)
class Pop3Response:
    """A POP3 status line, plus the multi-line body when one was expected.

    ``ok`` is None for a SASL continuation (``+ base64``, RFC 5034 §4).
    ``body`` holds the unstuffed lines, each with the terminator it had on the
    wire, so ``body_bytes`` reproduces the message exactly.
    """

    ok: bool | None
    text: bytes
    raw: bytes
    body: tuple[bytes, ...] | None = None
    stuffed_lines: int = 0
    violations: tuple[Violation, ...] = ()

    @property
    def is_continuation(self) -> bool:
        return self.ok is None

    @property
    def resp_code(self) -> str | None:
        """The RFC 2449 §8 extended response code, e.g. ``IN-USE`` from ``-ERR [IN-USE] ...``."""
        m = re.match(rb"\[([^\]\s]+)\]", self.text)
        return m.group(1).decode("ascii", "replace").upper() if m else None

    @property
    def body_bytes(self) -> bytes:
        return b"".join(self.body or ())

    @property
    def status(self) -> str:
        return "+" if self.ok is None else ("+OK" if self.ok else "-ERR")

    def __str__(self) -> str:
        return f"{self.status} {_text(self.text)}".rstrip()


@dataclass(frozen=True, slots=True)
class Capabilities(Mapping[str, tuple[str, ...]]):
    """EHLO keywords or CAPA tags, upper-cased, each with its parameters."""

    keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    greeting: str = ""          # EHLO first line (domain and greeting text)

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return self.keywords[key.upper()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.upper() in self.keywords

    def __iter__(self) -> Iterator[str]:
        return iter(self.keywords)

    def __len__(self) -> int:
        return len(self.keywords)

    def has(self, spec: str) -> bool:
        """``"AUTH"`` or ``"AUTH=CRAM-MD5"`` / ``"SASL=PLAIN"``: keyword, optionally with one parameter."""
        keyword, _, param = spec.partition("=")
        if keyword.upper() not in self.keywords:
            return False
        if not param:
            return True
        return param.upper() in (p.upper() for p in self.keywords[keyword.upper()])

    @classmethod
    def from_lines(cls, lines: tuple[bytes, ...] | list[bytes], greeting: str = "") -> "Capabilities":
        items: dict[str, tuple[str, ...]] = {}
        for line in lines:
            words = _text(line).split()
            if not words:
                continue
            keyword, params = words[0].upper(), tuple(words[1:])
            # Old clients' "AUTH=LOGIN PLAIN" form (pre RFC 4954) is folded into AUTH.
            if keyword.startswith("AUTH="):
                keyword, params = "AUTH", tuple(keyword[5:].split()) + params
            items[keyword] = items.get(keyword, ()) + params if keyword in items else params
        return cls(items, greeting)
