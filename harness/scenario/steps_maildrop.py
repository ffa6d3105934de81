"""``inspect``: judge one RFC 1939 rule on every message in the maildrop, whoever put it there.

Read-only (no DELE), so the same check runs on messages the harness put into
the mailbox itself (then only those) and on a user's mailbox with ``delivery:
existing`` (then the first ``limit`` messages of the LIST). It runs in an
authenticated POP3 session (after ``login``).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Callable

from harness.protocol.pop3_listings import scan_listings, unique_id_listings
from harness.protocol.replies import Pop3Response
from harness.scenario.context import CheckContext, CheckFailed, CheckSkipped
from harness.scenario.model import Step
from harness.scenario.stepbase import open_maildrop
from harness.session import Connection

__all__ = ["RULES", "DEFAULT_LIMIT"]

DEFAULT_LIMIT = 20
TOP_LINES = 3

Listing = list[tuple[int, int]]          # (message-number, size in octets) from LIST
Rule = Callable[[CheckContext, Connection, Listing, Step], list[str]]


def _ask(ctx: CheckContext, conn: Connection, line: str, step: Step) -> Pop3Response:
    conn.send_line(line)
    response = conn.read_response(None, ctx.reply_timeout())
    if not response.ok:
        raise CheckFailed([f"{line}: {response}"], step)
    return response


def _listing(ctx: CheckContext, conn: Connection, step: Step) -> Listing:
    return scan_listings(_ask(ctx, conn, "LIST", step))


def _octets(ctx: CheckContext, conn: Connection, listing: Listing, step: Step) -> list[str]:
    problems = []
    for number, size in listing:
        got = len(_ask(ctx, conn, f"RETR {number}", step).body_bytes)
        if got != size:
            problems.append(f"LIST gives {size} octets for message {number}, RETR delivered {got} "
                            "(RFC 1939 §11: counted with CRLF line ends, before byte-stuffing)")
    return problems


def _stuffing(ctx: CheckContext, conn: Connection, listing: Listing, step: Step) -> list[str]:
    problems = []
    for number, _ in listing:
        response = _ask(ctx, conn, f"RETR {number}", step)
        problems += [f"RETR {number}: {v}" for v in response.violations
                     if v.level == "MUST" and not v.local and v.rule in ("unstuffed-dot", "bare-lf")]
    return problems


def _top(ctx: CheckContext, conn: Connection, listing: Listing, step: Step) -> list[str]:
    problems = []
    for number, _ in listing:
        whole = _ask(ctx, conn, f"RETR {number}", step).body_bytes
        top = _ask(ctx, conn, f"TOP {number} {TOP_LINES}", step).body_bytes
        cut = whole.find(b"\r\n\r\n")
        if cut < 0:
            allowed = {whole, whole + b"\r\n"}      # no body: the blank line is optional (RFC 5322 §3.5)
        else:
            head, body = whole[:cut + 4], whole[cut + 4:]
            allowed = {head + b"".join(body.splitlines(keepends=True)[:TOP_LINES])}
        if top not in allowed:
            problems.append(f"TOP {number} {TOP_LINES} gave {len(top)} octets; the header, the blank line and "
                            f"{TOP_LINES} body lines of what RETR gave are {min(map(len, allowed))} octets")
    return problems


def _uidls(ctx: CheckContext, conn: Connection, step: Step) -> dict[int, str]:
    return dict(unique_id_listings(_ask(ctx, conn, "UIDL", step)))


def _uidl_stable(ctx: CheckContext, conn: Connection, listing: Listing, step: Step) -> list[str]:
    first = _uidls(ctx, conn, step)
    login = ctx.session_logins.get(conn.name)
    _ask(ctx, conn, "QUIT", step)             # a second session needs the maildrop this one holds
    conn.close()
    ctx.end_session(conn.name)
    with ExitStack() as stack:
        again = open_maildrop(ctx, ctx.user(login), stack, name="pop3-again")
        second = _uidls(ctx, again, step)
        _ask(ctx, again, "QUIT", step)
    wanted = {n for n, _ in listing}
    return [f"message {n}: unique-id {first[n]!r} in one session, {second.get(n)!r} in the next"
            for n in sorted(wanted & set(first)) if second.get(n) != first[n]]


RULES: dict[str, Rule] = {
    "octets": _octets,
    "byte-stuffing": _stuffing,
    "top": _top,
    "uidl-stable": _uidl_stable,
}


def step_inspect(ctx: CheckContext, step: Step) -> None:
    spec = step.value if isinstance(step.value, dict) else {"rule": step.value}
    conn = ctx.conn(step)
    listing = _listing(ctx, conn, step)
    # With messages of its own (found by ``retrieve``), a check judges just those: other checks'
    # probes in the same mailbox are theirs to judge. With ``delivery: existing``, all that is there.
    own = {ctx.vars.get(f"{name}_number") for name in ctx.messages} - {None}
    if own:
        listing = [entry for entry in listing if entry[0] in own]
    listing = listing[: int(spec.get("limit", DEFAULT_LIMIT))]
    if not listing:
        raise CheckSkipped("the maildrop is empty: no message to read")
    ctx.transcript.event(conn.name, f"inspecting {len(listing)} message(s): {spec['rule']}")
    problems = RULES[spec["rule"]](ctx, conn, listing, step)
    if problems:
        raise CheckFailed(problems, step)
