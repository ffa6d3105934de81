"""Sans-I/O protocol core: no sockets, clocks, logging or gevent in here.

Bytes go in through ``receive_data``; reply values come out of ``next_event``.
Commands are encoded to bytes by plain functions. Drivers (the session, Locust
users, the reference-server tests) own all I/O.
"""

from harness.protocol.common import CLOSED, NEED_DATA, LineBuffer, Violation
from harness.protocol.replies import (
    Capabilities,
    EnhancedStatus,
    Pop3Response,
    ReplyClass,
    SmtpReply,
)
from harness.protocol.smtp import SmtpReplyReader, encode_command, parse_ehlo
from harness.protocol.pop3 import Pop3ResponseReader, expects_multiline, parse_capa

__all__ = [
    "CLOSED",
    "NEED_DATA",
    "LineBuffer",
    "Violation",
    "Capabilities",
    "EnhancedStatus",
    "Pop3Response",
    "ReplyClass",
    "SmtpReply",
    "SmtpReplyReader",
    "encode_command",
    "parse_ehlo",
    "Pop3ResponseReader",
    "expects_multiline",
    "parse_capa",
]
