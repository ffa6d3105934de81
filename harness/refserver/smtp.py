"""The reference SMTP server (RFC 5321, 1870, 2034, 2920, 3030, 3207, 3461, 4954, 6152, 6531), put together.

``COMMANDS`` is the one table from verb to handler; the handlers live in
smtp_session.py (EHLO, HELO, RSET, NOOP, QUIT, VRFY, EXPN, HELP), smtp_mail.py
(MAIL, RCPT, DATA), smtp_auth.py (STARTTLS, AUTH) and smtp_bdat.py (BDAT).
``smtp_hooks`` builds, once per server, that table with the hooks of the
switched-on knobs (smtp_knob_hooks.py) composed in; ``SmtpConnection``
(smtp_base.py) runs the command loop over it and sends the typed replies of
smtp_replies.py.
"""

from __future__ import annotations

from . import smtp_auth, smtp_bdat, smtp_mail, smtp_session
from .defects import DefectSet
from .smtp_base import SmtpConnection, SmtpContext
from .smtp_envelope import SIZE_LIMIT
from .smtp_hooks import Command, SmtpHooks, build_hooks
from .smtp_knob_hooks import REGISTRATIONS

__all__ = ["COMMANDS", "SIZE_LIMIT", "RefSMTP", "SmtpContext", "smtp_hooks"]

COMMANDS: dict[str, Command] = {
    **smtp_session.COMMANDS, **smtp_mail.COMMANDS, **smtp_auth.COMMANDS, **smtp_bdat.COMMANDS,
}

RefSMTP = SmtpConnection  # the protocol factory the listeners use


def smtp_hooks(defects: DefectSet) -> SmtpHooks:
    """The command table and hook points for a server with these knobs on."""
    return build_hooks(COMMANDS, REGISTRATIONS, defects)
