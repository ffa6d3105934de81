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


# A hand-made load section in the shape `mailharness load` writes (docs/results.md), with
# a time series, a delivery histogram and one crossed threshold.
def make_load(scale: float = 1.0, crossed: bool = True) -> dict:
    phases = {
        "connect": {"requests": 1200, "failures": 0, "rps": 40.0, "p50": 1.2 * scale, "p95": 3.1 * scale,
                    "p99": 6.0 * scale, "max": 21.0 * scale},
        "MAIL": {"requests": 1200, "failures": 3, "rps": 40.0, "p50": 2.0 * scale, "p95": 9.5 * scale,
                 "p99": 30.2 * scale, "max": 88.0 * scale},
        "DATA": {"requests": 1197, "failures": 0, "rps": 39.9, "p50": 12.0 * scale, "p95": 48.0 * scale,
                 "p99": 120.0 * scale, "max": 410.0 * scale},
        "RETR": {"requests": 1190, "failures": 0, "rps": 39.6, "p50": 4.0 * scale, "p95": 11.0 * scale,
                 "p99": 19.0 * scale, "max": 60.0 * scale},
    }
    series = [{"t": float(t), "users": min(50, 5 * t), "rps": min(40.0, 4.0 * t), "failures": 1 if t == 12 else 0,
               "p50": 10 + t % 3, "p95": 40 + 2 * t, "p99": 90 + 5 * t} for t in range(0, 31, 2)]
    return {
        "duration_s": 30.0, "users": 50, "messages_sent": 1197, "messages_per_s": 39.9, "failures": 3,
        "phases": phases, "messages_verified": 1195, "messages_lost": 2,
        "delivery_latency_ms": {"p50": 180.0 * scale, "p95": 640.0 * scale, "p99": 1900.0 * scale,
                                "max": 4100.0 * scale,
                                "histogram": [{"le": 100, "count": 300}, {"le": 250, "count": 520},
                                              {"le": 500, "count": 250}, {"le": 1000, "count": 90},
                                              {"le": 5000, "count": 35}]},
        "thresholds": [
            {"name": "DATA p95 < 500 ms", "value": f"{48.0 * scale:.0f} ms", "limit": "500 ms", "verdict": "passed"},
            {"name": "messages lost == 0", "value": 2, "limit": 0, "verdict": "failed" if crossed else "passed"},
        ],
        "series": series,
    }


def load_results(scale: float = 1.0, crossed: bool = True) -> dict:
    return {"tool": "mailharness", "version": "0.1.0", "started": "2025-01-02T04:00:00Z",
            "target": {"smtp": {"host": "127.0.0.1", "port": 2525}},
            "summary": {"total": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0,
                        "gate": "failed" if crossed else "passed"},
            "checks": [], "load": make_load(scale, crossed)}


def synthetic_run(n: int = 200, fail_every: int = 17) -> dict:
    """A large results.json: ``n`` checks in 6 suites, every one with a realistic transcript."""
    suites = ["smtp-core", "esmtp", "pop3", "roundtrip", "security", "mime"]
    levels = ["MUST", "MUST", "SECURITY", "SHOULD", "MAY", "POLICY"]
    checks = []
    for i in range(n):
        failed = i % fail_every == 3
        transcript = [_t("*", 0.0, "", note="connect 127.0.0.1:2525"),
                      _t("S", 0.002, "220 mx.example.test ESMTP\\r\\n"),
                      _t("C", 0.003, "EHLO client.test\\r\\n"),
                      _t("S", 0.004, "250-mx.example.test\\r\\n250-SIZE 10485760\\r\\n250-8BITMIME\\r\\n"
                                     "250-PIPELINING\\r\\n250 STARTTLS\\r\\n")]
        for k in range(12):
            transcript += [_t("C", 0.005 + k / 1000, f"RCPT TO:<user{k}@example.test>\\r\\n"),
                           _t("S", 0.0055 + k / 1000, "250 2.1.5 OK\\r\\n")]
        transcript += [_t("C", 0.02, "DATA\\r\\n"), _t("S", 0.021, "354 go ahead\\r\\n"),
                       _t("C", 0.022, "Subject: test\\r\\n\\r\\n" + "body line\\r\\n" * 40 + ".\\r\\n",
                          note="message m1 (450 octets)"),
                       _t("S", 0.03, "550 5.7.1 no\\r\\n" if failed else "250 2.0.0 queued\\r\\n"),
                       _t("C", 0.031, "QUIT\\r\\n"), _t("S", 0.032, "221 bye\\r\\n")]
        checks.append({
            "id": f"{suites[i % 6]}.check-{i:03d}", "title": f"Synthetic check number {i} of the large run",
            "suite": suites[i % 6], "level": levels[i % 6], "rfc": [f"5321#4.{i % 7}.{i % 3}"],
            "status": "failed" if failed else ("skipped" if i % 23 == 5 else "passed"),
            "error_class": None, "message": "expected code 250, got 550 (reply: '550 5.7.1 no')" if failed else "",
            "duration_ms": 30.0 + i, "failures": ["expected code 250, got 550 (reply: '550 5.7.1 no')"] if failed else [],
            "findings": [], "rationale": "The server accepts the message (RFC 5321 §4.1.1.4).",
            "source": f"scenarios/x.yaml:{i}", "known_deviation": False,
            "gated": failed and levels[i % 6] in ("MUST", "SECURITY"), "transcript": transcript})
    gate = "failed" if any(c["gated"] for c in checks) else "passed"
    return {"tool": "mailharness", "version": "0.1.0", "started": "2025-01-02T03:04:05Z",
            "target": {"smtp": {"host": "127.0.0.1", "port": 2525}}, "summary": {"gate": gate},
            "checks": checks}
