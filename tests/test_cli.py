"""The CLI contract (docs/results.md): exit codes 0/1/2, files written, errors without tracebacks."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parent.parent


def mh(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=timeout)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_validate_bundled_scenarios() -> None:
    r = mh("validate")
    assert r.returncode == 0, r.stderr
    assert "valid" in r.stdout


def test_list_shows_id_level_and_rfc() -> None:
    r = mh("list")
    assert r.returncode == 0
    line = next(l for l in r.stdout.splitlines() if l.startswith("smtp.rcpt-before-mail"))
    assert "MUST" in line and "5321#4.1.4" in line


def test_list_profiles_shows_name_path_and_description(tmp_path: Path) -> None:
    r = mh("list", "--profiles", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines()}
    assert sorted(lines) == sorted(p.stem for p in (REPO / "scenarios" / "load").glob("*.yaml"))
    name, path, *description = lines["smtp-throughput"].split()
    assert path.endswith("load/smtp-throughput.yaml") and Path(path).is_file()
    assert " ".join(description).startswith("One 1000-byte message per SMTP session")


def test_validate_malformed_file_exits_2_with_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("suite: x\nchecks:\n  - id: x.y\n    title: t t\n    level: MUST\n    rfc: ['5321']\n"
                   "    steps:\n      - sned: NOOP\n")
    r = mh("validate", str(bad))
    assert r.returncode == 2
    assert f"{bad}:8" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_run_malformed_target_exits_2_with_location(tmp_path: Path) -> None:
    target = tmp_path / "target.yaml"
    target.write_text("smtp: {host: 127.0.0.1, port: 25}\nusers:\n  - {address: a@b.test, pasword: x}\n")
    r = mh("run", "--target", str(target), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert f"{target}:3" in r.stderr and "pasword" in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_path_and_unknown_defect_exit_2(tmp_path: Path) -> None:
    assert mh("validate", str(tmp_path / "nope.yaml")).returncode == 2
    r = mh("run", "--defect", "no-such-defect", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_run_embedded_passes_and_writes_reports(tmp_path: Path) -> None:
    out = tmp_path / "out"
    junit = tmp_path / "j.xml"
    r = mh("run", "-k", "smtp.rcpt-before-mail or pop3.capa and not both or roundtrip.plain-text", "--out", str(out),
           "--junit", str(junit))
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads((out / "results.json").read_text())
    assert data["summary"]["gate"] == "passed"
    assert {c["id"] for c in data["checks"]} == {"smtp.rcpt-before-mail", "pop3.capa", "roundtrip.plain-text"}
    assert all(c["status"] == "passed" for c in data["checks"])
    assert (out / "junit.xml").exists() and (out / "report.html").exists() and junit.exists()
    assert "alicepw" not in (out / "results.json").read_text()


def test_run_with_defect_fails_the_gate(tmp_path: Path) -> None:
    r = mh("run", "-k", "smtp.greeting", "--defect", "smtp-greeting-code", "--out", str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr
    data = json.loads((tmp_path / "results.json").read_text())
    (check,) = data["checks"]
    assert check["status"] == "failed" and check["gated"] is True
    assert "expected code 220, got 250" in check["message"]


def test_should_failure_does_not_fail_the_default_gate(tmp_path: Path) -> None:
    r = mh("run", "-k", "smtp.unknown-command", "--defect", "smtp-unknown-command-250", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout
    r = mh("run", "-k", "smtp.unknown-command", "--defect", "smtp-unknown-command-250",
           "--fail-on", "must,should", "--out", str(tmp_path))
    assert r.returncode == 1


def test_refused_server_is_an_error_not_a_crash(tmp_path: Path) -> None:
    port = closed_port()
    r = mh("run", "-k", "smtp.greeting or smtp.quit", "--smtp", f"127.0.0.1:{port}",
           "--user", "alice:pw:alice@example.test", "--out", str(tmp_path), "--timeout", "2")
    assert r.returncode == 1
    data = json.loads((tmp_path / "results.json").read_text())
    assert {c["status"] for c in data["checks"]} == {"error"}
    assert {c["error_class"] for c in data["checks"]} == {"connection-refused"}
    assert "Traceback" not in r.stderr + r.stdout


def test_serve_lists_defects() -> None:
    r = mh("serve", "--list-defects")
    assert r.returncode == 0
    assert "smtp-bare-lf-end" in r.stdout and "pop3-dele-immediate" in r.stdout


def test_report_renders_stored_results(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert mh("run", "-k", "smtp.quit", "--out", str(out)).returncode == 0
    html = tmp_path / "again.html"
    r = mh("report", str(out / "results.json"), "-o", str(html))
    assert r.returncode == 0 and "smtp.quit" in html.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = mh("report", str(bad), "-o", str(html))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_validate_covers_load_profiles(tmp_path: Path) -> None:
    r = mh("validate")
    assert r.returncode == 0 and "load profile(s): valid" in r.stdout
    bad = tmp_path / "load" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text("name: x\nusers: nope\n")
    r = mh("validate", str(bad))
    assert r.returncode == 2 and f"{bad}:2" in r.stderr and "Traceback" not in r.stderr


def test_a_scenario_that_cannot_run_is_a_setup_problem_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "mine.yaml"
    bad.write_text("suite: mine\nchecks:\n" + "".join(
        f"  - id: mine.t{i}\n    title: a template that does not fit\n    level: MUST\n    rfc: ['5321']\n"
        f"    steps:\n      - greeting:\n      - send: 'NOOP {{{{ no_such_variable }}}}'\n        expect: {{code: 250}}\n"
        for i in range(3)))
    r = mh("run", str(bad), "--out", str(tmp_path / "out"), "--color", "never", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "3 checks  could not run (setup problem): scenario error:" in r.stdout
    assert r.stdout.count("no_such_variable") == 1                 # one cause, not three
    assert "setup problem: 3 check(s)" in r.stdout and "\x1b[" not in r.stdout
    assert "next: open the report" in r.stdout and f"mailharness run {bad} -k" in r.stdout
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [c["kind"] for c in data["causes"]] == ["setup"] and data["causes"][0]["count"] == 3
    assert all(c["source"].startswith("mine.yaml:") for c in data["checks"])      # relative, not /tmp/...
