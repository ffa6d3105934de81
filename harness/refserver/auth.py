"""SASL verification shared by SMTP AUTH (RFC 4954) and POP3 AUTH (RFC 5034).

The mechanisms are protocol-neutral: each protocol passes in a ``challenge``
coroutine that sends one server challenge in its own framing (``334 <b64>`` or
``+ <b64>``) and returns the client's raw response line. The outcome is a User,
None (bad credentials), or an exception the protocol maps to its own reply.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable

from .accounts import User, UserDirectory

__all__ = [
    "MECHANISMS",
    "Challenge",
    "SaslCancelled",
    "SaslError",
    "SaslMalformed",
    "apop_digest",
    "authenticate",
    "decode_response",
]

MECHANISMS: tuple[str, ...] = ("PLAIN", "LOGIN", "CRAM-MD5")

# Sends a challenge (raw bytes, base64-encoded by the protocol) and returns the
# client's response line with the line end removed.
Challenge = Callable[[bytes], Awaitable[str]]


class SaslError(Exception):
    """The exchange ended without a verdict on the credentials."""


class SaslCancelled(SaslError):
    """The client sent '*' (RFC 4954 §4, RFC 5034 §4)."""


class SaslMalformed(SaslError):
    """A response was not valid base64, or broke the mechanism's syntax."""


def decode_response(line: str, *, initial: bool = False) -> bytes:
    """Decode one client response.

    ``=`` stands for an empty initial response (RFC 4954 §4, RFC 5034 §4); in a
    continuation an empty line is the empty response.
    """
    text = line.strip()
    if text == "*":
        raise SaslCancelled()
    if initial and text == "=":
        return b""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SaslMalformed() from None


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslMalformed() from None


def _verify(users: UserDirectory, name: str, password: str, unchecked: bool, empty_ok: bool = False) -> User | None:
    """The user if the secret is right; with ``unchecked`` (a defect knob) any secret will do, with
    ``empty_ok`` (another) an empty one."""
    return users.by_login(name) if unchecked or (empty_ok and password == "") else users.verify(name, password)


async def _plain(initial: str | None, challenge: Challenge, users: UserDirectory,
                 unchecked: bool = False, empty_ok: bool = False) -> User | None:
    # RFC 4616: [authzid] NUL authcid NUL passwd. No initial response means an
    # empty challenge first.
    raw = decode_response(initial, initial=True) if initial is not None else decode_response(await challenge(b""))
    parts = raw.split(b"\x00")
    if len(parts) != 3:
        return None  # RFC 4616 §2: the server fails an exchange it cannot parse
    authzid, authcid, password = (_text(p) for p in parts)
    user = _verify(users, authcid, password, unchecked, empty_ok)
    # Acting as another identity is not offered: a foreign authzid fails.
    if user is not None and authzid and users.by_login(authzid) is not user:
        return None
    return user


async def _login(initial: str | None, challenge: Challenge, users: UserDirectory,
                 unchecked: bool = False, empty_ok: bool = False) -> User | None:
    # draft-murchison-sasl-login: "Username:" and "Password:" prompts.
    if initial is not None:
        name = decode_response(initial, initial=True)
    else:
        name = decode_response(await challenge(b"Username:"))
    password = decode_response(await challenge(b"Password:"))
    return _verify(users, _text(name), _text(password), unchecked, empty_ok)


async def _cram_md5(initial: str | None, challenge: Challenge, users: UserDirectory, hostname: str,
                    unchecked: bool = False) -> User | None:
    # RFC 2195: the challenge is a unique msg-id; no initial response exists.
    if initial is not None:
        raise SaslMalformed()
    nonce = f"<{os.getpid()}.{time.time_ns()}.{os.urandom(4).hex()}@{hostname}>".encode("ascii")
    answer = _text(decode_response(await challenge(nonce)))
    name, _, digest = answer.rpartition(" ")
    if not name or not digest:
        raise SaslMalformed()
    user = users.by_login(name)
    if user is None or unchecked:
        return user
    expected = hmac.new(user.password.encode("utf-8"), nonce, "md5").hexdigest()
    return user if hmac.compare_digest(expected, digest.lower()) else None


async def authenticate(
    mechanism: str,
    initial: str | None,
    challenge: Challenge,
    users: UserDirectory,
    hostname: str,
    *,
    unchecked: bool = False,
    empty_ok: bool = False,
) -> User | None:
    """Run one SASL exchange; ``mechanism`` must be one of MECHANISMS (upper case).

    ``unchecked`` and ``empty_ok`` are for defect knobs only: the secret is not verified, or an
    empty one is taken as right.
    """
    if mechanism == "PLAIN":
        return await _plain(initial, challenge, users, unchecked, empty_ok)
    if mechanism == "LOGIN":
        return await _login(initial, challenge, users, unchecked, empty_ok)
    if mechanism == "CRAM-MD5":
        return await _cram_md5(initial, challenge, users, hostname, unchecked)
    raise ValueError(f"unsupported mechanism {mechanism!r}")


def apop_digest(timestamp: str, password: str, *, reversed_order: bool = False) -> str:
    """RFC 1939 §7: MD5 of the greeting timestamp followed by the shared secret.

    ``reversed_order`` (the pop3-apop-digest-reversed knob) hashes the secret first.
    """
    text = password + timestamp if reversed_order else timestamp + password
    return hashlib.md5(text.encode("utf-8")).hexdigest()
