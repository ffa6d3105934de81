"""Suite defaults, variants and the load-time checks: expansion equals the hand-written checks,
and every problem is reported as file:line before a check runs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import ScenarioError
from harness.scenario.actions import ACTIONS
from harness.scenario.loader import load_file

ROOT = Path(__file__).resolve().parents[1]


def _expand_module() -> Any:
    spec = importlib.util.spec_from_file_location("expand_checks", ROOT / "ci" / "expand_checks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def expanded(path: Path) -> dict[str, Any]:
    canonical = _expand_module().canonical
    return {c.id: canonical(c) for c in load_file(path).checks}


SHORT = """\
suite: demo
before: [greeting, ehlo]
after:
  - quit
checks:
  - id: demo.noop
    title: NOOP is answered
    level: MUST
    rfc: ["5321#4.1.1.9"]
    steps:
      - send: NOOP
        expect: {code: 250}

  - id: demo.bare
    title: no ehlo, own quit
    level: SHOULD
    rfc: ["5321#4.1.1.10"]
    before: [greeting]
    after: []
    steps:
      - send: QUIT
        expect: {code: 221}

  - title: 'a ${what} end'
    level: SECURITY
    rfc: ["5321#2.3.8"]
    tags: [smuggling]
    steps:
      - send: "MAIL FROM:<{{ sender }}>"
        expect: {code: 250}
      - ${extra}
      - smuggle: {end: '${end}', wait: '${wait}'}
    after: []
    variants:
      - id: demo.lf
        defects: [smtp-bare-lf-end]
        with: {what: LF, end: '\\n.\\n', wait: 1, extra: []}
      - id: demo.cr
        level: MUST
        rationale: only CRLF ends a line
        quote: {rfc: "5321#2.3.8", text: "Conforming implementations MUST NOT recognize or generate any other character"}
        with:
          what: CR
          end: '\\r.\\r'
          wait: 2s
          extra:
            - send: "RCPT TO:<{{ users[0].address }}>"
              expect: {code: [250, 251]}
            - send: DATA
              expect: {code: 354}
"""

LONG = """\
suite: demo
checks:
  - id: demo.noop
    title: NOOP is answered
    level: MUST
    rfc: ["5321#4.1.1.9"]
    steps:
      - greeting:
      - ehlo:
      - send: NOOP
        expect: {code: 250}
      - quit:

  - id: demo.bare
    title: no ehlo, own quit
    level: SHOULD
    rfc: ["5321#4.1.1.10"]
    steps:
      - greeting:
      - send: QUIT
        expect: {code: 221}

  - id: demo.lf
    title: 'a LF end'
    level: SECURITY
    rfc: ["5321#2.3.8"]
    tags: [smuggling]
    defects: [smtp-bare-lf-end]
    steps:
      - greeting:
      - ehlo:
      - send: "MAIL FROM:<{{ sender }}>"
        expect: {code: 250}
      - smuggle: {end: '\\n.\\n', wait: 1}

  - id: demo.cr
    title: 'a CR end'
    level: MUST
    rfc: ["5321#2.3.8"]
    tags: [smuggling]
    rationale: only CRLF ends a line
    quote: {rfc: "5321#2.3.8", text: "Conforming implementations MUST NOT recognize or generate any other character"}
    steps:
      - greeting:
      - ehlo:
      - send: "MAIL FROM:<{{ sender }}>"
        expect: {code: 250}
      - send: "RCPT TO:<{{ users[0].address }}>"
        expect: {code: [250, 251]}
      - send: DATA
        expect: {code: 354}
      - smuggle: {end: '\\r.\\r', wait: 2s}
"""


def test_defaults_and_variants_expand_to_the_hand_written_checks(tmp_path: Path) -> None:
    short, long = expanded(write(tmp_path, SHORT, "short.yaml")), expanded(write(tmp_path, LONG, "long.yaml"))
    assert list(short) == list(long) == ["demo.noop", "demo.bare", "demo.lf", "demo.cr"]
    differences = _expand_module().differences(long, short)
    assert differences == []


def test_expanded_steps_keep_the_lines_they_were_written_on(tmp_path: Path) -> None:
    checks = {c.id: c for c in load_file(write(tmp_path, SHORT)).checks}
    noop = checks["demo.noop"]
    assert [(s.action, s.line) for s in noop.steps] == [("greeting", 2), ("ehlo", 2), ("send", 11), ("quit", 4)]
    cr = checks["demo.cr"]
    assert cr.line == 38                                   # the variant, so each check has a source of its own
    assert [(s.action, s.line) for s in cr.steps] == [
        ("greeting", 2), ("ehlo", 2), ("send", 29), ("send", 47), ("send", 49), ("smuggle", 32)]
    assert checks["demo.lf"].line == 35
    assert [(s.action, s.line) for s in checks["demo.bare"].steps] == [("greeting", 18), ("send", 21)]


BODY = """\
suite: demo
checks:
  - title: a check
    level: MUST
    rfc: ["5321#4.1.4"]
    steps:
      - send: NOOP
        expect: {code: 250}
"""

BAD = [
    # (text after the body's steps, or before "checks:" for a default; line of the error; fragment)
    ("before: [greting]\n", 2, "a step needs one action"),
    ("before:\n  - send: NOOP\n    expect: {code: 2500}\n", 4, "before.0.expect.code"),
    ("    variants:\n      - id: demo.a\n        with: {x: 1}\n", 11, "with: x not used"),
    ("    variants:\n      - id: demo.a\n        tittle: t\n", 11, "unknown key 'tittle'"),
    ("    variants:\n      - {id: demo.a, level: MAYBE}\n", 10, "is not one of"),
    ("    variants:\n      - {id: demo.a}\n      - {id: demo.a}\n", 11, "duplicate check id 'demo.a'"),
    ("    variants: []\n", 9, "variants"),
]


@pytest.mark.parametrize("extra,line,fragment", BAD)
def test_defaults_and_variants_errors_name_the_line(tmp_path: Path, extra: str, line: int, fragment: str) -> None:
    if extra.startswith("before"):
        text = BODY.replace("checks:\n", extra + "checks:\n").replace("  - title:", "  - id: demo.one\n    title:")
    else:
        text = BODY + extra
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert f"{path}:{line}" in str(info.value), str(info.value)
    assert fragment in str(info.value), str(info.value)


def test_unknown_reference_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        suite: demo
        checks:
          - title: 'a ${thing} check'
            level: MUST
            rfc: ["5321#4.1.4"]
            steps:
              - send: 'NOOP ${nothing}'
            variants:
              - {id: demo.a, with: {thing: x}}
        """)
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert f"{path}:7:" in str(info.value) and "${nothing} has no value" in str(info.value)


BAD_MESSAGES = [
    ("      - mail: {message: {encoding: rot13}}\n", 8, "encoding"),
    ("      - mail:\n          message:\n            subject: hi\n            lines: {count: -1}\n", 11, "non-negative"),
    ("      - send_data: {message: {parts: [{body: a}], content_type: text/plain}}\n", 8, "multipart"),
    ("      - deliver: {message: {body: a, body_bytes: b}}\n", 8, "cannot be combined"),
    ("      - deliver:\n          message:\n            headers: {X-A: {value: v, rwa: true}}\n", 10, "takes only"),
    ("      - slow_send: {message: {raw: 'x', subject: s}}\n", 8, "cannot be combined"),
]


@pytest.mark.parametrize("steps,line,fragment", BAD_MESSAGES)
def test_message_specs_are_checked_at_load_time(tmp_path: Path, steps: str, line: int, fragment: str) -> None:
    path = write(tmp_path, HEAD + steps)
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert f"{path}:{line}:" in str(info.value), str(info.value)
    assert fragment in str(info.value), str(info.value)


def test_a_templated_message_value_is_judged_when_rendered(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "      - mail: {message: {subject: '{{ uid }}', lines: {count: '{{ 3 * 2 }}'}}}\n")
    assert load_file(path).checks[0].steps[0].action == "mail"


HEAD = """\
suite: demo
checks:
  - id: demo.one
    title: a check
    level: MUST
    rfc: ["5321#4.1.4"]
    steps:
"""

BAD_PROTOCOL = [
    # (protocol of the file, extra check keys, steps, line, fragment)
    ("pop3", "", "      - send: STAT\n        expect: {code: 250}\n", 10, "expect code judges SMTP replies only"),
    ("pop3", "", "      - greeting: {class: 2}\n", 9, "expect class judges SMTP"),
    ("smtp", "", "      - send: NOOP\n        expect: [{code: 250}, {ok: true, body: x}]\n", 10,
     "expect ok, body judge POP3 replies only"),
    ("pop3", "", "      - ehlo:\n", 9, "ehlo is SMTP only, but this step runs on a POP3 connection"),
    ("smtp", "", "      - login:\n", 9, "login is POP3 only"),
    ("smtp", "", "      - connect: {service: pop3s, as: box}\n      - stls:\n      - use: smtp\n      - stls:\n",
     12, "stls is POP3 only"),
    ("smtp", "", "      - connect: {service: pop3, as: box}\n      - send: NOOP\n        conn: smtp\n"
                 "        expect: {ok: true}\n", 12, "expect ok judges POP3"),
    ("smtp", "    connect: false\n", "      - send: NOOP\n", 10, "runs on no connection"),
    ("smtp", "", "      - send: NOOP\n        conn: other\n", 9, "no connection named 'other'"),
]


@pytest.mark.parametrize("protocol,keys,steps,line,fragment", BAD_PROTOCOL)
def test_protocol_mismatches_are_load_errors(tmp_path: Path, protocol: str, keys: str, steps: str, line: int,
                                             fragment: str) -> None:
    head = HEAD.replace("suite: demo\n", f"suite: demo\nprotocol: {protocol}\n")
    path = write(tmp_path, head.replace("    steps:\n", keys + "    steps:\n") + steps)
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert f"{path}:{line}:" in str(info.value), str(info.value)
    assert fragment in str(info.value), str(info.value)


def test_protocol_follows_connections_and_conn(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD.replace("suite: demo\n", "suite: demo\nprotocol: smtp\n") + """\
      - ehlo:
      - connect: {service: pop3, as: box}
      - greeting:
      - send: STAT
        expect: {ok: true}
      - send: NOOP
        conn: smtp
        expect: {code: 250}
      - use: smtp
      - quit:
        expect: {code: 221}
""")
    assert [s.action for s in load_file(path).checks[0].steps][-1] == "quit"


def test_validate_cli_fails_on_a_protocol_mismatch(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD.replace("suite: demo\n", "suite: demo\nprotocol: pop3\n")
                 + "      - send: STAT\n        expect: {code: 250}\n")
    r = subprocess.run([sys.executable, "-m", "harness", "validate", str(path)], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 2
    assert f"{path}:10:" in r.stderr and "SMTP replies only" in r.stderr


def test_schema_has_one_step_definition_per_registered_action() -> None:
    schema = yaml.safe_load((ROOT / "harness" / "scenario" / "schema.yaml").read_text(encoding="utf-8"))
    defined = {name.removeprefix("step_") for name in schema["$defs"] if name.startswith("step_")}
    assert defined == set(ACTIONS)


def test_every_registered_action_is_documented() -> None:
    doc = (ROOT / "docs" / "scenario-format.md").read_text(encoding="utf-8")
    missing = [name for name in ACTIONS if f"| `{name}" not in doc]
    assert missing == []


def test_variant_steps_escapes_and_typed_values(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        suite: demo
        checks:
          - level: MUST
            rfc: ["5321#4.1.4"]
            title: 'costs $${uid} ${n}'
            variants:
              - id: demo.own-steps
                steps:
                  - send: NOOP
              - id: demo.body-steps-from-a-variant
                steps:
                  - send: RSET
                    expect: {code: 250}
                with: {}
        """.replace("with: {}\n", ""))
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert "${n} has no value" in str(info.value)
    checks = load_file(write(tmp_path, path.read_text().replace(" ${n}'", "'"), "ok.yaml")).checks
    assert [c.title for c in checks] == ["costs ${uid}", "costs ${uid}"]
    assert [c.steps[0].value for c in checks] == ["NOOP", "RSET"]


def test_a_list_inside_a_string_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        suite: demo
        checks:
          - level: MUST
            rfc: ["5321#4.1.4"]
            title: 'codes ${codes}'
            steps:
              - send: NOOP
                expect: {code: '${codes}'}
            variants:
              - {id: demo.a, with: {codes: [250, 251]}}
        """)
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert f"{path}:5:" in str(info.value) and "must be a string or number, not a list" in str(info.value)


def test_the_comparison_names_every_changed_field() -> None:
    expand = _expand_module()
    before = {"a.b": {"level": "MUST", "steps": [{"action": "send", "value": "NOOP"}]}, "a.c": {}}
    after = {"a.b": {"level": "SHOULD", "steps": [{"action": "send", "value": "RSET"}]}, "a.d": {}}
    assert expand.differences(before, after) == [
        "a.c: only before", "a.d: only after", 'a.b.level: "MUST" -> "SHOULD"',
        'a.b.steps[0].value: "NOOP" -> "RSET"']
    assert expand.differences(before, before) == []


def test_a_reference_outside_variants_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "      - send: 'NOOP ${x}'\n")
    with pytest.raises(ScenarioError) as info:
        load_file(path)
    assert f"{path}:8:" in str(info.value) and "${x} outside a check with variants" in str(info.value)
    literal = write(tmp_path, HEAD + "      - send: 'NOOP $${x}'\n", "ok.yaml")
    assert load_file(literal).checks[0].steps[0].value == "NOOP ${x}"
