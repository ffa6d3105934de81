"""Further message-content (MIME, 7-bit/8-bit, trace) delivery defect knobs: (name, one-sentence description citing the RFC).

All of them are applied to the content at final delivery by content_defects.py.
"""

from __future__ import annotations

MIME_DEFECTS: tuple[tuple[str, str], ...] = (
    ("smtp-strip-final-crlf", "The CRLF that ends the last line of the data is taken as part of the <CRLF>.<CRLF> terminator and not stored (RFC 5321 §4.1.1.4)."),
    ("smtp-drop-trailing-blank-lines", "Empty lines at the end of the message are removed before storing, so an empty body loses its separating blank line (RFC 5321 §6.4, RFC 5322 §3.5)."),
    ("smtp-unfold-headers", "Folded header fields of the message header section are unfolded onto one line before storing (RFC 5322 §2.2.3: unfolding is for readers, RFC 5321 §6.4)."),
    ("smtp-refold-headers", "Header lines longer than 78 octets are refolded at the last whitespace before column 78, though lines up to 998 octets are valid (RFC 5322 §2.1.1, RFC 5321 §6.4)."),
    ("smtp-header-case", "Header field names are rewritten in canonical case (Mime-Version, Message-Id, Content-Id), as Go's net/textproto does (RFC 5321 §6.4, RFC 2045 §4)."),
    ("smtp-group-headers", "Header fields that occur more than once are regrouped next to their first occurrence, as a parser that keys fields by name does (RFC 5322 §3.6: fields SHOULD NOT be reordered)."),
    ("smtp-replace-message-id", "The client's Message-ID is replaced by one the server generates (RFC 5322 §3.6.4, RFC 5321 §6.4)."),
    ("smtp-decode-encoded-words", "RFC 2047 encoded-words in header fields are decoded and stored as raw UTF-8 (RFC 2047 §2, RFC 5322 §2.2: header fields are US-ASCII)."),
    ("smtp-drop-preamble", "The preamble of multipart bodies (text before the first boundary delimiter) is dropped when the message is stored (RFC 2046 §5.1.1, RFC 5321 §6.4)."),
    ("smtp-base64-text-line-ends", "Base64 parts are decoded, their CR and LF octets converted to CRLF as if they were text, and re-encoded, corrupting binary attachments (RFC 2045 §6.8)."),
    ("smtp-qp-to-8bit", "Quoted-printable text parts are decoded and relabelled 8bit at delivery, as sendmail's F=9 7-to-8 conversion does (RFC 2045 §6.7, RFC 5321 §6.4)."),
    ("smtp-strip-trailing-whitespace", "Trailing spaces and tabs are stripped from every body line, breaking format=flowed text (RFC 3676 §4.1, RFC 5321 §6.4)."),
    ("smtp-wrap-long-lines", "Body lines longer than 78 characters are word-wrapped at column 78, though lines up to 998 octets are valid (RFC 5322 §2.1.1, RFC 5321 §6.4)."),
    ("smtp-utf8-headers-encoded", "Raw UTF-8 in header field values is rewritten as RFC 2047 encoded-words at delivery, a downgrade of a message the server accepted with SMTPUTF8 (RFC 6531 §3.1, RFC 6532 §3)."),
    ("smtp-discard-no-date", "A message without a Date header field is accepted with 250 and then silently discarded (RFC 5321 §3.3: servers SHOULD NOT reject for header defects; RFC 5321 §6.2)."),
)
