"""Further RFC 5321 core SMTP defect knobs: (name, one-sentence description citing the RFC)."""

from __future__ import annotations

SMTP_DEFECTS: tuple[tuple[str, str], ...] = (
    # command syntax and the command loop (smtp_base.py)
    ("smtp-trailing-space-rejected", "A command line with trailing white space before the CRLF is refused with 501 instead of being tolerated (RFC 5321 §4.1.1)."),
    ("smtp-long-reply", "The reply to an unrecognised command echoes the whole command line, so a long command gets a reply line over 512 octets (RFC 5321 §4.5.3.1.5)."),
    ("smtp-strict-helo-order", "NOOP, RSET, VRFY, EXPN and HELP before HELO/EHLO are refused with 503 instead of being processed normally (RFC 5321 §4.1.4)."),
    ("smtp-error-limit-close", "After three 5yz replies the server sends 421 and closes the connection before the client's QUIT (RFC 5321 §4.1.1.10)."),
    ("smtp-bare-lf-command", "A bare LF also ends a command line, so 'NOOP<LF>NOOP<CRLF>' is run as two commands (RFC 5321 §2.3.8)."),
    ("smtp-reply-bare-lf", "Reply lines end in a bare LF instead of CRLF (RFC 5321 §2.3.8)."),
    # session commands
    ("smtp-vrfy-unrecognized", "VRFY, one of the commands every server must implement, is answered '500 Command unrecognized' (RFC 5321 §4.5.1)."),
    ("smtp-help-unimplemented", "HELP is listed in the EHLO reply but answered 502 (RFC 5321 §4.2.4, §4.1.1.8)."),
    ("smtp-ehlo-domain-last", "The EHLO reply lists the extension keywords first and the server's domain on the last line (RFC 5321 §4.1.1.1)."),
    ("smtp-empty-greeting-accepted", "EHLO or HELO without a domain argument is accepted with 250 instead of 501 (RFC 5321 §4.1.4)."),
    ("smtp-ehlo-once", "A second EHLO or HELO in a session is refused with 503 (RFC 5321 §4.1.4)."),
    ("smtp-args-ignored", "RSET, DATA and QUIT ignore arguments instead of answering 501 (RFC 5321 §4.1.1)."),
    ("smtp-noop-arg-rejected", "NOOP with a parameter is refused with 501 instead of ignoring it (RFC 5321 §4.1.1.9)."),
    ("smtp-aux-commands-reset", "NOOP, VRFY and HELP silently reset an open mail transaction (RFC 5321 §4.1.1.6, §4.1.1.8, §4.1.1.9)."),
    ("smtp-expn-unadvertised", "EXPN is implemented (250 for postmaster) but not listed in the EHLO reply (RFC 5321 §3.5.2)."),
    ("smtp-quit-in-transaction-503", "QUIT during an open mail transaction is refused with 503 (RFC 5321 §4.1.1.10)."),
    ("smtp-helo-mismatch-reject", "MAIL is refused with 550 when the EHLO/HELO name is not localhost, an address literal or a name in the server's domain (RFC 5321 §4.1.4)."),
    # the mail transaction
    ("smtp-no-helo-required", "MAIL before any HELO/EHLO is accepted with 250 instead of 503 (RFC 5321 §4.1.4)."),
    ("smtp-nested-mail", "A second MAIL inside an open transaction replaces the sender with 250 instead of 503 (RFC 5321 §4.1.4)."),
    ("smtp-single-transaction", "After one completed message, MAIL is refused with 503 for the rest of the session (RFC 5321 §3.3, §4.1.1.4)."),
    ("smtp-data-keeps-envelope", "The sender and recipients survive the end of data, so a second DATA is accepted without MAIL and RCPT (RFC 5321 §4.1.1.4)."),
    ("smtp-bad-rcpt-aborts", "A RCPT with a syntax error is refused with 501 and also discards the open transaction (RFC 5321 §4.1.4)."),
    ("smtp-unknown-param-ignored", "Unknown MAIL and RCPT parameters are ignored and the command accepted with 250 instead of 555 (RFC 5321 §4.1.1.11)."),
    ("smtp-domain-underscore-accepted", "A MAIL FROM domain containing an underscore is accepted with 250 instead of 501 (RFC 5321 §4.1.2)."),
    ("smtp-8bit-address-accepted", "A non-ASCII MAIL FROM address without the SMTPUTF8 parameter is accepted with 250 (RFC 5321 §4.1.2, RFC 6531 §3.4)."),
    ("smtp-short-address-limits", "Local-parts over 32 octets and paths over 200 octets are refused with 501, below the 64/256-octet minimum (RFC 5321 §4.5.3.1)."),
    ("smtp-rcpt-limit-50", "RCPT is refused with 452 after 50 recipients, below the 100 that must be buffered (RFC 5321 §4.5.3.1.8)."),
    ("smtp-rcpt-limit-552", "The recipient limit is reported with 552 instead of 452 (RFC 5321 §4.5.3.1.10)."),
    ("smtp-unknown-user-554", "RCPT to an unknown local user is refused with 554, a code RFC 5321 §4.3.2 does not list for RCPT (RFC 5321 §4.3.2)."),
    ("smtp-bare-postmaster-rejected", "'RCPT TO:<Postmaster>' without a domain is refused with 501 (RFC 5321 §4.1.1.3, §4.5.1)."),
    ("smtp-domain-case-sensitive", "RCPT to a local address whose domain is not in lower case is refused with 550 (RFC 5321 §2.4)."),
    ("smtp-quoted-local-rejected", "A quoted-string local-part such as '\"first last\"@domain' is refused with 501 (RFC 5321 §4.1.2)."),
    ("smtp-address-literal-rejected", "An address-literal domain such as 'user@[127.0.0.1]' is refused with 501 (RFC 5321 §4.1.2, §4.1.3)."),
    ("smtp-source-route-rejected", "A forward-path with a source route ('<@host:user@domain>') is refused with 501 instead of the route being ignored (RFC 5321 §4.1.1.3)."),
    # DATA and delivery
    ("smtp-data-intermediate-250", "DATA is answered 250 instead of the 354 intermediate reply (RFC 5321 §4.1.1.4)."),
    ("smtp-small-message-limit", "Messages over 32 KiB are refused with 552, below the 64K-octet minimum (RFC 5321 §4.5.3.1.7)."),
    ("smtp-deliver-on-disconnect", "When the connection drops in the middle of DATA, the data received so far is delivered as a message (RFC 5321 §4.1.1.10)."),
    ("smtp-deliver-rejected", "A message refused at the end of data (for example 500 for a too-long line) is delivered anyway (RFC 5321 §4.2.5)."),
    ("smtp-strip-controls", "ASCII control characters other than HT, CR and LF are removed from the message before it is stored (RFC 5321 §4.5.2)."),
    ("smtp-received-no-helo", "The Received field's FROM clause gives 'unknown' instead of the name presented in EHLO (RFC 5321 §4.4)."),
    ("smtp-received-appended", "The Received field is inserted after the message's existing Received fields instead of at the top (RFC 5321 §4.4)."),
    ("smtp-received-two-digit-year", "The Received time stamp uses an obsolete two-digit year (RFC 5321 §4.4)."),
    ("smtp-received-zone-name", "The Received time stamp uses the obsolete zone name 'GMT' instead of a numeric offset (RFC 5321 §4.4)."),
    ("smtp-return-path-null-rewritten", "For the null reverse-path the Return-Path field names MAILER-DAEMON instead of '<>' (RFC 5321 §4.4)."),
)
