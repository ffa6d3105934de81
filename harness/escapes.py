"""Backslash escapes for exact wire bytes in scenario files.

Scenario authors must be able to send octets that YAML strings and the SMTP
grammar make awkward: bare CR or LF (RFC 5322 §2.3 forbids them, so a
conformance test has to send them on purpose), NUL, 8-bit octets that are not
UTF-8, and ESC. ``decode_escapes`` turns a scenario string into those bytes;
``encode_escapes`` is its inverse, for showing bytes in transcripts and reports.

Escapes (anything else after a backslash is an error, so typos are caught
at load time instead of being sent to a server)::

    \\r  0x0d    \\n  0x0a    \\t  0x09    \\0  0x00    \\e  0x1b
    \\\\  0x5c    \\xHH  the octet HH (exactly two hex digits, either case)

Every other character is encoded as UTF-8 (RFC 6532 headers, 8BITMIME bodies).
In YAML, write the backslash doubled inside double quotes (``"a\\\\r\\\\n"``) or
use single quotes / plain scalars (``'a\\r\\n'``), where YAML leaves it alone.
"""

from __future__ import annotations

import itertools

from harness.errors import ScenarioError

__all__ = ["EscapeError", "decode_escapes", "encode_escapes"]

# One table drives both directions, so they cannot drift apart.
_SIMPLE: dict[str, int] = {"r": 0x0D, "n": 0x0A, "t": 0x09, "0": 0x00, "e": 0x1B, "\\": 0x5C}
_HEX = frozenset("0123456789abcdefABCDEF")
# encode_escapes output for each octet: printable ASCII stays readable, and
# the few control characters people recognise get their short names.
_SHORT_NAMES = {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x5C: "\\\\"}
_ENCODE_TABLE: tuple[str, ...] = tuple(
    _SHORT_NAMES.get(b, chr(b) if 0x20 <= b <= 0x7E else f"\\x{b:02x}") for b in range(256)
)


class EscapeError(ScenarioError, ValueError):
    """An invalid escape sequence; ``column`` is the 0-based index of its backslash.

    A ``ScenarioError`` (the user's file is wrong: no traceback, exit 2) and a
    ``ValueError`` (for callers that do not know the harness hierarchy).
    """

    def __init__(self, message: str, *, column: int) -> None:
        super().__init__(message)
        self.column = column


def decode_escapes(text: str) -> bytes:
    """Return the wire bytes for ``text``, interpreting the escapes above.

    Raises ``EscapeError`` for ``\\q``, ``\\x4`` (one hex digit), ``\\xZZ`` and
    a trailing lone backslash, naming the column of the backslash.
    """
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        j = text.find("\\", i)
        if j < 0:
            out += _utf8(text, i, n)
            break
        out += _utf8(text, i, j)
        if j + 1 >= n:
            raise EscapeError(f"invalid escape '\\' at column {j} (trailing backslash)", column=j)
        c = text[j + 1]
        if c in _SIMPLE:
            out.append(_SIMPLE[c])
            i = j + 2
        elif c == "x":
            digits = text[j + 2 : j + 4]
            if len(digits) != 2 or not _HEX.issuperset(digits):
                shown = "\\x" + "".join(itertools.takewhile(lambda ch: not ch.isspace(), digits))
                raise EscapeError(
                    f"invalid escape '{shown}' at column {j} (\\x needs exactly two hex digits)",
                    column=j,
                )
            out.append(int(digits, 16))
            i = j + 4
        else:
            raise EscapeError(f"invalid escape '\\{c}' at column {j}", column=j)
    return bytes(out)


def _utf8(text: str, start: int, end: int) -> bytes:
    # Strict: a lone surrogate (possible from a YAML "\\uD800") has no UTF-8 form.
    try:
        return text[start:end].encode("utf-8")
    except UnicodeEncodeError as exc:
        col = start + exc.start
        raise EscapeError(
            f"character U+{ord(text[col]):04X} at column {col} cannot be encoded as UTF-8", column=col
        ) from None


def encode_escapes(data: bytes) -> str:
    """Render ``data`` as an escaped string; ``decode_escapes`` reverses it exactly.

    Printable ASCII (0x20-0x7e) is kept except the backslash; CR, LF and TAB
    become ``\\r \\n \\t``; every other octet (NUL, ESC, 8-bit) becomes
    ``\\xHH``, so non-UTF-8 bodies and smuggling payloads stay unambiguous.
    """
    return "".join(_ENCODE_TABLE[b] for b in data)
