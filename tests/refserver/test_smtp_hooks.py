"""The reference SMTP server's extension points: the hook table and the typed replies."""

from __future__ import annotations

import asyncio

import pytest

from harness.refserver import smtp_replies as R
from harness.refserver.defects import DefectSet
from harness.refserver.smtp import COMMANDS, smtp_hooks
from harness.refserver.smtp_hooks import ALL_VERBS, Point, Registration, build_hooks
from harness.refserver.smtp_knob_hooks import REGISTRATIONS


def test_clean_server_runs_the_plain_handlers():
    hooks = smtp_hooks(DefectSet())
    assert dict(hooks.commands) == COMMANDS  # no wrapper composed in anywhere
    assert (hooks.keywords, hooks.segment, hooks.reply, hooks.after_reply) == ((), (), (), ())
    assert hooks.eol == b"\r\n"


def test_a_knob_wraps_only_its_verbs():
    hooks = smtp_hooks(DefectSet(["smtp-ext-vrfy-enumeration"]))
    changed = {verb for verb, handler in hooks.commands.items() if handler is not COMMANDS[verb]}
    assert changed == {"VRFY"}


def test_all_verbs_registration_skips_its_exceptions():
    hooks = smtp_hooks(DefectSet(["smtp-no-pipelining-close"]))
    unchanged = {verb for verb, handler in hooks.commands.items() if handler is COMMANDS[verb]}
    assert unchanged == {"BDAT"}
    assert len(hooks.keywords) == 1


def test_every_registration_names_a_known_knob_and_verb():
    for registration in REGISTRATIONS:
        assert registration.knobs, "knob hooks are registered under a knob"
        if registration.point is Point.WRAP:
            assert registration.verb == ALL_VERBS or registration.verb in COMMANDS


def test_registration_for_an_unknown_knob_is_refused():
    async def hook(conn, arg, handler):  # pragma: no cover - never run
        await handler(conn, arg)

    with pytest.raises(ValueError, match="unknown knob"):
        Registration(("smtp-no-such-knob",), Point.WRAP, hook, "NOOP")


def test_wrap_hooks_run_in_registration_order_first_outermost():
    calls: list[str] = []

    async def handler(conn, arg):
        calls.append(f"handler {arg}")

    def tag(name):
        async def hook(conn, arg, inner):
            calls.append(name)
            await inner(conn, arg + name)
        return hook

    regs = [Registration((), Point.WRAP, tag("a"), "NOOP"), Registration((), Point.WRAP, tag("b"), "NOOP")]
    hooks = build_hooks({"NOOP": handler}, regs, DefectSet())
    asyncio.run(hooks.commands["NOOP"](None, ""))  # type: ignore[arg-type]
    assert calls == ["a", "b", "handler ab"]


def test_wrap_hook_for_a_verb_without_handler_is_refused():
    async def hook(conn, arg, inner):  # pragma: no cover - never run
        await inner(conn, arg)

    with pytest.raises(ValueError, match="without a handler"):
        build_hooks({}, [Registration((), Point.WRAP, hook, "NOOP")], DefectSet())


@pytest.mark.parametrize(("reply", "line"), [
    (R.OK, "250 2.0.0 OK"),
    (R.OK_BARE_CODE, "250"),
    (R.challenge(""), "334 "),  # an empty SASL challenge keeps its space
    (R.greeting("h.example"), "220 h.example ESMTP mailharness-ref"),
    (R.USER_UNKNOWN.without_enhanced(), "550 User unknown"),
    (R.USER_UNKNOWN.with_enhanced_class("4"), "550 4.1.1 User unknown"),
    (R.START_DATA.with_enhanced_class("4"), "354 End data with <CR><LF>.<CR><LF>"),
])
def test_reply_lines(reply: R.Reply, line: str):
    assert reply.line() == line
    assert reply.wire(b"\r\n") == line.encode() + b"\r\n"
