"""The no-PIPELINING knobs behave like the MTAs they stand for (RFC 2920 §3.1).

``smtp-no-pipelining-close`` does not advertise PIPELINING and ends the session
when a command arrives with more input behind it; ``smtp-no-pipelining-bare-lf-end``
adds a bare-LF end of data. That second server is vulnerable to SMTP smuggling,
yet a probe that sends the whole smuggled transaction in one write delivers
nothing: the pipelined rest is refused. Only separate writes show the hole.
"""

from __future__ import annotations

import pytest

from harness.refserver import ReferenceServer

from .conftest import smtp_session, stored, wait_for

PIPELINING_REFUSED = 500
SMUGGLED = (b"MAIL FROM:<evil@remote.test>\r\n", b"RCPT TO:<bob@example.test>\r\n", b"DATA\r\n",
            b"Subject: smuggled\r\n\r\nhi\r\n.\r\n")


def _ehlo_keywords(srv: ReferenceServer) -> list[bytes]:
    with smtp_session(srv.smtp_port, ehlo=None) as w:
        w.send("EHLO client.test")
        code, lines = w.smtp()
        assert code == 250
        return [line.split()[0].upper() for line in lines[1:]]


def _open_data(w) -> None:  # noqa: ANN001 - conftest.Wire
    assert w.cmd("MAIL FROM:<a@remote.test>") == 250
    assert w.cmd("RCPT TO:<alice@example.test>") == 250
    assert w.cmd("DATA") == 354


@pytest.mark.parametrize("knob", ["smtp-no-pipelining-close", "smtp-no-pipelining-bare-lf-end"])
def test_pipelining_not_advertised_and_pipelined_input_refused(knob: str) -> None:
    with ReferenceServer(defects=[knob]) as srv:
        assert b"PIPELINING" not in _ehlo_keywords(srv)
        with smtp_session(srv.smtp_port) as w:
            assert w.cmd("NOOP") == 250          # one command per write: served as usual
            w.send(b"NOOP\r\nNOOP\r\n")
            code, lines = w.smtp()
            assert (code, b"pipelining" in lines[0]) == (PIPELINING_REFUSED, True)
            assert w.closed()


def test_clean_server_advertises_and_serves_pipelining() -> None:
    with ReferenceServer() as srv:
        assert b"PIPELINING" in _ehlo_keywords(srv)
        with smtp_session(srv.smtp_port) as w:
            w.send(b"NOOP\r\nNOOP\r\n")
            assert (w.code(), w.code()) == (250, 250)


def test_starttls_with_pipelined_plaintext_is_refused_before_tls() -> None:
    with ReferenceServer(defects=["smtp-no-pipelining-close"]) as srv:
        with smtp_session(srv.smtp_port) as w:
            w.send(b"STARTTLS\r\nXYZZY\r\n")
            code, lines = w.smtp()
            assert code == PIPELINING_REFUSED and b"pipelining" in lines[0]
            assert w.closed()
        with smtp_session(srv.smtp_port) as w:     # STARTTLS alone still works
            assert w.cmd("STARTTLS") == 220
            w.starttls()
            assert w.cmd("EHLO client.test") == 250


def test_one_write_smuggling_probe_misses_the_no_pipelining_server() -> None:
    with ReferenceServer(defects=["smtp-no-pipelining-bare-lf-end"]) as srv:
        with smtp_session(srv.smtp_port) as w:
            _open_data(w)
            w.send(b"Subject: one\r\n\r\nx\r\n.\n" + b"".join(SMUGGLED))
            assert w.code() == 250                 # the fake end was taken ...
            assert w.code() == PIPELINING_REFUSED  # ... the pipelined rest refused
            assert w.closed()
        assert wait_for(lambda: len(stored(srv, "alice")) == 1)
        assert stored(srv, "bob") == []


def test_separate_writes_smuggle_a_message_through_the_no_pipelining_server() -> None:
    with ReferenceServer(defects=["smtp-no-pipelining-bare-lf-end"]) as srv:
        with smtp_session(srv.smtp_port) as w:
            _open_data(w)
            w.send(b"Subject: one\r\n\r\nx\r\n.\n")
            assert w.code() == 250
            codes = [w.cmd(part) for part in SMUGGLED]
            assert codes == [250, 250, 354, 250]
        assert wait_for(lambda: len(stored(srv, "bob")) == 1)
        assert b"Subject: smuggled" in stored(srv, "bob")[0]
