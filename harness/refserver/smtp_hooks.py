"""The reference SMTP server's extension points: a command table plus hook points knobs register into.

``build_hooks`` runs once per server. It takes the command table (verb to
handler, from the command modules) and every ``Registration`` whose knob is
switched on, and returns a frozen ``SmtpHooks``. The connection only looks
things up in it; nothing is patched at run time and nothing is found by name.

Hook points:

* ``wrap`` (per verb): ``hook(conn, arg, next)`` runs around the command's
  handler. It may answer the command itself, change the argument, or do
  something after ``next`` returns. The chains are composed here, once, so a
  verb without hooks costs nothing.
* ``keywords``: ``hook(conn, keywords) -> keywords`` edits the EHLO keyword list.
* ``segment``: ``hook(conn, segment) -> segment`` edits each DATA input segment
  before the end-of-data test (the smuggling knobs).
* ``reply``: ``hook(conn, reply) -> reply`` picks the reply that is sent instead
  (typed fields, never text).
* ``after_reply``: ``hook(conn, reply)`` runs once the reply is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .defects import DEFECTS, DefectSet
from .smtp_replies import Reply

# The hooks get an smtp_base.SmtpConnection; smtp_base imports this module, so naming the class here
# would be an import cycle (tests/test_layers.py counts TYPE_CHECKING imports too).
SmtpConnection = Any

__all__ = [
    "ALL_VERBS", "Command", "Point", "Registration", "SmtpHooks", "WrapHook", "build_hooks",
]

Command = Callable[[SmtpConnection, str], Awaitable[None]]
WrapHook = Callable[[SmtpConnection, str, Command], Awaitable[None]]
KeywordHook = Callable[[SmtpConnection, list[str]], list[str]]
SegmentHook = Callable[[SmtpConnection, bytes], bytes]
ReplyHook = Callable[[SmtpConnection, Reply], Reply]
AfterReplyHook = Callable[[SmtpConnection, Reply], Awaitable[None]]

ALL_VERBS = "*"  # a wrap registration for every verb in the table (minus its ``except_verbs``)


class Point(Enum):
    WRAP = "wrap"
    KEYWORDS = "keywords"
    SEGMENT = "segment"
    REPLY = "reply"
    AFTER_REPLY = "after-reply"


@dataclass(frozen=True, slots=True)
class Registration:
    """One hook, registered when any of ``knobs`` is on (an empty ``knobs`` means always)."""

    knobs: tuple[str, ...]
    point: Point
    hook: Callable[..., Any]
    verb: str | None = None  # WRAP only: a verb of the table, or ALL_VERBS
    except_verbs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = [k for k in self.knobs if k not in DEFECTS]
        if unknown:
            raise ValueError(f"hook registered for unknown knob(s) {unknown}")
        if (self.point is Point.WRAP) != (self.verb is not None):
            raise ValueError("a verb is given exactly for WRAP registrations")

    def active(self, defects: DefectSet) -> bool:
        return not self.knobs or any(k in defects for k in self.knobs)


@dataclass(frozen=True, slots=True)
class SmtpHooks:
    commands: Mapping[str, Command]  # verb (upper case) to its handler with its wrap hooks composed in
    keywords: tuple[KeywordHook, ...]
    segment: tuple[SegmentHook, ...]
    reply: tuple[ReplyHook, ...]
    after_reply: tuple[AfterReplyHook, ...]
    eol: bytes  # reply line end: CRLF, or LF with smtp-reply-bare-lf


def _wrapped(hook: WrapHook, inner: Command) -> Command:
    async def run(conn: SmtpConnection, arg: str) -> None:
        await hook(conn, arg, inner)
    return run


def build_hooks(commands: Mapping[str, Command], registrations: Iterable[Registration],
                defects: DefectSet) -> SmtpHooks:
    """The hook table for one server; registrations apply in order, the first one outermost."""
    active = [r for r in registrations if r.active(defects)]
    table: dict[str, Command] = {}
    for verb, handler in commands.items():
        wraps = [r.hook for r in active if r.point is Point.WRAP
                 and (r.verb == verb or (r.verb == ALL_VERBS and verb not in r.except_verbs))]
        for hook in reversed(wraps):
            handler = _wrapped(hook, handler)
        table[verb] = handler
    unknown = {r.verb for r in active if r.point is Point.WRAP} - set(commands) - {ALL_VERBS}
    if unknown:
        raise ValueError(f"wrap hooks for verbs without a handler: {sorted(unknown)}")

    def at(point: Point) -> tuple[Any, ...]:
        return tuple(r.hook for r in active if r.point is point)

    return SmtpHooks(commands=table, keywords=at(Point.KEYWORDS), segment=at(Point.SEGMENT),
                     reply=at(Point.REPLY), after_reply=at(Point.AFTER_REPLY),
                     eol=b"\n" if "smtp-reply-bare-lf" in defects else b"\r\n")
