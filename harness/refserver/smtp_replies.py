"""Every reply the reference SMTP server sends, as typed values defined once.

A ``Reply`` is a code, an optional enhanced status code (RFC 2034, RFC 3463)
and a text. The named constants below are the whole vocabulary of the server;
the few replies that carry run-time data (a host name, a queue id) are built by
the small functions at the end. A defect knob that changes a reply picks another
constant here, or registers a reply hook (smtp_hooks.py) that changes a field of
the value (the enhanced code, say); no code matches or rewrites reply text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .accounts import IMPLEMENTATION

__all__ = ["Reply", "greeting", "helo_reply", "help_reply", "mailbox_ok", "queued", "timeout_reply"]


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    enhanced: str | None  # "x.y.z", or None for replies that carry none (greeting, HELO, 334)
    text: str | None  # None: the bare code alone; "" still sends the space (an empty 334 challenge)

    def line(self) -> str:
        """The reply line without its line end (§4.2.1)."""
        if self.text is None:
            return str(self.code)
        if self.enhanced is None:
            return f"{self.code} {self.text}"
        return f"{self.code} {self.enhanced} {self.text}"

    def wire(self, eol: bytes) -> bytes:
        return self.line().encode("utf-8", "surrogateescape") + eol

    @property
    def negative(self) -> bool:
        return self.code >= 400

    def without_enhanced(self) -> Reply:
        return replace(self, enhanced=None)

    def with_enhanced_class(self, klass: str) -> Reply:
        """The same reply with the first digit of its enhanced code replaced (if it has one)."""
        if self.enhanced is None:
            return self
        return replace(self, enhanced=klass + self.enhanced[1:])


# ----- the command loop and session commands ----------------------------------------------

OK = Reply(250, "2.0.0", "OK")
OK_BARE_CODE = Reply(250, None, None)  # smtp-reply-bare-code
OK_OUT_OF_RANGE = Reply(199, None, "OK")  # smtp-code-out-of-range
BYE = Reply(221, "2.0.0", "Bye")
LINE_TOO_LONG = Reply(500, "5.5.6", "Line too long")
BARE_EOL_COMMAND = Reply(500, "5.5.2", "Syntax error: bare CR or LF in command")
EMPTY_COMMAND = Reply(500, "5.5.2", "Syntax error: empty command")
TRAILING_SPACE = Reply(501, "5.5.2", "Syntax error: trailing white space")
UNRECOGNIZED = Reply(500, "5.5.2", "Command unrecognized")
PIPELINING_REFUSED = Reply(500, "5.5.0", "Error: pipelining not supported")
INTERNAL_ERROR = Reply(451, "4.3.0", "Internal server error")
TOO_MANY_ERRORS = Reply(421, "4.7.0", "Error: too many errors")
NEED_HELO = Reply(503, "5.5.1", "Error: send HELO/EHLO first")
DUPLICATE_HELO = Reply(503, "5.5.1", "Error: duplicate HELO/EHLO")
SYNTAX_EHLO = Reply(501, "5.5.4", "Syntax: EHLO domain")
SYNTAX_HELO = Reply(501, "5.5.4", "Syntax: HELO domain")
SYNTAX_RSET = Reply(501, "5.5.4", "Syntax: RSET")
SYNTAX_NOOP = Reply(501, "5.5.4", "Syntax: NOOP")
SYNTAX_QUIT = Reply(501, "5.5.4", "Syntax: QUIT")
SYNTAX_DATA = Reply(501, "5.5.4", "Syntax: DATA")
SYNTAX_VRFY = Reply(501, "5.5.4", "Syntax: VRFY <address>")
QUIT_IN_TRANSACTION = Reply(503, "5.5.1", "Error: mail transaction in progress")
VRFY_CANNOT = Reply(252, "2.1.5", "Cannot VRFY user, but will accept message and attempt delivery")
NO_SUCH_LIST = Reply(550, "5.1.1", "No such list")
EXPN_NOT_IMPLEMENTED = Reply(502, "5.5.1", "EXPN not implemented")
HELP_NOT_IMPLEMENTED = Reply(502, "5.5.1", "HELP not implemented")

# ----- the mail transaction --------------------------------------------------------------

NESTED_MAIL = Reply(503, "5.5.1", "Error: nested MAIL command")
ONE_TRANSACTION = Reply(503, "5.5.1", "Error: one transaction per session")
HELO_MISMATCH = Reply(550, "5.7.1", "Client host name does not resolve to your address")
NEED_MAIL = Reply(503, "5.5.1", "Error: need MAIL command")
NEED_RCPT = Reply(503, "5.5.1", "Error: need RCPT command")
SENDER_OK = Reply(250, "2.1.0", "OK")
RCPT_OK = Reply(250, "2.1.5", "OK")
MAIL_SYNTAX = Reply(501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]")
RCPT_SYNTAX = Reply(501, "5.5.4", "Syntax: RCPT TO:<address>")
SENDER_TOO_LONG = Reply(501, "5.1.7", "Path too long")
PATH_TOO_LONG = Reply(501, "5.1.3", "Path too long")
BAD_RECIPIENT = Reply(501, "5.1.3", "Bad recipient address syntax")
BAD_ADDRESS = Reply(501, "5.1.3", "Bad address syntax")
NON_ASCII = Reply(553, "5.6.7", "Non-ASCII address needs SMTPUTF8")  # RFC 6531 §3.7.4
NON_ASCII_REFUSED = Reply(553, "5.6.7", "Non-ASCII addresses are not permitted")
NULL_SENDER_REFUSED = Reply(553, "5.1.7", "Null sender not allowed")
PARAMS_AFTER_HELO = Reply(555, "5.5.4", "No parameters allowed after HELO")
INVALID_PARAMS = Reply(501, "5.5.4", "Invalid parameters")
UNSUPPORTED_PARAM = Reply(555, "5.5.4", "Unsupported parameter")
SIZE_SYNTAX = Reply(501, "5.5.4", "Syntax: SIZE=<octets>")
BODY_SYNTAX = Reply(501, "5.5.4", "BODY must be 7BIT, 8BITMIME or BINARYMIME")
SMTPUTF8_VALUE = Reply(501, "5.5.4", "SMTPUTF8 takes no value")
DSN_TEMPFAIL = Reply(451, "4.3.0", "Error processing DSN parameters")
RET_SYNTAX = Reply(501, "5.5.4", "Syntax: RET=FULL or RET=HDRS")
ENVID_SYNTAX = Reply(501, "5.5.4", "Bad ENVID syntax")
NOTIFY_SYNTAX = Reply(501, "5.5.4", "Bad NOTIFY parameter syntax")
ORCPT_SYNTAX = Reply(501, "5.5.4", "Bad ORCPT parameter syntax")
TOO_MANY_RCPTS = Reply(452, "4.5.3", "Too many recipients")  # §4.5.3.1.10
TOO_MANY_RCPTS_552 = Reply(552, "5.5.3", "Too many recipients")
USER_UNKNOWN = Reply(550, "5.1.1", "User unknown")
USER_UNKNOWN_554 = Reply(554, "5.1.1", "User unknown")
USER_UNKNOWN_WRONG_SUBJECT = Reply(550, "5.5.1", "User unknown")
# 550, not 554 (which Postfix sends): RFC 5321 §4.3.2 lists no 554 for RCPT.
RELAY_DENIED = Reply(550, "5.7.1", "Relay access denied")
START_DATA = Reply(354, None, "End data with <CR><LF>.<CR><LF>")
DATA_GO_AHEAD_250 = Reply(250, "2.0.0", "Go ahead")
TOO_BIG = Reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
BARE_EOL_DATA = Reply(550, "5.5.2", "Message contains bare CR or LF, rejected")
DELIVERY_FAILED = Reply(451, "4.3.0", "Local delivery failed")
DATA_AFTER_BDAT = Reply(503, "5.5.1", "Error: DATA not allowed after BDAT")  # RFC 3030 §2
BINARYMIME_NEEDS_BDAT = Reply(503, "5.5.1", "Error: BODY=BINARYMIME requires BDAT")  # RFC 3030 §3
BDAT_SYNTAX = Reply(501, "5.5.4", "Syntax: BDAT chunk-size [LAST]")

# ----- STARTTLS and AUTH ---------------------------------------------------------------------

SYNTAX_STARTTLS = Reply(501, "5.5.4", "Syntax: STARTTLS")
TLS_ACTIVE = Reply(503, "5.5.1", "TLS already active")
READY_FOR_TLS = Reply(220, "2.0.0", "Ready to start TLS")
ENCRYPTION_REQUIRED = Reply(538, "5.7.11", "Encryption required for requested authentication mechanism")
ALREADY_AUTHENTICATED = Reply(503, "5.5.1", "Already authenticated")
AUTH_IN_TRANSACTION = Reply(503, "5.5.1", "AUTH not permitted during a mail transaction")
AUTH_SYNTAX = Reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]")
UNKNOWN_MECHANISM = Reply(504, "5.5.4", "Unrecognized authentication type")
AUTH_INVALID = Reply(535, "5.7.8", "Authentication credentials invalid")
AUTH_FAILED = Reply(535, "5.7.8", "Authentication failed")  # smtp-ext-auth-unknown-mech-535
AUTH_CANCELLED = Reply(501, "5.0.0", "Authentication cancelled")
AUTH_UNDECODABLE = Reply(501, "5.5.2", "Cannot decode response")
AUTH_OK = Reply(235, "2.7.0", "Authentication successful")
AUTH_OK_250 = Reply(250, "2.7.0", "Authentication successful")  # smtp-ext-auth-success-250


# ----- replies that carry run-time data ----------------------------------------------------

def greeting(hostname: str, code: int = 220) -> Reply:
    return Reply(code, None, f"{hostname} ESMTP {IMPLEMENTATION}")


def timeout_reply(hostname: str) -> Reply:
    return Reply(421, "4.4.2", f"{hostname} Error: timeout exceeded")


def helo_reply(hostname: str) -> Reply:
    return Reply(250, None, hostname)


def help_reply(verbs: list[str]) -> Reply:
    return Reply(214, "2.0.0", "Commands: " + " ".join(verbs))


def mailbox_ok(address: str) -> Reply:
    """VRFY/EXPN: the one mailbox named, in angle brackets."""
    return Reply(250, "2.1.5", f"<{address}>")


def queued(queue_id: str) -> Reply:
    return Reply(250, "2.0.0", f"OK queued as {queue_id}")


def chunk_received(size: int) -> Reply:
    return Reply(250, "2.0.0", f"{size} octets received")


def challenge(data: str) -> Reply:
    return Reply(334, None, data)


def unrecognized_echo(command: str) -> Reply:
    """smtp-long-reply: the whole command line quoted back."""
    return Reply(500, "5.5.2", f"Command unrecognized: {command}")
