"""The numbers in POP3 listings, sans-I/O (RFC 1939 §5).

A *drop listing* (the STAT reply) is ``+OK nn mm``: the message count and the maildrop's size in octets.
A *scan listing* (LIST) is ``msg-number SP size`` and a *unique-id listing* (UIDL) is
``msg-number SP unique-id``; both come alone in the status line when the command names a message, or one
per body line when it does not. RFC 1939 lets a server put more after them ("... may follow"), so only
the first two words count. A line that does not start that way yields nothing: judging it is the
caller's business, not the parser's.
"""

from __future__ import annotations

from harness.protocol.replies import Pop3Response

__all__ = ["drop_listing", "scan_listing", "scan_listings", "unique_id_listing", "unique_id_listings"]


def _words(line: bytes) -> list[str]:
    return line.decode("ascii", "replace").split()


def _numbers(line: bytes) -> tuple[int, int] | None:
    words = _words(line)
    if len(words) >= 2 and words[0].isdigit() and words[1].isdigit():
        return int(words[0]), int(words[1])
    return None


def _unique_id(line: bytes) -> tuple[int, str] | None:
    words = _words(line)
    if len(words) >= 2 and words[0].isdigit():
        return int(words[0]), words[1]
    return None


def drop_listing(response: Pop3Response) -> tuple[int, int] | None:
    """``(messages, octets)`` from a STAT reply, or None when it is negative or malformed."""
    return _numbers(response.text) if response.ok else None


def scan_listing(response: Pop3Response) -> tuple[int, int] | None:
    """``(msg-number, octets)`` from the reply to ``LIST n``."""
    return _numbers(response.text) if response.ok else None


def scan_listings(response: Pop3Response) -> list[tuple[int, int]]:
    """Every ``(msg-number, octets)`` of a multi-line LIST reply."""
    return [pair for line in response.body or () if (pair := _numbers(line)) is not None]


def unique_id_listing(response: Pop3Response) -> tuple[int, str] | None:
    """``(msg-number, unique-id)`` from the reply to ``UIDL n``."""
    return _unique_id(response.text) if response.ok else None


def unique_id_listings(response: Pop3Response) -> list[tuple[int, str]]:
    """Every ``(msg-number, unique-id)`` of a multi-line UIDL reply."""
    return [pair for line in response.body or () if (pair := _unique_id(line)) is not None]
