"""Checks of the MAIL and RCPT arguments, as pure functions of the command text.

RFC 5321 §4.1.1.2-3 and §4.1.2 (paths), §4.1.1.11 (unknown parameters: 555),
RFC 1870 (SIZE), RFC 6152 (BODY), RFC 6531 (SMTPUTF8), RFC 4954 §5 (AUTH=).
Sequence checks (503) stay with the session; these only judge the arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .address import AddressError, Mailbox, parse_params, parse_path
from . import smtp_replies as R
from .defects import DefectSet
from .smtp_replies import Reply

__all__ = ["SIZE_LIMIT", "MailCheck", "check_mail", "check_rcpt"]

SIZE_LIMIT = 10 * 1024 * 1024  # advertised as SIZE (RFC 1870)


@dataclass(frozen=True, slots=True)
class MailCheck:
    reply: Reply
    sender: str | None = None  # set when accepted; "" is the null reverse-path
    utf8: bool = False


def check_mail(arg: str, *, extended: bool, auth_param: bool, defects: DefectSet) -> MailCheck:
    """Judge ``MAIL <arg>``; ``auth_param`` says whether AUTH= may be used (AUTH advertised)."""
    check = _check_mail(arg, extended=extended, auth_param=auth_param, defects=defects)
    if check.reply == R.MAIL_SYNTAX and "smtp-mail-syntax-accepted" in defects:
        return MailCheck(R.SENDER_OK, arg[5:].strip())
    return check


def _check_mail(arg: str, *, extended: bool, auth_param: bool, defects: DefectSet) -> MailCheck:
    if arg[:5].upper() != "FROM:":
        return MailCheck(R.MAIL_SYNTAX)
    try:
        mailbox, rest = parse_path(arg[5:].lstrip(" "), utf8=True, allow_null=True, allow_bare_postmaster=False)
    except AddressError as exc:
        return MailCheck(R.SENDER_TOO_LONG if exc.kind == "too-long" else R.MAIL_SYNTAX)
    params = parse_params(rest)
    if params is None:
        return MailCheck(R.MAIL_SYNTAX)
    if params and not extended:
        return MailCheck(R.PARAMS_AFTER_HELO)
    for key, value in params.items():
        reply = _param_error(key, value, auth_param=auth_param, defects=defects)
        if reply:
            return MailCheck(reply)
    utf8 = "SMTPUTF8" in params
    if mailbox is not None and not str(mailbox).isascii():
        if not utf8 and "smtp-ext-utf8-without-param" not in defects:
            return MailCheck(R.NON_ASCII)
        if utf8 and "smtp-ext-smtputf8-refused" in defects:
            return MailCheck(R.NON_ASCII_REFUSED)
        utf8 = True
    if mailbox is None and "smtp-null-sender-rejected" in defects:
        return MailCheck(R.NULL_SENDER_REFUSED)
    return MailCheck(R.SENDER_OK, "" if mailbox is None else str(mailbox), utf8)


def _param_error(key: str, value: str | None, *, auth_param: bool, defects: DefectSet) -> Reply | None:
    if key == "SIZE":
        if value is None or not value.isdigit() or not value.isascii() or len(value) > 20:
            if "smtp-ext-size-syntax-552" in defects:       # garbage taken for "too big"
                return R.TOO_BIG
            return R.SIZE_SYNTAX
        if int(value) > SIZE_LIMIT and "smtp-size-ignored" not in defects:
            return R.TOO_BIG  # RFC 1870 §6.1
        return None
    if key == "BODY":
        body = (value or "").upper()
        if body == "8BITMIME" and "smtp-ext-body-8bitmime-refused" in defects:
            return R.UNSUPPORTED_PARAM
        ok = body in ("7BIT", "8BITMIME", "BINARYMIME") or "smtp-ext-body-unchecked" in defects
        return None if ok else R.BODY_SYNTAX
    if key == "SMTPUTF8":
        ok = value is None or "smtp-ext-smtputf8-value-accepted" in defects
        return None if ok else R.SMTPUTF8_VALUE
    if key == "AUTH" and auth_param:
        if "smtp-ext-auth-param-refused" in defects:
            return R.UNSUPPORTED_PARAM
        return None  # RFC 4954 §5: accepted; unused, as nothing is relayed
    if key == "RET":  # RFC 3461 §4.3
        if (value or "").upper() in ("FULL", "HDRS"):
            return None
        if "smtp-ext-dsn-values-451" in defects:
            return R.DSN_TEMPFAIL
        return R.RET_SYNTAX
    if key == "ENVID":  # RFC 3461 §4.4: xtext, at most 100 characters
        return None if value and _XTEXT.fullmatch(value) and len(value) <= 100 else R.ENVID_SYNTAX
    if "smtp-ext-unknown-param-ignored" in defects:
        return None
    return R.UNSUPPORTED_PARAM  # §4.1.1.11


_XTEXT = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})+")
_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY"})


def _rcpt_param_error(key: str, value: str | None, defects: DefectSet) -> Reply | None:
    """RFC 3461 §4.1-4.2 NOTIFY and ORCPT; anything else is unsupported (§4.1.1.11)."""
    if key == "NOTIFY":
        items = (value or "").upper().split(",")
        ok = (items == ["NEVER"] or (set(items) <= _NOTIFY and len(set(items)) == len(items)))
        if ok:
            return None
        if "smtp-ext-dsn-values-451" in defects:
            return R.DSN_TEMPFAIL
        return R.NOTIFY_SYNTAX
    if key == "ORCPT":
        addr_type, semi, xtext = (value or "").partition(";")
        ok = bool(semi) and _KEYWORD_RE.fullmatch(addr_type) is not None and _XTEXT.fullmatch(xtext) is not None
        if ok and "smtp-ext-dsn-orcpt-refused" in defects:
            ok = False
        return None if ok else R.ORCPT_SYNTAX
    if "smtp-ext-unknown-param-ignored" in defects:
        return None
    return R.UNSUPPORTED_PARAM


_KEYWORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")


def check_rcpt(arg: str, *, utf8: bool, defects: DefectSet | None = None) -> Mailbox | Reply:
    """Judge ``RCPT <arg>``: the recipient, or the error reply."""
    if arg[:3].upper() != "TO:":
        return R.RCPT_SYNTAX
    try:
        mailbox, rest = parse_path(arg[3:].lstrip(" "), utf8=utf8, allow_null=False, allow_bare_postmaster=True)
    except AddressError as exc:
        return {"too-long": R.PATH_TOO_LONG, "non-ascii": R.NON_ASCII}.get(exc.kind, R.BAD_RECIPIENT)
    params = parse_params(rest)
    if params is None:
        return R.INVALID_PARAMS
    for key, value in params.items():
        reply = _rcpt_param_error(key, value, defects if defects is not None else DefectSet())
        if reply:
            return reply
    assert mailbox is not None
    return mailbox
