"""POP3 session states and which commands each allows (RFC 1939 §3-§7, RFC 2449, 2595, 5034, 6856).

Used to generate the state x command matrix of the POP3 suite and to document
the protocol; the client does not refuse anything on the basis of it.
"""

from __future__ import annotations

import enum

__all__ = ["Pop3State", "ALLOWED", "TRANSITIONS", "next_state"]


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
