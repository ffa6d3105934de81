"""Which protocol a connection, check or scenario file speaks, as a value rather than a string.

The YAML, JSON and CLI spelling ("smtp", "pop3") stays at the edges: the
loader and the target file parse it with ``Protocol.parse``, writers render it
with ``.value``. Service names (``smtps``, ``pop3s``) are endpoints of the
target file, not protocols; ``Protocol.of_service`` maps them once.
"""

from __future__ import annotations

import enum

__all__ = ["Protocol"]


class Protocol(enum.Enum):
    SMTP = "smtp"
    POP3 = "pop3"

    @classmethod
    def parse(cls, value: "Protocol | str") -> "Protocol":
        """``"smtp"``/``"pop3"`` (or a Protocol) to the enum; anything else is a ValueError."""
        if isinstance(value, Protocol):
            return value
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown protocol {value!r}") from None

    @classmethod
    def of_service(cls, service: str) -> "Protocol":
        """The protocol a target endpoint speaks: smtp/smtps -> SMTP, pop3/pop3s -> POP3."""
        return cls.SMTP if service.startswith("smtp") else cls.POP3

    @property
    def implicit_tls_service(self) -> str:
        """The target's implicit-TLS endpoint for this protocol (``smtps``, ``pop3s``)."""
        return self.value + "s"

    def __str__(self) -> str:
        return self.value
