from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.report import junit_bytes, load_json, write_json, write_junit
from harness.results import CheckResult, Level, RunResult, Status

# XML 1.0 Char production, negated.
ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _parse(run, tmp_path):
    path = tmp_path / "out" / "junit.xml"
    write_junit(run, path)
    raw = path.read_bytes()
    return ET.fromstring(raw), raw


def _cases(root):
    return {tc.get("name"): tc for tc in root.iter("testcase")}


def _props(tc):
    return [(p.get("name"), p.get("value")) for p in tc.find("properties")]


def test_totals(run, tmp_path):
    root, _ = _parse(run, tmp_path)
    assert root.tag == "testsuites"
    # failures/errors count only gated checks: the SHOULD failure and the known deviation are not.
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "7", "failures": "1", "errors": "1", "skipped": "1"}
    assert root.get("time") == "5.200"


def test_one_suite_per_suite_with_counts(run, tmp_path):
    root, _ = _parse(run, tmp_path)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["smtp-core", "smtp-auth", "pop3-core"]
    core = suites["smtp-core"]
    assert (core.get("tests"), core.get("failures"), core.get("errors"), core.get("skipped")) == \
        ("5", "1", "1", "0")
    assert suites["smtp-auth"].get("skipped") == "1"
    assert all(tc.get("classname") == "mailharness.smtp-core" for tc in core.findall("testcase"))
    assert ("mailharness.gate", "failed") in _props(core)


def test_testcase_attributes_and_properties(run, tmp_path):
    root, _ = _parse(run, tmp_path)
    tc = _cases(root)["smtp.rcpt-before-mail"]
    assert tc.get("time") == f"{12.5 / 1000:.3f}"
    props = _props(tc)
    assert ("mailharness.level", "MUST") in props
    assert ("mailharness.rfc", "5321#4.1.4") in props and ("mailharness.rfc", "5321#4.3.2") in props
    assert ("mailharness.verdict", "failed") in props
    assert _cases(root)["smtp.data-timeout"].get("time") == "5.000"


def test_gated_failure(run, tmp_path):
    root, _ = _parse(run, tmp_path)
    tc = _cases(root)["smtp.rcpt-before-mail"]
    failure = tc.find("failure")
    assert failure is not None
    assert failure.get("type") == "MUST"
    assert failure.get("message") == "expected 503, got 550"
    body = failure.text
    assert "expected code 503, got 550" in body and "expected class 5xx sequence error" in body
    assert "C: EHLO client.test\\r\\n" in body
    assert "S: 550 <script>alert(1)</script>" in body  # parsed back: ElementTree escaped it
    assert "# first divergence" in body


def test_non_gated_failure_is_not_a_failure(run, tmp_path):
    root, _ = _parse(run, tmp_path)
    for name in ("smtp.vrfy-252", "smtp.expn-known"):
        tc = _cases(root)[name]
        assert tc.find("failure") is None and tc.find("error") is None and tc.find("skipped") is None
        assert ("mailharness.verdict", "failed-not-gated") in _props(tc)
        assert "FAILED, not gated" in tc.find("system-out").text
    assert "level SHOULD is not in --fail-on MUST,SECURITY" in _cases(root)["smtp.vrfy-252"].find("system-out").text
    known = _cases(root)["smtp.expn-known"]
    assert ("mailharness.known_deviation", "true") in _props(known)
    assert "known deviation" in known.find("system-out").text


def test_error_and_skipped(run, tmp_path):
    root, _ = _parse(run, tmp_path)
    err = _cases(root)["smtp.data-timeout"].find("error")
    assert err is not None and err.get("type") == "timeout"
    assert err.get("message") == "no reply within 5.0s"
    assert "* timeout  # read timed out" in err.text
    skipped = _cases(root)["smtp.auth-cram-md5"].find("skipped")
    assert skipped.get("message") == "server does not advertise AUTH CRAM-MD5"
    passed = _cases(root)["smtp.greeting"]
    assert [child.tag for child in passed] == ["properties"]


def test_non_gated_error_is_not_an_error(tmp_path):
    run = RunResult("0.1.0", "t", {}, [CheckResult(
        id="x", title="", suite="s", level=Level.SHOULD, rfc=(), status=Status.ERROR,
        error_class="connection-reset", message="reset")])
    root, _ = _parse(run, tmp_path)
    assert (root.get("errors"), root.get("failures")) == ("0", "0")
    tc = _cases(root)["x"]
    assert tc.find("error") is None
    assert ("mailharness.verdict", "error-not-gated") in _props(tc)
    assert ("mailharness.error_class", "connection-reset") in _props(tc)


def test_illegal_characters_are_made_visible_not_emitted(run, tmp_path):
    root, raw = _parse(run, tmp_path)
    text = raw.decode("utf-8")
    assert not ILLEGAL_XML.search(text)
    assert "\x1b" not in text and "\x7f" not in text
    body = _cases(root)["smtp.rcpt-before-mail"].find("failure").text
    # Kept as visible escapes, so the evidence survives.
    assert "\\x1b[31mRED\\x00 \\x0b\\x0c\\x7f\\ud800\\ufffe end" in body


def test_multi_connection_lines_are_prefixed(run, tmp_path):
    data = run.to_json()
    data["checks"][6]["status"] = "failed"
    data["checks"][6]["gated"] = True
    root = ET.fromstring(junit_bytes(data))
    body = _cases(root)["pop3.roundtrip"].find("failure").text
    assert "[smtp] C: MAIL FROM:<bob@example.test>" in body
    assert "[pop3] S: +OK" in body


def test_from_stored_json_equals_from_run(run, tmp_path):
    write_json(run, tmp_path / "results.json")
    assert junit_bytes(load_json(tmp_path / "results.json")) == junit_bytes(run)


def test_empty_run(tmp_path):
    root, _ = _parse(RunResult("0.1.0", "t", {}, []), tmp_path)
    assert root.get("tests") == "0" and root.findall("testsuite") == []


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(), status=st.sampled_from(list(Status)), gated=st.booleans())
def test_any_text_gives_well_formed_xml(text, status, gated):
    run = RunResult("0.1.0", text, {"k": text}, [CheckResult(
        id=text or "x", title=text, suite=text, level=Level.MUST, rfc=(text,), status=status,
        message=text, error_class=text or None, failures=[text], findings=[text], source=text,
        gated=gated, transcript=[{"conn": text, "dir": "S", "t": 0.0, "text": text, "note": text}])])
    raw = junit_bytes(run)
    assert not ILLEGAL_XML.search(raw.decode("utf-8"))
    root = ET.fromstring(raw)
    assert root.get("tests") == "1"
