#!/usr/bin/env python3
"""Smoke-test the servers from ci/servers/start.sh over raw sockets (no smtplib/poplib).

    python3 ci/servers/verify.py            # exit 0 if every check passed

Checks: greeting on every port; EHLO on 2525 lists STARTTLS and not AUTH before TLS; an unauthenticated
RCPT to a foreign domain is refused; a message to alice@example.test on 2525 shows up over POP3 2110
(USER/PASS, STAT, RETR; latency printed); AUTH PLAIN on 2587 after STARTTLS; AUTH on 2465 (implicit TLS);
STLS + login on 2110; login on POP3S 2995.
"""
from __future__ import annotations

import base64
import socket
import ssl
import sys
import time
import uuid

HOST = "127.0.0.1"
PORTS = {"smtp": 2525, "submission": 2587, "smtps": 2465, "pop3": 2110, "pop3s": 2995}
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE

results: list[tuple[bool, str]] = []


def report(ok: bool, what: str) -> None:
    results.append((ok, what))
    print(("PASS " if ok else "FAIL ") + what, flush=True)


class Conn:
    def __init__(self, port: int, implicit_tls: bool = False) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=10)
        if implicit_tls:
            self.sock = CTX.wrap_socket(self.sock)
        self.buf = b""

    def starttls(self) -> None:
        assert not self.buf, "data after STARTTLS/STLS response (injection?)"
        self.sock = CTX.wrap_socket(self.sock)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def smtp_reply(self) -> tuple[int, list[str]]:
        lines = []
        while True:
            ln = self.line().decode("utf-8", "replace")
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                return int(ln[:3]), lines

    def smtp(self, cmd: str) -> tuple[int, list[str]]:
        self.send(cmd + "\r\n")
        return self.smtp_reply()

    def pop(self, cmd: str) -> str:
        self.send(cmd + "\r\n")
        return self.line().decode("utf-8", "replace")

    def pop_multi(self) -> list[bytes]:
        out = []
        while True:
            ln = self.line()
            if ln == b".":
                return out
            out.append(ln[1:] if ln.startswith(b"..") else ln)

    def close(self) -> None:
        self.sock.close()


def ehlo_caps(lines: list[str]) -> set[str]:
    return {ln[4:].split()[0].upper() for ln in lines[1:] if len(ln) > 4}


def check_greetings() -> None:
    for name, port in PORTS.items():
        try:
            c = Conn(port, implicit_tls=name in ("smtps", "pop3s"))
            g = c.line().decode()
            ok = g.startswith("220 ") if name in ("smtp", "submission", "smtps") else g.startswith("+OK")
            report(ok, f"greeting {name} {port}: {g!r}")
            c.close()
        except Exception as e:  # noqa: BLE001
            report(False, f"greeting {name} {port}: {e!r}")


def check_ehlo_2525() -> None:
    c = Conn(PORTS["smtp"]); c.line()
    code, lines = c.smtp("EHLO client.example.test")
    caps = ehlo_caps(lines)
    report(code == 250 and "STARTTLS" in caps and "AUTH" not in caps,
           f"EHLO 2525 before TLS: STARTTLS={'STARTTLS' in caps} AUTH={'AUTH' in caps} caps={sorted(caps)}")
    code, lines = c.smtp("STARTTLS")
    c.starttls()
    code2, lines2 = c.smtp("EHLO client.example.test")
    caps2 = ehlo_caps(lines2)
    report(code == 220 and "AUTH" in caps2 and "STARTTLS" not in caps2,
           f"EHLO 2525 after STARTTLS ({code}): AUTH={'AUTH' in caps2} {[l for l in lines2 if 'AUTH' in l]}")
    c.smtp("QUIT"); c.close()


def check_relay_refused() -> None:
    c = Conn(PORTS["smtp"]); c.line()
    c.smtp("EHLO client.example.test")
    c.smtp("MAIL FROM:<someone@elsewhere.example>")
    code, lines = c.smtp("RCPT TO:<x@foreign.example>")
    report(400 <= code < 600, f"unauthenticated relay on 2525 refused: {lines[-1]!r}")
    c.smtp("QUIT"); c.close()


def pop_login(c: Conn, user: str, pw: str) -> bool:
    return c.pop(f"USER {user}").startswith("+OK") and c.pop(f"PASS {pw}").startswith("+OK")


def check_round_trip() -> None:
    token = uuid.uuid4().hex
    c = Conn(PORTS["smtp"]); c.line()
    c.smtp("EHLO client.example.test")
    c.smtp("MAIL FROM:<bob@example.test>")
    code_rcpt, _ = c.smtp("RCPT TO:<alice@example.test>")
    c.smtp("DATA")
    msg = (f"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: mh-verify {token}\r\n"
           f"Message-ID: <{token}@example.test>\r\n\r\nround trip {token}\r\n.\r\n")
    c.send(msg)
    code, lines = c.smtp_reply()
    t0 = time.monotonic()
    c.smtp("QUIT"); c.close()
    report(code_rcpt == 250 and code == 250, f"SMTP 2525 accepted message to alice@example.test: {lines[-1]!r}")
    found = None
    while time.monotonic() - t0 < 10 and found is None:
        p = Conn(PORTS["pop3"]); p.line()
        if not pop_login(p, "alice", "alicepw"):
            report(False, "POP3 2110 login alice/alicepw"); p.close(); return
        stat = p.pop("STAT")
        n = int(stat.split()[1])
        for i in range(n, 0, -1):
            if p.pop(f"RETR {i}").startswith("+OK") and any(token.encode() in ln for ln in p.pop_multi()):
                found = (i, stat)
                break
        p.pop("QUIT"); p.close()
        if found is None:
            time.sleep(0.1)
    latency = time.monotonic() - t0
    report(found is not None,
           f"round trip 2525 -> POP3 2110 (USER alice/PASS alicepw, {found and found[1]!r}, RETR {found and found[0]}):"
           f" seen after {latency:.2f}s")


def auth_plain(c: Conn, login: str, pw: str) -> tuple[int, list[str]]:
    return c.smtp("AUTH PLAIN " + base64.b64encode(f"\0{login}\0{pw}".encode()).decode())


def check_submission() -> None:
    c = Conn(PORTS["submission"]); c.line()
    _, lines = c.smtp("EHLO client.example.test")
    caps = ehlo_caps(lines)
    code_mail, mail_lines = c.smtp("MAIL FROM:<alice@example.test>")
    report("STARTTLS" in caps and "AUTH" not in caps and code_mail == 530,
           f"2587 before TLS: STARTTLS={'STARTTLS' in caps} AUTH={'AUTH' in caps}; MAIL -> {mail_lines[-1]!r}")
    code, _ = c.smtp("STARTTLS"); c.starttls()
    _, lines = c.smtp("EHLO client.example.test")
    code_bad, bad = auth_plain(c, "alice", "wrong")
    code_auth, auth = auth_plain(c, "alice", "alicepw")
    report(code == 220 and code_bad == 535 and code_auth == 235,
           f"2587 STARTTLS {code}; AUTH PLAIN wrong pw -> {bad[-1]!r}; alice/alicepw -> {auth[-1]!r}")
    c.smtp("MAIL FROM:<alice@example.test>")
    code_r, r = c.smtp("RCPT TO:<x@foreign.example>")
    report(code_r == 250, f"2587 authenticated relay to foreign domain accepted (then discarded locally): {r[-1]!r}")
    c.smtp("RSET"); c.smtp("QUIT"); c.close()


def check_smtps() -> None:
    c = Conn(PORTS["smtps"], implicit_tls=True); c.line()
    _, lines = c.smtp("EHLO client.example.test")
    code_auth, auth = auth_plain(c, "bob", "bobpw")
    report("AUTH" in ehlo_caps(lines) and code_auth == 235,
           f"2465 implicit TLS ({c.sock.version()}): AUTH PLAIN bob/bobpw -> {auth[-1]!r}")
    c.smtp("QUIT"); c.close()


def check_stls() -> None:
    c = Conn(PORTS["pop3"]); c.line()
    c.send("CAPA\r\n")
    first = c.line()
    caps = [ln.decode() for ln in c.pop_multi()] if first.startswith(b"+OK") else []
    r = c.pop("STLS")
    c.starttls()
    ok = pop_login(c, "bob", "bobpw")
    stat = c.pop("STAT")
    report("STLS" in caps and r.startswith("+OK") and ok,
           f"POP3 2110 CAPA has STLS={'STLS' in caps}; STLS -> {r!r} ({c.sock.version()}); bob/bobpw login ok={ok}; {stat!r}")
    c.pop("QUIT"); c.close()


def check_pop3s() -> None:
    c = Conn(PORTS["pop3s"], implicit_tls=True); c.line()
    ok = pop_login(c, "alice", "alicepw")
    stat = c.pop("STAT")
    c2 = Conn(PORTS["pop3s"], implicit_tls=True); c2.line()
    c2.pop("USER alice")
    bad = c2.pop("PASS nope")
    report(ok and bad.startswith("-ERR"),
           f"POP3S 2995 ({c.sock.version()}): alice/alicepw ok={ok} {stat!r}; wrong password -> {bad!r}")
    c.pop("QUIT"); c.close(); c2.close()


def main() -> int:
    for fn in (check_greetings, check_ehlo_2525, check_relay_refused, check_round_trip, check_submission,
               check_smtps, check_stls, check_pop3s):
        try:
            fn()
        except Exception as e:  # noqa: BLE001
            report(False, f"{fn.__name__}: {e!r}")
    failed = [w for ok, w in results if not ok]
    print(f"{len(results) - len(failed)}/{len(results)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
