"""Further ESMTP extension and security defect knobs: (name, one-sentence description citing the RFC)."""

from __future__ import annotations

ESMTP_DEFECTS: tuple[tuple[str, str], ...] = (
    # SIZE (RFC 1870)
    ("smtp-ext-size-keyword-units", "EHLO advertises 'SIZE 10M' instead of a plain decimal octet count (RFC 1870 §4)."),
    ("smtp-ext-size-syntax-552", "A SIZE parameter without a value or with a non-numeric value is refused with 552, as if too big, instead of 501 (RFC 5321 §4.1.4)."),
    ("smtp-ext-data-size-unenforced", "Message data above the advertised SIZE limit is accepted and delivered instead of refused with 552 (RFC 1870 §6.3)."),
    # PIPELINING (RFC 2920)
    ("smtp-ext-pipeline-flush", "Input buffered after MAIL is discarded, so pipelined RCPT and DATA are never answered (RFC 2920 §3.2)."),
    ("smtp-ext-pipeline-flush-after-error", "Input buffered after a negative reply is discarded, so commands pipelined after a rejected one are lost (RFC 2920 §3.2)."),
    # No PIPELINING (RFC 2920 §3.1: the client must then wait for each reply), as many MTAs run it
    ("smtp-no-pipelining-close", "PIPELINING is not advertised, and a command that arrives with more input behind it is answered '500 5.5.0 Error: pipelining not supported' and the connection closed without running it, so plaintext pipelined after STARTTLS is refused, never run (RFC 2920 §3.1, RFC 5321 §4.1.1.10)."),
    ("smtp-no-pipelining-bare-lf-end", "As smtp-no-pipelining-close, and a bare-LF end of data (\\n.\\n, \\r\\n.\\n or \\n.\\r\\n) also ends DATA, so a smuggled message gets through when its commands come in separate writes (RFC 5321 §2.3.8, §4.1.1.4, CVE-2023-51764)."),
    # 8BITMIME / BINARYMIME (RFC 6152, RFC 3030)
    ("smtp-ext-body-unchecked", "Any BODY= value, such as BODY=FOO, is accepted with 250 instead of 501/555 (RFC 6152 §2)."),
    ("smtp-ext-body-8bitmime-refused", "BODY=8BITMIME is refused with 555 although 8BITMIME is advertised (RFC 6152 §2)."),
    ("smtp-ext-binarymime-data-accepted", "DATA is accepted with 354 in a transaction declared BODY=BINARYMIME, which must use BDAT (RFC 3030 §3)."),
    # CHUNKING (RFC 3030)
    ("smtp-ext-bdat-line-read", "BDAT reads its chunk up to the next line end instead of exactly the declared octet count (RFC 3030 §2)."),
    ("smtp-ext-bdat-no-mail-accepted", "BDAT without a preceding MAIL and RCPT is answered 250 instead of 503 (RFC 3030 §2)."),
    ("smtp-ext-bdat-then-data", "DATA after a BDAT chunk in the same transaction is accepted with 354 instead of 503 (RFC 3030 §2)."),
    # ENHANCEDSTATUSCODES (RFC 2034, RFC 3463)
    ("smtp-ext-enhanced-missing", "Replies to RCPT lack the enhanced status code although ENHANCEDSTATUSCODES is advertised (RFC 2034 §3)."),
    ("smtp-ext-enhanced-class-mismatch", "Permanent 5yz replies carry a 4.x.x enhanced status code (RFC 3463 §2)."),
    # STARTTLS (RFC 3207)
    ("smtp-ext-starttls-arg-accepted", "STARTTLS with an argument is answered 220 and starts TLS instead of 501 (RFC 3207 §4)."),
    ("smtp-ext-starttls-in-tls", "STARTTLS inside an established TLS session is answered 220 instead of a 5yz refusal (RFC 3207 §4.2)."),
    ("smtp-ext-implicit-tls-starttls", "EHLO on the implicit-TLS (smtps) port lists STARTTLS although TLS is already active (RFC 3207 §4.2, RFC 8314 §3)."),
    # AUTH (RFC 4954)
    ("smtp-ext-auth-success-250", "A successful AUTH is answered 250 instead of 235 (RFC 4954 §6)."),
    ("smtp-ext-auth-failure-accepted", "AUTH with wrong credentials is answered 235 and the session counts as authenticated (RFC 4954 §6)."),
    ("smtp-ext-auth-garbage-535", "An AUTH response that is not valid base64 is answered 535 instead of 501 (RFC 4954 §4)."),
    ("smtp-ext-auth-unknown-mech-535", "AUTH with an unsupported mechanism is answered 535 instead of 504 (RFC 4954 §4)."),
    ("smtp-ext-auth-in-transaction", "AUTH during an open mail transaction is processed instead of refused with 503 (RFC 4954 §4)."),
    ("smtp-ext-auth-param-refused", "The AUTH= MAIL parameter is refused with 555 although AUTH is advertised (RFC 4954 §5)."),
    ("smtp-ext-auth-empty-initial", "An initial response of '=' (empty) is treated as no initial response and answered with a 334 challenge (RFC 4954 §4)."),
    # SMTPUTF8 (RFC 6531)
    ("smtp-ext-smtputf8-refused", "A UTF-8 address is refused with 553 even with the SMTPUTF8 parameter (RFC 6531 §3.4)."),
    ("smtp-ext-utf8-without-param", "A UTF-8 address is accepted without the SMTPUTF8 parameter (RFC 6531 §3.4, RFC 5321 §4.1.2)."),
    ("smtp-ext-smtputf8-value-accepted", "SMTPUTF8 with a value such as SMTPUTF8=yes is accepted instead of 501/555 (RFC 6531 §3.4)."),
    # DSN (RFC 3461)
    ("smtp-ext-dsn-orcpt-refused", "A valid ORCPT=rfc822;addr parameter is refused with 501 although DSN is advertised (RFC 3461 §4.2)."),
    ("smtp-ext-dsn-values-451", "Malformed DSN parameter values (RET=BOGUS, NOTIFY=NEVER,SUCCESS) get a temporary 451 instead of 501 (RFC 5321 §4.1.4)."),
    ("smtp-ext-unknown-param-ignored", "MAIL and RCPT parameters of extensions that are not advertised are silently ignored instead of refused with 555 (RFC 5321 §4.1.1.11)."),
    # SMTP smuggling variants (RFC 5321 §2.3.8)
    ("smtp-ext-bare-cr-end", "A bare CR counts as a line end in DATA, so \\r.\\r, \\r.\\r\\n and \\r\\n.\\r end the data and SMTP smuggling works (RFC 5321 §2.3.8)."),
    ("smtp-ext-any-eol-end", "Bare CR and bare LF both count as line ends in DATA, so mixed sequences such as \\r.\\n and \\n.\\r end the data (RFC 5321 §2.3.8)."),
    ("smtp-ext-nul-stripped", "NUL bytes are dropped from DATA lines before the end-of-data test, so <CRLF>NUL.<CRLF> ends the data (RFC 5321 §2.3.8, §4.1.1.4)."),
    # Open relay variants (RFC 5321 §3.6.2)
    ("smtp-ext-percent-hack-relay", "A local part with the %-hack (user%foreign@ourdomain) is relayed to the foreign domain without authentication (RFC 5321 §3.6.2)."),
    ("smtp-ext-source-route-relay", "A source route <@ourdomain:user@foreign> is judged by its first hop, so the foreign mailbox is relayed without authentication (RFC 5321 §3.6.2, App. C)."),
    ("smtp-ext-quoted-at-relay", "A quoted local part containing '@' (\"user@foreign\"@ourdomain) is unquoted and relayed without authentication (RFC 5321 §3.6.2)."),
    # VRFY user enumeration (RFC 5321 §3.5.3, §7.3)
    ("smtp-ext-vrfy-enumeration", "VRFY answers 252 for existing users and 550 for unknown ones, letting a client enumerate mailboxes (RFC 5321 §7.3)."),
)
