"""The embedded reference server: a strictly conformant SMTP + POP3 peer with defect knobs.

Runs SMTP (aiosmtpd-based) and POP3 (our own asyncio server) over one Maildir,
plus implicit-TLS variants of both. Each knob in ``DEFECTS`` switches on exactly
one realistic bug, so the harness can prove every check passes against the
clean server and fails against the one knob that breaks its rule.

    from harness.refserver import ReferenceServer
    with ReferenceServer(defects=["smtp-bare-lf-end"]) as srv:
        target = srv.target()
"""

from .accounts import DEFAULT_USERS, User
from .defects import DEFECTS, Defect
from .server import ReferenceServer, serve_forever

__all__ = ["DEFAULT_USERS", "DEFECTS", "Defect", "ReferenceServer", "User", "serve_forever"]
