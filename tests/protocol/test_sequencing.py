"""The sequence trackers and the codes-per-command tables, against an independent reading of the RFCs."""

from __future__ import annotations

import itertools

import pytest

from harness.protocol import pop3_states
from harness.protocol.pop3 import Pop3ResponseReader
from harness.protocol.pop3_states import ALLOWED, Pop3State
from harness.protocol.protocols import Protocol
from harness.protocol.replies import Pop3Response, SmtpReply
from harness.protocol.sequencing import RULE, Pop3Tracker, SmtpTracker, tracker_for
from harness.protocol.smtp import SmtpReplyReader
from harness.protocol.smtp_states import SmtpCommand, SmtpState, allowed_codes

C, S = SmtpCommand, SmtpState

# RFC 5321 §4.3.2, as printed there ("S:" and "E:" lists), plus the extension RFCs' lists.
RFC_LISTS: dict[SmtpCommand, str] = {
    C.GREETING: "220 554 521",                                  # 521: RFC 7504
    C.EHLO: "250 504 550 502", C.HELO: "250 504 550 502",
    C.MAIL: "250 552 451 452 550 553 503 455 555",
    C.RCPT: "250 251 550 551 552 553 450 451 452 503 455 555 556",   # 556: RFC 7504
    C.DATA: "354 503 554",
    C.END_OF_DATA: "250 552 554 451 452 450 550 500",           # 500: "Line too long", §4.5.3.1
    C.RSET: "250", C.VRFY: "250 251 252 550 551 553 502 504", C.EXPN: "250 252 550 500 502 504",
    C.HELP: "211 214 502 504", C.NOOP: "250", C.QUIT: "221",
    C.STARTTLS: "220 454 501 503",                             # RFC 3207 §4 (+503: second STARTTLS)
    C.AUTH: "235 334 432 454 500 501 503 504 530 534 535 538",  # RFC 4954 §6
}


def rfc_allows(cmd: SmtpCommand, code: int, refused: bool = False) -> bool:
    if code in {int(c) for c in RFC_LISTS[cmd].split()}:
        return True
    if code == 421:                                     # §3.8: at any time
        return True
    command_line = cmd not in (C.GREETING, C.END_OF_DATA)
    if code in (500, 501) and command_line:             # §4.3.2: any command
        return True
    if code == 530 and command_line and cmd not in (C.EHLO, C.NOOP, C.QUIT):   # RFC 4954 §6, 3207 §4
        return True
    return code == 503 and refused and cmd not in (C.GREETING, C.QUIT)           # §3.1: after a 554 greeting


@pytest.mark.parametrize("cmd", list(RFC_LISTS), ids=lambda c: c.name)
@pytest.mark.parametrize("refused", [False, True])
def test_allowed_codes_every_code(cmd: SmtpCommand, refused: bool) -> None:
    listed = allowed_codes(cmd, refused)
    assert listed is not None
    wrong = [code for code in range(200, 600) if (code in listed) != rfc_allows(cmd, code, refused)]
    assert wrong == []


@pytest.mark.parametrize("cmd", [C.BDAT, C.OTHER])
def test_no_table_for_bdat_and_unknown_verbs(cmd: SmtpCommand) -> None:
    assert allowed_codes(cmd) is None


def rfc_pop3(state: Pop3State, cmd: str, after_user: bool, resp_code: str | None) -> set[bool | None] | None:
    """RFC 1939 §4-§7 "Possible Responses", RFC 2449/2595/5034/6856, RFC 3206 [SYS/*]."""
    authorization = {"USER", "PASS", "APOP", "AUTH", "CAPA", "STLS", "UTF8", "QUIT"}
    transaction = {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "CAPA", "QUIT"}
    if cmd not in authorization | transaction:
        return None
    valid = {Pop3State.AUTHORIZATION: authorization, Pop3State.TRANSACTION: transaction,
             Pop3State.UPDATE: set()}[state]
    if cmd not in valid or (cmd == "PASS" and not after_user):
        return {False}
    only_ok = (state is Pop3State.AUTHORIZATION and cmd == "QUIT") or \
        (state is Pop3State.TRANSACTION and cmd in ("STAT", "NOOP", "RSET"))
    if only_ok and resp_code not in ("SYS/TEMP", "SYS/PERM"):
        return {True}
    return {True, False, None} if cmd == "AUTH" else {True, False}


def test_pop3_allowed_responses_every_state_command_and_code() -> None:
    commands = sorted(ALLOWED[Pop3State.AUTHORIZATION] | ALLOWED[Pop3State.TRANSACTION]) + ["XTND", "LANG"]
    wrong = []
    for state, cmd, after_user, code in itertools.product(Pop3State, commands, (False, True),
                                                         (None, "SYS/TEMP", "SYS/PERM", "IN-USE")):
        got = pop3_states.allowed_responses(state, cmd, after_user, code)
        want = rfc_pop3(state, cmd, after_user, code)
        if (None if got is None else set(got)) != want:
            wrong.append((state.name, cmd, after_user, code, got, want))
    assert wrong == []
    assert pop3_states.allowed_responses(Pop3State.TRANSACTION, "stat") == {True}   # verbs are case-insensitive


# -- the trackers --------------------------------------------------------------------------------

def _first(reader: SmtpReplyReader | Pop3ResponseReader, raw: bytes) -> object:
    reader.receive_data(raw)
    return reader.next_event()


def smtp(raw: bytes) -> SmtpReply:
    event = _first(SmtpReplyReader(), raw)
    assert isinstance(event, SmtpReply)
    return event


def pop3(raw: bytes) -> Pop3Response:
    event = _first(Pop3ResponseReader(), raw)
    assert isinstance(event, Pop3Response)
    return event


def run_smtp(steps: list[tuple[bytes, list[int]]], tracker: SmtpTracker | None = None) -> tuple[SmtpTracker, list[str]]:
    """Each step: bytes the client sends, then the codes of the replies that come back."""
    t = tracker or SmtpTracker()
    found = []
    for sent, codes in steps:
        if sent:
            t.sent(sent)
        for code in codes:
            v = t.received(smtp(f"{code} x\r\n".encode()))
            if v is not None:
                assert (v.rule, v.level, v.local) == (RULE, "INFO", False)
                found.append(v.message.split(" ", 1)[0] + " " + v.message.rsplit(" for ", 1)[1].split(" ")[0])
    return t, found


def test_smtp_happy_path_pipelined() -> None:
    t, found = run_smtp([
        (b"", [220]), (b"EHLO c.test\r\n", [250]),
        (b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nRCPT TO:<e@d.test>\r\nDATA\r\n", [250, 250, 550, 354]),
        (b"Subject: x\r\n\r\nQUIT\r\nRSET\r\n..leading dot\r\n.\r\n", [250]),
        (b"QUIT\r\n", [221]),
    ])
    assert found == [] and t.state is S.CLOSED and not t.lost and not t.pending


def test_smtp_state_follows_the_table() -> None:
    t = SmtpTracker()
    seen = []
    for sent, code in [(b"", 220), (b"EHLO c\r\n", 250), (b"MAIL FROM:<>\r\n", 250), (b"RCPT TO:<a@b>\r\n", 250),
                       (b"DATA\r\n", 354), (b"x\r\n.\r\n", 250), (b"RSET\r\n", 250)]:
        t.sent(sent)
        t.received(smtp(f"{code} x\r\n".encode()))
        seen.append(t.state)
    assert seen == [S.GREETED, S.READY, S.MAIL, S.RCPT, S.DATA, S.READY, S.READY]


@pytest.mark.parametrize("cmd, code, unlisted", [
    (b"NOOP", 354, True), (b"NOOP", 250, False), (b"RSET", 354, True), (b"QUIT", 250, True),
    (b"QUIT", 221, False), (b"RCPT TO:<a@b.test>", 503, False), (b"RCPT TO:<a@b.test>", 554, True),
    (b"MAIL FROM:<a@b.test>", 530, False), (b"EHLO x", 530, True), (b"EHLO x", 421, False),
    (b"XFOO", 299, False), (b"VRFY x", 252, False), (b"DATA", 250, True),
])
def test_smtp_each_reply_judged_against_its_command(cmd: bytes, code: int, unlisted: bool) -> None:
    _, found = run_smtp([(b"", [220]), (cmd + b"\r\n", [code])])
    assert bool(found) is unlisted, found


def test_smtp_greeting_codes_and_554_session() -> None:
    assert run_smtp([(b"", [250])])[1] == ["250 the"]
    # after a 554 greeting every command but QUIT is answered 503 (RFC 5321 §3.1)
    assert run_smtp([(b"", [554]), (b"EHLO x\r\n", [503]), (b"QUIT\r\n", [221])])[1] == []
    assert run_smtp([(b"", [220]), (b"EHLO x\r\n", [503])])[1] == ["503 EHLO"]


def test_smtp_client_speaking_first_still_gets_the_greeting_judged() -> None:
    t, found = run_smtp([(b"EHLO early\r\n", [220, 250])])
    assert found == [] and t.state is S.READY


def test_smtp_command_split_across_writes() -> None:
    t, found = run_smtp([(b"", [220]), (b"NO", []), (b"OP\r", []), (b"\n", [354])])
    assert found == ["354 NOOP"]


def test_smtp_end_of_data_judged() -> None:
    _, found = run_smtp([(b"", [220]), (b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\n", [250, 250, 250, 354]),
                         (b"hello\r\n.\r\n", [221])])
    assert found == ["221 the"]


def test_smtp_bare_lf_dot_is_text_not_the_end() -> None:
    t, _ = run_smtp([(b"", [220]), (b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\n", [250, 250, 250, 354]),
                     (b"a\n.\nRSET\r\n", [])])
    assert t._text and not t.pending        # still message text: the smuggled RSET is not a command


def test_smtp_data_refused_before_any_text_keeps_tracking() -> None:
    t, found = run_smtp([(b"", [220]), (b"EHLO x\r\nDATA\r\n", [250, 503]), (b"NOOP\r\n", [354])])
    assert not t.lost and found == ["354 NOOP"]


def test_smtp_text_sent_ahead_of_a_refused_data_stops_judging() -> None:
    t, found = run_smtp([(b"", [220]), (b"EHLO x\r\nDATA\r\nhello\r\n.\r\n", [250, 554, 500, 354])])
    assert t.lost and found == []


def test_smtp_bdat_chunks_are_not_commands() -> None:
    chunk = b"RSET\r\nQUIT\r\n\r\n.\r\n"
    t, found = run_smtp([(b"", [220]), (b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\n", [250, 250, 250]),
                         (b"BDAT %d LAST\r\n" % len(chunk) + chunk, [250]), (b"NOOP\r\n", [250])])
    assert found == [] and not t.lost and not t.pending
    assert run_smtp([(b"", [220]), (b"BDAT lots\r\n", [])])[0].lost


def test_smtp_auth_continuation_lines_answer_auth() -> None:
    t, found = run_smtp([(b"", [220]), (b"EHLO x\r\n", [250]), (b"AUTH LOGIN\r\n", [334]), (b"dXNlcg==\r\n", [334]),
                         (b"cGFzcw==\r\n", [235]), (b"NOOP\r\n", [250])])
    assert found == [] and not t.pending
    assert run_smtp([(b"", [220]), (b"AUTH LOGIN\r\n", [334]), (b"dXNlcg==\r\n", [250])])[1] == ["250 AUTH"]


def test_smtp_starttls_drops_the_pipelined_plaintext_and_resets() -> None:
    t, found = run_smtp([(b"", [220]), (b"EHLO x\r\n", [250]), (b"STARTTLS\r\nNOOP\r\n", [220]),
                         (b"EHLO x\r\n", [250])])
    assert found == [] and not t.pending and t.state is S.READY
    t, _ = run_smtp([(b"", [220]), (b"EHLO x\r\n", [250]), (b"STARTTLS\r\n", [220])])
    assert t.state is S.GREETED


@pytest.mark.parametrize("sent", [b"NOOP\n", b"NO\rOP\r\n", b"\r\n", b"   \r\n", b"x" * 70_000 + b"\r\n"])
def test_smtp_ambiguous_command_lines_stop_judging(sent: bytes) -> None:
    t, found = run_smtp([(b"", [220]), (sent, [354]), (b"NOOP\r\n", [354])])
    assert t.lost and found == []


def test_smtp_long_text_lines_are_fine() -> None:
    t, found = run_smtp([(b"", [220]), (b"EHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a@b>\r\nDATA\r\n", [250, 250, 250, 354]),
                         (b"y" * 200_000 + b"\r\n.\r\n", [250]), (b"NOOP\r\n", [354])])
    assert not t.lost and found == ["354 NOOP"]


def test_smtp_reply_nobody_asked_for_stops_judging() -> None:
    t, found = run_smtp([(b"", [220, 250]), (b"NOOP\r\n", [354])])
    assert t.lost and found == []


def run_pop3(steps: list[tuple[bytes, list[bytes]]]) -> tuple[Pop3Tracker, list[str]]:
    t = Pop3Tracker()
    found = []
    for sent, replies in steps:
        if sent:
            t.sent(sent)
        for raw in replies:
            v = t.received(pop3(raw + b"\r\n"))
            if v is not None:
                assert (v.rule, v.level) == (RULE, "INFO")
                found.append(v.message.split(" is ", 1)[0] + " " + v.message.split(" for ", 1)[1].split(" ")[0])
    return t, found


def test_pop3_session_states() -> None:
    t, found = run_pop3([(b"", [b"+OK hi"]), (b"CAPA\r\n", [b"+OK"]), (b"USER u\r\n", [b"+OK"])])
    assert t.state is Pop3State.AUTHORIZATION
    t.sent(b"PASS p\r\nSTAT\r\n")
    assert t.received(pop3(b"+OK in\r\n")) is None and t.state is Pop3State.TRANSACTION
    assert t.received(pop3(b"+OK 1 2\r\n")) is None
    t.sent(b"QUIT\r\n")
    assert t.received(pop3(b"+OK bye\r\n")) is None and t.state is Pop3State.UPDATE


@pytest.mark.parametrize("steps, found", [
    ([(b"STAT\r\n", [b"+OK 0 0"])], ["+OK STAT"]),                        # STAT before login
    ([(b"STAT\r\n", [b"-ERR log in first"])], []),
    ([(b"PASS p\r\n", [b"+OK"])], ["+OK PASS"]),                          # PASS without USER
    ([(b"USER u\r\n", [b"-ERR"]), (b"PASS p\r\n", [b"+OK"])], ["+OK PASS"]),
    ([(b"USER u\r\n", [b"+OK"]), (b"NOOP\r\n", [b"-ERR"]), (b"PASS p\r\n", [b"+OK"])], ["+OK PASS"]),
    ([(b"USER u\r\nPASS p\r\n", [b"+OK", b"+OK"]), (b"NOOP\r\n", [b"-ERR no"])], ["-ERR NOOP"]),
    ([(b"USER u\r\nPASS p\r\n", [b"+OK", b"+OK"]), (b"NOOP\r\n", [b"-ERR [SYS/TEMP] busy"])], []),
    ([(b"USER u\r\nPASS p\r\n", [b"+OK", b"+OK"]), (b"USER u\r\n", [b"+OK"])], ["+OK USER"]),
    ([(b"QUIT\r\n", [b"-ERR"])], ["-ERR QUIT"]),
    ([(b"AUTH PLAIN\r\n", [b"+ "]), (b"AHUAcA==\r\n", [b"+OK"]), (b"STAT\r\n", [b"+OK 0 0"])], []),
    ([(b"AUTH PLAIN\r\n", [b"+ "]), (b"*\r\n", [b"-ERR cancelled"])], []),
    ([(b"CAPA\r\n", [b"+ "])], ["+ CAPA"]),
    ([(b"XTND XMIT\r\n", [b"+OK"])], []),                                  # an extension the table does not know
    ([(b"STLS\r\nSTAT\r\n", [b"+OK go"]), (b"CAPA\r\n", [b"+OK"])], []),     # pipelined plaintext is discarded
])
def test_pop3_responses_judged(steps: list, found: list) -> None:
    assert run_pop3([(b"", [b"+OK hi"])] + steps)[1] == found


def test_pop3_negative_greeting_is_not_a_finding_and_ambiguity_stops_judging() -> None:
    assert run_pop3([(b"", [b"-ERR [SYS/TEMP] busy"])])[1] == []
    t, found = run_pop3([(b"", [b"+OK"]), (b"STAT\n", [b"+OK 0 0"])])
    assert t.lost and found == []


def test_tracker_for_each_protocol_and_wrong_reply_types() -> None:
    assert isinstance(tracker_for(Protocol.SMTP), SmtpTracker)
    assert isinstance(tracker_for(Protocol.POP3), Pop3Tracker)
    with pytest.raises(TypeError):
        SmtpTracker().received(pop3(b"+OK\r\n"))
    with pytest.raises(TypeError):
        Pop3Tracker().received(smtp(b"220 x\r\n"))


def test_protocol_enum_edges() -> None:
    assert Protocol.parse("smtp") is Protocol.SMTP and Protocol.parse(Protocol.POP3) is Protocol.POP3
    with pytest.raises(ValueError):
        Protocol.parse("imap")
    assert [Protocol.of_service(s) for s in ("smtp", "smtps", "pop3", "pop3s")] == \
        [Protocol.SMTP, Protocol.SMTP, Protocol.POP3, Protocol.POP3]
    assert Protocol.SMTP.implicit_tls_service == "smtps" and Protocol.POP3.value == "pop3"
