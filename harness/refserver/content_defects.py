"""Message-content defects applied at final delivery (the knobs listed in defects_mime.py).

Each function takes the message content as received (CRLF lines, dots
already unstuffed, no trace fields yet) and returns the content one
realistic buggy MTA, gateway or content filter would store. They are pure and
deliberately narrow: a knob changes only what its description names, so a
check that fails with it on really tests that one rule.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable

from .defects import DefectSet

__all__ = ["TRANSFORMS", "apply_content_defects"]

CRLF = b"\r\n"
_FIELD = re.compile(rb"[!-9;-~]+[ \t]*:")  # a header field's name and colon
_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]+)"|([^\s;"]+))', re.IGNORECASE)
_B64_LINE = 76


def _split_head(content: bytes) -> tuple[bytes, bytes]:
    """(header section including its final CRLF, the rest from the blank line on)."""
    end = content.find(b"\r\n\r\n")
    if content.startswith(CRLF):
        return b"", content
    if end < 0:
        return content, b""
    return content[: end + 2], content[end + 2 :]


def _fields(head: bytes) -> list[bytes]:
    """Header fields, each with its folded continuation lines and final CRLF."""
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def _name(field: bytes) -> bytes:
    return field.split(b":", 1)[0].strip()


def _on_head(transform: Callable[[list[bytes]], list[bytes]]) -> Callable[[bytes], bytes]:
    def apply(content: bytes) -> bytes:
        head, rest = _split_head(content)
        return b"".join(transform(_fields(head))) + rest
    return apply


# ----------------------------------------------------------------- header section
@_on_head
def unfold_headers(fields: list[bytes]) -> list[bytes]:
    return [re.sub(rb"\r\n(?=[ \t])", b"", f) for f in fields]


@_on_head
def refold_headers(fields: list[bytes]) -> list[bytes]:
    out = []
    for field in fields:
        lines = []
        for line in field.removesuffix(CRLF).split(CRLF):
            while len(line) > 78:
                cut = max(line.rfind(b" ", 1, 78), line.rfind(b"\t", 1, 78))
                if cut <= 0:
                    break
                lines.append(line[:cut])
                line = line[cut:]
            lines.append(line)
        out.append(CRLF.join(lines) + CRLF)
    return out


def _canonical(name: bytes) -> bytes:  # Go's textproto.CanonicalMIMEHeaderKey
    return b"-".join(w[:1].upper() + w[1:].lower() for w in name.split(b"-"))


@_on_head
def canonical_header_case(fields: list[bytes]) -> list[bytes]:
    out = []
    for field in fields:
        match = _FIELD.match(field)
        out.append(_canonical(_name(field)) + field[len(_name(field)):] if match else field)
    return out


@_on_head
def group_headers(fields: list[bytes]) -> list[bytes]:
    groups: dict[bytes, list[bytes]] = {}
    for field in fields:
        groups.setdefault(_name(field).lower(), []).append(field)
    return [f for group in groups.values() for f in group]


@_on_head
def replace_message_id(fields: list[bytes]) -> list[bytes]:
    new = f"Message-ID: <{os.urandom(8).hex()}@refserver.invalid>\r\n".encode()
    return [new if _name(f).lower() == b"message-id" else f for f in fields]


def _decode_word(match: re.Match[bytes]) -> bytes:
    charset, kind, text = (g.decode("ascii", "replace") for g in match.groups())
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4)) if kind in "Bb" else \
            binascii.a2b_qp(text.replace("_", " ").encode("ascii"), header=True)
        return raw.decode(charset.split("*")[0]).encode("utf-8")
    except (ValueError, LookupError, binascii.Error):
        return match.group(0)


@_on_head
def decode_encoded_words(fields: list[bytes]) -> list[bytes]:
    out = []
    for field in fields:
        if _ENCODED_WORD.search(field):
            # RFC 2047 §6.2: whitespace between adjacent encoded-words is not displayed
            field = re.sub(rb"(\?=)[ \t]*(?:\r\n)?[ \t]+(?==\?)", rb"\1", field)
            field = _ENCODED_WORD.sub(_decode_word, field)
        out.append(field)
    return out


@_on_head
def encode_utf8_headers(fields: list[bytes]) -> list[bytes]:
    """Raw UTF-8 header values become one RFC 2047 B encoded-word each, as an SMTPUTF8 downgrade writes them."""
    out = []
    for field in fields:
        name, colon, value = field.partition(b":")
        if colon and any(b >= 0x80 for b in value):
            text = value.strip()
            field = name + b": =?UTF-8?B?" + base64.b64encode(text) + b"?=\r\n"
        out.append(field)
    return out


# ----------------------------------------------------------------- MIME structure
def drop_preamble(content: bytes) -> bytes:
    """Remove the text between a multipart entity's header section and its first delimiter."""
    for match in list(_BOUNDARY.finditer(content)):
        boundary = match.group(1) or match.group(2)
        blank = content.find(b"\r\n\r\n", match.end())
        if blank < 0:
            continue
        start = blank + 4
        delim = re.compile(rb"(?:^|\r\n)--" + re.escape(boundary) + rb"[ \t]*\r\n")
        found = delim.search(content, start - 2)
        if found is None:
            continue
        first = found.start() + (2 if content[found.start():found.start() + 2] == CRLF else 0)
        if first > start:
            content = content[:start] + content[first:]
    return content


def _leaf_parts(content: bytes, encoding: bytes) -> list[tuple[int, int, int, int]]:
    """(header start, header end, body start, body end) of every leaf part with that CTE.

    A part body runs from the blank line after its headers to the CRLF before the
    next line starting with '--' (a delimiter; base64 and QP text cannot start so).
    """
    spans = []
    cte = re.compile(rb"^Content-Transfer-Encoding[ \t]*:[ \t]*" + re.escape(encoding) + rb"[ \t]*\r$", re.IGNORECASE | re.MULTILINE)
    for match in cte.finditer(content):
        head_start = content.rfind(b"\r\n\r\n", 0, match.start())
        head_start = 0 if head_start < 0 else head_start + 4
        blank = content.find(b"\r\n\r\n", match.end() - 1)
        if blank < 0:
            continue
        body_start = blank + 4
        nxt = re.compile(rb"\r\n--").search(content, body_start - 2)
        body_end = nxt.start() if nxt else len(content.removesuffix(CRLF))
        body_end = max(body_end, body_start)
        spans.append((head_start, blank + 2, body_start, body_end))
    return spans


def _rewrite_parts(content: bytes, encoding: bytes,
                   fix: Callable[[bytes, bytes], tuple[bytes, bytes] | None]) -> bytes:
    for head_start, head_end, body_start, body_end in reversed(_leaf_parts(content, encoding)):
        new = fix(content[head_start:head_end], content[body_start:body_end])
        if new is not None:
            content = content[:head_start] + new[0] + content[head_end:body_start] + new[1] + content[body_end:]
    return content


def base64_text_line_ends(content: bytes) -> bytes:
    def fix(head: bytes, body: bytes) -> tuple[bytes, bytes] | None:
        try:
            data = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            return None
        text = re.sub(rb"\r\n|\r|\n", CRLF, data)  # "canonical" text line ends
        if text == data:
            return None
        enc = base64.b64encode(text)
        return head, CRLF.join(enc[i:i + _B64_LINE] for i in range(0, len(enc), _B64_LINE))
    return _rewrite_parts(content, b"base64", fix)


def qp_to_8bit(content: bytes) -> bytes:
    def fix(head: bytes, body: bytes) -> tuple[bytes, bytes] | None:
        if not re.search(rb"^Content-Type[ \t]*:[ \t]*text/", head, re.IGNORECASE | re.MULTILINE):
            return None  # sendmail's 7->8 conversion only touches text parts
        head = re.sub(rb"(?im)^(Content-Transfer-Encoding[ \t]*:[ \t]*)quoted-printable", rb"\g<1>8bit", head)
        return head, binascii.a2b_qp(body)
    return _rewrite_parts(content, b"quoted-printable", fix)


# ----------------------------------------------------------------- body lines
def _on_body_lines(transform: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    def apply(content: bytes) -> bytes:
        head, rest = _split_head(content)
        lines = rest.split(CRLF)
        return head + CRLF.join(transform(line) for line in lines)
    return apply


@_on_body_lines
def strip_trailing_whitespace(line: bytes) -> bytes:
    return line.rstrip(b" \t")


@_on_body_lines
def wrap_long_lines(line: bytes) -> bytes:
    out = []
    while len(line) > 78:
        cut = line.rfind(b" ", 1, 79)
        if cut <= 0:
            break
        out.append(line[:cut])
        line = line[cut + 1:]
    out.append(line)
    return CRLF.join(out)


def drop_trailing_blank_lines(content: bytes) -> bytes:
    while content.endswith(b"\r\n\r\n"):
        content = content[:-2]
    return content


def strip_final_crlf(content: bytes) -> bytes:
    return content.removesuffix(CRLF)


def _has_date(content: bytes) -> bool:
    head, _ = _split_head(content)
    return any(_name(f).lower() == b"date" for f in _fields(head))


TRANSFORMS: tuple[tuple[str, Callable[[bytes], bytes]], ...] = (
    ("smtp-strip-final-crlf", strip_final_crlf),
    ("smtp-drop-trailing-blank-lines", drop_trailing_blank_lines),
    ("smtp-unfold-headers", unfold_headers),
    ("smtp-refold-headers", refold_headers),
    ("smtp-header-case", canonical_header_case),
    ("smtp-group-headers", group_headers),
    ("smtp-replace-message-id", replace_message_id),
    ("smtp-decode-encoded-words", decode_encoded_words),
    ("smtp-utf8-headers-encoded", encode_utf8_headers),
    ("smtp-drop-preamble", drop_preamble),
    ("smtp-base64-text-line-ends", base64_text_line_ends),
    ("smtp-qp-to-8bit", qp_to_8bit),
    ("smtp-strip-trailing-whitespace", strip_trailing_whitespace),
    ("smtp-wrap-long-lines", wrap_long_lines),
)


def apply_content_defects(content: bytes, defects: DefectSet) -> bytes | None:
    """The content to store with the switched-on content knobs of defects_mime.py applied; None: discard it."""
    if "smtp-discard-no-date" in defects and not _has_date(content):
        return None
    for name, transform in TRANSFORMS:
        if name in defects:
            content = transform(content)
    return content
