"""Registry of defect knobs: each switches on exactly one realistic server bug.

The harness proves a conformance check by running it against the clean server
(it must pass) and against the server with the one knob that breaks the rule
(it must fail). So a knob must change only the behaviour its description names;
anything wider would let a wrong check pass by accident.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

__all__ = ["DEFECTS", "BASE_DEFECTS", "Defect", "DefectSet", "validate_defects"]

Protocol = Literal["smtp", "pop3"]


@dataclass(frozen=True, slots=True)
class Defect:
    name: str
    protocol: Protocol
    description: str  # one sentence, shown by `mailharness serve --help` and the docs


_SMTP: tuple[tuple[str, str], ...] = (
    ("smtp-greeting-code", "The greeting uses code 250 instead of 220 (RFC 5321 §4.3.2)."),
    ("smtp-helo-multiline", "HELO is answered with a multi-line EHLO-style reply listing extension keywords (RFC 5321 §3.2)."),
    ("smtp-case-sensitive", "Command verbs that are not all upper case are rejected with 500 5.5.2 (RFC 5321 §2.4)."),
    ("smtp-rcpt-before-mail", "RCPT without a preceding MAIL is accepted with 250 instead of 503 (RFC 5321 §4.1.4)."),
    ("smtp-data-without-rcpt", "DATA after MAIL but with no accepted recipient gets 354, and the data is then accepted with 250 and discarded (RFC 5321 §3.3)."),
    ("smtp-mail-syntax-accepted", "A syntactically invalid MAIL FROM such as 'MAIL FROM:garbage' is accepted with 250 instead of 501 (RFC 5321 §4.1.4)."),
    ("smtp-null-sender-rejected", "The null reverse-path 'MAIL FROM:<>' is rejected with 553 5.1.7 (RFC 5321 §4.5.5)."),
    ("smtp-postmaster-rejected", "RCPT to the postmaster mailbox is rejected with 550 (RFC 5321 §4.5.1)."),
    ("smtp-rset-keeps-envelope", "RSET answers 250 but keeps the sender and recipients of the open transaction (RFC 5321 §4.1.1.5)."),
    ("smtp-ehlo-keeps-envelope", "A later EHLO or HELO does not reset the open mail transaction (RFC 5321 §4.1.4)."),
    ("smtp-extra-reply", "NOOP produces two 250 replies instead of one (RFC 5321 §4.2)."),
    ("smtp-bad-multiline", "The middle continuation lines of the EHLO reply use code 251 instead of 250 (RFC 5321 §4.2.1)."),
    ("smtp-quit-no-221", "QUIT closes the connection without sending any reply (RFC 5321 §4.1.1.10)."),
    ("smtp-quit-no-close", "QUIT is answered with 221 but the server leaves the connection open until the client closes it (RFC 5321 §4.1.1.10)."),
    ("smtp-no-dot-unstuffing", "Leading dots of message data lines are stored as received instead of being removed (RFC 5321 §4.5.2)."),
    ("smtp-bare-lf-end", "A bare-LF end of data (\\n.\\n, \\r\\n.\\n or \\n.\\r\\n) also ends DATA and bare LFs are accepted, so SMTP smuggling works (RFC 5321 §2.3.8, CVE-2023-51764)."),
    ("smtp-no-trace", "Delivered messages get no Received trace header field (RFC 5321 §4.4)."),
    ("smtp-no-return-path", "Delivered messages get no Return-Path header field (RFC 5321 §4.4)."),
    ("smtp-vrfy-250", "VRFY of any string is answered 250 as if the address had been verified (RFC 5321 §3.5.3)."),
    ("smtp-code-out-of-range", "NOOP is answered '199 OK', a reply code outside 2yz-5yz (RFC 5321 §4.2)."),
    ("smtp-short-line-limit", "Command lines longer than 300 octets are refused with 500 5.5.6 although 512 must be accepted (RFC 5321 §4.5.3.1.4)."),
    ("smtp-data-line-truncate", "Message lines longer than 500 octets are silently truncated to 500 octets before storing (RFC 5321 §4.5.3.1.6)."),
    ("smtp-starttls-injection", "Plaintext pipelined after STARTTLS is executed inside the TLS session (RFC 3207 §4.2, CVE-2011-0411)."),
    ("smtp-starttls-keeps-state", "The EHLO state survives the TLS handshake, so MAIL right after STARTTLS gets 250 (RFC 3207 §4.2)."),
    ("smtp-starttls-readvertise", "EHLO after the TLS handshake still lists STARTTLS (RFC 3207 §4.2)."),
    ("smtp-auth-cancel", "An AUTH exchange cancelled with '*' is answered 535 instead of 501 (RFC 4954 §4)."),
    ("smtp-auth-twice", "AUTH after a successful AUTH is processed again instead of being refused with 503 (RFC 4954 §4)."),
    ("smtp-auth-plaintext", "AUTH PLAIN/LOGIN is advertised and accepted on an unencrypted connection (RFC 4954 §4, §14)."),
    ("smtp-unknown-command-250", "Unknown command verbs are answered 250 instead of 500 (RFC 5321 §4.2.4)."),
    ("smtp-open-relay", "RCPT to a foreign domain is accepted with 250 without authentication (the message is dropped) (RFC 5321 §3.6.2)."),
    ("smtp-8bit-strip", "The high bit of every message byte is cleared before storing, corrupting 8-bit data (RFC 6152, RFC 5321 §4.5.2)."),
    ("smtp-size-ignored", "A MAIL SIZE= declaration above the advertised limit is accepted with 250 instead of 552 (RFC 1870 §6.1)."),
)

_POP3: tuple[tuple[str, str], ...] = (
    ("pop3-lowercase-status", "Status indicators are sent as '+ok' and '-err' instead of upper case (RFC 1939 §3)."),
    ("pop3-no-byte-stuffing", "RETR and TOP send lines that start with '.' without byte-stuffing them (RFC 1939 §3)."),
    ("pop3-dele-immediate", "DELE removes the message file at once, so neither RSET nor a dropped connection can restore it (RFC 1939 §5, §6)."),
    ("pop3-rset-ignored", "RSET answers +OK but keeps the deletion marks (RFC 1939 §5)."),
    ("pop3-stat-counts-deleted", "STAT and LIST include messages marked as deleted (RFC 1939 §5)."),
    ("pop3-octets-lf", "STAT and LIST sizes count each line end as one octet instead of CRLF's two (RFC 1939 §11)."),
    ("pop3-uidl-unstable", "UIDL unique-ids change with every session (RFC 1939 §7)."),
    ("pop3-transaction-before-auth", "STAT, LIST and RETR are answered in the AUTHORIZATION state, as an empty maildrop, instead of -ERR (RFC 1939 §3)."),
    ("pop3-pass-without-user", "PASS without a preceding USER logs in as the first user whose password matches (RFC 1939 §7)."),
    ("pop3-bad-pass-disconnect", "After a failed PASS the server sends -ERR and closes the connection instead of staying in AUTHORIZATION (RFC 1939 §7)."),
    ("pop3-dele-twice-ok", "DELE of a message already marked as deleted answers +OK instead of -ERR (RFC 1939 §5)."),
    ("pop3-retr-deleted-ok", "RETR of a message marked as deleted returns the message instead of -ERR (RFC 1939 §5)."),
    ("pop3-top-whole", "TOP ignores its line count and sends the whole message (RFC 1939 §7)."),
    ("pop3-quit-no-update", "QUIT in the TRANSACTION state does not remove the messages marked as deleted (RFC 1939 §6)."),
    ("pop3-no-lock", "No exclusive maildrop lock is taken, so two sessions can open the same mailbox at once (RFC 1939 §4)."),
    ("pop3-stls-injection", "Plaintext pipelined after STLS is executed inside the TLS session (RFC 2595 §4, CVE-2011-0411)."),
    ("pop3-stls-readvertise", "CAPA after the STLS handshake still lists STLS (RFC 2595 §4)."),
    ("pop3-missing-terminator", "Multi-line responses (LIST, UIDL, RETR, TOP, CAPA) are sent without the final '.' line (RFC 1939 §3)."),
    ("pop3-apop-fixed-timestamp", "The greeting carries the same APOP timestamp on every connection (RFC 1939 §7)."),
    ("pop3-numbering-from-zero", "Messages are numbered from 0 instead of 1 in listings and message-number arguments (RFC 1939 §4)."),
)

# The suites grow in parallel; each area keeps its further knobs in its own module.
from .defects_cover import COVER_POP3_DEFECTS, COVER_SMTP_DEFECTS  # noqa: E402
from .defects_esmtp import ESMTP_DEFECTS  # noqa: E402
from .defects_mime import MIME_DEFECTS  # noqa: E402
from .defects_pop3 import POP3_DEFECTS  # noqa: E402
from .defects_smtp import SMTP_DEFECTS  # noqa: E402

BASE_DEFECTS = frozenset(name for name, _ in _SMTP + _POP3)

DEFECTS: dict[str, Defect] = {
    **{name: Defect(name, "smtp", text) for name, text in _SMTP + SMTP_DEFECTS + ESMTP_DEFECTS + MIME_DEFECTS + COVER_SMTP_DEFECTS},
    **{name: Defect(name, "pop3", text) for name, text in _POP3 + POP3_DEFECTS + COVER_POP3_DEFECTS},
}


def validate_defects(names: Iterable[str]) -> frozenset[str]:
    """Return the names as a set, or raise ValueError naming the valid choices."""
    chosen = frozenset(names)
    unknown = sorted(chosen - DEFECTS.keys())
    if unknown:
        raise ValueError(
            f"unknown defect name(s): {', '.join(unknown)}; valid names: {', '.join(sorted(DEFECTS))}"
        )
    return chosen


class DefectSet:
    """The knobs switched on for one server.

    ``name in defects`` raises KeyError for a name that is not registered, so
    a typo in the server code fails loudly in our tests instead of silently
    leaving a knob without effect.
    """

    __slots__ = ("_on",)

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._on = validate_defects(names)

    def __contains__(self, name: object) -> bool:
        if name not in DEFECTS:
            raise KeyError(f"not a registered defect: {name!r}")
        return name in self._on

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._on))

    def __len__(self) -> int:
        return len(self._on)

    def __repr__(self) -> str:
        return f"DefectSet({sorted(self._on)!r})"
