"""Deterministic MIME message builder for SMTP -> POP3 round trips (sans-I/O, pure).

A scenario sends a message by SMTP and later compares what POP3 returns with
what was sent, byte for byte (RFC 5321 §6.4: a relay may only
prepend trace fields). So the builder writes every byte itself: the stdlib
``email.generator`` re-wraps lines and rewrites line endings. Same spec and
arguments -> same bytes.

Scenario mapping accepted by ``spec_from_mapping`` (unknown keys are errors)::

    headers: {Subject: "héllo wörld", X-Custom: foo}  # or [[name, value], ...] or
                                   # [{name: X, value: Y, raw: true}, ...];
                                   # a value may be {value: "...", raw: true}
    subject: "..."                 # shortcut for the Subject header
    body: "text"                   # str; line ends normalised to CRLF, encoded with charset
    body_bytes: "\\x80\\xff..."     # exact octets with harness.escapes (bare CR/LF kept)
    lines: {count: 10, length: 998, char: "x"}   # generated CRLF lines (M01, POP3 TOP)
    charset: utf-8                 # text/* only; default utf-8
    encoding: 7bit|8bit|quoted-printable|base64|binary
                                   # default: 7bit for clean text, else quoted-printable;
                                   # base64 for non-text; multipart: computed
    content_type: text/html        # default text/plain, or multipart/mixed with parts
    filename: "€.pdf"              # Content-Disposition: attachment (RFC 2231 if needed)
    parts: [{content_type, body|body_bytes|lines, encoding, charset, filename,
             headers, parts: [...]}, ...]
    preamble: "text"               # multipart only: text before the first delimiter and
    epilogue: "text"               # after the close delimiter (RFC 2046 §5.1.1), CRLF lines
    omit: [Date, Message-ID]       # top level only: leave out default header fields
                                   # (Date, From, To, Message-ID), e.g. RFC 5322 §3.6 probes
    raw: "From: a\\r\\n\\r\\nbody\\r\\n"   # a complete message, escapes decoded, sent verbatim

Output rules: CRLF line ends; ``X-Harness-Id: <marker>`` first, so trace
fields a server prepends sit above it and ``strip_trace`` can cut there; then
Date, From, To, Message-ID, Subject, MIME-Version, Content-Type,
Content-Transfer-Encoding, Content-Disposition, the root part's extra headers,
then user headers (a user header whose name matches a default replaces it in
place). MIME headers are omitted only when they would state the RFC 2045 §5.2
defaults (text/plain; charset=us-ascii, 7bit). ASCII header values are written
as given (folds must be CRLF + WSP); non-ASCII values become RFC 2047 UTF-8
encoded-words (≤75 chars, lines folded at ≤76) except words containing '@',
kept as UTF-8 (RFC 6532; RFC 2047 §5 bans encoded-words in addr-specs). A
``RawValue`` (YAML ``raw: true``) is written verbatim. The body ends with CRLF
(added if missing), except for ``raw`` messages. Non-ASCII quoted-strings in
headers are not handled: give those as raw values.
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import ScenarioError
from harness.escapes import EscapeError, decode_escapes

__all__ = [
    "DEFAULT_DATE", "ENCODINGS", "MARKER_HEADER", "OMITTABLE", "MessageSpec", "MessageSpecError", "Part",
    "RawValue", "body_digest", "build_message", "dot_stuff", "dot_unstuff", "find_marker",
    "qp_encode", "spec_from_mapping", "strip_trace",
]

OMITTABLE = ("Date", "From", "To", "Message-ID")  # default fields a spec may leave out
ENCODINGS = ("7bit", "8bit", "quoted-printable", "base64", "binary")
DEFAULT_DATE = "Mon, 01 Jan 2024 00:00:00 +0000"  # fixed, so output is reproducible
MARKER_HEADER = "X-Harness-Id"
CRLF = b"\r\n"
_LINE = 76  # RFC 2045 §6.7/§6.8 and RFC 2047 §2 line limit, CRLF excluded
_CTE_RANK = {"7bit": 0, "quoted-printable": 0, "base64": 0, "8bit": 1, "binary": 2}
_TYPE_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;.*)?\Z", re.DOTALL)
_NAME_RE = re.compile(r"[!-9;-~]+\Z")  # RFC 5322 §3.6.8 ftext
_MARKER_OK = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+\Z")  # atext: valid in Message-ID too
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`{|}~0-9A-Za-z-]+\Z")  # RFC 2045 §5.1 token
_ATTR_CHARS = frozenset(b"!#$&+-.^_`{|}~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_Q_SAFE = frozenset(b"!*+-/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# QP token per octet (RFC 2045 §6.7 rule 2: 33-60 and 62-126 literal; '=' and the rest as =XX).
# Rule 3: SP/TAB are literal except at the end of a line (_QP_END), where they would be stripped.
_QP_END = tuple(bytes((b,)) if 33 <= b <= 126 and b != 61 else b"=%02X" % b for b in range(256))
_QP = tuple(bytes((b,)) if b in (9, 32) else tok for b, tok in enumerate(_QP_END))
_NOT_7BIT = re.compile(rb"[\x00\x80-\xff]")  # RFC 2045 §2.7: no NUL, nothing above 127


class MessageSpecError(ScenarioError, ValueError):
    """A message spec is invalid; ``path`` is the key path, e.g. ``parts[1].encoding``."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path


class RawValue(str):
    """A header value written verbatim: no encoding, folding or checks (YAML ``raw: true``)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Part:
    """One MIME leaf, or a multipart container when ``content_type`` is multipart/*."""

    content_type: str = "text/plain"
    charset: str | None = "utf-8"  # text/* only
    encoding: str = "7bit"  # one of ENCODINGS
    body: bytes = b""  # decoded content
    filename: str | None = None  # -> Content-Disposition: attachment
    parts: tuple[Part, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    preamble: bytes | None = None  # multipart only, without the CRLF before the first delimiter
    epilogue: bytes | None = None  # multipart only, after the close delimiter's CRLF


@dataclass(frozen=True, slots=True)
class MessageSpec:
    headers: tuple[tuple[str, str], ...] = ()
    root: Part | None = None  # None: empty text/plain body, no MIME headers
    raw: bytes | None = None  # complete message used verbatim (marker prepended if absent)
    omit: tuple[str, ...] = ()  # default header fields left out (names from OMITTABLE)


# ----------------------------------------------------------------- dot-stuffing, trace
def dot_stuff(data: bytes) -> bytes:
    """RFC 5321 §4.5.2: double a '.' that starts a line (at the start or after CRLF only)."""
    out = data.replace(b"\r\n.", b"\r\n..")
    return b"." + out if out.startswith(b".") else out


def dot_unstuff(data: bytes) -> bytes:
    """Inverse of ``dot_stuff``: drop the first '.' of every line that starts with one."""
    out = data.replace(b"\r\n.", b"\r\n")
    return out[1:] if out.startswith(b".") else out


_MARKER_LINE = re.compile(rb"^X-Harness-Id[ \t]*:", re.IGNORECASE | re.MULTILINE)  # names are case-insensitive
_BLANK_LINE = re.compile(rb"^\r?\n", re.MULTILINE)
_FIELD_REST = re.compile(rb"(.*?)\r?\n(?![ \t])", re.DOTALL)  # up to the end of a folded field


def _marker_offset(message: bytes) -> int | None:
    blank = _BLANK_LINE.search(message)  # only the header section counts
    found = _MARKER_LINE.search(message, 0, blank.start() if blank else len(message))
    return found.start() if found else None


def strip_trace(message: bytes) -> bytes:
    """The message from its first X-Harness-Id header on (unchanged if there is none).

    Servers prepend Return-Path/Received/Delivered-To/X-Original-To (RFC 5321
    §4.4) above our first header; everything below must come back unchanged.
    """
    offset = _marker_offset(message)
    return message if offset is None else message[offset:]


def body_digest(message: bytes) -> str:
    """SHA-256 hex of ``strip_trace(message)``: the round-trip comparison key."""
    return hashlib.sha256(strip_trace(message)).hexdigest()


def find_marker(message: bytes) -> str | None:
    """The unfolded, stripped value of the X-Harness-Id header, or None."""
    offset = _marker_offset(message)
    if offset is None:
        return None
    colon = message.index(b":", offset) + 1
    rest = _FIELD_REST.match(message, colon)
    value = rest.group(1) if rest else message[colon:]
    return re.sub(rb"\r?\n(?=[ \t])", b"", value).strip().decode("utf-8", "replace")


# ----------------------------------------------------------------- body encodings
def qp_encode(data: bytes, *, text: bool = True) -> bytes:
    """Quoted-printable (RFC 2045 §6.7), lines ≤76 with '=' soft breaks, uppercase hex.

    ``text=True``: CRLF pairs are hard line breaks; bare CR/LF are encoded
    (=0D/=0A) so they survive. ``text=False``: every CR/LF is encoded, so any
    octets round-trip. Whitespace before a hard break or the end is encoded.
    """
    out: list[bytes] = []
    for line in data.split(CRLF) if text else [data]:
        cur = bytearray()
        for tok in [_QP[b] for b in line[:-1]] + [_QP_END[b] for b in line[-1:]]:
            if len(cur) + len(tok) > _LINE - 1:  # leave room for the soft-break '='
                out.append(bytes(cur) + b"=")
                cur = bytearray()
            cur += tok
        out.append(bytes(cur))
    return CRLF.join(out)


def _b64(data: bytes) -> bytes:
    enc = base64.b64encode(data)  # RFC 2045 §6.8: 76-char lines
    return CRLF.join(enc[i : i + _LINE] for i in range(0, len(enc), _LINE))


# ----------------------------------------------------------------- headers
def _ew_size(raw: bytes, use_b: bool) -> int:
    body = 4 * -(-len(raw) // 3) if use_b else sum(1 if c in _Q_SAFE or c == 32 else 3 for c in raw)
    return 12 + body  # len("=?UTF-8?X?") + len("?=")


def _ew(text: str, use_b: bool) -> str:
    raw = text.encode("utf-8")
    if use_b:
        return f"=?UTF-8?B?{base64.b64encode(raw).decode('ascii')}?="
    q = "".join("_" if c == 32 else chr(c) if c in _Q_SAFE else f"={c:02X}" for c in raw)
    return f"=?UTF-8?Q?{q}?="  # RFC 2047 §5 (3): phrase-safe Q alphabet only


def _fits(text: str, limit: int, use_b: bool) -> int:
    """How many leading characters fit one encoded-word of ≤limit chars (whole characters
    only, RFC 2047 §5: an encoded-word must not split a multi-octet character)."""
    for k in range(1, len(text) + 1):
        if _ew_size(text[:k].encode("utf-8"), use_b) > limit:
            return k - 1
    return len(text)


def _encode_words(name: str, value: str) -> bytes:
    """RFC 2047: non-ASCII runs of words become encoded-words, folded at ≤76 chars."""
    tokens = re.split(r"([ \t]+)", value)
    items: list[list[Any]] = []  # [separator before, text, encode?]
    for sep, word in zip([" ", *tokens[1::2]], tokens[0::2]):
        enc = not word.isascii() and "@" not in word
        if enc and items and items[-1][2]:
            items[-1][1] += sep + word  # whitespace between encoded-words is not displayed
        else:
            items.append([sep, word, enc])
    lines: list[str] = []
    line = f"{name}:"
    for sep, text, enc in items:
        if not enc:
            size = len(f"{line}{sep}{text}".encode())  # octets: '@' words may be UTF-8
            if text and size > _LINE and (lines or line != f"{name}:"):
                lines.append(line)
                line = ""
            line += sep + text
            continue
        raw = text.encode("utf-8")
        use_b = 3 * sum(c not in _Q_SAFE and c != 32 for c in raw) > len(raw)  # Q if mostly ASCII
        while text:
            k = _fits(text, min(75, _LINE - len(line.encode("utf-8")) - len(sep)), use_b)
            if k == 0:
                lines.append(line)
                line = ""
                k = max(1, _fits(text, min(75, _LINE - len(sep)), use_b))
            line += sep + _ew(text[:k], use_b)
            text, sep = text[k:], " "
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _header(name: str, value: str, path: str) -> bytes:
    if not _NAME_RE.match(name):
        raise MessageSpecError(path, f"invalid header name {name!r}")
    if isinstance(value, RawValue):
        return f"{name}: {value}\r\n".encode()
    pieces = re.split(r"\r\n|\r|\n", value)
    if any(p[:1] not in (" ", "\t") for p in pieces[1:]):
        raise MessageSpecError(path, "a line break must be a fold (followed by whitespace); use raw: true")
    bad = next((c for c in "".join(pieces) if (c < " " and c != "\t") or c == "\x7f"), None)
    if bad is not None:
        raise MessageSpecError(path, f"control character U+{ord(bad):04X} (use raw: true)")
    if value.isascii():
        return f"{name}: {CRLF.decode().join(pieces)}\r\n".encode("ascii")  # as given
    return _encode_words(name, "".join(pieces))  # RFC 5322 §2.2.3 unfold, then re-fold


def _param(value: str) -> str:
    if _TOKEN_RE.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _param_header(name: str, value: str, params: Sequence[str]) -> tuple[str, bytes]:
    one = f"{name}: {value}" + "".join(f"; {p}" for p in params)
    if len(one) <= _LINE:
        return name, one.encode("utf-8") + CRLF
    return name, (f"{name}: {value};" + ";".join(f"\r\n {p}" for p in params)).encode("utf-8") + CRLF


def _filename_params(filename: str) -> list[str]:
    """RFC 2183 filename; RFC 2231 §3-4 continuations/charset when long or non-ASCII."""
    simple = f"filename={_param(filename)}"
    plain = filename.isascii() and filename.isprintable()
    if plain and len(f"Content-Disposition: attachment; {simple}") <= _LINE:
        return [simple]
    if plain:
        return [f"filename*{i}={_param(filename[j:j + 60])}" for i, j in enumerate(range(0, len(filename), 60))]
    pct = ["".join(chr(b) if b in _ATTR_CHARS else f"%{b:02X}" for b in ch.encode("utf-8")) for ch in filename]
    segments: list[str] = []
    cur = "UTF-8''"
    for enc in pct:  # split between characters, so no %XX triple is cut
        if len(cur) + len(enc) > 60:
            segments.append(cur)
            cur = ""
        cur += enc
    return [f"filename*{i}*={s}" for i, s in enumerate([*segments, cur])]


# ----------------------------------------------------------------- parts
def _at(key: str, field: str) -> str:
    return f"{key}.{field}" if key else field


def _check_part(part: Part, key: str) -> None:
    """Structural checks shared by spec_from_mapping (load time) and build_message."""
    if not _TYPE_RE.match(part.content_type):
        raise MessageSpecError(_at(key, "content_type"), f"must look like type/subtype, not {part.content_type!r}")
    if part.encoding not in ENCODINGS:
        raise MessageSpecError(_at(key, "encoding"), f"must be one of {', '.join(ENCODINGS)}")
    if part.content_type.lower().startswith("multipart/"):
        if _CTE_RANK[part.encoding] == 0 and part.encoding != "7bit":
            raise MessageSpecError(_at(key, "encoding"), "multipart/* takes only 7bit, 8bit or binary (RFC 2045 §6.4)")
        if not part.parts:
            raise MessageSpecError(_at(key, "parts"), "multipart/* needs at least one part (RFC 2046 §5.1.1)")
        for i, child in enumerate(part.parts):
            _check_part(child, _at(key, f"parts[{i}]"))
        return
    if part.parts:
        raise MessageSpecError(_at(key, "parts"), "only multipart/* content types have parts")
    for field in ("preamble", "epilogue"):
        if getattr(part, field) is not None:
            raise MessageSpecError(_at(key, field), "only multipart/* content types have a " + field)
    if part.content_type.lower().startswith("message/") and _CTE_RANK[part.encoding] == 0 \
            and part.encoding != "7bit":
        raise MessageSpecError(_at(key, "encoding"), "message/* takes only 7bit, 8bit or binary (RFC 2045 §6.4)")
    bad = _NOT_7BIT.search(part.body) if part.encoding == "7bit" else None
    if bad is not None:
        raise MessageSpecError(_at(key, "encoding"), f"7bit body has octet 0x{part.body[bad.start()]:02x} at "
                               f"offset {bad.start()}; use 8bit, quoted-printable or base64")


def _boundary(marker: str, depth: int, content: bytes) -> str:
    """RFC 2046 §5.1.1: ≤70 bchars and absent from the content; '=_' cannot occur in
    QP or base64 text, and the hash (marker, depth, attempt) keeps it deterministic."""
    attempt = 0
    while True:
        digest = hashlib.sha256(f"{marker}\0{depth}\0{attempt}".encode()).hexdigest()[:32]
        boundary = f"=_mh{depth}_{digest}"
        if boundary.encode("ascii") not in content:
            return boundary
        attempt += 1


def _render(part: Part, key: str, marker: str, depth: int) -> tuple[list[tuple[str, bytes]], bytes, str]:
    """(named header lines, encoded body without final CRLF, effective CTE)."""
    maintype = part.content_type.split("/", 1)[0].lower()
    cte = part.encoding
    if maintype == "multipart":
        children: list[bytes] = []
        for i, child in enumerate(part.parts):
            hdrs, body, child_cte = _render(child, _at(key, f"parts[{i}]"), marker, depth + 1)
            children.append(b"".join(line for _, line in hdrs) + CRLF + body)
            cte = max(cte, child_cte, key=_CTE_RANK.__getitem__)  # 8bit inside -> 8bit outside
        pre = b"" if part.preamble is None else part.preamble + CRLF  # RFC 2046 §5.1.1 [preamble CRLF]
        post = b"" if part.epilogue is None else CRLF + part.epilogue  # [CRLF epilogue]
        boundary = _boundary(marker, depth, b"".join(children) + pre + post)
        delim = b"--" + boundary.encode("ascii")
        body = pre + b"".join(delim + CRLF + c + CRLF for c in children) + delim + b"--" + post
        for extra in (part.preamble, part.epilogue):
            cte = max(cte, "7bit" if extra is None or not _NOT_7BIT.search(extra) else "8bit",
                      key=_CTE_RANK.__getitem__)
        params = [f'boundary="{boundary}"']
    else:
        is_text = maintype == "text"
        body = {"base64": _b64, "quoted-printable": lambda d: qp_encode(d, text=is_text)}.get(cte, bytes)(part.body)
        params = [f"charset={_param(part.charset)}"] if is_text and part.charset else []
    headers = [_param_header("Content-Type", part.content_type, params),
               ("Content-Transfer-Encoding", f"Content-Transfer-Encoding: {cte}\r\n".encode("ascii"))]
    if part.filename is not None:
        headers.append(_param_header("Content-Disposition", "attachment", _filename_params(part.filename)))
    headers += [(n, _header(n, v, _at(key, f"headers.{n}"))) for n, v in part.headers]
    return headers, body, cte


def _is_plain(part: Part) -> bool:
    # RFC 2045 §5.2/§6.1: these are exactly the values assumed when MIME headers are absent.
    return (part.content_type.lower() == "text/plain" and part.encoding == "7bit" and not part.headers
            and (part.charset or "us-ascii").lower() == "us-ascii" and part.filename is None)


def _address_list(addresses: Sequence[str]) -> str:
    one = ", ".join(addresses)  # fold between addresses when long (RFC 5322 §2.1.1: ≤78 SHOULD)
    return one if len(one) <= _LINE - len("To: ") else ",\r\n ".join(addresses)


def build_message(spec: MessageSpec, *, marker: str, sender: str, recipients: Sequence[str],
                  date: str | None = None, message_id: str | None = None) -> bytes:
    """Serialize ``spec`` to exact wire bytes (not dot-stuffed: see ``dot_stuff``)."""
    if not _MARKER_OK.match(marker):
        raise ValueError(f"marker must be RFC 5322 atext/dots, got {marker!r}")
    marker_line = f"{MARKER_HEADER}: {marker}\r\n".encode("ascii")
    if spec.raw is not None:
        return spec.raw if _marker_offset(spec.raw) is not None else marker_line + spec.raw
    slots: list[tuple[str, bytes | None]] = [
        ("Date", _header("Date", date or DEFAULT_DATE, "date")),
        ("From", _header("From", sender, "sender")),
        ("To", _header("To", _address_list(recipients), "recipients") if recipients else None),
        ("Message-ID", _header("Message-ID", message_id or f"<{marker}@mailharness.test>", "message_id")),
        ("Subject", None),
    ]
    omitted = {name.lower() for name in spec.omit}
    slots = [(n, None if n.lower() in omitted else line) for n, line in slots]
    body = b""
    if spec.root is not None:
        _check_part(spec.root, "")
        part_headers, body, _ = _render(spec.root, "", marker, 0)
        if not _is_plain(spec.root):
            slots += [("MIME-Version", b"MIME-Version: 1.0\r\n"), *part_headers]
    taken: set[int] = set()
    for name, value in spec.headers:
        if name.lower() == MARKER_HEADER.lower():
            raise MessageSpecError(f"headers.{name}", "is set by the harness; use raw for other values")
        line = _header(name, value, f"headers.{name}")
        index = next((i for i, (n, _) in enumerate(slots) if n.lower() == name.lower() and i not in taken), None)
        if index is None:
            slots.append((name, line))
            index = len(slots) - 1
        slots[index] = (name, line)  # a user value replaces the default in place
        taken.add(index)
    if body and not body.endswith(CRLF):
        body += CRLF  # SMTP DATA needs the final line terminated (RFC 5321 §4.1.1.4)
    return marker_line + b"".join(line for _, line in slots if line is not None) + CRLF + body


# ----------------------------------------------------------------- scenario mapping
_PART_KEYS = {"headers", "body", "body_bytes", "lines", "charset", "encoding", "content_type", "filename", "parts",
              "preamble", "epilogue"}
_TOP_KEYS = _PART_KEYS | {"subject", "raw", "omit"}


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise MessageSpecError(path, f"must be a string, not {type(value).__name__}")
    return value


def _octets(value: Any, path: str) -> bytes:
    if isinstance(value, bytes):  # YAML !!binary
        return value
    try:
        return decode_escapes(_str(value, path))
    except EscapeError as exc:
        raise MessageSpecError(path, str(exc)) from None


def _int(mapping: Mapping[str, Any], name: str, path: str, default: int | None) -> int:
    value = mapping.get(name, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)          # a rendered template, e.g. a count derived from the SIZE limit
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MessageSpecError(_at(path, name), "must be a non-negative integer")
    return value


def _headers(value: Any, path: str) -> tuple[tuple[str, str], ...]:
    def one(name: Any, val: Any, where: str) -> tuple[str, str]:
        name = _str(name, where)
        if isinstance(val, Mapping):
            if set(val) - {"value", "raw"} or not isinstance(val.get("raw", False), bool):
                raise MessageSpecError(where, "takes only {value: str, raw: bool}")
            text = _str(val.get("value"), f"{where}.value")
            return name, RawValue(text) if val.get("raw") else text
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            val = str(val)  # YAML reads `X-Count: 5` as an int
        return name, _str(val, where)

    if value is None:
        return ()
    if isinstance(value, Mapping):
        return tuple(one(n, v, f"{path}.{n}") for n, v in value.items())
    if not isinstance(value, list):
        raise MessageSpecError(path, "must be a mapping or a list of [name, value] pairs")
    out: list[tuple[str, str]] = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if isinstance(item, Mapping) and "name" in item:
            out.append(one(item["name"], {k: v for k, v in item.items() if k != "name"}, where))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            out.append(one(item[0], item[1], where))
        else:
            raise MessageSpecError(where, "must be [name, value] or {name, value, raw}")
    return tuple(out)


def _part(m: Any, key: str, allowed: set[str]) -> Part:
    if not isinstance(m, Mapping):
        raise MessageSpecError(key, "must be a mapping")
    unknown = sorted(set(m) - allowed, key=str)
    if unknown:
        raise MessageSpecError(_at(key, str(unknown[0])), f"unknown key (allowed: {', '.join(sorted(allowed))})")
    given = [k for k in ("body", "body_bytes", "lines", "parts") if k in m]
    if len(given) > 1:
        raise MessageSpecError(_at(key, given[1]), f"cannot be combined with {given[0]}")
    ctype = _str(m.get("content_type", "multipart/mixed" if "parts" in m else "text/plain"), _at(key, "content_type"))
    maintype = ctype.split("/", 1)[0].strip().lower()
    if "parts" in m and maintype != "multipart":
        raise MessageSpecError(_at(key, "content_type"), "parts need a multipart/* content type")
    charset = None
    if maintype == "text":
        charset = _str(m.get("charset", "utf-8"), _at(key, "charset"))
        try:
            codecs.lookup(charset)
        except LookupError:
            raise MessageSpecError(_at(key, "charset"), f"unknown charset {charset!r}") from None
    elif "charset" in m:
        raise MessageSpecError(_at(key, "charset"), "only text/* parts take a charset")
    body = b""
    if "body" in m:
        text = re.sub(r"\r\n|\r|\n", "\r\n", _str(m["body"], _at(key, "body")))  # text: CRLF lines
        try:
            body = text.encode(charset or "utf-8")
        except UnicodeEncodeError:
            raise MessageSpecError(_at(key, "body"), f"cannot be encoded as {charset}") from None
    elif "body_bytes" in m:
        body = _octets(m["body_bytes"], _at(key, "body_bytes"))
    elif "lines" in m:
        spec, where = m["lines"], _at(key, "lines")
        if not isinstance(spec, Mapping) or set(spec) - {"count", "length", "char"}:
            raise MessageSpecError(where, "must be {count: int, length: int, char: str}")
        char = _str(spec.get("char", "x"), f"{where}.char")
        if len(char) != 1 or char in "\r\n":
            raise MessageSpecError(f"{where}.char", "must be one character, not CR or LF")
        line = char * _int(spec, "length", where, 76)
        body = "".join(line + "\r\n" for _ in range(_int(spec, "count", where, None))).encode(charset or "utf-8")
    parts: tuple[Part, ...] = ()
    if "parts" in m:
        if not isinstance(m["parts"], list):
            raise MessageSpecError(_at(key, "parts"), "must be a list")
        parts = tuple(_part(p, _at(key, f"parts[{i}]"), _PART_KEYS) for i, p in enumerate(m["parts"]))
    extras: dict[str, bytes | None] = {}
    for field in ("preamble", "epilogue"):
        if field in m:
            if maintype != "multipart":
                raise MessageSpecError(_at(key, field), "only multipart/* content types have a " + field)
            text = re.sub(r"\r\n|\r|\n", "\r\n", _str(m[field], _at(key, field)))
            extras[field] = text.encode("utf-8")
    if "encoding" in m:
        encoding = _str(m["encoding"], _at(key, "encoding"))
    elif maintype == "multipart":
        encoding = "7bit"  # build_message raises it to what the children need
    elif maintype == "message":
        encoding = "7bit" if not _NOT_7BIT.search(body) else "8bit"  # RFC 2046 §5.2.1: no QP/base64
    elif maintype == "text":
        encoding = "7bit" if body.isascii() and b"\0" not in body else "quoted-printable"
    else:
        encoding = "base64"
    filename = _str(m["filename"], _at(key, "filename")) if "filename" in m else None
    headers = _headers(m.get("headers"), _at(key, "headers"))
    return Part(ctype, charset, encoding, body, filename, parts, headers,
                extras.get("preamble"), extras.get("epilogue"))


def spec_from_mapping(data: Mapping[str, Any]) -> MessageSpec:
    """Build and check a ``MessageSpec`` from a scenario mapping (see the module docstring)."""
    if not isinstance(data, Mapping):
        raise MessageSpecError("", "a message spec must be a mapping")
    if "raw" in data:
        extra = sorted(set(data) - {"raw"}, key=str)
        if extra:
            raise MessageSpecError("raw", f"cannot be combined with {', '.join(map(str, extra))}")
        return MessageSpec(raw=_octets(data["raw"], "raw"))
    headers = _headers(data.get("headers"), "headers")
    if "subject" in data:
        if any(n.lower() == "subject" for n, _ in headers):
            raise MessageSpecError("subject", "conflicts with headers.Subject")
        headers = (("Subject", _str(data["subject"], "subject")), *headers)
    omit: tuple[str, ...] = ()
    if "omit" in data:
        names = data["omit"]
        if not isinstance(names, list):
            raise MessageSpecError("omit", f"must be a list of header names from {', '.join(OMITTABLE)}")
        canon = {n.lower(): n for n in OMITTABLE}
        for i, name in enumerate(names):
            if _str(name, f"omit[{i}]").lower() not in canon:
                raise MessageSpecError(f"omit[{i}]", f"{name!r} is not one of {', '.join(OMITTABLE)}")
        omit = tuple(canon[n.lower()] for n in names)
    top = {k: v for k, v in data.items() if k not in ("headers", "subject", "omit")}
    root = _part(top, "", _TOP_KEYS - {"omit"}) if top else None
    if root is not None:
        _check_part(root, "")
    return MessageSpec(headers=headers, root=root, omit=omit)
