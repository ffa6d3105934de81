"""SMTP command sequencing as data (RFC 5321 §4.1.4, §4.3.2).

``TRANSITIONS[(state, command, reply class)]`` gives the next state; pairs not
in the table leave the state unchanged (that is what §4.1.4 requires of a
server that answers 5xx/503). ``ALLOWED_CODES`` is the §4.3.2 table, with the
codes §4.3.2 allows for any command (``ANY_COMMAND_CODES``) and RFC 4954/3207's
530 added by ``allowed_codes``. ``harness.protocol.sequencing`` reports a code
outside it as an INFO finding, never a failure.
"""

from __future__ import annotations

import enum

from harness.protocol.replies import ReplyClass

__all__ = ["SmtpState", "SmtpCommand", "TRANSITIONS", "ALLOWED_CODES", "ANY_COMMAND_CODES", "CODES_RFC",
           "allowed_codes", "classify", "next_state"]


class SmtpState(enum.Enum):
    CONNECTED = "connected"      # waiting for the greeting
    GREETED = "greeted"          # no EHLO/HELO yet
    READY = "ready"              # EHLO/HELO done, no transaction
    MAIL = "mail"                # MAIL accepted
    RCPT = "rcpt"                # at least one RCPT accepted
    DATA = "data"                # 354 received: lines are message content
    CLOSED = "closed"


class SmtpCommand(enum.Enum):
    GREETING = "greeting"
    EHLO = "EHLO"
    HELO = "HELO"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    END_OF_DATA = "."
    RSET = "RSET"
    NOOP = "NOOP"
    QUIT = "QUIT"
    VRFY = "VRFY"
    EXPN = "EXPN"
    HELP = "HELP"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    BDAT = "BDAT"
    OTHER = "other"


S, C, R = SmtpState, SmtpCommand, ReplyClass
_OK, _MORE = R.POSITIVE_COMPLETION, R.POSITIVE_INTERMEDIATE

TRANSITIONS: dict[tuple[SmtpState, SmtpCommand, ReplyClass], SmtpState] = {
    (S.CONNECTED, C.GREETING, _OK): S.GREETED,
    **{(st, cmd, _OK): S.READY
       for st in (S.GREETED, S.READY, S.MAIL, S.RCPT) for cmd in (C.EHLO, C.HELO)},
    # RSET before EHLO is a NOOP (RFC 5321 §4.1.1.5): it must not stand in for the greeting.
    **{(st, C.RSET, _OK): S.READY for st in (S.READY, S.MAIL, S.RCPT)},
    # STARTTLS discards everything known about the client (RFC 3207 §4.2).
    **{(st, C.STARTTLS, _OK): S.GREETED for st in (S.GREETED, S.READY)},
    (S.READY, C.MAIL, _OK): S.MAIL,
    (S.MAIL, C.RCPT, _OK): S.RCPT,
    (S.RCPT, C.RCPT, _OK): S.RCPT,
    (S.RCPT, C.DATA, _MORE): S.DATA,
    **{(S.DATA, C.END_OF_DATA, k): S.READY
       for k in (R.POSITIVE_COMPLETION, R.TRANSIENT_NEGATIVE, R.PERMANENT_NEGATIVE)},
    # In DATA a "QUIT" line is message text, not a command.
    **{(st, C.QUIT, _OK): S.CLOSED for st in SmtpState if st not in (S.CLOSED, S.DATA)},
}

# The lists of RFC 5321 §4.3.2 and the extension RFCs, per command; allowed_codes() adds the codes
# any command may get (ANY_COMMAND_CODES, 530).
ALLOWED_CODES: dict[SmtpCommand, frozenset[int]] = {
    C.GREETING: frozenset({220, 554, 521}),          # 521: "does not accept mail" (RFC 7504 §3)
    C.EHLO: frozenset({250, 502, 550, 504}),
    C.HELO: frozenset({250, 502, 550, 504}),
    C.MAIL: frozenset({250, 552, 451, 452, 550, 553, 503, 455, 555}),
    C.RCPT: frozenset({250, 251, 550, 551, 552, 553, 450, 451, 452, 503, 455, 555,
                       556}),   # 556: the recipient's domain does not accept mail (RFC 7504 §3)
    C.DATA: frozenset({354, 503, 554}),
    # 500: a text line over the limit ("500 Line too long", RFC 5321 §4.5.3.1), answered at the dot
    C.END_OF_DATA: frozenset({250, 552, 554, 451, 452, 450, 550, 500}),
    C.RSET: frozenset({250}),
    C.VRFY: frozenset({250, 251, 252, 550, 551, 553, 502, 504}),
    C.EXPN: frozenset({250, 252, 550, 500, 502, 504}),
    C.HELP: frozenset({211, 214, 502, 504}),
    C.NOOP: frozenset({250}),
    C.QUIT: frozenset({221}),
    C.STARTTLS: frozenset({220, 454, 501, 503}),        # RFC 3207 §4 (503: STARTTLS inside TLS)
    C.AUTH: frozenset({235, 334, 432, 454, 500, 501, 503, 504, 530, 534, 535, 538}),  # RFC 4954 §6
}

# RFC 5321 §4.3.2: "any SMTP command can return" 500 (unrecognised, line too long), 501 (syntax)
# and 421 (shutting down; §3.8: at any time). The greeting and the end-of-data dot are not
# command lines, so of these only 421 applies to them.
ANY_COMMAND_CODES: frozenset[int] = frozenset({500, 501, 421})
_NOT_COMMAND_LINES = frozenset({C.GREETING, C.END_OF_DATA})
# 530 "authentication required" (RFC 4954 §6) or "must issue STARTTLS first" (RFC 3207 §4):
# either may answer any command except these, which both RFCs exempt.
_NEVER_530 = frozenset({C.GREETING, C.END_OF_DATA, C.EHLO, C.NOOP, C.QUIT})
# Where a command's codes are listed, for the finding's citation.
CODES_RFC: dict[SmtpCommand, str] = {C.STARTTLS: "3207#4", C.AUTH: "4954#6"}


def allowed_codes(command: SmtpCommand, refused_greeting: bool = False) -> frozenset[int] | None:
    """The codes the RFCs list for ``command``'s reply; None where no table applies (BDAT, unknown verbs).

    ``refused_greeting``: after a 554 greeting the server answers every command but
    QUIT with 503 (RFC 5321 §3.1).
    """
    listed = ALLOWED_CODES.get(command)
    if listed is None:
        return None
    extra = {421} if command in _NOT_COMMAND_LINES else set(ANY_COMMAND_CODES)
    if command not in _NEVER_530:
        extra.add(530)
    if refused_greeting and command not in (C.GREETING, C.QUIT):
        extra.add(503)
    return listed | extra


def classify(line: bytes) -> SmtpCommand:
    verb = line.split(None, 1)[0].upper().split(b":", 1)[0] if line.strip() else b""
    try:
        return SmtpCommand(verb.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return SmtpCommand.OTHER


def next_state(state: SmtpState, command: SmtpCommand, reply_class: ReplyClass) -> SmtpState:
    return TRANSITIONS.get((state, command, reply_class), state)
