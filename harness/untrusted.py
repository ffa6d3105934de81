"""Text from a server or a hand-edited file, made safe to show: ``clean``.

Banners, replies, notes and results.json fields are untrusted. ``clean`` makes such text legal XML
1.0 and inert in a terminal: no control, bidi or escape character survives; each is shown as a
``\\x1b``-style escape instead. The report model, JUnit, the HTML report (before Jinja's
autoescaping), the terminal summary and pytest's failure text all use it, so it sits below all of
them (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import re

__all__ = ["clean"]

# XML 1.0 "Char" excludes C0 controls other than TAB/LF/CR, surrogates and
# U+FFFE/U+FFFF; DEL and C1 (which includes the 8-bit CSI, 0x9B) drive
# terminals; U+202A-202E and U+2066-2069 reorder text ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
                     "\ud800-\udfff\ufffe\uffff]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object) -> str:
    """Return ``value`` as text that is legal XML 1.0 and inert in a terminal."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return _UNSAFE.sub(_escape_char, text)
