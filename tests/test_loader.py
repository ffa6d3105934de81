"""Malformed scenario files: every error names the file, the line and what is wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.results import Level
from harness.scenario.loader import load_file, load_paths

HEAD = """\
suite: demo
checks:
  - id: demo.one
    title: a check
    level: MUST
    rfc: ["5321#4.1.4"]
    steps:
"""


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


BAD_STEPS = [
    # (steps text, line of the error, fragment of the message)
    ("      - expect: {code: 220}\n      - sendd: x\n", 9, "a step needs one action"),
    ("      - send: NOOP\n        quit:\n", 8, "exactly one action"),
    ("      - send: NOOP\n        expect: {code: 250, bogus: 1}\n", 9, "unknown key 'bogus'"),
    ("      - send: NOOP\n        expect: {code: two}\n", 9, "expect.code"),
    ("      - send: NOOP\n        expect: {text: '(unclosed'}\n", 9, "invalid regular expression"),
    ("      - send: 'EHLO {{ client_name'\n", 8, "template syntax error"),
    ("      - send_raw: 'NOOP\\q'\n", 8, "invalid escape"),
    ("      - smuggle: {end: '\\x4'}\n", 8, "invalid escape"),
    ("      - sleep: forever\n", 8, "sleep"),
    ("      - repeat: 3\n        steps:\n          - send: NOOP\n            expec: {code: 250}\n", 11, "unknown key 'expec'"),
]


@pytest.mark.parametrize("steps,line,fragment", BAD_STEPS)
def test_bad_step_reports_file_and_line(tmp_path: Path, steps: str, line: int, fragment: str) -> None:
    path = write(tmp_path, HEAD + steps)
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    text = str(info.value)
    assert f"{path}:{line}" in text, text
    assert fragment in text, text


BAD_FILES = [
    ("suite: demo\nchecks: [\n", 2, "YAML syntax error"),
    ("suite: demo\nsuite: other\nchecks: []\n", 2, "duplicate key"),
    ("- just\n- a list\n", 1, "must be a mapping"),
    ("suite: demo\ncheks: []\n", 2, "unknown key 'cheks'"),
    ("suite: demo\n", 1, "'checks' is a required property"),
    (HEAD.replace("level: MUST", "level: MUSTY") + "      - quit:\n", 5, "'MUSTY' is not one of"),
    (HEAD.replace('rfc: ["5321#4.1.4"]', "rfc: []") + "      - quit:\n", 6, "rfc"),
    (HEAD + "      - quit:\n" + HEAD.split("checks:\n")[1] + "      - quit:\n", 9, "duplicate check id"),
]


@pytest.mark.parametrize("text,line,fragment", BAD_FILES)
def test_bad_file_reports_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert f"{path}:{line}" in str(info.value), str(info.value)
    assert fragment in str(info.value), str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"suite: \xff\xfe\n")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_file(path)


def test_python_tags_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "suite: !!python/object/apply:os.system ['true']\nchecks: []\n")
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert f"{path}:1" in str(info.value)


def test_all_errors_of_several_files_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "suite: a\ncheks: []\n", "a.yaml")
    write(tmp_path, HEAD + "      - sendd: x\n", "b.yaml")
    with pytest.raises(ScenarioError) as info:
        load_paths([tmp_path])
    text = str(info.value)
    assert "a.yaml:2" in text and "b.yaml:8" in text


def test_valid_file_becomes_a_frozen_model(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + """\
      - greeting:
      - send: "RCPT TO:<{{ users[0].address }}>"
        expect: [{code: 503}, {nothing: 200ms}]
      - quit:
""")
    scenario = load_file(path)
    (check,) = scenario.checks
    assert check.id == "demo.one" and check.level is Level.MUST and check.rfc == ("5321#4.1.4",)
    assert [s.action for s in check.steps] == ["greeting", "send", "quit"]
    send = check.steps[1]
    assert send.line == 9
    assert send.expects[0].code == frozenset({503})
    assert send.expects[1].nothing == pytest.approx(0.2)
    with pytest.raises(Exception):
        check.steps[1].value.upper = None  # type: ignore[misc]


def test_bundled_scenarios_are_valid(scenario_dir: Path) -> None:
    files = load_paths([scenario_dir])
    checks = [c for f in files for c in f.checks]
    assert len(checks) >= 50
    for c in checks:
        assert c.rationale, f"{c.id} has no rationale"
        assert c.rfc, f"{c.id} has no RFC reference"
