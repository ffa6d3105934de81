"""Checks sharing one mailbox do not hold its lock while a slow server makes them wait.

A POP3 server that withholds its greeting, then its answer to PASS, on
command: while the greeting is withheld another check can take the mailbox;
from PASS on (where a server locks the maildrop, RFC 1939 §4) it cannot.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from harness.errors import Timeout
from harness.results import Level
from harness.scenario.context import CheckContext, ServerInfo
from harness.scenario.mailbox import MailboxLocks
from harness.scenario.model import Check
from harness.scenario.stepbase import open_maildrop
from harness.session import Limits
from harness.config.target import Endpoint, Target, User
from harness.transcript import Transcript

USER = User("alice@example.test", "alice", "alicepw")


class GatedPop3:
    """One connection; each stage waits for the test to open its gate."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connected, self.greet = threading.Event(), threading.Event()
        self.pass_seen, self.answer_pass = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as rfile:
            self.connected.set()
            self.greet.wait(10)
            conn.sendall(b"+OK ready\r\n")
            for line in rfile:
                if line.startswith(b"USER"):
                    conn.sendall(b"+OK\r\n")
                elif line.startswith(b"PASS"):
                    self.pass_seen.set()
                    self.answer_pass.wait(10)
                    conn.sendall(b"+OK logged in\r\n")
                else:
                    conn.sendall(b"+OK bye\r\n")
                    return

    def close(self) -> None:
        for gate in (self.greet, self.answer_pass):
            gate.set()
        self.listener.close()
        self.thread.join(5)


def _context(port: int, locks: MailboxLocks) -> CheckContext:
    check = Check(id="lock", title="lock", level=Level.MUST, rfc=("1939#4",), steps=(), suite="t", file="", line=0)
    target = Target(pop3=Endpoint("127.0.0.1", port), users=(USER,))
    return CheckContext(check, target, Limits(read_timeout=10, reply_deadline=10), locks, ServerInfo(),
                        Transcript([]))


def _free_for_another_check(locks: MailboxLocks) -> bool:
    saved, locks.wait = locks.wait, 0.2
    try:
        locks.acquire(USER.login, "another-check")
    except Timeout:
        return False
    finally:
        locks.wait = saved
    locks.release(USER.login, "another-check")
    return True


def test_lock_is_taken_at_pass_not_while_the_server_is_slow() -> None:
    server = GatedPop3()
    locks = MailboxLocks()
    ctx = _context(server.port, locks)
    stack = contextlib.ExitStack()
    done: list[object] = []
    worker = threading.Thread(target=lambda: done.append(open_maildrop(ctx, USER, stack)), daemon=True)
    try:
        worker.start()
        assert server.connected.wait(5)
        assert _free_for_another_check(locks), "the mailbox lock was held while the greeting was withheld"
        server.greet.set()
        assert server.pass_seen.wait(5)
        assert not _free_for_another_check(locks), "PASS was sent without holding the mailbox lock"
        server.answer_pass.set()
        worker.join(5)
        assert done, "open_maildrop did not return"
        stack.close()
        assert _free_for_another_check(locks), "the lock outlived the session"
    finally:
        stack.close()
        ctx.close_all()
        server.close()
