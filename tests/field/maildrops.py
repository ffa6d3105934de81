"""A maildrop of varied messages someone else delivered, and a fingerprint to prove a run left it alone."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from harness.message import build_message, spec_from_mapping
from harness.scenario.delivery import write_maildir

__all__ = ["varied_messages", "fill", "fingerprint"]

_SPECS = [
    {"subject": "plain", "body": "hello\n"},
    {"subject": "dots", "body": ".\n..\n.leading dot\n"},
    {"raw": "From: a@example.test\\r\\nSubject: header only\\r\\n"},
    {"subject": "empty body", "body": ""},
    {"subject": "long lines", "lines": {"count": 5, "length": 998, "char": "x"}},
    {"subject": "8bit", "body": "grüße\n", "encoding": "8bit"},
    {"subject": "qp", "body": "caf\u00e9 " * 40 + "\n", "encoding": "quoted-printable"},
    {"subject": "base64", "parts": [{"content_type": "application/octet-stream", "body_bytes": "\\x00\\xff" * 300}]},
    {"subject": "multipart", "parts": [{"body": "a\n"}, {"content_type": "text/html", "body": "<p>.b</p>\n"}]},
    {"subject": "many lines", "lines": {"count": 400, "length": 70, "char": "y"}},
]


def varied_messages(n: int = 20) -> list[bytes]:
    out = []
    for i in range(n):
        spec = dict(_SPECS[i % len(_SPECS)])
        if "raw" not in spec:
            spec["subject"] = f"{spec['subject']} {i}"
        out.append(build_message(spec_from_mapping(spec), marker=f"existing-{i}", sender="x@example.test",
                                 recipients=["y@example.test"]))
    return out


def fill(maildir: Path, messages: list[bytes]) -> None:
    for data in messages:
        write_maildir(maildir, data)


def fingerprint(maildir: Path) -> Counter[str]:
    """The multiset of message contents in new/ and cur/ (a server may move and flag files)."""
    return Counter(hashlib.sha256(p.read_bytes()).hexdigest()
                   for sub in ("new", "cur") for p in (maildir / sub).iterdir() if p.is_file())
