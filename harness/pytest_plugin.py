"""pytest adapter (docs/architecture.md): scenario checks as test items.

``pytest --mail-target target.yaml scenarios/`` collects every check of every
scenario file as an item and runs it with the same runner as ``mailharness
run``. ``--mail-target embedded`` starts the reference server for the session.
Without ``--mail-target`` the plugin collects nothing, so it never interferes
with a project's own YAML files.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.errors import ScenarioError
from harness.results import CheckResult, Status

_RUNNER_KEY = pytest.StashKey[Any]()
_TARGET_KEY = pytest.StashKey[contextlib.ExitStack]()    # holds the embedded server, if any


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mailharness", "mail server conformance checks")
    group.addoption("--mail-target", metavar="FILE|embedded",
                    help="run scenario YAML files as tests against this target file "
                         "('embedded' starts the reference server)")
    group.addoption("--mail-fail-on", default="MUST,SECURITY",
                    help="levels whose failures fail the test; others are xfail (default MUST,SECURITY)")
    group.addoption("--mail-timeout", type=float, default=10.0, help="seconds to wait for one reply")


def _is_scenario(path: Path) -> bool:
    if path.suffix not in (".yaml", ".yml") or "load" in path.parts[:-1]:
        return False
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return False
    return any(line.startswith("suite:") for line in head.splitlines())


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if parent.config.getoption("--mail-target") and _is_scenario(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _runner(config: pytest.Config) -> Any:
    if _RUNNER_KEY in config.stash:
        return config.stash[_RUNNER_KEY]
    from harness.embedded import run_target
    from harness.scenario.runner import Runner, RunOptions
    from harness.session import Limits

    spec = config.getoption("--mail-target")
    stack = config.stash[_TARGET_KEY] = contextlib.ExitStack()
    target = stack.enter_context(run_target(None if spec == "embedded" else spec))
    fail_on = tuple(v.strip().upper() for v in config.getoption("--mail-fail-on").split(",") if v.strip())
    timeout = config.getoption("--mail-timeout")
    runner = Runner(target, RunOptions(jobs=1, fail_on=fail_on,
                                       limits=Limits(read_timeout=min(timeout, 10.0), reply_deadline=timeout)))
    config.stash[_RUNNER_KEY] = runner
    return runner


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_TARGET_KEY, None)
    if stack is not None:
        stack.close()


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from harness.scenario.loader import load_file
        try:
            scenario = load_file(self.path)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        for check in scenario.checks:
            yield ScenarioItem.from_parent(self, name=check.id, check=check)


_MARKS_KEY = pytest.StashKey[set]()


def _register_marker(config: pytest.Config, name: str) -> None:
    """Tags and levels become markers (-m must, -m smuggling); registered so --strict-markers accepts them."""
    known = config.stash.setdefault(_MARKS_KEY, set())
    if name not in known:
        config.addinivalue_line("markers", f"{name}: mailharness check tag or level")
        known.add(name)


class CheckFailure(Exception):
    def __init__(self, result: CheckResult, transcript: str) -> None:
        super().__init__(result.message)
        self.result = result
        self.transcript = transcript


class ScenarioItem(pytest.Item):
    def __init__(self, *, check: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        for mark in [tag.replace("-", "_") for tag in check.tags] + [check.level.value.lower()]:
            _register_marker(self.config, mark)
            self.add_marker(mark)

    def runtest(self) -> None:
        runner = _runner(self.config)
        try:
            result = runner.run_check(self.check)
        except ScenarioError as exc:
            raise CheckFailure(_error_result(self.check, str(exc)), "") from None
        self.user_properties.append(("level", self.check.level.value))
        self.user_properties.append(("rfc", ",".join(self.check.rfc)))
        if result.status is Status.SKIPPED:
            pytest.skip(result.message)
        if result.status is Status.PASSED:
            return
        if not result.gated:
            why = "known deviation" if result.known_deviation else f"{result.level.value} is not gated"
            pytest.xfail(f"{why}: {result.message}")
        raise CheckFailure(result, _render_transcript(result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CheckFailure):
            r = excinfo.value.result
            lines = [f"{r.id} [{r.level.value}, RFC {', '.join(r.rfc)}]: {r.status.value}"
                     + (f" ({r.error_class})" if r.error_class else ""),
                     f"  {r.title}"]
            lines += [f"  - {f}" for f in (r.failures or [r.message])]
            if r.findings:
                lines += ["  server protocol violations:"] + [f"  ! {f}" for f in r.findings]
            if r.rationale:
                lines.append(f"  why: {r.rationale}")
            if excinfo.value.transcript:
                lines += ["", "transcript:", excinfo.value.transcript]
            return "\n".join(lines)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.check.line - 1, f"{self.check.id} ({self.check.level.value})"


def _error_result(check: Any, message: str) -> CheckResult:
    return CheckResult(id=check.id, title=check.title, suite=check.suite, level=check.level, rfc=check.rfc,
                       status=Status.ERROR, message=message)


def _render_transcript(result: CheckResult, limit: int = 200) -> str:
    from harness.untrusted import clean
    from harness.transcript import render_entries
    return clean(render_entries(result.transcript, limit))
