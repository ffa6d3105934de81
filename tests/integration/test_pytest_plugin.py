"""The pytest plugin: scenario checks collected as test items, transcripts in failures."""

from __future__ import annotations

import re

from pathlib import Path

import pytest
import yaml

from harness.refserver import ReferenceServer

pytest_plugins = ["pytester"]

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_embedded_target_runs_checks_as_items(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--mail-target", "embedded",
                                           str(SCENARIOS / "smtp-core.yaml"), "-q")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 15, result.stdout.str()
    assert "failed" not in outcomes


def test_failure_shows_rfc_and_transcript(pytester: pytest.Pytester, tmp_path: Path) -> None:
    with ReferenceServer(defects=["smtp-rcpt-before-mail"]) as server:
        target = tmp_path / "target.yaml"
        target.write_text(yaml.safe_dump(server.target()))
        result = pytester.runpytest_subprocess(
            "--mail-target", str(target),
            str(SCENARIOS / "smtp-core.yaml"), "-k", "rcpt-before-mail or greeting")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert re.search(r"smtp\.rcpt-before-mail \[MUST, RFC [0-9#., ]*5321#4\.1\.4", out), out
    assert "expected code 503, got 250" in out
    assert "C: RCPT TO:<alice@example.test>\\r\\n" in out     # the transcript, escaped
    assert "S: 250 " in out


def test_without_target_option_yaml_is_not_collected(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(str(SCENARIOS / "smtp-core.yaml"))
    # pytest reports a file argument nothing was collected from as "not found" (usage error).
    assert result.ret in (pytest.ExitCode.NO_TESTS_COLLECTED, pytest.ExitCode.USAGE_ERROR)
    assert "collected 0 items" in result.stdout.str()


def test_malformed_scenario_is_a_collection_error(pytester: pytest.Pytester) -> None:
    bad = pytester.makefile(".yaml", bad="suite: x\nchecks:\n  - id: x.y\n    title: tt tt\n    level: MUST\n"
                                         "    rfc: ['5321']\n    steps:\n      - sned: NOOP\n")
    result = pytester.runpytest_subprocess("--mail-target", "embedded", str(bad))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*bad.yaml:8*a step needs one action*"])
