"""Checks of the MAIL and RCPT arguments, as pure functions of the command text.

RFC 5321 §4.1.1.2-3 and §4.1.2 (paths), §4.1.1.11 (unknown parameters: 555),
RFC 1870 (SIZE), RFC 6152 (BODY), RFC 6531 (SMTPUTF8), RFC 4954 §5 (AUTH=).
Sequence checks (503) stay with the session; these only judge the arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .address import AddressError, Mailbox, parse_params, parse_path
from .defects import DefectSet

__all__ = ["SIZE_LIMIT", "MailCheck", "check_mail", "check_rcpt"]

SIZE_LIMIT = 10 * 1024 * 1024  # advertised as SIZE (RFC 1870)
MAIL_SYNTAX = "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]"
NON_ASCII = "553 5.6.7 Non-ASCII address needs SMTPUTF8"  # RFC 6531 §3.7.4


@dataclass(frozen=True, slots=True)
class MailCheck:
    reply: str
    sender: str | None = None  # set when accepted; "" is the null reverse-path
    utf8: bool = False


def check_mail(arg: str, *, extended: bool, auth_param: bool, defects: DefectSet) -> MailCheck:
    """Judge ``MAIL <arg>``; ``auth_param`` says whether AUTH= may be used (AUTH advertised)."""
    check = _check_mail(arg, extended=extended, auth_param=auth_param, defects=defects)
    if check.reply == MAIL_SYNTAX and "smtp-mail-syntax-accepted" in defects:
        return MailCheck("250 2.1.0 OK", arg[5:].strip())
    return check


def _check_mail(arg: str, *, extended: bool, auth_param: bool, defects: DefectSet) -> MailCheck:
    if arg[:5].upper() != "FROM:":
        return MailCheck(MAIL_SYNTAX)
    try:
        mailbox, rest = parse_path(arg[5:].lstrip(" "), utf8=True, allow_null=True, allow_bare_postmaster=False)
    except AddressError as exc:
        return MailCheck("501 5.1.7 Path too long" if exc.kind == "too-long" else MAIL_SYNTAX)
    params = parse_params(rest)
    if params is None:
        return MailCheck(MAIL_SYNTAX)
    if params and not extended:
        return MailCheck("555 5.5.4 No parameters allowed after HELO")
    for key, value in params.items():
        reply = _param_error(key, value, auth_param=auth_param, defects=defects)
        if reply:
            return MailCheck(reply)
    utf8 = "SMTPUTF8" in params
    if mailbox is not None and not str(mailbox).isascii():
        if not utf8 and "smtp-ext-utf8-without-param" not in defects:
            return MailCheck(NON_ASCII)
        if utf8 and "smtp-ext-smtputf8-refused" in defects:
            return MailCheck("553 5.6.7 Non-ASCII addresses are not permitted")
        utf8 = True
    if mailbox is None and "smtp-null-sender-rejected" in defects:
        return MailCheck("553 5.1.7 Null sender not allowed")
    return MailCheck("250 2.1.0 OK", "" if mailbox is None else str(mailbox), utf8)


def _param_error(key: str, value: str | None, *, auth_param: bool, defects: DefectSet) -> str | None:
    if key == "SIZE":
        if value is None or not value.isdigit() or not value.isascii() or len(value) > 20:
            if "smtp-ext-size-syntax-552" in defects:       # garbage taken for "too big"
                return "552 5.3.4 Message size exceeds fixed maximum message size"
            return "501 5.5.4 Syntax: SIZE=<octets>"
        if int(value) > SIZE_LIMIT and "smtp-size-ignored" not in defects:
            return "552 5.3.4 Message size exceeds fixed maximum message size"  # RFC 1870 §6.1
        return None
    if key == "BODY":
        body = (value or "").upper()
        if body == "8BITMIME" and "smtp-ext-body-8bitmime-refused" in defects:
            return "555 5.5.4 Unsupported parameter"
        ok = body in ("7BIT", "8BITMIME", "BINARYMIME") or "smtp-ext-body-unchecked" in defects
        return None if ok else "501 5.5.4 BODY must be 7BIT, 8BITMIME or BINARYMIME"
    if key == "SMTPUTF8":
        ok = value is None or "smtp-ext-smtputf8-value-accepted" in defects
        return None if ok else "501 5.5.4 SMTPUTF8 takes no value"
    if key == "AUTH" and auth_param:
        if "smtp-ext-auth-param-refused" in defects:
            return "555 5.5.4 Unsupported parameter"
        return None  # RFC 4954 §5: accepted; unused, as nothing is relayed
    if key == "RET":  # RFC 3461 §4.3
        if (value or "").upper() in ("FULL", "HDRS"):
            return None
        if "smtp-ext-dsn-values-451" in defects:
            return "451 4.3.0 Error processing DSN parameters"
        return "501 5.5.4 Syntax: RET=FULL or RET=HDRS"
    if key == "ENVID":  # RFC 3461 §4.4: xtext, at most 100 characters
        return None if value and _XTEXT.fullmatch(value) and len(value) <= 100 else "501 5.5.4 Bad ENVID syntax"
    if "smtp-ext-unknown-param-ignored" in defects:
        return None
    return "555 5.5.4 Unsupported parameter"  # §4.1.1.11


_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})+")
_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY"})


def _rcpt_param_error(key: str, value: str | None, defects: DefectSet) -> str | None:
    """RFC 3461 §4.1-4.2 NOTIFY and ORCPT; anything else is unsupported (§4.1.1.11)."""
    if key == "NOTIFY":
        items = (value or "").upper().split(",")
        ok = (items == ["NEVER"] or (set(items) <= _NOTIFY and len(set(items)) == len(items)))
        if ok:
            return None
        if "smtp-ext-dsn-values-451" in defects:
            return "451 4.3.0 Error processing DSN parameters"
        return "501 5.5.4 Bad NOTIFY parameter syntax"
    if key == "ORCPT":
        addr_type, semi, xtext = (value or "").partition(";")
        ok = bool(semi) and _KEYWORD_RE.fullmatch(addr_type) is not None and _XTEXT.fullmatch(xtext) is not None
        if ok and "smtp-ext-dsn-orcpt-refused" in defects:
            ok = False
        return None if ok else "501 5.5.4 Bad ORCPT parameter syntax"
    if "smtp-ext-unknown-param-ignored" in defects:
        return None
    return "555 5.5.4 Unsupported parameter"


_KEYWORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")


def check_rcpt(arg: str, *, utf8: bool, defects: DefectSet | None = None) -> Mailbox | str:
    """Judge ``RCPT <arg>``: the recipient, or the error reply."""
    if arg[:3].upper() != "TO:":
        return "501 5.5.4 Syntax: RCPT TO:<address>"
    try:
        mailbox, rest = parse_path(arg[3:].lstrip(" "), utf8=utf8, allow_null=False, allow_bare_postmaster=True)
    except AddressError as exc:
        return {"too-long": "501 5.1.3 Path too long", "non-ascii": NON_ASCII}.get(
            exc.kind, "501 5.1.3 Bad recipient address syntax")
    params = parse_params(rest)
    if params is None:
        return "501 5.5.4 Invalid parameters"
    for key, value in params.items():
        reply = _rcpt_param_error(key, value, defects if defects is not None else DefectSet())
        if reply:
            return reply
    assert mailbox is not None
    return mailbox
