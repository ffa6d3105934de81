"""Baseline comparison: regressions gate, failures present in both runs do not (docs/reports.md)."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from harness.report import build_report, junit_bytes, render_html
from harness.report.baseline import apply_baseline
from harness.results import Status
from report_samples import load_results, make_run


def _baseline() -> dict:
    """The sample run's results, except: rcpt-before-mail passed and data-timeout already errored."""
    data = make_run().to_json()
    data["started"] = "2024-12-01T00:00:00Z"
    data["checks"][1]["status"] = "passed"            # smtp.rcpt-before-mail: regression now
    data["checks"][0]["status"] = "failed"            # smtp.greeting: fixed now
    del data["checks"][6]                              # pop3.roundtrip: new in this run
    data["checks"].append({"id": "smtp.gone", "status": "passed"})
    return data


def test_report_diff_categories():
    report = build_report(make_run(), baseline=_baseline(), baseline_label="old.json")
    b = report.baseline
    assert [c.id for c in b.regressions] == ["smtp.rcpt-before-mail"]
    assert [c.id for c in b.still_failing] == ["smtp.vrfy-252", "smtp.data-timeout", "smtp.expn-known"]
    assert [c.id for c in b.fixed] == ["smtp.greeting"]
    assert b.removed == ("smtp.gone",)
    assert b.regressions[0].old == "passed" and b.regressions[0].gated


def test_still_failing_check_does_not_gate():
    report = build_report(make_run(), baseline=_baseline())
    timeout = next(c for c in report.checks if c.id == "smtp.data-timeout")
    assert not timeout.gated and timeout.verdict == "error-not-gated"
    assert timeout.not_gated_reason == "failing in the baseline too (error)"
    assert not report.gate_passed               # rcpt-before-mail is a regression at MUST
    assert report.gate_reasons == ("1 check at MUST failed (new since the baseline): smtp.rcpt-before-mail",)


def test_gate_passes_when_every_failure_is_old():
    old = make_run().to_json()
    report = build_report(make_run(), baseline=old)
    assert report.gate_passed and report.baseline.regressions == ()
    assert len(report.baseline.still_failing) == 4


def test_apply_baseline_to_a_run_and_results_json():
    run = make_run()
    info = apply_baseline(run, _baseline(), label="old.json")
    assert info == {"file": "old.json", "started": "2024-12-01T00:00:00Z",
                    "regressions": ["smtp.rcpt-before-mail"],
                    "still_failing": ["smtp.vrfy-252", "smtp.data-timeout", "smtp.expn-known"],
                    "fixed": ["smtp.greeting"]}
    assert [c.id for c in run.gate_failures()] == ["smtp.rcpt-before-mail"]
    data = run.to_json()
    assert data["baseline"] == info and data["summary"]["gate"] == "failed"
    assert data["checks"][3]["baseline_status"] == "error" and data["checks"][6]["baseline_status"] == "absent"
    # The stored results render the same verdicts without the baseline file.
    assert build_report(data).gate_reasons == build_report(run).gate_reasons


def test_apply_baseline_all_old_failures_passes_the_gate():
    run = make_run()
    apply_baseline(run, make_run().to_json())
    assert run.gate_passed and run.summary()["gate"] == "passed"
    assert all(c.status in (Status.PASSED, Status.SKIPPED) or not c.gated for c in run.checks)


def test_junit_with_baseline():
    run = make_run()
    apply_baseline(run, _baseline())
    root = ET.fromstring(junit_bytes(run))
    cases = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert root.get("failures") == "1" and root.get("errors") == "0"
    timeout = cases["smtp.data-timeout"]
    assert timeout.find("error") is None
    assert "ERROR, not gated: failing in the baseline too (error)" in timeout.find("system-out").text
    props = [(p.get("name"), p.get("value")) for p in timeout.find("properties")]
    assert ("mailharness.baseline", "error") in props


def test_html_shows_regressions_first():
    html = render_html(make_run(), baseline=_baseline(), baseline_label="old.json")
    assert html.index('id="regressions"') < html.index('id="failures"') < html.index('id="checks"')
    section = html[html.index('id="regressions"'):html.index('id="failures"')]
    assert "Regressions against old.json" in section
    assert "1 check newly failing, 1 fixed,\n3 still failing" in section
    assert section.index("smtp.rcpt-before-mail") < section.index("Still failing")
    assert 'id="fs-regressions"' in html and "<b>1</b> regressions" in html
    assert 'class="chk s-failed l-must u-0 rg" id="row-1"' in html


def test_latency_regressions():
    report = build_report(load_results(scale=1.5, crossed=False), baseline=load_results(crossed=False))
    grew = {(c.scope, c.metric) for c in report.baseline.latency_regressions}
    assert ("DATA", "p95") in grew and ("delivery", "p99") in grew
    assert ("connect", "p50") not in grew          # 1.2 -> 1.8 ms: +50 % but under 1 ms
    same = build_report(load_results(crossed=False), baseline=load_results(crossed=False))
    assert same.baseline.latency_regressions == ()
    html = render_html(load_results(scale=1.5, crossed=False), baseline=load_results(crossed=False))
    assert "Latency against the baseline" in html and "+50.0 %" in html
    assert report.gate_passed                       # latency growth is shown, not gated


def test_baseline_is_not_mutated():
    old = _baseline()
    before = copy.deepcopy(old)
    build_report(make_run(), baseline=old)
    assert old == before


def test_a_baseline_against_another_target_is_flagged(tmp_path):
    from harness.report import build_report, render_report
    from harness.report.baseline import apply_baseline, target_warning
    from report_samples import make_run

    old = make_run().to_json()
    old["target"]["smtp"]["host"] = "10.0.0.9"
    run = make_run()
    apply_baseline(run, old, label="old.json")
    assert "different target" in run.baseline["target_warning"]
    assert "smtp 10.0.0.9:2525 then, 127.0.0.1:2525 now" in run.baseline["target_warning"]
    report = build_report(run.to_json(), baseline=old, baseline_label="old.json")
    assert "baseline was taken against a different target" in render_report(report)
    # the same target, or the embedded server on fresh ports, is not flagged
    assert target_warning(make_run().to_json()["target"], make_run().to_json()["target"]) == ""
    emb = {"name": "embedded reference server", "smtp": {"host": "127.0.0.1", "port": 1}}
    assert target_warning(emb, {**emb, "smtp": {"host": "127.0.0.1", "port": 2}}) == ""
