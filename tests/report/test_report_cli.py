"""`mailharness report` and `run --baseline`: exit codes 0/1/2, merged reports, terminal-safe output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.report import write_json
from report_samples import load_results, make_run

ROOT = Path(__file__).resolve().parents[2]


def mh(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


@pytest.fixture
def files(tmp_path):
    failing, passing, load = tmp_path / "failing.json", tmp_path / "passing.json", tmp_path / "load.json"
    write_json(make_run(), failing)
    data = make_run().to_json()
    for c in data["checks"]:
        c["gated"] = False
    data["summary"]["gate"] = "passed"
    passing.write_text(json.dumps(data))
    load.write_text(json.dumps(load_results()))
    return failing, passing, load


@pytest.mark.parametrize("content,expect", [
    (None, "results file not found"),
    ("{not json", "not valid JSON"),
    ('{"tool": "other"}', "not a mailharness results file"),
    (b"\xff\xfe", "not UTF-8"),
    ('{"tool": "mailharness", "checks": 3}', '"checks" must be a list'),
])
def test_bad_input_exits_2_without_traceback(tmp_path, content, expect):
    path = tmp_path / "in.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    r = mh("report", path, "-o", tmp_path / "r.html")
    assert r.returncode == 2, r.stderr
    assert expect in r.stderr and str(path) in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "r.html").exists()


def test_bad_baseline_and_unwritable_output_exit_2(tmp_path, files):
    failing, _, _ = files
    r = mh("report", failing, "--baseline", tmp_path / "nope.json", "-o", tmp_path / "r.html")
    assert r.returncode == 2 and "nope.json: results file not found" in r.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = mh("report", failing, "-o", blocker / "r.html")
    assert r.returncode == 2 and "cannot write the report" in r.stderr and "Traceback" not in r.stderr
    r = mh("report", "-o", tmp_path / "r.html")
    assert r.returncode == 2                        # argparse: RESULTS.json is required


def test_exit_code_follows_the_gate(tmp_path, files):
    failing, passing, _ = files
    out = tmp_path / "r.html"
    r = mh("report", passing, "-o", out)
    assert r.returncode == 0 and "gate: PASSED" in r.stdout and out.read_text().startswith("<!DOCTYPE html>")
    r = mh("report", failing, "-o", out)
    assert r.returncode == 1 and "gate: FAILED" in r.stdout
    assert "1 check at MUST failed: smtp.rcpt-before-mail" in r.stdout
    assert "1 check at MUST could not be judged (error): smtp.data-timeout" in r.stdout
    # Against itself as the baseline every failure is old: no regression, exit 0.
    r = mh("report", failing, "--baseline", failing, "-o", out)
    assert r.returncode == 0, r.stdout
    assert "0 regressions, 4 still failing, 0 fixed" in r.stdout
    assert 'id="regressions"' in out.read_text()


def test_merge_conformance_and_load(tmp_path, files):
    _, passing, load = files
    out = tmp_path / "sub" / "merged.html"
    r = mh("report", passing, load, "-o", out)
    assert r.returncode == 1                        # the load run crossed a threshold
    assert "load threshold messages lost == 0" in r.stdout
    html = out.read_text()
    assert 'id="load"' in html and 'id="checks"' in html and "(conformance)" in html and "(load)" in html


def test_terminal_output_is_clean(tmp_path):
    data = make_run().to_json()
    data["checks"][1]["id"] = "evil\x1b]0;pwned\x07\x1b[2J\x9b31m"
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(data))
    r = mh("report", path, "-o", tmp_path / "r.html")
    assert r.returncode == 1
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\x9b" not in r.stdout
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m" in r.stdout


def test_pcap_links_are_rebased_to_the_report_folder(tmp_path):
    data = make_run().to_json()
    data["checks"][1]["pcap"] = "pcaps/one.pcap"
    src = tmp_path / "run" / "results.json"
    src.parent.mkdir()
    src.write_text(json.dumps(data))
    out = tmp_path / "html" / "r.html"
    mh("report", src, "-o", out)
    assert 'href="../run/pcaps/one.pcap"' in out.read_text()


def test_run_with_baseline(tmp_path):
    """A check failing in the baseline and now does not fail the gate; a new failure does."""
    first = tmp_path / "first"
    r = mh("run", "-q", "-k", "smtp.rcpt-before-mail or smtp.quit", "--defect", "smtp-rcpt-before-mail",
           "--out", first)
    assert r.returncode == 1, r.stdout + r.stderr
    second = tmp_path / "second"
    r = mh("run", "-q", "-k", "smtp.rcpt-before-mail or smtp.quit", "--defect", "smtp-rcpt-before-mail",
           "--baseline", first / "results.json", "--out", second, "--html", tmp_path / "extra.html")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "base " in r.stdout and "0 regressions, 1 still failing (not gated), 0 fixed" in r.stdout
    data = json.loads((second / "results.json").read_text())
    assert data["baseline"]["still_failing"] == ["smtp.rcpt-before-mail"]
    assert data["summary"]["gate"] == "passed"
    assert "failures=\"0\"" in (second / "junit.xml").read_text()
    assert 'id="regressions"' in (tmp_path / "extra.html").read_text()
    # A clean baseline: the same failure is now a regression.
    clean = tmp_path / "clean"
    assert mh("run", "-q", "-k", "smtp.rcpt-before-mail", "--out", clean).returncode == 0
    r = mh("run", "-q", "-k", "smtp.rcpt-before-mail", "--defect", "smtp-rcpt-before-mail",
           "--baseline", clean / "results.json", "--out", tmp_path / "third")
    assert r.returncode == 1 and "1 regressions" in r.stdout


def test_run_with_a_bad_baseline_runs_nothing(tmp_path):
    r = mh("run", "--baseline", tmp_path / "missing.json", "--out", tmp_path / "out")
    assert r.returncode == 2 and "missing.json: results file not found" in r.stderr
    assert not (tmp_path / "out").exists()
