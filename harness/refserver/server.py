"""``ReferenceServer``: SMTP, SMTPS, POP3 and POP3S on one asyncio loop in one thread.

The loop runs in a daemon thread so that blocking callers (the CLI, pytest
fixtures, the conformance runner) can start a server, talk to it over real
sockets and stop it, without knowing about asyncio. Locust must never share a
process with this thread (docs/architecture.md): ``import locust`` hangs while
another thread is alive, so load runs start Locust in its own process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Self

from .accounts import DEFAULT_USERS, DOMAIN, HOSTNAME, User, UserDirectory
from .defects import DefectSet, validate_defects
from .delivery import Delivery
from .maildir import MaildirStore
from .pop3 import STREAM_LIMIT as POP3_STREAM_LIMIT
from .pop3 import Pop3Context, Pop3Session
from .smtp import RefSMTP, SmtpContext, smtp_hooks
from .tls import server_context

__all__ = ["ReferenceServer", "serve_forever"]

BACKLOG = 128  # small backlogs drop SYNs under a spike (docs/contributing.md)
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class ReferenceServer:
    """The embedded "known good" SMTP/POP3 peer, optionally with defect knobs."""

    domain: str = DOMAIN
    hostname: str = HOSTNAME
    # Idle timeouts per connection: RFC 5321 §4.5.3.2.7 asks for at least 5
    # minutes, RFC 1939 §3 for at least 10. Tests may lower them before start().
    smtp_idle_timeout: float = 300.0
    pop3_idle_timeout: float = 600.0

    def __init__(
        self,
        defects: Iterable[str] = (),
        maildir: str | Path | None = None,
        host: str = "127.0.0.1",
        smtp_port: int = 0,
        submission_port: int = 0,
        pop3_port: int = 0,
        pop3s_port: int = 0,
    ) -> None:
        self.defect_names: tuple[str, ...] = tuple(defects)
        self.host = host
        self.users: tuple[User, ...] = DEFAULT_USERS
        self._requested = {"smtp": smtp_port, "smtps": submission_port, "pop3": pop3_port, "pop3s": pop3s_port}
        self._maildir_arg = Path(maildir) if maildir is not None else None
        self._tempdir: str | None = None
        self.maildir: Path | None = self._maildir_arg
        self.smtp_port = self.smtps_port = self.pop3_port = self.pop3s_port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._smtp_ctx: SmtpContext | None = None
        self._pop3_ctx: Pop3Context | None = None

    # ----- lifecycle ----------------------------------------------------------

    def start(self) -> Self:
        """Bind every listener and serve from a daemon thread; returns once bound."""
        if self._thread is not None:
            raise RuntimeError("ReferenceServer already started")
        defects = DefectSet(validate_defects(self.defect_names))  # ValueError names the valid knobs
        if self._maildir_arg is None:
            self._tempdir = tempfile.mkdtemp(prefix="mailharness-maildir-")
            self.maildir = Path(self._tempdir)
        assert self.maildir is not None
        users = UserDirectory(self.users, self.domain)
        store = MaildirStore(self.maildir, self.hostname)
        for user in self.users:
            store.ensure(user.login)
        tls = server_context()
        self._smtp_ctx = SmtpContext(self.hostname, users, Delivery(store, users, self.hostname, defects), defects,
                                     tls, smtp_hooks(defects), timeout=self.smtp_idle_timeout)
        self._pop3_ctx = Pop3Context(self.hostname, users, store, defects, tls, timeout=self.pop3_idle_timeout)

        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._loop = loop
        self._thread = threading.Thread(target=self._run, args=(ready,), name="mailharness-refserver", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=START_TIMEOUT)
        except BaseException:
            self._thread.join(STOP_TIMEOUT)
            self._reset()
            raise
        return self

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._bind())
        except BaseException as exc:  # noqa: BLE001 - handed to start(), which re-raises it
            ready.set_exception(exc)
        else:
            ready.set_result(None)
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        smtp, pop3 = self._smtp_ctx, self._pop3_ctx
        assert smtp is not None and pop3 is not None
        try:
            for key, implicit in (("smtp", False), ("smtps", True)):
                server = await loop.create_server(
                    lambda implicit=implicit: RefSMTP(smtp, implicit_tls=implicit, loop=loop),
                    self.host, self._requested[key], backlog=BACKLOG,
                    ssl=smtp.tls_context if implicit else None)
                self._servers.append(server)
            for key, implicit in (("pop3", False), ("pop3s", True)):
                server = await asyncio.start_server(
                    lambda r, w, implicit=implicit: self._pop3_connection(r, w, implicit),
                    self.host, self._requested[key], backlog=BACKLOG, limit=POP3_STREAM_LIMIT,
                    ssl=pop3.tls_context if implicit else None)
                self._servers.append(server)
        except BaseException:
            for server in self._servers:
                server.close()
            raise
        ports = [s.sockets[0].getsockname()[1] for s in self._servers]
        self.smtp_port, self.smtps_port, self.pop3_port, self.pop3s_port = ports

    async def _pop3_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, implicit: bool) -> None:
        ctx = self._pop3_ctx
        assert ctx is not None
        session = Pop3Session(ctx, reader, writer, implicit_tls=implicit)
        task = asyncio.current_task()
        assert task is not None
        ctx.sessions[task] = session
        try:
            await session.run()
        finally:
            del ctx.sessions[task]

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        # Abort rather than close: a graceful TLS close waits for the peer's
        # close_notify. The sessions then end through their normal error path;
        # cancelling them instead makes asyncio's stream callback log noise.
        if self._smtp_ctx is not None:
            for connection in list(self._smtp_ctx.connections):
                connection.abort()
        tasks: list[asyncio.Task[None]] = []
        if self._pop3_ctx is not None:
            for task, session in list(self._pop3_ctx.sessions.items()):
                session.abort()
                tasks.append(task)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.wait_closed() for s in self._servers), *tasks,
                                                  return_exceptions=True), STOP_TIMEOUT / 2)

    def stop(self) -> None:
        """Close listeners and connections and join the thread; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(STOP_TIMEOUT)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
            thread.join(STOP_TIMEOUT)
        self._reset()

    def _reset(self) -> None:
        self._loop = None
        self._thread = None
        self._servers = []
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None
            self.maildir = None

    def __enter__(self) -> Self:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----- what clients need to know -----------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def maildir_path(self, login: str) -> Path:
        if self.maildir is None:
            raise RuntimeError("the maildir exists only while the server is started")
        return self.maildir / login

    def target(self) -> dict[str, Any]:
        """The target-file shape for this server (docs/target-file.md)."""
        first = self.users[0]
        return {
            "smtp": {"host": self.host, "port": self.smtp_port, "tls": "none"},
            "pop3": {"host": self.host, "port": self.pop3_port, "tls": "none"},
            "domain": self.domain,
            "users": [u.as_target() for u in self.users],
            "smtp_auth": {"login": first.login, "password": first.password},
            "delivery_timeout": "5s",
            "smtps": {"host": self.host, "port": self.smtps_port, "tls": "implicit"},
            "pop3s": {"host": self.host, "port": self.pop3s_port, "tls": "implicit"},
        }


def _yaml_scalar(value: Any) -> str:
    text = str(value)
    if isinstance(value, int) or (text and all(c.isalnum() or c in "._-@/" for c in text) and not text[0].isdigit()):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def target_yaml(target: dict[str, Any]) -> str:
    """Render a target dict in the flow style of docs/target-file.md (no YAML library needed)."""

    def flow(mapping: dict[str, Any]) -> str:
        return "{" + ", ".join(f"{k}: {_yaml_scalar(v)}" for k, v in mapping.items()) + "}"

    lines = []
    for key, value in target.items():
        if isinstance(value, dict):
            lines.append(f"{key}: {flow(value)}")
        elif isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"  - {flow(item)}" for item in value)
        else:
            lines.append(f"{key}: {_yaml_scalar(value)}")
    return "\n".join(lines) + "\n"


def _interrupt_on_signals() -> dict[int, Any]:
    """Treat SIGTERM (CI job cancellation, ``kill``) and SIGINT like Ctrl-C, so the temp maildir is removed.

    SIGINT is set too because a shell without job control starts background commands with SIGINT
    ignored, and Python then installs no handler of its own: ``kill -INT`` would do nothing.
    Returns the handlers to put back.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def serve_forever(
    host: str = "127.0.0.1",
    smtp_port: int = 0,
    pop3_port: int = 0,
    smtps_port: int = 0,
    pop3s_port: int = 0,
    maildir: str | Path | None = None,
    defects: Iterable[str] = (),
    out: IO[str] | None = None,
) -> None:
    """Run a ReferenceServer until KeyboardInterrupt (``mailharness serve``).

    Prints a target file on ``out``: the ports as comments, then YAML that
    ``mailharness run --target`` accepts as it is.
    """
    out = out if out is not None else sys.stdout
    server = ReferenceServer(defects=defects, maildir=maildir, host=host, smtp_port=smtp_port,
                             submission_port=smtps_port, pop3_port=pop3_port, pop3s_port=pop3s_port)
    server.start()
    # Before the target is printed: whoever reads it may signal at once.
    previous = _interrupt_on_signals()
    try:
        names = ", ".join(server.defect_names) or "none"
        out.write(f"# mailharness reference server ({server.hostname}); defects: {names}\n")
        out.write(f"# SMTP {host}:{server.smtp_port}  SMTPS {host}:{server.smtps_port}  "
                  f"POP3 {host}:{server.pop3_port}  POP3S {host}:{server.pop3s_port}\n")
        out.write(f"# maildir: {server.maildir}\n# press Ctrl-C to stop\n")
        out.write(target_yaml(server.target()))
        out.flush()
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        server.stop()
