"""The suites against real Haraka 3.3 (npm, stock plugins tls and auth/flat_file) + Dovecot 2.3.

ci/servers/start-haraka.sh starts them on fixed loopback ports (SMTP 2527, SMTPS 2467, POP3 2112, POP3S
2997); Haraka delivers through ci/servers/haraka/mailharness_maildir.js into a Maildir that Dovecot
serves. Every non-passing verdict is pinned with its reason: a finding about Haraka or Dovecot as
configured there, or a suspected mistake of the check (``harness:``). Haraka is safe against every
SMTP smuggling variant, and no check ends in ``error``.

``ci/test.sh`` installs Haraka as root (ci/servers/install-haraka.sh). Where it is missing outside CI the
module is skipped with the reason; in CI that is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.real_mta import FAILED, SKIPPED, assert_safe_against_smuggling, assert_verdicts
from tests.integration.real_mta import require, server_run

PREFIX = Path(os.environ.get("MH_HARAKA_PREFIX", "/opt/mailharness-haraka"))
STATE = Path(os.environ.get("MH_HARAKA_DIR", "/tmp/mailharness-haraka"))
require((PREFIX / "node_modules/Haraka/bin/haraka").exists(), "Haraka", "ci/servers/install-haraka.sh")

PINNED = {
    # -- findings about the servers: AUTH (RFC 4954, Haraka's auth plugins) -----------------------------
    "esmtp.auth-plain": (FAILED, "Haraka: a second AUTH after a successful one gets 235, RFC 4954 §4: "
                         "'a server MUST reject any further AUTH commands with a 503 reply'"),
    "esmtp.auth-cram-md5": (FAILED, "Haraka: CRAM-MD5 itself works; the check's second AUTH gets 235 "
                            "(the same rule as esmtp.auth-plain)"),
    "esmtp.auth-during-transaction": (FAILED, "Haraka: AUTH after MAIL gets 235; RFC 4954 §4: AUTH in a "
                                      "mail transaction 'MUST be rejected with a 503 reply'"),
    "esmtp.auth-cancel": (FAILED, "Haraka: '*' in AUTH LOGIN is taken as the user name (334), RFC 4954 §4 "
                          "says the server MUST reject it with 501"),
    "esmtp.auth-bad-base64": (FAILED, "Haraka: undecodable base64 in AUTH LOGIN gets the next 334 (Node "
                              "decodes leniently), RFC 4954 §4 says MUST 501"),
    "esmtp.auth-unknown-mechanism": (FAILED, "Haraka: an unknown SASL mechanism gets '500 Unrecognized "
                                     "command', RFC 4954 §4 says 504"),
    "security.auth-requires-tls": (FAILED, "Haraka's auth plugins offer AUTH without TLS to private "
                                   "addresses, loopback included (from a public address only after "
                                   "STARTTLS)"),
    "security.auth-plaintext-refused": (FAILED, "Haraka: AUTH PLAIN in plaintext succeeds from loopback "
                                        "(as above)"),
    # -- findings: STARTTLS, SIZE, content --------------------------------------------------------------
    "esmtp.starttls-argument": (FAILED, "Haraka: 'STARTTLS foo' gets 220; RFC 3207 §4 gives 501 for "
                                "parameters"),
    "esmtp.starttls-inside-tls": (FAILED, "Haraka: STARTTLS inside TLS gets '220 Go ahead.'; RFC 3207 "
                                  "§4.2: 'Both the client and the server MUST know if there is a TLS "
                                  "session active'"),
    "esmtp.size-data-over-limit": (FAILED, "Haraka: data over its advertised SIZE limit gets '550 Message too "
                                   "big!'; RFC 1870 §4 names 552 (the same code as for a declared size)"),
    "esmtp.auth-without-mechanism": (FAILED, "Haraka: a bare 'AUTH' gets '500 Unrecognized command'; a missing "
                                     "argument is '501 Syntax error in parameters or arguments' (RFC 5321 "
                                     "§4.2.2), or 504 for no usable mechanism"),
    "esmtp.size-over-limit": (FAILED, "Haraka: a declared SIZE above its maximum gets '550 Message too "
                              "big!', RFC 1870 §6.1 names 552"),
    "roundtrip.long-line-998": (FAILED, "Haraka folds body lines over 992 octets with CRLF SP "
                                "(connection.ini max.data_line_length=992, as Sendmail); RFC 5321 "
                                "§4.5.3.1.6 allows 998"),
    "mime.long-line-998-in-part": (FAILED, "Haraka folds a 998-octet line in a MIME part (as above)"),
    "mime.header-998-octets": (FAILED, "Haraka folds a 998-octet header line (as above)"),
    "roundtrip.line-over-limit-refused-or-intact": (FAILED, "Haraka accepts a 2000-octet line with 250 and "
                                                    "delivers it folded, neither refused nor intact"),
    "smtp.quoted-local-part": (FAILED, "Haraka: RCPT TO:<\"bob\"@example.test> gets '550 No such user here' "
                               "while <bob@example.test> is accepted (RFC 5321 §4.1.2: all quoted forms "
                               "MUST be treated as equivalent)"),
    "smtp.trailing-whitespace": (FAILED, "Haraka: 'NOOP<TAB>' gets '500 Unrecognized command' (SHOULD "
                                 "tolerate trailing white space, RFC 5321 §4.1.1)"),
    # -- findings: unknown or malformed parameters ignored (RFC 5321 §4.1.1.11 "will return code 555") --
    "smtp.unknown-mail-parameter": (FAILED, "Haraka ignores an unknown MAIL parameter (250)"),
    "smtp.unknown-rcpt-parameter": (FAILED, "Haraka ignores an unknown RCPT parameter (250)"),
    "esmtp.body-unknown-value": (FAILED, "Haraka ignores BODY=<unknown> (250)"),
    "esmtp.smtputf8-no-value": (FAILED, "Haraka ignores a malformed SMTPUTF8 parameter (250)"),
    "esmtp.dsn-unadvertised": (FAILED, "Haraka accepts 'RET=HDRS' without advertising DSN (250)"),
    "esmtp.binarymime-unadvertised": (FAILED, "Haraka accepts 'BODY=BINARYMIME' without advertising "
                                      "BINARYMIME (250)"),
    "esmtp.utf8-address-without-smtputf8": (FAILED, "Haraka accepts a UTF-8 address without SMTPUTF8 "
                                            "(POLICY)"),
    "smtp.second-mail-in-transaction": (FAILED, "Haraka accepts a second MAIL in a transaction (POLICY)"),
    "smtp.bare-lf-command": (FAILED, "Haraka takes a bare LF as a command line end (POLICY)"),
    # -- suspected mistakes of the checks ---------------------------------------------------------------
    # -- not advertised ---------------------------------------------------------------------------------
    "esmtp.enhanced-status-codes": (SKIPPED, "ENHANCEDSTATUSCODES not advertised"),
    "esmtp.enhanced-class-matches": (SKIPPED, "ENHANCEDSTATUSCODES not advertised"),
    "esmtp.enhanced-subject-fits": (SKIPPED, "ENHANCEDSTATUSCODES not advertised"),
    "esmtp.dsn-parameters": (SKIPPED, "DSN not advertised"),
    "esmtp.dsn-bad-ret": (SKIPPED, "DSN not advertised"),
    "esmtp.bdat-single-chunk": (SKIPPED, "CHUNKING not advertised"),
    "esmtp.bdat-bad-size": (SKIPPED, "CHUNKING not advertised"),
    "esmtp.bdat-refused-not-delivered": (SKIPPED, "CHUNKING not advertised"),
    "esmtp.bdat-multi-chunk": (SKIPPED, "CHUNKING not advertised"),
    "esmtp.bdat-without-transaction": (SKIPPED, "CHUNKING not advertised"),
    "esmtp.data-after-bdat": (SKIPPED, "CHUNKING not advertised"),
    "esmtp.binarymime-requires-bdat": (SKIPPED, "CHUNKING not advertised"),
    "smtp.help-advertised-works": (SKIPPED, "HELP not advertised"),
}


@pytest.fixture(scope="module")
def haraka_run():
    yield from server_run("start-haraka.sh", "stop-haraka.sh", STATE)


def test_haraka_is_safe_against_smtp_smuggling(haraka_run):
    assert_safe_against_smuggling(haraka_run)


def test_haraka_verdicts_are_pinned(haraka_run):
    assert_verdicts(haraka_run, PINNED)
