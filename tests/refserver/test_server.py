"""ReferenceServer lifecycle, the target dict and ``serve_forever``."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.refserver import DEFAULT_USERS, ReferenceServer
from harness.refserver.server import target_yaml

from .conftest import Wire, send_mail, stored


def test_target_shape_and_lifecycle(tmp_path: Path) -> None:
    srv = ReferenceServer(maildir=tmp_path)
    srv.start()
    try:
        target = srv.target()
        assert target["smtp"] == {"host": "127.0.0.1", "port": srv.smtp_port, "tls": "none"}
        assert target["pop3"] == {"host": "127.0.0.1", "port": srv.pop3_port, "tls": "none"}
        assert target["smtps"] == {"host": "127.0.0.1", "port": srv.smtps_port, "tls": "implicit"}
        assert target["pop3s"] == {"host": "127.0.0.1", "port": srv.pop3s_port, "tls": "implicit"}
        assert target["domain"] == srv.domain == "example.test"
        assert target["users"] == [{"address": u.address, "login": u.login, "password": u.password}
                                   for u in DEFAULT_USERS]
        assert target["smtp_auth"] == {"login": "alice", "password": "alicepw"}
        assert target["delivery_timeout"] == "5s"
        assert len({srv.smtp_port, srv.smtps_port, srv.pop3_port, srv.pop3s_port}) == 4
        assert yaml.safe_load(target_yaml(target)) == target
        assert srv.maildir_path("bob") == tmp_path / "bob"
        assert send_mail(srv.smtp_port, b"Subject: x\r\n\r\nx\r\n", rcpt="bob@example.test") == 250
        assert len(stored(srv, "bob")) == 1
        idle = Wire(srv.pop3_port)  # open connections do not block stop()
        idle.line()
    finally:
        srv.stop()
        srv.stop()  # idempotent
    assert idle.closed(1.0)
    assert (tmp_path / "bob" / "new").is_dir()  # a given maildir is kept
    with pytest.raises(OSError):
        Wire(srv.smtp_port, timeout=1.0)


def test_temporary_maildir_is_removed() -> None:
    with ReferenceServer() as srv:
        root = srv.maildir
        assert root is not None and (root / "alice" / "new").is_dir()
    assert not root.exists()


def test_servers_run_side_by_side() -> None:
    with ReferenceServer() as a, ReferenceServer(defects=["smtp-greeting-code"]) as b, \
            Wire(a.smtp_port) as wa, Wire(b.smtp_port) as wb:
        assert (wa.code(), wb.code()) == (220, 250)


def test_start_raises_when_a_port_is_taken() -> None:
    with ReferenceServer() as first:
        second = ReferenceServer(smtp_port=first.smtp_port)
        with pytest.raises(OSError):
            second.start()
        assert not second.running
        with Wire(first.smtp_port) as w:  # the first server is unaffected
            assert w.code() == 220


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_forever_prints_target_and_stops_cleanly(sig: signal.Signals, tmp_path: Path) -> None:
    code = ("import sys; from harness.refserver import serve_forever; "
            f"serve_forever(maildir={str(tmp_path)!r}, defects=['pop3-no-lock'])")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("pop3s:"):
            line = proc.stdout.readline()
            assert line, "serve_forever exited early"
            lines.append(line)
        text = "".join(lines)
        assert "defects: pop3-no-lock" in text
        target = yaml.safe_load(text)
        with Wire(target["smtp"]["port"]) as w:
            assert w.code() == 220
        proc.send_signal(sig)
        assert proc.wait(10) == 0
    finally:
        proc.kill()


def test_serve_forever_writes_to_out(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()

    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("harness.refserver.server.time.sleep", interrupt)
    from harness.refserver import serve_forever

    serve_forever(out=out)
    assert yaml.safe_load(out.getvalue())["domain"] == "example.test"


def test_idle_timeouts_close_with_a_reason() -> None:
    srv = ReferenceServer()
    srv.smtp_idle_timeout = srv.pop3_idle_timeout = 0.3
    with srv, Wire(srv.smtp_port) as smtp, Wire(srv.pop3_port) as pop3:
        assert smtp.code() == 220 and pop3.line().startswith(b"+OK")
        assert smtp.code(2.0) == 421 and smtp.closed()
        assert pop3.line(2.0).startswith(b"-ERR") and pop3.closed()
