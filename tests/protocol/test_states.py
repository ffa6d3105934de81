"""The SMTP and POP3 state tables, tested exhaustively against an independent reading of the RFCs."""

from __future__ import annotations

import itertools

import pytest

from harness.protocol import pop3_states, smtp_states
from harness.protocol.pop3_states import ALLOWED, Pop3State
from harness.protocol.replies import ReplyClass
from harness.protocol.smtp_states import (
    ALLOWED_CODES,
    SmtpCommand,
    SmtpState,
    classify,
    next_state,
)

S, C, R = SmtpState, SmtpCommand, ReplyClass


def rfc_next_state(state: SmtpState, cmd: SmtpCommand, kind: ReplyClass) -> SmtpState:
    """RFC 5321 §4.1.1, §4.1.4 and RFC 3207 §4.2, written out independently of the table."""
    ok, more = kind is R.POSITIVE_COMPLETION, kind is R.POSITIVE_INTERMEDIATE
    if state is S.CLOSED:
        return state
    if cmd is C.QUIT and ok and state is not S.DATA:   # in DATA "QUIT" is message text
        return S.CLOSED
    if state is S.CONNECTED:
        return S.GREETED if (cmd is C.GREETING and ok) else state
    if state is S.DATA:
        # the end-of-data reply ends the transaction whether it accepted the message or not
        if cmd is C.END_OF_DATA and kind in (R.POSITIVE_COMPLETION, R.TRANSIENT_NEGATIVE,
                                             R.PERMANENT_NEGATIVE):
            return S.READY
        return state
    if cmd in (C.EHLO, C.HELO) and ok:
        return S.READY                        # also mid-transaction: EHLO acts as RSET (§4.1.4)
    if cmd is C.RSET and ok:
        return S.READY if state is not S.GREETED else state   # RSET before EHLO is a NOOP (§4.1.1.5)
    if cmd is C.STARTTLS and ok and state in (S.GREETED, S.READY):
        return S.GREETED                      # everything learnt before TLS is forgotten
    if (state, cmd) == (S.READY, C.MAIL) and ok:
        return S.MAIL
    if cmd is C.RCPT and ok and state in (S.MAIL, S.RCPT):
        return S.RCPT
    if (state, cmd) == (S.RCPT, C.DATA) and more:
        return S.DATA
    return state


@pytest.mark.parametrize("state", list(SmtpState), ids=lambda s: s.name)
def test_smtp_next_state_every_command_and_reply_class(state: SmtpState) -> None:
    wrong = [(cmd.name, kind.name, next_state(state, cmd, kind).name, rfc_next_state(state, cmd, kind).name)
             for cmd, kind in itertools.product(SmtpCommand, ReplyClass)
             if next_state(state, cmd, kind) is not rfc_next_state(state, cmd, kind)]
    assert wrong == []


def test_unlisted_pairs_keep_the_state() -> None:
    for state, cmd, kind in itertools.product(SmtpState, SmtpCommand, ReplyClass):
        if (state, cmd, kind) not in smtp_states.TRANSITIONS:
            assert next_state(state, cmd, kind) is state


def test_transition_table_is_well_formed() -> None:
    for (state, cmd, kind), target in smtp_states.TRANSITIONS.items():
        assert isinstance(state, SmtpState) and isinstance(cmd, SmtpCommand) and isinstance(kind, ReplyClass)
        assert state is not S.CLOSED
        assert kind is not R.INVALID
        assert next_state(state, cmd, kind) is target


def test_negative_replies_never_move_the_state_except_end_of_data() -> None:
    for state, cmd in itertools.product(SmtpState, SmtpCommand):
        for kind in (R.TRANSIENT_NEGATIVE, R.PERMANENT_NEGATIVE, R.INVALID):
            if (state, cmd) == (S.DATA, C.END_OF_DATA) and kind is not R.INVALID:
                continue
            assert next_state(state, cmd, kind) is state, (state, cmd, kind)


def test_happy_path() -> None:
    path = [(C.GREETING, 220, S.GREETED), (C.EHLO, 250, S.READY), (C.MAIL, 250, S.MAIL),
            (C.RCPT, 250, S.RCPT), (C.RCPT, 251, S.RCPT), (C.DATA, 354, S.DATA),
            (C.END_OF_DATA, 250, S.READY), (C.MAIL, 250, S.MAIL), (C.RSET, 250, S.READY),
            (C.QUIT, 221, S.CLOSED)]
    state = S.CONNECTED
    for cmd, code, expected in path:
        state = next_state(state, cmd, ReplyClass.of(code))
        assert state is expected, (cmd, code)


def test_data_rejected_with_554_keeps_rcpt() -> None:
    assert next_state(S.RCPT, C.DATA, ReplyClass.of(554)) is S.RCPT
    assert next_state(S.MAIL, C.DATA, ReplyClass.of(354)) is S.MAIL      # DATA without RCPT: no DATA state


def test_rset_before_ehlo_does_not_stand_in_for_ehlo() -> None:
    # RFC 5321 §4.1.1.5: RSET before EHLO is a NOOP, so MAIL must still be out of sequence.
    state = next_state(S.GREETED, C.RSET, R.POSITIVE_COMPLETION)
    assert state is S.GREETED
    assert next_state(state, C.MAIL, R.POSITIVE_COMPLETION) is S.GREETED


@pytest.mark.parametrize("state", [S.GREETED, S.READY])
def test_starttls_resets_to_greeted(state: SmtpState) -> None:
    assert next_state(state, C.STARTTLS, R.POSITIVE_COMPLETION) is S.GREETED
    assert next_state(state, C.STARTTLS, R.TRANSIENT_NEGATIVE) is state


@pytest.mark.parametrize("state", [s for s in SmtpState if s not in (S.CLOSED, S.DATA)], ids=lambda s: s.name)
def test_quit_closes(state: SmtpState) -> None:
    assert next_state(state, C.QUIT, ReplyClass.of(221)) is S.CLOSED


def test_quit_line_inside_data_is_message_text() -> None:
    assert next_state(S.DATA, C.QUIT, ReplyClass.of(221)) is S.DATA


@pytest.mark.parametrize("line, command", [
    (b"EHLO client.test", C.EHLO), (b"ehlo client.test", C.EHLO), (b"HELO x", C.HELO),
    (b"MAIL FROM:<a@b.test>", C.MAIL), (b"mail from:<>", C.MAIL), (b"MAIL:FROM", C.MAIL),
    (b"RCPT TO:<a@b.test>", C.RCPT), (b"DATA", C.DATA), (b".", C.END_OF_DATA), (b"RSET", C.RSET),
    (b"NOOP", C.NOOP), (b"QUIT\r\n", C.QUIT), (b"VRFY x", C.VRFY), (b"EXPN x", C.EXPN), (b"HELP", C.HELP),
    (b"STARTTLS", C.STARTTLS), (b"AUTH PLAIN AGEAYg==", C.AUTH), (b"BDAT 100 LAST", C.BDAT),
    (b"", C.OTHER), (b"   ", C.OTHER), (b"XCLIENT NAME=x", C.OTHER), (b"greeting", C.OTHER),
    (b"other", C.OTHER), (b"\xff\xfe", C.OTHER), (b"\x00", C.OTHER), (b" \tNOOP", C.NOOP),
])
def test_classify(line: bytes, command: SmtpCommand) -> None:
    assert classify(line) is command


def test_allowed_codes_sanity() -> None:
    assert set(ALLOWED_CODES) == set(SmtpCommand) - {C.OTHER, C.BDAT}
    for cmd, codes in ALLOWED_CODES.items():
        assert codes, cmd
        for code in codes:
            assert 200 <= code <= 599 and code // 100 in (2, 3, 4, 5), (cmd, code)
            assert ReplyClass.of(code) is not R.INVALID
    # the codes the happy path relies on are allowed where it uses them
    assert {(C.GREETING, 220), (C.EHLO, 250), (C.MAIL, 250), (C.RCPT, 250), (C.DATA, 354),
            (C.END_OF_DATA, 250), (C.QUIT, 221), (C.STARTTLS, 220), (C.AUTH, 235), (C.AUTH, 334)} <= {
        (cmd, code) for cmd, codes in ALLOWED_CODES.items() for code in codes}
    # 3xx only where the protocol continues: DATA's 354 and AUTH's 334
    intermediate = {(cmd, code) for cmd, codes in ALLOWED_CODES.items() for code in codes if code // 100 == 3}
    assert intermediate == {(C.DATA, 354), (C.AUTH, 334)}


# -- POP3 ----------------------------------------------------------------------------------------

A, T, U = Pop3State.AUTHORIZATION, Pop3State.TRANSACTION, Pop3State.UPDATE


@pytest.mark.parametrize("state, command, positive, expected", [
    (A, "PASS", True, T), (A, "pass", True, T), (A, "APOP", True, T), (A, "AUTH", True, T),
    (A, "PASS", False, A), (A, "USER", True, A), (A, "QUIT", True, A), (A, "STLS", True, A),
    (T, "QUIT", True, U), (T, "quit", True, U), (T, "QUIT", False, T), (T, "STAT", True, T),
    (T, "PASS", True, T), (T, "DELE", True, T), (U, "QUIT", True, U),
])
def test_pop3_next_state(state: Pop3State, command: str, positive: bool, expected: Pop3State) -> None:
    assert pop3_states.next_state(state, command, positive) is expected


def test_pop3_transitions_only_move_forward_on_positive_replies() -> None:
    order = [A, T, U]
    for (state, command, positive), target in pop3_states.TRANSITIONS.items():
        assert positive and command == command.upper()
        assert order.index(target) == order.index(state) + 1
        assert command in ALLOWED[state]


def test_pop3_allowed_sets() -> None:
    assert "STAT" not in ALLOWED[A] and "USER" not in ALLOWED[T]
    assert ALLOWED[U] == frozenset()
    # only the commands RFC 1939/2449 allow in both states overlap
    assert ALLOWED[A] & ALLOWED[T] == {"CAPA", "QUIT"}
    assert {"USER", "PASS", "APOP", "AUTH", "STLS"} <= ALLOWED[A] - ALLOWED[T]
    assert {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL"} <= ALLOWED[T] - ALLOWED[A]
    for commands in ALLOWED.values():
        assert all(c == c.upper() for c in commands)
