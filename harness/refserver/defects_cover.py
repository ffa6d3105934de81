"""Knobs that break a rule on one side only: one command, one mechanism or one direction of a rule the
other knobs break everywhere (name, one-sentence description citing the RFC)."""

from __future__ import annotations

COVER_POP3_DEFECTS: tuple[tuple[str, str], ...] = (
    # message numbers, one command at a time (RFC 1939 §5, §7)
    ("pop3-list-number-wraps", "LIST n indexes the message table without a lower bound, so LIST 0 answers for the last message instead of -ERR (RFC 1939 §5)."),
    ("pop3-uidl-number-wraps", "UIDL n indexes the message table without a lower bound, so UIDL 0 answers with the last message's unique-id instead of -ERR (RFC 1939 §7)."),
    ("pop3-top-number-wraps", "TOP indexes the message table without a lower bound, so TOP 0 n sends the last message instead of -ERR (RFC 1939 §7)."),
    ("pop3-dele-number-wraps", "DELE indexes the message table without a lower bound, so DELE 0 marks the last message as deleted instead of -ERR (RFC 1939 §5)."),
    # required arguments left out (RFC 1939 §3)
    ("pop3-retr-default-first", "RETR without a message-number sends message 1 instead of -ERR (RFC 1939 §3, §5)."),
    ("pop3-dele-no-arg-ok", "DELE without a message-number answers +OK and marks nothing instead of -ERR (RFC 1939 §3, §5)."),
    ("pop3-top-default-whole", "TOP with a message-number but no line count sends the whole message instead of -ERR (RFC 1939 §3, §7)."),
    ("pop3-user-empty-ok", "USER without a mailbox name answers +OK instead of -ERR (RFC 1939 §3, §7)."),
    ("pop3-empty-password-accepted", "PASS with an empty password opens any existing mailbox, like an unauthenticated LDAP bind (RFC 1939 §3, §7)."),
    ("pop3-apop-name-only", "APOP with a mailbox name but no digest opens that mailbox (RFC 1939 §3, §7)."),
    # listings and byte-stuffing, one response at a time (RFC 1939 §3, §7)
    ("pop3-uidl-lists-deleted", "The UIDL listing without an argument still lists messages marked as deleted (RFC 1939 §7)."),
    ("pop3-uidl-listing-unterminated", "The UIDL listing without an argument is sent without its final '.' line (RFC 1939 §3)."),
    ("pop3-top-no-byte-stuffing", "TOP (but not RETR) sends lines that start with '.' without byte-stuffing them (RFC 1939 §3)."),
    # authentication, one mechanism at a time (RFC 1939 §7, RFC 5034 §4)
    ("pop3-sasl-plain-password-unchecked", "POP3 AUTH PLAIN accepts any password for an existing mailbox (RFC 5034 §4, RFC 4616 §2)."),
    ("pop3-sasl-login-password-unchecked", "POP3 AUTH LOGIN accepts any password for an existing mailbox (RFC 5034 §4)."),
    ("pop3-sasl-cram-md5-digest-unchecked", "POP3 AUTH CRAM-MD5 accepts any digest for an existing mailbox (RFC 5034 §4, RFC 2195 §2)."),
    ("pop3-cram-md5-raw-challenge", "The POP3 AUTH CRAM-MD5 challenge is sent as raw text instead of base64, so no client can answer it (RFC 5034 §4)."),
    ("pop3-apop-digest-reversed", "The APOP digest is computed over the secret followed by the timestamp, so a correct digest is refused (RFC 1939 §7)."),
    ("pop3-apop-digest-unchecked", "APOP accepts any digest for an existing mailbox (RFC 1939 §7)."),
    # a single-message scan listing on its own (RFC 1939 §5)
    ("pop3-list-n-size-only", "LIST n answers '+OK <size>' without the message-number, so its scan listing has one field instead of two (RFC 1939 §5)."),
)

COVER_SMTP_DEFECTS: tuple[tuple[str, str], ...] = (
    ("smtp-cram-md5-digest-unchecked", "SMTP AUTH CRAM-MD5 accepts any digest for an existing user (RFC 4954 §4, §6, RFC 2195 §2)."),
    ("smtp-mail-bare-null-sender", "MAIL without an argument is taken as MAIL FROM:<> and answered 250 instead of 501 (RFC 5321 §4.1.4)."),
    ("smtp-rcpt-bare-accepted", "RCPT without an argument is answered 250 (adding no recipient) instead of 501 (RFC 5321 §4.1.1.3, §4.1.4)."),
    ("smtp-vrfy-bare-250", "VRFY without an argument is answered 250 with the postmaster's address instead of 501 (RFC 5321 §3.5.3, §4.1.1.6)."),
    ("smtp-ext-keywords-hidden", "EHLO omits SIZE, 8BITMIME, SMTPUTF8, DSN, CHUNKING, BINARYMIME and STARTTLS, but their commands and parameters keep working, like a keyword-discarding EHLO filter (RFC 5321 §4.1.1.1, §4.1.1.11)."),
    ("smtp-split-over-998", "Message lines longer than 998 octets are accepted and stored split into 998-octet lines instead of refused or kept whole (RFC 5321 §4.5.3.1.6, §6.4)."),
    ("smtp-dedupe-message-id", "A message whose Message-ID the mailbox already holds is accepted with 250 and then silently discarded as a duplicate (RFC 5321 §4.1.1.4, §6.1)."),
    # the items the coverage inventory had left open, and the last untested sides
    ("smtp-reply-bare-code", "NOOP and RSET are answered with a bare '250', without the space that should follow the code when no text is sent (RFC 5321 §4.2.1)."),
    ("smtp-ext-enhanced-rcpt-wrong-subject", "RCPT to an unknown local user is refused with the enhanced code 5.5.1 (invalid command) instead of an addressing code such as 5.1.1 (RFC 3463 §3.2, §3.6)."),
    ("smtp-ext-bdat-size-atoi", "The BDAT chunk size is parsed like atoi(), so 'BDAT ten LAST' is taken as 'BDAT 0 LAST' and ends the message with 250 instead of 501 (RFC 3030 §2)."),
    ("smtp-ext-bdat-oversize-delivered", "A BDAT message over the size limit is answered 552 at its last chunk but delivered anyway (RFC 3030 §2, RFC 1870 §6.3)."),
    ("smtp-auth-no-mechanism-plain", "AUTH without a mechanism name starts a PLAIN exchange with a 334 challenge instead of being refused with 501 (RFC 4954 §4)."),
    ("smtp-auth-empty-password-accepted", "SMTP AUTH PLAIN and LOGIN with an empty password authenticate any existing user, like an unauthenticated LDAP bind (RFC 4954 §6)."),
)
