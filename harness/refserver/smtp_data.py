"""Reading the DATA section of an SMTP transaction (RFC 5321 §4.1.1.4, §4.5.2).

Input arrives as LF-terminated segments, so a bare LF is visible as a segment
that does not end in CRLF. Only ``<CRLF>.<CRLF>`` ends the data: a ``.`` line
counts only if the previous segment ended in CRLF (§2.3.8, §4.1.1.4). A bare CR
or LF anywhere poisons the message, which is then refused as a whole, the
post-2023 answer to SMTP smuggling: one message in, one verdict out.

The ``smtp-bare-lf-end`` knob recreates the smuggling bug: a ``.`` line after
any line end, CRLF or bare LF, ends the data, and bare LFs are accepted (a bare
CR is still refused: the knob is about LF only).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["TEXT_LINE_MAX", "DataOutcome", "receive_data"]

# §4.5.3.1.6: a text line is at most 1000 octets including CRLF; transparency
# may add one leading dot on the wire.
TEXT_LINE_MAX = 1000

# Returns the next segment up to and including LF. On a segment longer than the
# stream limit it returns only the tail and True: the line is too long anyway.
ReadSegment = Callable[[], Awaitable[tuple[bytes, bool]]]


@dataclass(slots=True)
class DataOutcome:
    content: bytes = b""
    too_long: bool = False
    too_big: bool = False
    bare_eol: bool = False


def _has_bare_eol(segment: bytes, *, allow_bare_lf: bool) -> bool:
    """A lone CR anywhere, or (unless allowed) a line end that is a bare LF."""
    crlf = segment.endswith(b"\r\n")
    body = segment[:-2] if crlf else segment[:-1]
    return b"\r" in body or (not crlf and not allow_bare_lf)


async def receive_data(
    read_segment: ReadSegment,
    *,
    size_limit: int,
    bare_lf_end: bool = False,
    unstuff: bool = True,
    truncate_at: int | None = None,
    split_long: bool = False,
) -> DataOutcome:
    """Read up to the end-of-data marker; the marker itself is not returned.

    Everything is read even after a limit is hit, so that the reply to the final
    dot lines up with the client's pipeline (§4.2.5: reply after the data).
    """
    out = DataOutcome()
    parts: list[bytes] = []
    total = 0
    after_crlf = True  # the DATA command line ended in CRLF
    while True:
        segment, overflow = await read_segment()
        if not overflow:
            if after_crlf and segment == b".\r\n":
                break
            if bare_lf_end and segment in (b".\r\n", b".\n"):
                break  # the smuggling bug: \n.\n, \r\n.\n and \n.\r\n end the data
        line_start = after_crlf or bare_lf_end
        after_crlf = segment.endswith(b"\r\n")
        if overflow:
            out.too_long = True
        elif _has_bare_eol(segment, allow_bare_lf=bare_lf_end):
            out.bare_eol = True
        total += len(segment)
        if total > size_limit:
            out.too_big = True
        if out.too_long or out.too_big or out.bare_eol:
            parts.clear()  # the message is refused; stop holding it in memory
            continue
        stuffed = line_start and segment.startswith(b".")
        if len(segment) - stuffed > TEXT_LINE_MAX and split_long and segment.endswith(b"\r\n"):
            text = segment[int(stuffed and unstuff):-2]  # the smtp-split-over-998 knob
            segment = b"\r\n".join(text[i:i + 998] for i in range(0, len(text), 998)) + b"\r\n"
            stuffed = False
        if len(segment) - stuffed > TEXT_LINE_MAX and not split_long:
            out.too_long = True
            parts.clear()
            continue
        if stuffed and unstuff:
            segment = segment[1:]
        if truncate_at is not None and len(segment) > truncate_at and segment.endswith(b"\r\n"):
            segment = segment[: truncate_at - 2] + b"\r\n"
        parts.append(segment)
    out.content = b"".join(parts)
    return out
