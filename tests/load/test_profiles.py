"""Load profiles: bundled ones validate; schema and semantic errors name file:line; CLI exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ScenarioError
from harness.load.profile import load_profile, profile_from_json
from tests.load.conftest import BUNDLED, PROFILES


@pytest.mark.parametrize("path", sorted(BUNDLED.glob("*.yaml")) + sorted(PROFILES.glob("*.yaml")),
                         ids=lambda p: p.name)
def test_bundled_profiles_are_valid_and_round_trip_through_json(path: Path) -> None:
    profile = load_profile(path)
    assert profile.duration > 0
    assert profile_from_json(profile.to_json()) == profile


def test_required_profiles_are_shipped() -> None:
    names = {p.stem for p in BUNDLED.glob("*.yaml")}
    assert {"smtp-throughput", "pop3-drain", "mixed", "roundtrip"} <= names
    throughput = load_profile(BUNDLED / "smtp-throughput.yaml")
    assert throughput.messages.sizes == ((1000, 1),)
    assert throughput.users[0].messages_per_session == 1 and throughput.users[0].wait == (0.0, 0.0)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


GOOD = """\
name: t
duration: 5s
shape: {kind: ramp, users: 2}
users:
  - {kind: smtp, weight: 1}
"""


@pytest.mark.parametrize("text, line, words", [
    (GOOD.replace("  - {kind: smtp, weight: 1}", "  - {kind: smtp, wieght: 1}"), 5, "unknown key 'wieght'"),
    (GOOD.replace("duration: 5s", "duration: soon"), 2, "duration"),
    (GOOD.replace("kind: ramp", "kind: wave"), 3, "'wave' is not one of"),
    (GOOD + "thresholds:\n  phases:\n    \"SMTP DATA\": {p95: fast}\n", 8, "p95"),
    (GOOD + "thresholds:\n  max_lost_messages: 0\n", 7, "needs roundtrip"),
    (GOOD.replace("{kind: ramp, users: 2}", "{kind: spike, users: 2}"), 3, "needs 'spike_users'"),
    (GOOD + "bogus: 1\n", 6, "unknown key 'bogus'"),
    ("users: [}\n", 1, "YAML syntax error"),
])
def test_profile_errors_name_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_profile(path)
    message = str(info.value)
    assert f"{path}:{line}" in message, message
    assert words in message, message


def test_overrides_apply_to_the_shape_and_duration() -> None:
    profile = load_profile(BUNDLED / "smtp-throughput.yaml").with_overrides(users=3, spawn_rate=1.5, duration=2)
    assert (profile.shape.users, profile.shape.spawn_rate, profile.duration) == (3, 1.5, 2)


def test_cli_validate_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", str(BUNDLED / "roundtrip.yaml"), "--validate-only"]) == 0
    bad = _write(tmp_path, GOOD.replace("users: 2", "users: -1"))
    assert main(["load", str(bad), "--validate-only"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3" in err and "Traceback" not in err


def test_cli_bad_target_and_defect_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "target.yaml"
    target.write_text("smtp: {host: 127.0.0.1, port: nope}\n")
    assert main(["load", str(BUNDLED / "smtp-throughput.yaml"), "--target", str(target)]) == 2
    assert main(["load", str(BUNDLED / "smtp-throughput.yaml"), "--target", str(target),
                 "--defect", "smtp-8bit-strip"]) == 2
    pop_only = tmp_path / "pop.yaml"
    pop_only.write_text("pop3: {host: 127.0.0.1, port: 1110}\nusers: [{address: a@b.test, login: a, password: p}]\n")
    assert main(["load", str(BUNDLED / "smtp-throughput.yaml"), "--target", str(pop_only)]) == 2


def test_cli_runs_a_bundled_profile_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("MAILHARNESS_SCENARIOS", raising=False)
    monkeypatch.chdir(tmp_path)                     # names work from any folder
    for arg in ("smtp-throughput", "smtp-throughput.yaml"):
        assert main(["load", arg, "--validate-only"]) == 0
        out = capsys.readouterr().out
        assert "load/smtp-throughput.yaml: valid load profile 'smtp-throughput'" in out, out
    # a file of that name in the current folder is a path, and a path wins over a bundled name
    (tmp_path / "smtp-throughput.yaml").write_text(GOOD.replace("name: t", "name: local"))
    assert main(["load", "smtp-throughput.yaml", "--validate-only"]) == 0
    assert "valid load profile 'local'" in capsys.readouterr().out


def test_cli_unknown_profile_name_exits_2_listing_the_bundled_ones(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILHARNESS_SCENARIOS", raising=False)
    assert main(["load", "smtp-thruput", "--validate-only"]) == 2
    err = capsys.readouterr().err
    assert "no load profile named 'smtp-thruput'" in err and "Traceback" not in err
    assert all(p.stem in err for p in BUNDLED.glob("*.yaml")), err
    # a path that does not exist is still the loader's "no such file" error
    assert main(["load", "nowhere/smtp-throughput.yaml", "--validate-only"]) == 2
    assert "nowhere/smtp-throughput.yaml" in capsys.readouterr().err


def test_cli_profile_names_follow_mailharness_scenarios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "load").mkdir()
    (tmp_path / "load" / "mine.yaml").write_text(GOOD.replace("name: t", "name: mine\ndescription: my own"))
    monkeypatch.setenv("MAILHARNESS_SCENARIOS", str(tmp_path))
    assert main(["load", "mine", "--validate-only"]) == 0
    assert main(["list", "--profiles"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].split() == ["mine", str(tmp_path / "load" / "mine.yaml"), "my", "own"]
    assert main(["load", "smtp-throughput", "--validate-only"]) == 2    # the override replaces the bundled ones
