"""POP3 session states and which commands each allows (RFC 1939 §3-§7, RFC 2449, 2595, 5034, 6856).

Used to generate the state x command matrix of the POP3 suite and, by
``harness.protocol.sequencing``, to judge each status indicator a server sends
(``allowed_responses``: INFO findings only). The client does not refuse
anything on the basis of it.
"""

from __future__ import annotations

import enum

__all__ = ["Pop3State", "ALLOWED", "TRANSITIONS", "POSITIVE_ONLY", "RESPONSES_RFC", "next_state", "allowed_responses"]


class Pop3State(enum.Enum):
    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"


A, T, U = Pop3State.AUTHORIZATION, Pop3State.TRANSACTION, Pop3State.UPDATE

ALLOWED: dict[Pop3State, frozenset[str]] = {
    A: frozenset({"USER", "PASS", "APOP", "AUTH", "CAPA", "STLS", "UTF8", "QUIT"}),
    T: frozenset({"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "CAPA", "QUIT"}),
    U: frozenset(),
}

# (state, command, positive?) -> next state; absent pairs keep the state.
TRANSITIONS: dict[tuple[Pop3State, str, bool], Pop3State] = {
    (A, "PASS", True): T,
    (A, "APOP", True): T,
    (A, "AUTH", True): T,
    (T, "QUIT", True): U,
}


def next_state(state: Pop3State, command: str, positive: bool) -> Pop3State:
    return TRANSITIONS.get((state, command.upper(), positive), state)


# Commands whose "Possible Responses" (RFC 1939 §5-§7) are +OK alone; every other command of
# ALLOWED may also get -ERR. QUIT gets -ERR only in TRANSACTION, when deletions failed (§6).
POSITIVE_ONLY: dict[Pop3State, frozenset[str]] = {
    A: frozenset({"QUIT"}),
    T: frozenset({"STAT", "NOOP", "RSET"}),
    U: frozenset(),
}
# Where a command's responses are listed, for the finding's citation (RFC 1939 for the rest).
RESPONSES_RFC: dict[str, str] = {"CAPA": "2449#5", "STLS": "2595#4", "AUTH": "5034#4", "UTF8": "6856#3"}
# RFC 3206 §4: [SYS/TEMP] and [SYS/PERM] may answer any command.
_ANY_COMMAND_CODES = frozenset({"SYS/TEMP", "SYS/PERM"})


def allowed_responses(state: Pop3State, command: str, after_user: bool = False,
                      resp_code: str | None = None) -> frozenset[bool | None] | None:
    """The status indicators listed for ``command`` in ``state`` (True +OK, False -ERR, None ``+ `` continuation).

    None where no table applies (a command of no state: an extension this table
    does not know). RFC 1939 restricts each command to the state(s) of ALLOWED, so
    in another state only -ERR is listed; PASS only right after a successful USER
    (``after_user``, §7). Only AUTH continues with ``+`` (RFC 5034 §4).
    """
    command = command.upper()
    if command not in ALLOWED[A] | ALLOWED[T]:
        return None
    if command not in ALLOWED[state] or (command == "PASS" and not after_user):
        return frozenset({False})
    if command in POSITIVE_ONLY[state] and resp_code not in _ANY_COMMAND_CODES:
        return frozenset({True})
    return frozenset({True, False, None}) if command == "AUTH" else frozenset({True, False})
