"""Helpers for the smtp-core defect knobs (defects_smtp.py) that need more than a line in smtp.py.

Every function here is a no-op unless its knob is on: the clean server's
behaviour stays in smtp.py, smtp_envelope.py and address.py.
"""

from __future__ import annotations

import email.utils
import re

from .defects import DefectSet
from .delivery import Delivery
from .maildir import MaildirStore
from . import smtp_replies as R
from .smtp_envelope import MailCheck
from .smtp_replies import Reply

__all__ = [
    "CONTROLS",
    "TRACE_KNOBS",
    "lenient_mail",
    "path_reply",
    "strip_unknown_params",
    "trace_delivery",
    "unstuff",
]

_PATH = re.compile(r"<([^<>]*)>")
_KNOWN_MAIL_PARAMS = ("SIZE", "BODY", "SMTPUTF8", "AUTH")
CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TRACE_KNOBS = ("smtp-received-no-helo", "smtp-received-appended", "smtp-received-two-digit-year",
               "smtp-received-zone-name", "smtp-return-path-null-rewritten")


def _split_path(arg: str) -> tuple[str, str, str, str] | None:
    """(whole <path>, source route, local-part, domain) of the first <...> in ``arg``."""
    m = _PATH.search(arg)
    if m is None:
        return None
    path = m.group(1)
    route = ""
    if path.startswith("@") and ":" in path:
        route, _, path = path.partition(":")
    local, _, domain = path.rpartition("@")
    return m.group(0), route, local, domain


def path_reply(verb: str, arg: str, defects: DefectSet, our_domain: str) -> Reply | None:
    """The refusal one of the address knobs gives for ``verb arg``, or None."""
    parts = _split_path(arg)
    if parts is None:
        return None
    whole, route, local, domain = parts
    if "smtp-short-address-limits" in defects and (
            len(local.encode("utf-8", "surrogateescape")) > 32 or len(whole.encode("utf-8", "surrogateescape")) > 200):
        return R.PATH_TOO_LONG
    if "smtp-quoted-local-rejected" in defects and local.startswith('"'):
        return R.BAD_ADDRESS
    if "smtp-address-literal-rejected" in defects and domain.startswith("["):
        return R.BAD_ADDRESS
    if "smtp-source-route-rejected" in defects and route:
        return R.BAD_ADDRESS
    if (verb == "RCPT" and "smtp-domain-case-sensitive" in defects
            and domain != domain.lower() and domain.lower() == our_domain):
        return R.USER_UNKNOWN
    return None


def strip_unknown_params(verb: str, arg: str, defects: DefectSet) -> str:
    """smtp-unknown-param-ignored: drop the parameters the server does not know."""
    if "smtp-unknown-param-ignored" not in defects:
        return arg
    m = _PATH.search(arg)
    if m is None:
        return arg
    head, rest = arg[:m.end()], arg[m.end():].split()
    known = _KNOWN_MAIL_PARAMS if verb == "MAIL" else ()
    kept = [p for p in rest if p.partition("=")[0].upper() in known]
    return " ".join([head, *kept])


def lenient_mail(check: MailCheck, arg: str, defects: DefectSet) -> MailCheck:
    """The MAIL knobs that accept what the clean server refuses."""
    parts = _split_path(arg)
    if parts is None:
        return check
    _, _, local, domain = parts
    sender = f"{local}@{domain}"
    if ("smtp-domain-underscore-accepted" in defects and check.reply.code == 501
            and "_" in domain):
        return MailCheck(R.SENDER_OK, sender)
    if "smtp-8bit-address-accepted" in defects and check.reply == R.NON_ASCII:
        return MailCheck(R.SENDER_OK, sender)
    return check


def unstuff(data: bytes) -> bytes:
    """Raw DATA bytes as received to message content (leading dots removed, end marker dropped)."""
    if data.endswith(b"\r\n.\r\n"):
        data = data[:-3]
    lines = data.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


class _RewritingStore:
    """The one MaildirStore method Delivery calls, editing the trace fields Delivery prepends."""

    def __init__(self, store: MaildirStore, defects: DefectSet, hostname: str) -> None:
        self._store, self._defects, self._hostname = store, defects, hostname

    def deliver(self, login: str, data: bytes) -> str:
        return self._store.deliver(login, rewrite_trace(data, self._defects, self._hostname))


def trace_delivery(delivery: Delivery, defects: DefectSet) -> Delivery:
    """The context's Delivery, or a copy whose trace fields carry the trace knob's bug."""
    if not any(k in defects for k in TRACE_KNOBS):
        return delivery
    store = _RewritingStore(delivery.store, defects, delivery.hostname)
    return Delivery(store, delivery.users, delivery.hostname, defects)  # type: ignore[arg-type]


_RECEIVED_FIELD = re.compile(rb"^Received:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*", re.MULTILINE | re.IGNORECASE)


def rewrite_trace(data: bytes, defects: DefectSet, hostname: str) -> bytes:
    if "smtp-return-path-null-rewritten" in defects and data.startswith(b"Return-Path: <>\r\n"):
        data = f"Return-Path: <MAILER-DAEMON@{hostname}>\r\n".encode() + data[len(b"Return-Path: <>\r\n"):]
    rp_end = data.index(b"\r\n") + 2 if data.startswith(b"Return-Path:") else 0
    m = _RECEIVED_FIELD.match(data, rp_end)
    if m is None:
        return data
    ours, rest = m.group(0), data[m.end():]
    if "smtp-received-no-helo" in defects:
        ours = re.sub(rb"^Received: from \S+ \(\S+ \[", b"Received: from unknown (unknown [", ours)
    if "smtp-received-two-digit-year" in defects:
        ours = re.sub(rb"(; (?:\w{3}, )?\d{1,2} \w{3} )\d\d(\d\d )", rb"\1\2", ours)
    if "smtp-received-zone-name" in defects:
        ours = re.sub(rb"; [^;]*\r\n$", b"; " + email.utils.formatdate(usegmt=True).encode() + b"\r\n", ours)
    if "smtp-received-appended" in defects:
        head_end = rest.find(b"\r\n\r\n")
        head = rest[: head_end + 2] if head_end >= 0 else rest
        last = None
        for field in _RECEIVED_FIELD.finditer(head):
            last = field
        if last is not None:
            return data[:rp_end] + rest[:last.end()] + ours + rest[last.end():]
    return data[:rp_end] + ours + rest
