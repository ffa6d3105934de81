"""Exception families, split by blame (after h11 and hypothesis).

- ``ScenarioError``/``TargetError``: the user's files or arguments. Shown as
  ``file:line: message`` with no traceback; the CLI exits 2.
- ``TransportError`` subclasses: the network or the peer misbehaved at the
  transport level. Each carries an ``error_class`` string (docs/results.md), so
  a check that hits one ends with ``status: error``.
- ``RemoteProtocolError``: the server sent something our parser cannot turn
  into a reply. Also a transport-level ``error`` for the check.
- A failed expectation is *not* an exception: it is a result.

Anything else escaping is a harness bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "HarnessError",
    "ScenarioError",
    "TargetError",
    "TransportError",
    "ConnectRefused",
    "ConnectionReset",
    "ConnectionClosed",
    "Timeout",
    "Oversize",
    "TlsError",
    "RemoteProtocolError",
    "DeliveryFailed",
    "ERROR_CLASSES",
]

ERROR_CLASSES = (
    "timeout",
    "connection-refused",
    "connection-reset",
    "connection-closed",
    "protocol-violation",
    "oversize",
    "tls",
    "delivery",       # the SMTP server accepted a message that never reached the POP3 mailbox
)


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class ScenarioError(HarnessError):
    """A scenario, profile or target file is malformed. Never shown with a traceback."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 end_line: int | None = None, snippet: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.end_line = end_line
        self.snippet = snippet

    def location(self) -> str:
        if self.file is None:
            return ""
        if self.line is None:
            return self.file
        if self.end_line and self.end_line != self.line:
            return f"{self.file}:{self.line}-{self.end_line}"
        return f"{self.file}:{self.line}"

    def __str__(self) -> str:
        loc = self.location()
        text = f"{loc}: {self.message}" if loc else self.message
        if self.snippet:
            text += "\n" + self.snippet
        return text


class TargetError(ScenarioError):
    """The target file or the target options on the command line are malformed."""


class TransportError(HarnessError):
    """The connection failed. ``error_class`` is its class in docs/results.md."""

    error_class = "connection-closed"


class ConnectRefused(TransportError):
    error_class = "connection-refused"


class ConnectionReset(TransportError):
    error_class = "connection-reset"


class ConnectionClosed(TransportError):
    error_class = "connection-closed"


class Timeout(TransportError):
    error_class = "timeout"


class Oversize(TransportError):
    error_class = "oversize"


class TlsError(TransportError):
    error_class = "tls"


class RemoteProtocolError(TransportError):
    """The server sent bytes that cannot be parsed as a reply at all."""

    error_class = "protocol-violation"


class DeliveryFailed(TransportError):
    """A test message could not be put into the mailbox, or never showed up there."""

    error_class = "delivery"
