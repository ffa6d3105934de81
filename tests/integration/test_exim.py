"""The suites against real Exim 4.96 (Debian 12's exim4-daemon-light, unpacked beside Postfix) + Dovecot 2.3.

ci/servers/start-exim.sh starts them on fixed loopback ports (SMTP 2526, SMTPS 2466, POP3 2111, POP3S
2996). Every non-passing verdict is pinned with its reason: a finding about Exim or Dovecot as
configured there, or a suspected mistake of the check (``harness:``). Exim is safe against every SMTP
smuggling variant (Debian's fix for CVE-2023-51766), and no check ends in ``error``.

``ci/test.sh`` installs Exim as root (ci/servers/install-exim.sh). Where it is missing outside CI the
module is skipped with the reason; in CI that is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.real_mta import FAILED, SKIPPED, assert_safe_against_smuggling, assert_verdicts
from tests.integration.real_mta import require, server_run

PREFIX = Path(os.environ.get("MH_EXIM_PREFIX", "/opt/mailharness-exim"))
STATE = Path(os.environ.get("MH_EXIM_DIR", "/tmp/mailharness-exim"))
require((PREFIX / "usr/sbin/exim4").exists(), "Exim", "ci/servers/install-exim.sh")

PINNED = {
    # -- findings about the servers --------------------------------------------------------------------
    "smtp.address-literal": (FAILED, "Exim: MAIL FROM:<alice@[127.0.0.1]> gets '501 ... domain literals not "
                             "allowed' (allow_domain_literals = false, Exim's default): valid RFC 5321 §4.1.2 "
                             "syntax answered as a syntax error"),
    "smtp.bare-lf-command": (FAILED, "Exim takes a bare LF as a command line end (POLICY)"),
    "esmtp.utf8-address-without-smtputf8": (FAILED, "Exim accepts a UTF-8 address without the SMTPUTF8 "
                                            "parameter (POLICY)"),
    "esmtp.dsn-unadvertised": (FAILED, "Exim accepts 'RET=HDRS' although it does not advertise DSN "
                               "(RFC 5321 §4.1.1.11: 'it will return code 555'); it refuses other unknown "
                               "parameters"),
    "smtp.mail-without-argument": (FAILED, "Exim answers a bare 'MAIL' with '500 unrecognized command'; "
                                   "RFC 5321 §4.1.4: an unacceptable MAIL argument gets 501"),
    # -- not advertised ---------------------------------------------------------------------------------
    "esmtp.enhanced-status-codes": (SKIPPED, "ENHANCEDSTATUSCODES not advertised"),
    "esmtp.enhanced-class-matches": (SKIPPED, "ENHANCEDSTATUSCODES not advertised"),
    "esmtp.enhanced-subject-fits": (SKIPPED, "ENHANCEDSTATUSCODES not advertised"),
    "esmtp.dsn-parameters": (SKIPPED, "DSN not advertised (dsn_advertise_hosts is empty by default)"),
    "esmtp.dsn-bad-ret": (SKIPPED, "DSN not advertised"),
    "esmtp.binarymime-requires-bdat": (SKIPPED, "BINARYMIME not advertised"),
}


@pytest.fixture(scope="module")
def exim_run():
    yield from server_run("start-exim.sh", "stop-exim.sh", STATE)


def test_exim_is_safe_against_smtp_smuggling(exim_run):
    assert_safe_against_smuggling(exim_run)


def test_exim_verdicts_are_pinned(exim_run):
    assert_verdicts(exim_run, PINNED)
