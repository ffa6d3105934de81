"""Hand-built runs for the report tests: every status, both gate outcomes, hostile server text.

A uniquely named module rather than conftest.py, because several conftest
modules in a tree without __init__.py all import as "conftest".
"""

from __future__ import annotations

from harness.results import CheckResult, Level, RunResult, Status

# What a hostile server might put in a reply: markup, a Jinja expression, a
# terminal escape, NUL, other XML-illegal controls, a lone surrogate, U+FFFE.
HOSTILE = "550 <script>alert(1)</script> {{ 7*7 }} \x1b[31mRED\x00 \x0b\x0c\x7f\ud800\ufffe end"


def _t(dir_: str, t: float, text: str, conn: str = "smtp", note: str | None = None) -> dict:
    entry = {"conn": conn, "dir": dir_, "t": t, "text": text}
    if note:
        entry["note"] = note
    return entry


def make_run() -> RunResult:
    checks = [
        CheckResult(
            id="smtp.greeting", title="Server greets with 220", suite="smtp-core", level=Level.MUST,
            rfc=("5321#4.2",), status=Status.PASSED, duration_ms=3.25,
            transcript=[_t("S", 0.001, "220 mx.example.test ESMTP\\r\\n")],
        ),
        CheckResult(
            id="smtp.rcpt-before-mail", title="RCPT before MAIL is refused", suite="smtp-core",
            level=Level.MUST, rfc=("5321#4.1.4", "5321#4.3.2"), status=Status.FAILED,
            message="expected 503, got 550", duration_ms=12.5, gated=True,
            failures=["expected code 503, got 550", "expected class 5xx sequence error"],
            findings=["reply text contains control characters"],
            rationale="Out-of-order commands must be refused as a bad sequence.",
            source="smtp-core.yaml:12",
            transcript=[
                _t("S", 0.0012, "220 mx.example.test ESMTP\\r\\n"),
                _t("C", 0.0020, "EHLO client.test\\r\\n"),
                _t("S", 0.0031, "250 mx.example.test\\r\\n"),
                _t("C", 0.0040, "RCPT TO:<alice@example.test>\\r\\n"),
                _t("S", 0.0050, HOSTILE, note="first divergence"),
            ],
        ),
        CheckResult(
            id="smtp.vrfy-252", title="VRFY answers 252", suite="smtp-core", level=Level.SHOULD,
            rfc=("5321#3.5.3",), status=Status.FAILED, message="expected 252, got 502",
            duration_ms=4.0, gated=False, failures=["expected code 252, got 502"],
            transcript=[_t("C", 0.001, "VRFY alice\\r\\n"), _t("S", 0.002, "502 no\\r\\n")],
        ),
        CheckResult(
            id="smtp.data-timeout", title="DATA completes", suite="smtp-core", level=Level.MUST,
            rfc=("5321#4.5.3.2",), status=Status.ERROR, error_class="timeout",
            message="no reply within 5.0s", duration_ms=5000.0, gated=True,
            transcript=[_t("C", 0.0, "DATA\\r\\n"), _t("*", 5.0, "timeout", note="read timed out")],
        ),
        CheckResult(
            id="smtp.auth-cram-md5", title="AUTH CRAM-MD5", suite="smtp-auth", level=Level.MAY,
            rfc=("2195",), status=Status.SKIPPED, message="server does not advertise AUTH CRAM-MD5",
        ),
        CheckResult(
            id="smtp.expn-known", title="EXPN refused", suite="smtp-core", level=Level.MUST,
            rfc=("5321#3.5.3",), status=Status.FAILED, message="expected 502, got 250",
            known_deviation=True, gated=False, failures=["expected code 502, got 250"],
        ),
        CheckResult(
            id="pop3.roundtrip", title="SMTP to POP3 round trip is byte-exact", suite="pop3-core",
            level=Level.MUST, rfc=("1939#7",), status=Status.PASSED, duration_ms=80.0,
            transcript=[_t("C", 0.0, "MAIL FROM:<bob@example.test>\\r\\n"),
                        _t("C", 0.05, "RETR 1\\r\\n", conn="pop3"),
                        _t("S", 0.06, "+OK\\r\\n", conn="pop3")],
        ),
    ]
    return RunResult(
        tool_version="0.1.0",
        started="2025-01-02T03:04:05Z",
        target={"smtp": {"host": "127.0.0.1", "port": 2525, "tls": "none"},
                "domain": "example.test",
                "users": [{"address": "alice@example.test", "login": "alice", "password": "***"}]},
        checks=checks,
        duration_s=5.2,
    )
