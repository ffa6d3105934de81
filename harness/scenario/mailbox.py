"""POP3 side of the round trip: mailbox locks shared by parallel checks, and finding a sent message.

Servers may lock a maildrop per session (RFC 1939 §4; Dovecot and the
reference server do), so two checks logging into one mailbox at once would
see ``-ERR [IN-USE]``. Checks therefore hold a run-wide lock per POP3 login
while they have a session open on it. A check may take the same login again
(re-entrant per check), so a check that tests the server's own locking can
open two sessions.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from harness.errors import Timeout
from harness.message import find_marker
from harness.protocol.pop3_listings import drop_listing, scan_listing, unique_id_listings
from harness.protocol.replies import Pop3Response
from harness.session import Connection

__all__ = ["MailboxLocks", "Found", "find_message"]


class MailboxLocks:
    def __init__(self, wait: float = 120.0) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._owner: dict[str, str] = {}
        self._pinned: set[str] = set()
        self.wait = wait

    def acquire(self, login: str, owner: str) -> None:
        with self._guard:
            lock = self._locks.setdefault(login, threading.Lock())
            if self._owner.get(login) == owner:
                return
        if not lock.acquire(timeout=self.wait):
            raise Timeout(f"mailbox {login!r} stayed busy with another check for {self.wait:g} s")
        with self._guard:
            self._owner[login] = owner

    def pin(self, login: str, owner: str) -> None:
        """Hold the lock until the owner's check ends (its message numbers must stay valid)."""
        self.acquire(login, owner)
        with self._guard:
            self._pinned.add(login)

    def release(self, login: str, owner: str) -> None:
        """Give the lock back when the owner's session on it ended, unless it is pinned."""
        with self._guard:
            if self._owner.get(login) == owner and login not in self._pinned:
                del self._owner[login]
                self._locks[login].release()

    @contextlib.contextmanager
    def hold(self, login: str, owner: str) -> Iterator[None]:
        """Hold the lock for one session; a lock the owner already had stays held afterwards."""
        with self._guard:
            had = self._owner.get(login) == owner
        self.acquire(login, owner)
        try:
            yield
        finally:
            if not had:
                with self._guard:
                    del self._owner[login]
                    self._locks[login].release()

    def release_all(self, owner: str) -> None:
        with self._guard:
            for login, who in list(self._owner.items()):
                if who == owner:
                    self._pinned.discard(login)
                    del self._owner[login]
                    self._locks[login].release()


@dataclass(slots=True)
class Found:
    number: int
    message: bytes
    uid: str | None = None
    listed_octets: int | None = None     # what LIST said, to compare with the bytes RETR gave
    violations: tuple[str, ...] = ()     # MUST-level protocol violations in the RETR response


@dataclass(slots=True)
class _Scan:
    """Markers of messages already looked at, by UIDL, so each poll only reads new messages."""

    markers: dict[str, str | None] = field(default_factory=dict)


def _ok(conn: Connection, line: str, multiline: bool | None = None) -> Pop3Response:
    conn.send_line(line)
    return conn.read_response(multiline)


def scan_session(conn: Connection, marker: str, scan: _Scan, delete: bool) -> Found | None:
    """In an authenticated session: find the message whose X-Harness-Id is ``marker``."""
    listing = _ok(conn, "UIDL", True)
    if listing.ok:
        entries = unique_id_listings(listing)
    else:   # no UIDL: look at everything every time
        count, _ = drop_listing(_ok(conn, "STAT")) or (0, 0)
        entries = [(n, f"#{n}") for n in range(1, count + 1)]
    for number, uid in entries:
        known = scan.markers.get(uid, "") if not uid.startswith("#") else ""
        if known == "":
            head = _ok(conn, f"TOP {number} 0", True)
            data = head.body_bytes if head.ok else _ok(conn, f"RETR {number}", True).body_bytes
            known = find_marker(data)
            if not uid.startswith("#"):
                scan.markers[uid] = known
        if known == marker:
            full = _ok(conn, f"RETR {number}", True)
            if not full.ok:
                continue
            _, octets = scan_listing(_ok(conn, f"LIST {number}")) or (number, None)
            if delete:
                _ok(conn, f"DELE {number}")
            violations = tuple(str(v) for v in full.violations if v.level == "MUST" and not v.local)
            return Found(number, full.body_bytes, None if uid.startswith("#") else uid, octets, violations)
    return None


def find_message(open_session: Callable[[contextlib.ExitStack], Connection], marker: str, *, timeout: float,
                 delete: bool, want_present: bool, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> Found | None:
    """Poll the mailbox until the message shows up or ``timeout`` passes.

    Each poll is a fresh, authenticated session (a POP3 session sees a
    snapshot of the maildrop taken at login), ended with QUIT so a DELE is
    applied. ``open_session`` enters the mailbox lock into the stack it is
    given once the login is under way; it is released when that session
    ends, so other checks can use the mailbox while this one waits between
    polls or for a slow server to answer the connect.
    """
    deadline = clock() + timeout
    scan = _Scan()
    delay = 0.1
    while True:
        with contextlib.ExitStack() as stack:
            conn = open_session(stack)
            try:
                found = scan_session(conn, marker, scan, delete)
                _ok(conn, "QUIT")
            finally:
                conn.close()
        if found is not None:
            return found
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        sleep(min(delay, remaining))
        delay = min(delay * 2, 1.0 if want_present else 2.0)
