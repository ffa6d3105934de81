"""Recipient policy and final delivery into the Maildir store.

Final delivery adds exactly two trace fields on top of the message content
(RFC 5321 §4.4): ``Return-Path`` (required at final delivery) and the
``Received`` stamp, then stores the content byte for byte.
"""

from __future__ import annotations

import email.utils
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from .accounts import IMPLEMENTATION, User, UserDirectory
from .address import Mailbox
from .content_defects import apply_content_defects
from .defects import DefectSet
from .maildir import MaildirStore

__all__ = ["Delivery", "Route", "Routing", "new_queue_id"]

MAX_HEADER_LINE = 998  # RFC 5322 §2.1.1, excluding CRLF
_CLEAR_HIGH_BIT = bytes(range(128)) * 2  # the smtp-8bit-strip knob's byte table


class Route(Enum):
    LOCAL = "local"
    DROP = "drop"  # accepted foreign recipient: no relaying, the copy is dropped
    UNKNOWN_USER = "unknown-user"
    RELAY_DENIED = "relay-denied"


@dataclass(frozen=True, slots=True)
class Routing:
    route: Route
    user: User | None = None


def new_queue_id() -> str:
    return os.urandom(6).hex().upper()


class Delivery:
    def __init__(self, store: MaildirStore, users: UserDirectory, hostname: str, defects: DefectSet) -> None:
        self.store = store
        self.users = users
        self.hostname = hostname
        self.defects = defects
        self.message_ids: set[tuple[str, bytes]] = set()  # (login, Message-ID): smtp-dedupe-message-id

    def _duplicate(self, login: str, content: bytes) -> bool:
        """The smtp-dedupe-message-id knob: a Message-ID this mailbox already got is dropped."""
        head = content.split(b"\r\n\r\n", 1)[0]
        found = re.search(rb"(?im)^message-id:[ \t]*(\S+)", head)
        if "smtp-dedupe-message-id" not in self.defects or found is None:
            return False
        key = (login, found.group(1))
        seen = key in self.message_ids
        self.message_ids.add(key)
        return seen

    def route(self, mailbox: Mailbox, *, authenticated: bool) -> Routing:
        """Decide one RCPT (RFC 5321 §3.6.2, §4.5.1)."""
        local = mailbox.mailbox_name.lower()
        ours = mailbox.domain is None or mailbox.domain.lower() == self.users.domain
        if not ours:
            # Authenticated submission may address anyone; we accept but never relay.
            if authenticated or "smtp-open-relay" in self.defects:
                return Routing(Route.DROP)
            return Routing(Route.RELAY_DENIED)
        if local == "postmaster":
            if "smtp-postmaster-rejected" in self.defects:
                return Routing(Route.UNKNOWN_USER)
            return Routing(Route.LOCAL, self.users.postmaster)
        user = self.users.by_local_part(local)
        return Routing(Route.LOCAL, user) if user else Routing(Route.UNKNOWN_USER)

    def received(self, *, helo: str, peer_ip: str, protocol: str, queue_id: str, rcpt: str) -> bytes:
        date = email.utils.format_datetime(datetime.now(UTC).astimezone())
        head = f"Received: from {helo} ({helo} [{peer_ip}])"
        tail = f"by {self.hostname} ({IMPLEMENTATION}) with {protocol} id {queue_id} for <{rcpt}>; {date}"
        line = f"{head} {tail}"
        if len(line.encode("utf-8", "surrogateescape")) > MAX_HEADER_LINE:
            line = f"{head}\r\n\t{tail}"  # fold rather than exceed the 998-octet line limit
        return line.encode("utf-8", "surrogateescape") + b"\r\n"

    def deliver(
        self,
        *,
        sender: str,
        recipients: list[tuple[str, User]],
        content: bytes,
        helo: str,
        peer_ip: str,
        protocol: str,
        queue_id: str,
    ) -> None:
        """Store one copy per distinct mailbox. Raises OSError if the store fails."""
        if "smtp-8bit-strip" in self.defects:
            content = content.translate(_CLEAR_HIGH_BIT)
        transformed = apply_content_defects(content, self.defects)  # the content knobs of defects_mime.py
        if transformed is None:
            return  # smtp-discard-no-date: accepted, never stored
        content = transformed
        done: set[str] = set()
        for rcpt, user in recipients:
            if user.login in done:
                continue  # one copy per mailbox, as MTAs do after alias expansion
            done.add(user.login)
            if self._duplicate(user.login, content):
                continue
            header = b""
            if "smtp-no-return-path" not in self.defects:
                header += f"Return-Path: <{sender}>\r\n".encode("utf-8", "surrogateescape")
            if "smtp-no-trace" not in self.defects:
                header += self.received(helo=helo, peer_ip=peer_ip, protocol=protocol, queue_id=queue_id, rcpt=rcpt)
            self.store.deliver(user.login, header + content)
