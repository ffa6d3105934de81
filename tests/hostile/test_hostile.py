"""The real CLI against a hostile server, one run per mode (tests/hostile/server.py).

Every check must end within its time bound with ``status: error`` and the
right ``error_class`` (or pass, where the mode leaves its protocol alone),
the run must exit 1 without a traceback, write its reports, keep hostile
bytes out of the terminal and the HTML, and stay under 300 MiB peak RSS.
All modes run once per session, four CLI processes at a time.
"""

from __future__ import annotations

import re

import pytest

from tests.hostile.driver import TIMEOUT, Outcome, run_all
from tests.hostile.server import MODES

PASS = ("passed", None)
SMTP_IDS = ("hostile.smtp-session", "hostile.smtp-noop", "hostile.smtp-big-message")
POP3_IDS = ("hostile.pop3-session", "hostile.pop3-noop")


def _all(cls: str | tuple[str, ...]) -> dict[str, tuple[str, object]]:
    return {cid: ("error", cls) for cid in SMTP_IDS + POP3_IDS}


# mode → check id → (status, error_class or a tuple of acceptable ones)
EXPECTED: dict[str, dict[str, tuple[str, object]]] = {
    "silent": _all("timeout"),
    "drip": _all("timeout"),
    "endless-line": _all("oversize"),
    # POP3 bodies are bounded at 64 MiB: whichever of the bound and the reply deadline comes first
    "endless-multiline": {**_all("oversize"), "hostile.pop3-session": ("error", ("oversize", "timeout")),
                          "hostile.pop3-noop": PASS},
    "endless-retr": {**{cid: PASS for cid in SMTP_IDS}, "hostile.pop3-session": ("error", ("oversize", "timeout")),
                     "hostile.pop3-noop": PASS},
    "garbage": _all("protocol-violation"),
    "invalid-codes": _all("protocol-violation"),
    "invalid-utf8": {**_all("protocol-violation"), "hostile.smtp-noop": PASS},
    "reset-mid-reply": _all("connection-reset"),
    "halfclose-mid-reply": _all("protocol-violation"),     # EOF before the final reply line
    "starttls-plaintext": _all("tls"),
    # a handshake that never completes is a failed TLS handshake: one cause, one class
    "tls-stall": _all("tls"),
    "stop-reading": {"hostile.smtp-session": ("error", "timeout"), "hostile.smtp-noop": PASS,
                     "hostile.smtp-big-message": ("error", "timeout"),
                     "hostile.pop3-session": PASS, "hostile.pop3-noop": PASS},
    "tarpit": {**_all("timeout"), "hostile.pop3-noop": PASS},
    "421-on-connect": _all("connection-closed"),
    # payload mode: replies are well-formed, MAIL/PASS are refused with the payload as text
    # (the preflight sees PASS refused for every user: POP3 checks that log in end at once as error)
    "html-banner": {cid: ("failed", None) for cid in SMTP_IDS} | {"hostile.smtp-noop": PASS}
    | {cid: ("error", None) for cid in POP3_IDS},
}

# A check may read several replies, each bounded by --timeout; one that hits the
# bound must not run past 2x the bound (plus scheduling slack on a busy 2-core box).
CHECK_BOUND_S = 2 * TIMEOUT + 3.0
RUN_BOUND_S = 45.0
RSS_BOUND_MIB = 300.0


@pytest.fixture(scope="session")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    return run_all(tmp_path_factory.mktemp("hostile"))


def test_every_mode_has_expectations() -> None:
    assert set(EXPECTED) == set(MODES)


@pytest.mark.parametrize("mode", list(MODES))
def test_mode(mode: str, outcomes: dict[str, Outcome]) -> None:
    o = outcomes[mode]
    context = f"{mode}: rc={o.returncode}\nstdout:\n{o.stdout[-2000:]}\nstderr:\n{o.stderr[-2000:]}"
    # exit code 1 = the gate failed; never a crash
    assert o.returncode == 1, context
    for stream in (o.stdout, o.stderr):
        assert "Traceback" not in stream, context
        assert "\x1b" not in stream, f"raw ESC reached the terminal\n{context}"
    # the reports were written
    for name in ("results.json", "junit.xml", "report.html"):
        assert (o.out_dir / name).is_file(), f"{name} missing\n{context}"
    html = (o.out_dir / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "\x1b" not in html
    assert not re.search(r"<img src=x", html)
    junit = (o.out_dir / "junit.xml").read_text(encoding="utf-8")
    assert "<script>" not in junit and "\x1b" not in junit
    # every check: status, class, time bound, no harness bug
    got = {cid: (c["status"], c.get("error_class")) for cid, c in o.checks.items()}
    assert set(got) == set(EXPECTED[mode]), got
    for cid, (status, cls) in EXPECTED[mode].items():
        c = o.checks[cid]
        ok_classes = cls if isinstance(cls, tuple) else (cls,)
        assert c["status"] == status and c.get("error_class") in ok_classes, (cid, c["status"], c.get("error_class"), c["message"])
        assert "harness bug" not in c["message"] and "Traceback" not in c["message"], c["message"]
        assert c["duration_ms"] / 1000 <= CHECK_BOUND_S, (cid, c["duration_ms"])
    assert o.wall_s <= RUN_BOUND_S, o.wall_s
    assert 0 < o.peak_rss_mib <= RSS_BOUND_MIB, o.peak_rss_mib
