"""Who the reference server is, and whose mail it holds.

The identities are fixed on purpose: scenario files, docs and the harness's own
tests name ``alice@example.test`` and friends, and a ``.test`` domain (RFC 2606)
can never leak into real mail routing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DEFAULT_USERS", "DOMAIN", "HOSTNAME", "IMPLEMENTATION", "User", "UserDirectory"]

DOMAIN = "example.test"
# The name the server greets with and stamps into Received fields. An MX-style
# host name inside DOMAIN keeps "by <host>" distinct from recipient domains.
HOSTNAME = "mail.example.test"
# Shown in the SMTP greeting, the Received stamp and POP3 CAPA IMPLEMENTATION.
IMPLEMENTATION = "mailharness-ref"


@dataclass(frozen=True, slots=True)
class User:
    """One mailbox: its SMTP address and its POP3/SASL credentials."""

    address: str
    login: str
    password: str

    def as_target(self) -> dict[str, str]:
        """This user in the target-file shape (docs/target-file.md)."""
        return {"address": self.address, "login": self.login, "password": self.password}


# Twelve mailboxes, so parallel checks that lock a POP3 maildrop rarely wait for each other.
DEFAULT_USERS: tuple[User, ...] = (
    User("alice@example.test", "alice", "alicepw"),
    User("bob@example.test", "bob", "bobpw"),
    User("carol@example.test", "carol", "carolpw"),
    User("dave@example.test", "dave", "davepw"),
    User("erin@example.test", "erin", "erinpw"),
    User("frank@example.test", "frank", "frankpw"),
    User("grace@example.test", "grace", "gracepw"),
    User("heidi@example.test", "heidi", "heidipw"),
    User("ivan@example.test", "ivan", "ivanpw"),
    User("judy@example.test", "judy", "judypw"),
    User("mallory@example.test", "mallory", "mallorypw"),
    User("oscar@example.test", "oscar", "oscarpw"),
)


class UserDirectory:
    """Case-insensitive lookups over a fixed user list (both protocols share it)."""

    def __init__(self, users: Iterable[User], domain: str = DOMAIN) -> None:
        self.users: tuple[User, ...] = tuple(users)
        if not self.users:
            raise ValueError("the reference server needs at least one user")
        self.domain = domain.lower()
        self._by_login = {u.login.lower(): u for u in self.users}
        self._by_local = {u.address.rpartition("@")[0].lower(): u for u in self.users}

    @property
    def postmaster(self) -> User:
        """RFC 5321 §4.5.1 requires a postmaster mailbox; it is the first user."""
        return self.users[0]

    def by_login(self, login: str) -> User | None:
        """Resolve a POP3/SASL login; the full address is accepted as well."""
        key = login.lower()
        user = self._by_login.get(key)
        if user is None:
            local, at, domain = key.rpartition("@")
            if at and domain == self.domain:
                user = self._by_local.get(local)
        return user

    def by_local_part(self, local: str) -> User | None:
        """Local parts are matched case-insensitively, as most MTAs do."""
        return self._by_local.get(local.lower())

    def verify(self, login: str, password: str) -> User | None:
        user = self.by_login(login)
        if user is not None and user.password == password:
            return user
        return None

    def first_with_password(self, password: str) -> User | None:
        """Only the pop3-pass-without-user defect needs this lookup."""
        return next((u for u in self.users if u.password == password), None)
