from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.report import load_json, write_json
from harness.results import CheckResult, Level, RunResult, Status

from report_samples import HOSTILE

PRODUCT_CHECK_KEYS = {"id", "title", "suite", "level", "rfc", "status", "error_class", "message",
                      "duration_ms", "transcript"}


def test_round_trip_equals_to_json(run, tmp_path):
    path = tmp_path / "results.json"
    write_json(run, path)
    assert load_json(path) == run.to_json()


def test_shape_matches_product_contract(run, tmp_path):
    path = tmp_path / "results.json"
    write_json(run, path)
    data = load_json(path)
    assert list(data) == ["tool", "version", "started", "target", "summary", "checks", "causes"]
    assert data["tool"] == "mailharness"
    assert {"total", "passed", "failed", "errors", "skipped", "gate"} <= set(data["summary"])
    assert data["summary"] == {**data["summary"], "total": 7, "passed": 2, "failed": 3, "errors": 1,
                               "skipped": 1, "gate": "failed"}
    for check in data["checks"]:
        assert PRODUCT_CHECK_KEYS <= set(check)
        assert check["status"] in {"passed", "failed", "error", "skipped"}
        assert isinstance(check["rfc"], list)
    assert data["checks"][3]["error_class"] == "timeout"
    assert data["checks"][0]["error_class"] is None


def test_file_is_utf8_indent2_and_keeps_hostile_text(run, tmp_path):
    path = tmp_path / "results.json"
    write_json(run, path)
    raw = path.read_bytes()
    text = raw.decode("utf-8")  # strict: must be valid UTF-8 despite the lone surrogate
    assert text.startswith('{\n  "tool": "mailharness"')
    assert b"\x00" not in raw and b"\x1b" not in raw  # JSON escapes controls
    assert load_json(path)["checks"][1]["transcript"][4]["text"] == HOSTILE


def test_parent_dirs_created_and_no_temp_left(run, tmp_path):
    path = tmp_path / "a" / "b" / "results.json"
    write_json(run, path)
    assert path.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]


def test_failed_write_keeps_old_file(run, tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text('{"old": true}')

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_json(run, path)
    assert path.read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


@pytest.mark.parametrize("content, fragment, line", [
    (None, "not found", None),
    (b"{\n  \"tool\": \"mailharness\",\n  oops\n}", "not valid JSON", 3),
    (b"[1, 2]", "top level is list", None),
    (b'{"tool": "other"}', "not a mailharness results file", None),
    (b'{"tool": "mailharness", "checks": {}}', "\"checks\" must be a list", None),
    (b'{"tool": "mailharness", "summary": []}', "\"summary\" must be an object", None),
    (b"\xff\xfe{}", "not UTF-8", None),
    (b"", "not valid JSON", 1),
])
def test_load_json_errors_are_scenario_errors(tmp_path, content, fragment, line):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ScenarioError) as info:
        load_json(path)
    err = info.value
    assert err.file == str(path)
    assert err.line == line
    assert fragment in err.message
    assert str(err).startswith(str(path))
    # Raised "from None" (or outside any except): no chained traceback to show.
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


def test_load_json_directory(tmp_path):
    with pytest.raises(ScenarioError, match="directory"):
        load_json(tmp_path)


def test_load_json_accepts_extra_keys_and_bom(tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(b'\xef\xbb\xbf{"tool": "mailharness", "load": {"rps": 1}, "checks": []}')
    assert load_json(path)["load"] == {"rps": 1}


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(), tid=st.text(min_size=1))
def test_any_text_round_trips(tmp_path, text, tid):
    run = RunResult("0.1.0", "2025-01-01T00:00:00Z", {"note": text}, [
        CheckResult(id=tid, title=text, suite="s", level=Level.MUST, rfc=(), status=Status.FAILED,
                    message=text, transcript=[{"conn": "smtp", "dir": "S", "t": 0.0, "text": text}]),
    ])
    path = tmp_path / "results.json"
    write_json(run, path)
    path.read_bytes().decode("utf-8")
    assert load_json(path) == run.to_json()
