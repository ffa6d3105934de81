"""The Maildir store shared by SMTP delivery and the POP3 server.

One directory per login, ``<root>/<login>/{tmp,new,cur}``. Delivery writes the
file in ``tmp`` and renames it into ``new`` (the Maildir protocol), so a POP3
session never sees a half-written message. File names sort in delivery order
and never repeat, so the base name doubles as the POP3 UIDL (RFC 1939 §7:
0x21-0x7E, at most 70 characters, never reused).

The per-mailbox lock is the POP3 maildrop lock (RFC 1939 §4). It lives in
memory: only this process's POP3 server takes it.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MaildirStore", "StoredMessage"]

_SUBDIRS = ("tmp", "new", "cur")


@dataclass(frozen=True, slots=True)
class StoredMessage:
    key: str  # base file name without Maildir ":2,flags" info; stable and unique
    path: Path
    size: int  # exact bytes on disk (CRLF line ends)


class MaildirStore:
    def __init__(self, root: Path, hostname: str) -> None:
        self.root = root
        # Maildir names end in the host name; '/' and ':' would break the name.
        self._host = hostname.replace("/", "\\057").replace(":", "\\072")
        self._seq = itertools.count(1)
        self._guard = threading.Lock()  # the store may be read from test threads too
        self._locks: dict[str, object] = {}

    def mailbox_path(self, login: str) -> Path:
        return self.root / login

    def ensure(self, login: str) -> Path:
        box = self.mailbox_path(login)
        for sub in _SUBDIRS:
            (box / sub).mkdir(parents=True, exist_ok=True)
        return box

    def _new_key(self) -> str:
        now = time.time_ns()
        sec, usec = divmod(now // 1000, 1_000_000)
        with self._guard:
            seq = next(self._seq)
        # Fixed-width seconds and microseconds first, so names sort by delivery time.
        return f"{sec:010d}.M{usec:06d}P{os.getpid()}Q{seq}R{secrets.token_hex(4)}.{self._host}"

    def deliver(self, login: str, data: bytes) -> str:
        """Store one message atomically; returns its key."""
        box = self.ensure(login)
        key = self._new_key()
        tmp = box / "tmp" / key
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
        os.replace(tmp, box / "new" / key)
        return key

    def list(self, login: str) -> list[StoredMessage]:
        """Messages in ``new`` and ``cur``, oldest first."""
        box = self.mailbox_path(login)
        found: list[StoredMessage] = []
        for sub in ("new", "cur"):
            try:
                entries = list(os.scandir(box / sub))
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                try:
                    size = entry.stat().st_size
                except FileNotFoundError:  # deleted by someone else meanwhile
                    continue
                found.append(StoredMessage(entry.name.split(":", 1)[0], Path(entry.path), size))
        found.sort(key=lambda m: m.key)
        return found

    def read(self, message: StoredMessage) -> bytes:
        return message.path.read_bytes()

    def delete(self, message: StoredMessage) -> bool:
        """Remove a message; False if it was already gone."""
        try:
            message.path.unlink()
        except FileNotFoundError:
            return False
        return True

    def lock(self, login: str, owner: object) -> bool:
        """Take the maildrop lock for ``owner``; False if another owner holds it."""
        with self._guard:
            holder = self._locks.setdefault(login, owner)
            return holder is owner

    def unlock(self, login: str, owner: object) -> None:
        with self._guard:
            if self._locks.get(login) is owner:
                del self._locks[login]
