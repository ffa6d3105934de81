"""How many of the target's mailboxes a check needs, derived from the check itself at load time.

A check that indexes ``users[1]`` against a one-mailbox target cannot be
judged; the runner skips it up front instead of letting a template error end
it in ``error``. The count comes from what the check uses, so nobody has to
remember to declare it:

* templates: ``users[N]`` with a constant index needs N+1; ``user`` (= users[0]),
  ``users[-1]``, ``users[expr]``, ``users|first`` / ``last`` / ``random`` need 1;
  ``users|length``, slices and loops work with any number and need nothing;
* steps that name a user by index (``login: 1``, ``auth: {user: 1}``,
  ``retrieve: {user: 1}``) need index+1; by login or address, 1;
* steps that fall back to ``users[0]``: ``login`` without a user, ``retrieve``,
  ``mail`` / ``send_data`` / ``smuggle`` / ``slow_send`` without ``to``, and
  POP3 ``auth`` without ``login``. SMTP ``auth`` without ``login`` or ``user``
  uses the target's ``smtp_auth`` first, so it needs nothing;
* ``sender`` (the default envelope sender) never needs a mailbox: it falls back.

A check may declare ``mailboxes: N`` for what a template cannot show (an index
computed at run time); the legacy ``requires: [target:users2]`` means
``mailboxes: 2``. Declarations only raise the derived count.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Iterable, Iterator

from jinja2 import TemplateSyntaxError, meta, nodes

from harness.protocol.protocols import Protocol
from harness.scenario.model import Expect, Step, walk_protocols
from harness.scenario.templating import is_template, parse

__all__ = ["strings_in", "template_mailboxes", "steps_mailboxes", "requires_mailboxes", "shortfall", "LEGACY_USERS"]

# ``requires: [target:users2]`` from before mailbox counts were derived.
LEGACY_USERS = re.compile(r"^target:users([0-9]+)$")

# Filters that take one element of the list, so an empty list is an error.
_ELEMENT_FILTERS = frozenset({"first", "last", "random"})


@functools.lru_cache(maxsize=4096)
def template_mailboxes(text: str) -> int:
    """Mailboxes a template string needs (0 for plain text)."""
    if not is_template(text):
        return 0
    try:
        tree = parse(text)
    except TemplateSyntaxError:
        return 0                                  # the loader reports it with file and line
    free = meta.find_undeclared_variables(tree)   # a {% set users = ... %} is not the target's
    need = 1 if "user" in free else 0
    if "users" not in free:
        return need
    for node in tree.find_all((nodes.Getitem, nodes.Filter)):
        if not (isinstance(node.node, nodes.Name) and node.node.name == "users"):
            continue
        if isinstance(node, nodes.Filter):
            need = max(need, 1 if node.name in _ELEMENT_FILTERS else 0)
        elif isinstance(node.arg, nodes.Slice):
            continue                              # a slice of any list is fine
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, int):
            need = max(need, node.arg.value + 1 if node.arg.value >= 0 else 1)
        else:
            need = max(need, 1)                   # computed index: at least the list is not empty
    return need


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a step value (nested mappings and lists included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings_in(item)


def _expect_strings(expects: Iterable[Expect]) -> Iterator[str]:
    for e in expects:
        yield from (s for s in (e.text, e.body) if s is not None)


def _ref_need(ref: Any) -> int:
    """A user named by index needs index+1 mailboxes; by login or address, at least one."""
    return ref + 1 if isinstance(ref, int) and not isinstance(ref, bool) else 1


def _action_need(step: Step, protocol: Protocol | None) -> int:
    value = step.value
    spec = value if isinstance(value, dict) else {}
    if step.action == "login":
        ref = spec.get("user") if isinstance(value, dict) else value
        return _ref_need(0 if ref is None else ref)
    if step.action in ("retrieve", "deliver"):
        return _ref_need(spec.get("user", 0))
    if step.action == "auth":
        if "login" in spec:
            return 0
        if protocol is Protocol.SMTP and "user" not in spec:
            return 0                              # smtp_auth first; CheckContext.user() guards the fallback
        return _ref_need(spec.get("user", 0))
    if step.action in ("mail", "send_data", "smuggle"):
        return 1 if "to" not in spec else 0
    if step.action == "slow_send":
        return 1 if "message" in spec and "to" not in spec else 0
    return 0


def steps_mailboxes(steps: Iterable[Step], protocol: Protocol = Protocol.SMTP, connect: bool = True) -> int:
    """Mailboxes the steps of a check need (``protocol``/``connect``: the check's first connection)."""
    need = 0
    for step, step_protocol in walk_protocols(steps, protocol, connect):
        texts = [*strings_in(step.value), *strings_in(step.options), *_expect_strings(step.expects)]
        need = max(need, _action_need(step, step_protocol), *(template_mailboxes(t) for t in texts))
    return need


def requires_mailboxes(requires: Iterable[str]) -> int:
    return max((int(m.group(1)) for m in map(LEGACY_USERS.match, requires) if m), default=0)


def shortfall(needed: int, listed: int) -> str | None:
    """The skip reason when the target lists fewer mailboxes than a check needs, else None."""
    if listed >= needed:
        return None
    noun = "mailbox" if needed == 1 else "mailboxes"
    return f"needs {needed} {noun}; the target lists {listed or 'none'}"
