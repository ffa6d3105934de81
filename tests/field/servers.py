"""Targets users actually bring, as fixtures: a split SMTP + POP3 pair that never delivers, one mailbox.

``split_target()`` runs a stock aiosmtpd server that accepts every message and
throws it away, beside the reference server's POP3 side: two separate
products, so mail sent by SMTP never shows up in POP3. The target lists one
mailbox, as a user with a single test account would.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any, Iterator

from aiosmtpd.controller import Controller

from harness.refserver import ReferenceServer

__all__ = ["split_target", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Discard:
    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001 - aiosmtpd's hook signature
        return "250 OK: queued (and discarded)"


@contextlib.contextmanager
def split_target(users: int = 1) -> Iterator[dict[str, Any]]:
    """A target mapping: SMTP accepts and discards, POP3 serves real (empty) mailboxes."""
    port = free_port()
    controller = Controller(_Discard(), hostname="127.0.0.1", port=port)
    controller.start()
    pop3 = ReferenceServer().start()
    try:
        mapping = pop3.target()
        yield {"name": "split: aiosmtpd discards, reference POP3",
               "smtp": {"host": "127.0.0.1", "port": port}, "pop3": mapping["pop3"],
               "domain": mapping["domain"], "users": mapping["users"][:users],
               "delivery_timeout": mapping.get("delivery_timeout", 10)}
    finally:
        controller.stop()
        pop3.stop()
