"""Every template of every bundled check renders against a target with exactly the mailboxes it is said to need.

A template error in a bundled check is a bug in the check: the runner skips a
check whose ``Check.mailboxes`` the target cannot meet, so a check that
renders ``users[1]`` but is derived as needing one mailbox would end in
``error`` on a one-mailbox target. The target here lists exactly N users, so
``users[N]`` fails; variables that only exist at run time (captures, ``set``,
``retrieve`` results, the repeat index) get plausible values, and any other
name is an error, as it is at run time.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness.cli import default_scenario_paths
from harness.scenario.context import CheckContext, ServerInfo
from harness.scenario.loader import load_file, load_paths
from harness.scenario.mailbox import MailboxLocks
from harness.scenario.model import Check, Step, walk_steps
from harness.scenario.needs import strings_in
from harness.scenario.templating import TemplateProblem, is_template, render
from harness.session import Limits
from harness.config.target import Endpoint, Target, User
from harness.transcript import Transcript


def _target(n: int) -> Target:
    users = tuple(User(f"user{k}@example.test", f"user{k}", f"password{k}") for k in range(n))
    return Target(smtp=Endpoint("127.0.0.1", 9), pop3=Endpoint("127.0.0.1", 9), domain="example.test",
                  users=users, smtp_auth=("user0", "password0") if users else None)


def _runtime_vars(check: Check) -> dict[str, Any]:
    """Plausible values for what the steps of ``check`` set while it runs."""
    out: dict[str, Any] = {}
    for step in walk_steps(check.steps):
        spec = step.value if isinstance(step.value, dict) else {}
        if step.action == "repeat":
            out["i"] = 0
        elif step.action == "retrieve":
            out.update({f"{spec['message']}_number": 1, f"{spec['message']}_uid": "uid-1",
                        f"{spec['message']}_octets": 100, f"{spec['message']}_size": 100})
        elif step.action == "smuggle":
            out["smuggle_first_code"] = "250"
        elif step.action == "set":
            out.update({k: "1" for k in spec})
        for e in step.expects:
            out.update({name: "1" for name, _ in e.capture})
    return out


def _templates(step: Step) -> Iterator[str]:
    texts = [*strings_in(step.value), *(v for _, v in step.options if isinstance(v, str))]
    texts += [s for e in step.expects for s in (e.text, e.body) if s is not None]
    return (t for t in texts if is_template(t))


def render_problems(check: Check, users: int) -> list[str]:
    """Every template of ``check`` that fails against a target listing ``users`` mailboxes."""
    ctx = CheckContext(check, _target(users), Limits(), MailboxLocks(), ServerInfo(), Transcript())
    ctx.vars.update(_runtime_vars(check))
    problems = []
    for step in walk_steps(check.steps):
        for text in _templates(step):
            try:
                render(text, ctx.template_context())
            except TemplateProblem as exc:
                problems.append(f"{check.file}:{step.line}: {text!r} with {users} user(s): {exc}")
        if step.action == "set" and not problems:     # later steps see the value, as at run time
            ctx.vars.update({k: ctx.render(v) if isinstance(v, str) else v for k, v in step.value.items()})
    return problems


_CHECKS = [c for f in load_paths(default_scenario_paths()) for c in f.checks]


def _cases() -> Iterator[Any]:
    for check in _CHECKS:
        # exactly as many users as derived (the sharpest test), and one for checks needing none
        for users in sorted({check.mailboxes, max(check.mailboxes, 1)}):
            yield pytest.param(check, users, id=f"{check.id}-{users}")


@pytest.mark.parametrize("check,users", list(_cases()))
def test_bundled_check_renders(check: Check, users: int) -> None:
    assert render_problems(check, users) == []


# Bundled checks that cannot be written for one mailbox, with the reason. A
# one-mailbox target (the common case) skips them, so keep this list short.
NEEDS_MORE_THAN_ONE: dict[str, str] = {}


def test_bundled_checks_run_with_one_mailbox() -> None:
    assert len(_CHECKS) > 200
    assert {c.id: c.mailboxes for c in _CHECKS if c.mailboxes > 1} == \
        {i: n for i, n in ((c.id, c.mailboxes) for c in _CHECKS) if i in NEEDS_MORE_THAN_ONE}


CHECK = """\
suite: demo
checks:
  - id: demo.two-users
    title: a check that writes to a second mailbox
    level: MUST
    rfc: ["5321#4.1.4"]
    steps:
      - send: "RCPT TO:<{{ users[1].address }}>"
"""


def test_a_check_under_counted_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(CHECK, encoding="utf-8")
    check = load_file(path).checks[0]
    assert check.mailboxes == 2 and render_problems(check, 2) == []
    problems = render_problems(replace(check, mailboxes=1), 1)
    assert len(problems) == 1 and "list object has no element 1" in problems[0]


def test_an_unknown_variable_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(CHECK.replace("users[1].address", "no_such_variable"), encoding="utf-8")
    assert "no_such_variable" in render_problems(load_file(path).checks[0], 1)[0]
