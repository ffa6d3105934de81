"""The step actions: one table that the loader, the schema test and the runner all read.

An action is a step's key (``greeting:``, ``send:``, ...). ``ACTIONS`` maps each
name to its executor and to the one protocol it speaks, if it speaks only one;
the loader finds a step's action here and validates the step against
``schema.yaml``'s ``$defs/step_<name>`` (tests/test_actions.py proves the two
lists agree), the loader's protocol check uses ``protocol``, and ``run_step``
dispatches through the same table. Adding an action is one row here, one
``step_<name>`` in the schema and the executor (docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.protocol.protocols import Protocol
from harness.scenario import steps, steps_mail, steps_maildrop, steps_smuggle
from harness.scenario.context import CheckContext
from harness.scenario.model import Step

__all__ = ["Action", "ACTIONS", "run_step"]

Executor = Callable[[CheckContext, Step], None]


@dataclass(frozen=True, slots=True)
class Action:
    run: Executor
    # The only protocol the action can speak on its connection; None: either, or none.
    protocol: Protocol | None = None
    # False: the step needs no open connection (it opens its own, or touches none).
    on_connection: bool = True


def step_repeat(ctx: CheckContext, step: Step) -> None:
    for i in range(step.value):
        ctx.vars["i"] = i
        for child in step.children:
            run_step(ctx, child)


# In the order the docs list them (the loader's "a step needs one action (...)" says them in this order).
ACTIONS: dict[str, Action] = {
    "connect": Action(steps.step_connect, on_connection=False),
    "use": Action(steps.step_use, on_connection=False),
    "greeting": Action(steps.step_greeting),
    "ehlo": Action(steps.step_ehlo, Protocol.SMTP),
    "send": Action(steps.step_send),
    "send_raw": Action(steps.step_send_raw),
    "pipeline": Action(steps.step_pipeline),
    "expect": Action(steps.step_expect),
    "starttls": Action(steps.step_starttls, Protocol.SMTP),
    "stls": Action(steps.step_stls, Protocol.POP3),
    "auth": Action(steps.step_auth),
    "login": Action(steps.step_login, Protocol.POP3),
    "mail": Action(steps_mail.step_mail, Protocol.SMTP),
    "deliver": Action(steps_mail.step_deliver, on_connection=False),
    "send_data": Action(steps_mail.step_send_data, Protocol.SMTP),
    "smuggle": Action(steps_smuggle.step_smuggle, Protocol.SMTP),
    "retrieve": Action(steps_mail.step_retrieve, on_connection=False),
    "inspect": Action(steps_maildrop.step_inspect, Protocol.POP3),
    "sleep": Action(steps.step_sleep, on_connection=False),
    "slow_send": Action(steps.step_slow_send),
    "drop": Action(steps.step_drop),
    "set": Action(steps.step_set, on_connection=False),
    "repeat": Action(step_repeat, on_connection=False),
    "skip": Action(steps.step_skip, on_connection=False),
    "quit": Action(steps.step_quit),
}

_FALSY = frozenset({"", "0", "false", "no", "none", "off"})


def run_step(ctx: CheckContext, step: Step) -> None:
    ctx.remaining()
    condition = step.option("when")
    if condition is not None:
        rendered = ctx.render(condition).strip()
        if rendered.lower() in _FALSY:
            ctx.transcript.event(ctx.current or "-", f"step at line {step.line} skipped: when {condition!r} is false")
            return
    ACTIONS[step.action].run(ctx, step)
