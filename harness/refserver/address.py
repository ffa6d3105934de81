"""RFC 5321 §4.1.2 path and ESMTP-parameter syntax for MAIL and RCPT.

Deliberately strict: the reference server is the "known good" peer, so the
angle brackets are required, domains are LDH labels (§4.1.2: otherwise 501) and
non-ASCII is accepted only with the SMTPUTF8 parameter (RFC 6531 §3.3).
Spaces after the colon (``MAIL FROM: <a@b>``) are tolerated, as all common MTAs
do; a client gets no advantage from that leniency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["AddressError", "Mailbox", "parse_params", "parse_path"]

_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
# RFC 6531 §3.3 extends atext, qtext and sub-domains with UTF8-non-ascii. The
# surrogate range is excluded: it is how undecodable bytes arrive (surrogateescape).
_UTF8 = "\u0080-\ud7ff\ue000-\U0010ffff"


def _grammar(utf8: bool) -> re.Pattern[str]:
    extra = _UTF8 if utf8 else ""
    atom = f"[{_ATEXT}{extra}]+"
    dot_string = rf"{atom}(?:\.{atom})*"
    quoted = rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{extra}]|\\[\x20-\x7e])*"'
    label = rf"[A-Za-z0-9{extra}](?:[A-Za-z0-9\-{extra}]*[A-Za-z0-9{extra}])?"
    domain = rf"{label}(?:\.{label})*"
    ipv4 = r"\d{1,3}(?:\.\d{1,3}){3}"
    general = r"[A-Za-z0-9\-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+"  # covers IPv6:...
    literal = rf"\[(?:{ipv4}|{general})\]"
    adl = rf"@{domain}(?:,@{domain})*:"
    return re.compile(
        rf"<(?:{adl})?(?P<local>{dot_string}|{quoted})@(?P<domain>{domain}|{literal})>"
    )


_PATH_ASCII = _grammar(False)
_PATH_UTF8 = _grammar(True)
_BARE_POSTMASTER = re.compile(r"<postmaster>", re.IGNORECASE)
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*")
_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e]+")  # esmtp-value: no '=', SP or controls

# §4.5.3.1: local-part 64, domain 255, whole path (with brackets) 256 octets.
LOCAL_MAX, DOMAIN_MAX, PATH_MAX = 64, 255, 256


class AddressError(ValueError):
    """``kind`` selects the reply: "syntax", "too-long" or "non-ascii"."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Mailbox:
    local: str
    domain: str | None  # None only for the bare <postmaster> RCPT form

    def __str__(self) -> str:
        return self.local if self.domain is None else f"{self.local}@{self.domain}"

    @property
    def mailbox_name(self) -> str:
        """The local-part without its quoting: RFC 5321 §4.1.2 makes all quoted forms of it equivalent."""
        if len(self.local) >= 2 and self.local[0] == self.local[-1] == '"':
            return re.sub(r"\\(.)", r"\1", self.local[1:-1])
        return self.local


def _octets(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def parse_path(text: str, *, utf8: bool, allow_null: bool, allow_bare_postmaster: bool) -> tuple[Mailbox | None, str]:
    """Parse ``<path>`` at the start of ``text``; returns (mailbox, rest).

    The mailbox is None for the null reverse-path ``<>``. ``rest`` is what
    follows the closing bracket and must be empty or start with a space.
    """
    if allow_null and text.startswith("<>"):
        mailbox, rest = None, text[2:]
    elif allow_bare_postmaster and (m := _BARE_POSTMASTER.match(text)):
        mailbox, rest = Mailbox(m.group(0)[1:-1], None), text[m.end():]
    else:
        m = _PATH_UTF8.match(text)
        if m is None:
            raise AddressError("syntax")
        if not utf8 and not _PATH_ASCII.fullmatch(m.group(0)):
            raise AddressError("non-ascii")
        local, domain = m.group("local"), m.group("domain")
        if _octets(local) > LOCAL_MAX or _octets(domain) > DOMAIN_MAX or _octets(m.group(0)) > PATH_MAX:
            raise AddressError("too-long")
        mailbox, rest = Mailbox(local, domain), text[m.end():]
    if rest and not rest.startswith(" "):
        raise AddressError("syntax")
    return mailbox, rest


def parse_params(text: str) -> dict[str, str | None] | None:
    """ESMTP parameters (RFC 5321 §4.1.2 Mail-parameters), keywords upper-cased.

    Returns None when the syntax is invalid or a keyword repeats.
    """
    params: dict[str, str | None] = {}
    for item in text.split():
        keyword, eq, value = item.partition("=")
        if not _KEYWORD.fullmatch(keyword) or (eq and not _VALUE.fullmatch(value)):
            return None
        key = keyword.upper()
        if key in params:
            return None
        params[key] = value if eq else None
    return params
