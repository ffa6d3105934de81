"""The POP3 TRANSACTION-state view of one mailbox (RFC 1939 §5, §7, §11).

A snapshot taken at login fixes the message numbers for the whole session;
deliveries that arrive meanwhile wait for the next session. DELE only marks;
``expunge`` (the UPDATE state, §6) is the one place that removes files.
"""

from __future__ import annotations

import hashlib
import re

from .defects import DefectSet
from .maildir import MaildirStore, StoredMessage

__all__ = ["Maildrop", "dot_stuff", "top_of"]

_NUMBER = re.compile(r"[0-9]{1,9}")  # decimal only (§3); bounded so int() stays cheap
_LINE_START_DOT = re.compile(rb"^\.", re.MULTILINE)


def dot_stuff(data: bytes, *, stuff: bool = True) -> bytes:
    """Body of a multi-line response, without the terminator (§3).

    Stuffing follows any LF, so a client that splits lines on bare LF still
    cannot mistake a body line for the terminator.
    """
    if stuff:
        data = _LINE_START_DOT.sub(b"..", data)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def top_of(data: bytes, lines: int) -> bytes:
    """§7 TOP: the header section, the blank line, then ``lines`` body lines."""
    if data.startswith(b"\r\n"):
        header, body = b"", data[2:]
    else:
        cut = data.find(b"\r\n\r\n")
        if cut < 0:
            return data  # no body at all
        header, body = data[: cut + 2], data[cut + 4 :]
    kept = body.split(b"\r\n")[:lines]
    text = b"\r\n".join(kept)
    if kept and len(kept) <= body.count(b"\r\n"):
        text += b"\r\n"
    return header + b"\r\n" + text


class Maildrop:
    def __init__(self, store: MaildirStore, login: str, defects: DefectSet, nonce: str) -> None:
        self.store = store
        self.defects = defects
        self.nonce = nonce  # per session; only pop3-uidl-unstable uses it
        self.messages: list[StoredMessage] = store.list(login)
        self.deleted: set[int] = set()
        self.retrieved: set[int] = set()  # only pop3-update-removes-retrieved uses it
        self.base = 0 if "pop3-numbering-from-zero" in defects else 1
        self._sizes: dict[int, int] = {}

    def resolve(self, arg: str) -> int | None:
        """Index of the message a client number names, or None if there is none."""
        if "pop3-number-trailing-garbage" in self.defects:
            m = _NUMBER.match(arg)  # atoi(): leading digits, the rest ignored
            arg = m.group(0) if m else ""
        if not _NUMBER.fullmatch(arg):
            return None
        index = int(arg) - self.base
        if "pop3-number-clamped" in self.defects and self.messages:
            index = min(max(index, 0), len(self.messages) - 1)
        return index if 0 <= index < len(self.messages) else None

    def number(self, index: int) -> int:
        return index + self.base

    def listed(self, index: int) -> bool:
        """Whether STAT/LIST show this message (§5: deleted ones are not shown)."""
        return index not in self.deleted or "pop3-stat-counts-deleted" in self.defects

    def visible(self) -> list[int]:
        return [i for i in range(len(self.messages)) if self.listed(i)]

    def size(self, index: int) -> int:
        """§11: the exact octet count of the stored message, CRLF counted as two."""
        if "pop3-octets-lf" not in self.defects:
            return self.messages[index].size
        if index not in self._sizes:
            try:
                data = self.store.read(self.messages[index])
            except FileNotFoundError:
                data = b""
            self._sizes[index] = len(data) - data.count(b"\r\n")
        return self._sizes[index]

    def stat(self) -> tuple[int, int]:
        shown = self.visible()
        return len(shown), sum(self.size(i) for i in shown)

    def uid(self, index: int) -> str:
        key = self.messages[index].key
        if "pop3-uidl-unstable" in self.defects:
            return hashlib.md5(f"{key}/{self.nonce}".encode()).hexdigest()
        if "pop3-uidl-space" in self.defects:
            return key.replace(".", " ", 1)  # "<seconds> <rest>": a date and a time
        if "pop3-uidl-long" in self.defects:
            return self.messages[index].path.as_posix().split(":", 1)[0]
        if "pop3-uidl-positional" in self.defects:
            return f"msg{index + 1:06d}"
        return key

    def content(self, index: int) -> bytes:
        return self.store.read(self.messages[index])

    def mark(self, index: int) -> None:
        self.deleted.add(index)
        if "pop3-dele-immediate" in self.defects:
            self.store.delete(self.messages[index])

    def unmark_all(self) -> None:
        self.deleted.clear()

    def expunge(self) -> int:
        """§6 UPDATE: remove the marked messages; returns how many could not be removed."""
        failed = 0
        doomed = set(self.deleted)
        if "pop3-update-removes-retrieved" in self.defects:
            doomed |= self.retrieved
        for index in sorted(doomed):
            try:
                self.store.delete(self.messages[index])
            except OSError:
                failed += 1
        return failed

    def remaining(self) -> int:
        return len(self.messages) - len(self.deleted)
