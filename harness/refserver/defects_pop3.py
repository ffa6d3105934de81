"""Further POP3 defect knobs: (name, one-sentence description citing the RFC)."""

from __future__ import annotations

POP3_DEFECTS: tuple[tuple[str, str], ...] = (
    # state machine (RFC 1939 §3-§6)
    ("pop3-user-opens-maildrop", "USER naming an existing mailbox opens that maildrop at once, so TRANSACTION commands sent before PASS are executed (RFC 1939 §3, §4)."),
    ("pop3-auth-cmds-ok-in-transaction", "USER, PASS, APOP and AUTH in the TRANSACTION state are answered '+OK already authenticated' instead of -ERR (RFC 1939 §3)."),
    ("pop3-capa-auth-only", "CAPA in the TRANSACTION state is refused with -ERR although it is valid in both states (RFC 2449 §5)."),
    ("pop3-noop-unimplemented", "NOOP is not implemented and answers -ERR in the TRANSACTION state (RFC 1939 §5)."),
    ("pop3-quit-auth-no-reply", "QUIT in the AUTHORIZATION state closes the connection without sending +OK (RFC 1939 §4)."),
    ("pop3-update-stays-open", "After QUIT from the TRANSACTION state the server answers +OK but keeps the connection open (RFC 1939 §6)."),
    ("pop3-update-removes-retrieved", "The UPDATE state also removes messages that were retrieved with RETR but never marked deleted (RFC 1939 §6)."),
    # command syntax (RFC 1939 §3, RFC 2449 §4)
    ("pop3-case-sensitive", "Command keywords that are not all upper case are answered -ERR as unknown commands (RFC 1939 §3)."),
    ("pop3-unknown-command-ok", "Unknown command keywords are answered +OK instead of -ERR (RFC 1939 §3)."),
    ("pop3-number-trailing-garbage", "Message-number arguments are parsed like atoi(), so '1abc' is taken as message 1 instead of being refused (RFC 1939 §3, §5)."),
    ("pop3-number-clamped", "Message numbers outside 1..count are clamped into range, so 0 names the first and 999 the last message instead of -ERR (RFC 1939 §5)."),
    ("pop3-short-line-limit", "Command lines longer than 200 octets are refused with '-ERR line too long' although 255 must be accepted (RFC 2449 §4)."),
    ("pop3-err-echoes-command", "The -ERR reply to an unknown command quotes the whole command line, so it can exceed the 512-octet response limit (RFC 1939 §3)."),
    ("pop3-pipelining-drops", "When several commands arrive in one segment only the first is answered and the rest of the input is discarded, although PIPELINING is advertised (RFC 2449 §6.6)."),
    # TOP / UIDL (RFC 1939 §7)
    ("pop3-top-overflow-err", "TOP with a line count larger than the body answers -ERR instead of sending the whole message (RFC 1939 §7)."),
    ("pop3-top-uidl-deleted-ok", "TOP and 'UIDL n' of a message marked as deleted answer as if it were not deleted (RFC 1939 §7)."),
    ("pop3-top-negative-whole", "TOP with a negative line count sends the whole message instead of -ERR (RFC 1939 §7)."),
    ("pop3-uidl-space", "UIDL unique-ids contain a space (a date and a time), outside the 0x21-0x7E range (RFC 1939 §7)."),
    ("pop3-uidl-long", "UIDL unique-ids are the message file's path in the store, longer than 70 characters (RFC 1939 §7)."),
    ("pop3-uidl-positional", "UIDL unique-ids are derived from the message's position in the maildrop, so a new message reuses the id of a deleted one (RFC 1939 §7)."),
    # locking and response codes (RFC 1939 §4, RFC 2449 §8, RFC 3206)
    ("pop3-lock-before-pass", "The maildrop lock is taken at USER and kept when PASS fails, so the mailbox stays locked until that connection closes (RFC 1939 §4)."),
    ("pop3-in-use-no-code", "A login refused because the maildrop is locked gets a plain -ERR without the [IN-USE] response code (RFC 2449 §8.1.1)."),
    ("pop3-no-auth-resp-code", "A PASS refused for bad credentials gets a plain -ERR without the [AUTH] response code although AUTH-RESP-CODE is advertised (RFC 3206)."),
    ("pop3-capa-transaction-short", "CAPA in the TRANSACTION state omits USER and SASL, which were announced in AUTHORIZATION (RFC 2449 §5)."),
    # STLS (RFC 2595 §4)
    ("pop3-stls-after-login", "STLS is accepted in the TRANSACTION state and TLS is negotiated there (RFC 2595 §4)."),
    ("pop3-stls-inside-tls", "STLS inside an already encrypted session (STLS done or implicit TLS) is answered +OK (RFC 2595 §4)."),
    ("pop3-implicit-tls-stls-listed", "CAPA on the implicit-TLS POP3S port lists STLS (RFC 2595 §4)."),
    # AUTH (RFC 5034 §4)
    ("pop3-auth-no-transaction", "A successful AUTH answers +OK but leaves the session in the AUTHORIZATION state (RFC 5034 §4)."),
    ("pop3-sasl-reprompt", "A SASL response that is '*' or not valid base64 is answered with a new '+ ' continuation instead of -ERR (RFC 5034 §4)."),
    ("pop3-auth-unknown-as-plain", "AUTH with an unknown mechanism name falls back to PLAIN and sends a '+ ' continuation instead of -ERR (RFC 5034 §4)."),
)
