"""Causes, not symptoms: one list (results.json "causes") behind the terminal, the report and JUnit."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest

from harness.report import build_report, junit_bytes
from harness.results import CheckResult, Level, RunResult, Status
from harness.rootcause import all_causes, kind_of, shape, suggest_fix
from harness.terminal import Style, write_summary

DOWN = "preflight: SMTP 127.0.0.1:2525: greeting: no complete reply within 10 s"


def _c(cid: str, status: Status, message: str = "", cls: str | None = None, level: Level = Level.MUST,
       gated: bool = True) -> CheckResult:
    return CheckResult(id=cid, title="t", suite=cid.split(".")[0], level=level, rfc=("5321",), status=status,
                       message=message, error_class=cls, gated=gated and status in (Status.FAILED, Status.ERROR))


def _run() -> RunResult:
    checks = [_c(f"smtp.down-{i}", Status.ERROR, DOWN, "timeout") for i in range(5)]
    # the same template error at different lines of the scenario is one cause
    checks += [_c(f"pop3.tmpl-{i}", Status.ERROR,
                  f"scenario error: scenarios/pop3.yaml:{10 + i}: template error: 'users' is undefined")
               for i in range(3)]
    checks += [_c("security.relay", Status.FAILED, "scenarios/security.yaml:9: expected code 550, got 250",
                  level=Level.SECURITY),
               _c("smtp.vrfy", Status.FAILED, "scenarios/smtp-core.yaml:7: expected code 252, got 502",
                  level=Level.SHOULD, gated=False),
               _c("smtp.ok", Status.PASSED)]
    return RunResult(tool_version="0", started="2026-01-01T00:00:00+00:00", target={}, checks=checks)


def test_every_problem_is_in_exactly_one_cause_with_a_fix() -> None:
    data = _run().to_json()
    causes = data["causes"]
    ids = [i for cause in causes for i in cause["checks"]]
    problems = [c["id"] for c in data["checks"] if c["status"] in ("failed", "error")]
    assert sorted(ids) == sorted(problems) and len(ids) == len(set(ids))
    first, second = causes[0], causes[1]
    # setup problems first, then what could not be judged, then server failures
    assert (first["kind"], first["count"], first["error_class"]) == ("setup", 3, None)
    assert first["message"] == "scenario error: template error: 'users' is undefined"
    assert "harness bug" in first["fix"] and "report" in first["fix"]
    assert (second["kind"], second["count"], second["error_class"]) == ("unjudged", 5, "timeout")
    assert second["fix"].startswith("is the server listening on 127.0.0.1:2525 and answering?")
    assert {c["kind"] for c in causes[2:]} == {"server"} and all(c["fix"] is None for c in causes[2:])
    assert set(causes[0]) == {"status", "kind", "error_class", "message", "count", "checks", "levels", "fix"}


@pytest.mark.parametrize("cls,message,expected", [
    ("delivery", "preflight: a message sent to alice@x by SMTP was not in alice's POP3 mailbox", "check `delivery`"),
    ("tls", "preflight: SMTP 10.0.0.5:465: connect: TLS handshake failed", "does the server's TLS accept"),
    (None, "preflight: no POP3 login works (as alice: -ERR no); are the ...", "check `users`"),
    ("connection-refused", "preflight: SMTP 10.0.0.5:25: connect: refused", "listening on 10.0.0.5:25?"),
    (None, "harness bug (please report):\nTraceback ...\nKeyError: 'x'", "a bug in mailharness"),
])
def test_suggested_fixes(cls, message, expected) -> None:
    assert expected in suggest_fix("error", cls, message)
    assert suggest_fix("failed", cls, message) == ""          # a server failure: the server is to fix


def test_shape_drops_locations_markers_and_tracebacks() -> None:
    a = _c("a", Status.FAILED, "scenarios/x.yaml:12: message 'm' (mh-0123abcd-0123456789ab-smuggled) gone")
    b = _c("b", Status.FAILED, "/abs/y.yml:99-101: message 'm' (mh-89abcdef-ba9876543210-smuggled) gone")
    assert shape(a) == shape(b) == "message 'm' (mh-…-smuggled) gone"
    bug = _c("c", Status.ERROR, "harness bug (please report):\nTraceback (most recent call last):\n  x\nKeyError: 'k'\n")
    assert shape(bug) == "harness bug (please report): KeyError: 'k'" and kind_of(bug) == "setup"
    assert len(all_causes([a, b, bug])) == 2


def test_junit_names_the_cause_on_each_affected_testcase() -> None:
    root = ET.fromstring(junit_bytes(_run()))
    case = next(c for c in root.iter("testcase") if c.get("name") == "smtp.down-3")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["mailharness.cause"].startswith("5 checks could not be judged (timeout): preflight: SMTP")
    assert props["mailharness.cause_kind"] == "unjudged" and props["mailharness.cause_checks"] == "5"
    assert props["mailharness.fix"].startswith("is the server listening on 127.0.0.1:2525")
    ok = next(c for c in root.iter("testcase") if c.get("name") == "smtp.ok")
    assert not [p for p in ok.iter("property") if p.get("name", "").startswith("mailharness.cause")]


def test_banner_never_calls_an_error_a_failure() -> None:
    report = build_report(_run())
    texts = [line.text for line in report.gate_lines]
    assert "1 check at SECURITY failed" in texts
    assert "5 checks at MUST could not be judged (error)" in texts
    assert "3 checks at MUST could not run (setup problem, not the server)" in texts
    assert not any("8 checks" in t or "9 checks" in t for t in texts)
    # the banner's lines link every id they name to its card
    line = next(line for line in report.gate_lines if line.text.startswith("1 check at SECURITY"))
    assert line.ids == (("security.relay", report.index_of("security.relay")),)


def test_terminal_shows_each_cause_once_with_its_count_and_fix() -> None:
    out = io.StringIO()
    write_summary(_run(), out, None, style=Style(False), selection=["--target", "t.yaml"])
    text = out.getvalue()
    assert text.count(DOWN) == 1 and "5 checks  could not be judged (timeout)" in text
    assert text.count("template error") == 1
    assert "fix: is the server listening on 127.0.0.1:2525 and answering?" in text
    # failures by severity: SECURITY before SHOULD; grouped checks are not listed again
    assert text.index("security.relay") < text.index("smtp.vrfy")
    head = text[:text.index("next:")]
    assert "smtp.down-0" in head and "smtp.down-4" not in head        # a sample of the ids, not every line
    assert "0 could not be judged" not in text and "8 could not be judged (error)" in text
    assert "setup problem:" in text
    assert "mailharness run --target t.yaml -k 'security.relay or pop3.tmpl-0 or" in text
    assert "\x1b[" not in text
