"""The terminal: colour on a TTY only (NO_COLOR, --color), progress with ETA and running checks, full --help."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from harness.cli import build_parser
from harness.results import CheckResult, Level, Status
from harness.terminal import Progress, Style, color_enabled


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _result(cid: str, status: Status = Status.PASSED) -> CheckResult:
    return CheckResult(id=cid, title="t", suite="s", level=Level.MUST, rfc=(), status=status)


@pytest.mark.parametrize("mode,tty,env,expected", [
    ("auto", True, {}, True), ("auto", False, {}, False), ("auto", True, {"NO_COLOR": "1"}, False),
    ("auto", True, {"TERM": "dumb"}, False), ("always", False, {"NO_COLOR": "1"}, True), ("never", True, {}, False),
])
def test_colour_only_on_a_terminal(mode, tty, env, expected) -> None:
    assert color_enabled(mode, Tty() if tty else io.StringIO(), env) is expected
    assert ("\x1b[" in Style(expected)("x", "red")) is expected


def test_ci_progress_has_elapsed_eta_and_what_is_still_running() -> None:
    out, clock = io.StringIO(), Clock()
    p = Progress(out, False, 4, tty=False, interval=10, clock=clock)
    for cid in ("a", "b", "c", "slow"):
        p.on_start(cid)
    clock.now += 2
    p(_result("a"), 1, 4)
    p(_result("b", Status.FAILED), 2, 4)
    p.tick()
    assert "running" not in out.getvalue()             # nothing for a while yet: quiet
    clock.now += 30
    p.tick()
    text = out.getvalue()
    assert text.startswith(".F\n")
    assert "[2/4] 32 s elapsed, ETA 32 s; running: c (32 s), slow (32 s)" in text
    p(_result("c"), 3, 4)
    p(_result("slow", Status.ERROR), 4, 4)
    assert out.getvalue().endswith(".E [4/4] 32 s elapsed\n")
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()   # plain lines for CI logs


def test_tty_progress_redraws_one_line() -> None:
    out, clock = Tty(), Clock()
    p = Progress(out, False, 10, clock=clock)
    p.on_start("smtp.greeting")
    p.on_start("smtp.slow")
    clock.now += 5
    p(_result("smtp.greeting"), 1, 10)
    line = out.getvalue().split("\r\x1b[K")[-1]
    assert line.startswith("[1/10]  10%") and "5 s elapsed, ETA 45 s" in line and "running: smtp.slow (5 s)" in line


def test_every_run_option_has_help_and_the_epilog_lists_exit_codes() -> None:
    parser = build_parser()
    run = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == "run")[1]
    missing = [a.option_strings for a in run._actions if a.option_strings and not a.help]
    assert not missing, missing
    text = run.format_help()
    for code in ("0  the gate passed", "1  the gate failed", "2  bad input or a setup problem"):
        assert code in text
    assert "(default: MUST,SECURITY)" in text and "NO_COLOR" in text


def test_levels_in_any_case_shown_in_upper_case(tmp_path) -> None:
    args = build_parser().parse_args(["run", "--fail-on", "must,Security,should", "--level", "mAy"])
    assert args.fail_on == ("MUST", "SECURITY", "SHOULD") and args.level == ("MAY",)
    r = subprocess.run([sys.executable, "-m", "harness", "run", "--fail-on", "bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "use MUST, SHOULD, MAY, SECURITY, POLICY" in r.stderr
