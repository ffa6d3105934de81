"""How many mailboxes a check needs: derived at load time, enforced by the runner before any step."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.results import Status
from harness.scenario.context import CheckContext, CheckSkipped, ServerInfo
from harness.scenario.loader import load_file
from harness.scenario.mailbox import MailboxLocks
from harness.scenario.needs import shortfall, template_mailboxes
from harness.scenario.preflight import Preflight
from harness.scenario.runner import Runner
from harness.session import Limits
from harness.config.target import Endpoint, Target, User
from harness.transcript import Transcript

TEMPLATES = [
    # (template, mailboxes it needs)
    ("NOOP", 0),
    ("users[1] outside braces is text", 0),
    ("{{ domain }} {{ uid }} {{ client_name }}", 0),
    ("{{ sender }}", 0),
    ("{{ 'users[1]' }}", 0),
    ("{{ user.address }}", 1),
    ("{{ user }}", 1),
    ("{{ users[0].address }}", 1),
    ("{{ users[1].address }}", 2),
    ("MAIL FROM:<{{ users[1].address }}> SIZE={{ users[0].login }}", 2),
    ("{{ users.2.login }}", 3),
    ("{{ users[11].password }}", 12),
    ("{{ users[-1].address }}", 1),
    ("{{ users['x'] }}", 1),
    ("{{ users[i % (users | length)].address }}", 1),
    ("{{ users | length }}", 0),
    ("{{ users[0:2] | length }}", 0),
    ("{{ users | first }}", 1),
    ("{{ users | last }}", 1),
    ("{% for u in users %}{{ u.address }}{% endfor %}", 0),
    ("{% for user in users %}{{ user.login }}{% endfor %}", 0),
    ("{% set users = ['a', 'b', 'c'] %}{{ users[2] }}", 0),
    ("{% if users | length > 1 %}{{ users[1].address }}{% endif %}", 2),   # guarded: still counted
    ("{{ (stamp ~ user.password) | md5 }}", 1),
    ("{{ users[3].address | regex_escape }}", 4),
    ("{{ users[1] ", 0),                       # a syntax error is the loader's to report
]


@pytest.mark.parametrize("text,needed", TEMPLATES)
def test_template_mailboxes(text: str, needed: int) -> None:
    assert template_mailboxes(text) == needed


HEAD = """\
suite: demo
protocol: {protocol}
checks:
  - id: demo.one
    title: a check
    level: MUST
    rfc: ["5321#4.1.4"]
{extra}    steps:
"""

STEPS = [
    # (check protocol, extra check keys, steps, mailboxes)
    ("smtp", "", "- send: NOOP", 0),
    ("smtp", "", "- send: 'MAIL FROM:<{{ sender }}>'", 0),
    ("smtp", "", "- send: 'RCPT TO:<{{ users[1].address }}>'", 2),
    ("smtp", "", "- send: NOOP\n  expect: {text: '{{ users[2].local }}'}", 3),
    ("pop3", "", "- send: RETR 1\n  expect: {body: '{{ users[1].address }}'}", 2),
    ("smtp", "", "- send: NOOP\n  when: '{{ users[1] }}'", 2),
    ("smtp", "", "- set: {who: '{{ users[1].address }}'}", 2),
    ("smtp", "", "- repeat: 2\n  steps:\n    - send: 'VRFY {{ users[4].local }}'", 5),
    ("pop3", "", "- login:", 1),
    ("pop3", "", "- login: 0", 1),
    ("pop3", "", "- login: 2", 3),
    ("pop3", "", "- login: {user: 1, password: wrong}", 2),
    ("pop3", "", "- login: {password: wrong}", 1),
    ("pop3", "", "- login: bob", 1),
    ("smtp", "", "- auth: {mechanism: PLAIN}", 0),                  # smtp_auth comes first
    ("smtp", "", "- auth: {mechanism: PLAIN, user: 1}", 2),
    ("smtp", "", "- auth: {mechanism: PLAIN, login: x, password: y}", 0),
    ("pop3", "", "- auth: {mechanism: PLAIN}", 1),
    ("smtp", "connect: false\n", "- connect: pop3\n- auth: {mechanism: LOGIN}", 1),
    ("smtp", "", "- connect: {service: pop3, as: p}\n- use: smtp\n- auth: {mechanism: LOGIN}", 0),
    ("smtp", "", "- connect: {service: pop3, as: p}\n- auth: {mechanism: LOGIN}\n  conn: smtp", 0),
    ("smtp", "", "- mail: {}", 1),
    ("smtp", "", "- mail: {to: 'postmaster@{{ domain }}'}", 0),
    ("smtp", "", "- mail: {to: 'a@b.test', from: '{{ users[2].address }}'}", 3),
    ("smtp", "", "- mail: {to: 'a@b.test', message: {headers: {Cc: '{{ users[5].address }}'}}}", 6),
    ("smtp", "", "- send_data: {}", 1),
    ("smtp", "", "- smuggle: {end: '\\n.\\n'}", 1),
    ("smtp", "", "- smuggle: {end: '\\n.\\n', to: 'a@b.test'}", 0),
    ("smtp", "", "- slow_send: {data: 'NOOP\\r\\n'}", 0),
    ("smtp", "", "- slow_send: {message: {subject: s}}", 1),
    ("smtp", "", "- retrieve: {message: m}", 1),
    ("smtp", "", "- retrieve: {message: m, user: 3}", 4),
    ("smtp", "", "- retrieve: {message: m, matches: ['{{ users[1].address }}']}", 2),
    ("smtp", "mailboxes: 3\n", "- send: NOOP", 3),                   # declared: a floor
    ("smtp", "mailboxes: 1\n", "- send: '{{ users[1].address }}'", 2),  # never lowers
    ("smtp", "requires: [STARTTLS, 'target:users2']\n", "- send: NOOP", 2),
]


def _load(tmp_path: Path, protocol: str, extra: str, steps: str):
    head = HEAD.format(protocol=protocol, extra=textwrap.indent(extra, "    "))
    path = tmp_path / "s.yaml"
    path.write_text(head + textwrap.indent(steps, "      ") + "\n", encoding="utf-8")
    return load_file(path).checks[0]


@pytest.mark.parametrize("protocol,extra,steps,needed", STEPS)
def test_check_mailboxes(tmp_path: Path, protocol: str, extra: str, steps: str, needed: int) -> None:
    assert _load(tmp_path, protocol, extra, steps).mailboxes == needed


def test_legacy_users2_is_folded_into_mailboxes(tmp_path: Path) -> None:
    check = _load(tmp_path, "smtp", "requires: [STARTTLS, 'target:users2']\n", "- send: NOOP")
    assert check.requires == ("STARTTLS",)


def test_schema_rejects_a_negative_count(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="mailboxes"):
        _load(tmp_path, "smtp", "mailboxes: -1\n", "- send: NOOP")


@pytest.mark.parametrize("needed,listed,reason", [
    (0, 0, None), (1, 1, None), (2, 12, None),
    (1, 0, "needs 1 mailbox; the target lists none"),
    (2, 1, "needs 2 mailboxes; the target lists 1"),
    (2, 0, "needs 2 mailboxes; the target lists none"),
    (5, 3, "needs 5 mailboxes; the target lists 3"),
])
def test_shortfall(needed: int, listed: int, reason: str | None) -> None:
    assert shortfall(needed, listed) == reason


def _target(n: int) -> Target:
    # a port nothing listens on: a skipped check must not connect at all
    return Target(smtp=Endpoint("127.0.0.1", 9), pop3=Endpoint("127.0.0.1", 9),
                  users=tuple(User(f"u{k}@example.test", f"u{k}", f"pw{k}") for k in range(n)))


@pytest.mark.parametrize("users,reason", [
    (1, "needs 2 mailboxes; the target lists 1"),
    (0, "needs 2 mailboxes; the target lists none"),
])
def test_runner_skips_before_any_step(tmp_path: Path, users: int, reason: str) -> None:
    check = _load(tmp_path, "smtp", "", "- send: 'MAIL FROM:<{{ users[1].address }}>'")
    result = Runner(_target(users)).run_check(check)
    assert (result.status, result.message, result.error_class, result.gated) == (Status.SKIPPED, reason, None, False)
    assert result.transcript == []           # nothing was sent: no connection was opened


def _runner(users: int) -> Runner:
    """A runner whose preflight found nothing wrong (the target's port 9 is never connected to)."""
    runner = Runner(_target(users))
    runner._preflight = Preflight()
    return runner


def test_runner_runs_when_the_target_lists_enough(tmp_path: Path) -> None:
    check = _load(tmp_path, "smtp", "", "- send: 'MAIL FROM:<{{ users[1].address }}>'")
    assert _runner(2)._skip_reason(check) is None


def test_runner_legacy_requirement_on_a_check_built_in_code(tmp_path: Path) -> None:
    from dataclasses import replace
    check = replace(_load(tmp_path, "smtp", "", "- send: NOOP"), requires=("target:users2",))
    assert _runner(1)._skip_reason(check) == "needs 2 mailboxes; the target lists 1"
    assert _runner(2)._skip_reason(check) is None


@pytest.mark.parametrize("users,ref,reason", [
    (1, 1, "needs 2 mailboxes; the target lists 1"),
    (0, None, "needs 1 mailbox; the target lists none"),
    (0, 0, "needs 1 mailbox; the target lists none"),
    (0, "bob", "needs 1 mailbox; the target lists none"),
])
def test_context_user_safety_net(tmp_path: Path, users: int, ref: int | str | None, reason: str) -> None:
    check = _load(tmp_path, "smtp", "", "- send: NOOP")
    ctx = CheckContext(check, _target(users), Limits(), MailboxLocks(), ServerInfo(), Transcript([]))
    with pytest.raises(CheckSkipped, match=f"^{reason}$"):
        ctx.user(ref)


def test_sender_falls_back_to_the_only_mailbox(tmp_path: Path) -> None:
    check = _load(tmp_path, "smtp", "", "- send: NOOP")

    def sender(n: int) -> str:
        ctx = CheckContext(check, _target(n), Limits(), MailboxLocks(), ServerInfo(), Transcript([]))
        return ctx.render("{{ sender }}")

    assert (sender(0), sender(1), sender(2)) == ("harness@example.test", "u0@example.test", "u1@example.test")


@pytest.mark.parametrize("lines,locked", [
    (["user u0", "pass pw0"], True),
    (["USER u0", "PASS pw0"], True),
    (["APOP u0 0123456789abcdef0123456789abcdef"], True),
    (["USER u0"], False),              # the maildrop opens at PASS, not USER
    (["PASS pw0"], False),             # no USER: the server refuses it without opening anything
    (["STAT", "NOOP"], False),
])
def test_hand_written_pop3_login_takes_the_mailbox_lock(tmp_path: Path, lines: list[str], locked: bool) -> None:
    # With one mailbox every POP3 check shares it: a hand-typed PASS must wait its turn like `login`.
    from harness.errors import Timeout
    check = _load(tmp_path, "pop3", "", "- send: NOOP")
    locks = MailboxLocks(wait=0.05)
    ctx = CheckContext(check, _target(1), Limits(), locks, ServerInfo(), Transcript([]))
    for line in lines:
        ctx.typed_line("pop3", line)
    if locked:
        with pytest.raises(Timeout):
            locks.acquire("u0", "another check")
    else:
        locks.acquire("u0", "another check")
