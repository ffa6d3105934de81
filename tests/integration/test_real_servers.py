"""The suites against real Postfix 3.7 + Dovecot 2.3 (started here with ci/servers/start.sh, fixed loopback ports).

Asserts the verdicts a careful reader of the RFCs and of Postfix's
documentation expects: Postfix's default configuration is vulnerable to SMTP
smuggling (a bare LF before the dot ends DATA), with and without a POP3
section in the target (then the replies alone decide), and with
``smtpd_forbid_bare_newline = normalize`` and its exclusions emptied it is
safe, with and without POP3; no check ends in ``error`` against these healthy servers; Dovecot passes
every POP3 MUST check. The remaining failures are pinned with the reason each
is a real deviation, so a change in any verdict is noticed.

``.ci/run`` installs the packages (ci/servers/install.sh). Where they are
missing outside CI the module is skipped with the reason; in CI that is a failure.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.results import Status
from harness.scenario.loader import load_paths
from harness.scenario.runner import Runner, RunOptions
from harness.session import Limits
from harness.target import load_target

REPO = Path(__file__).resolve().parents[2]
START, STOP = REPO / "ci/servers/start.sh", REPO / "ci/servers/stop.sh"
STATE = Path(os.environ.get("MH_SERVERS_DIR", "/tmp/mailharness-servers"))
CHECKS = [c for f in load_paths([REPO / "scenarios"]) for c in f.checks]

INSTALLED = bool(shutil.which("postfix") or Path("/usr/sbin/postfix").exists()) and bool(
    shutil.which("dovecot") or Path("/usr/sbin/dovecot").exists())
if not INSTALLED:
    if os.environ.get("CI"):
        raise RuntimeError("Postfix/Dovecot are not installed: .ci/run must run ci/servers/install.sh")
    pytest.skip("Postfix/Dovecot not installed (run ci/servers/install.sh as root)", allow_module_level=True)

# Bare LF before the dot (CVE-2023-51764): Postfix 3.7 defaults accept it as the end of DATA.
LF_SMUGGLING = {"security.smuggling-lf-dot-lf", "security.smuggling-crlf-dot-lf", "security.smuggling-lf-dot-crlf"}

# Failures that are real deviations of Postfix 3.7 / Dovecot 2.3 as configured by ci/servers/start.sh,
# each with the reason. The gated ones (MUST/SECURITY) are the target file's known_deviations.
EXPECTED_FAILURES = {
    # MUST, accepted as known deviations
    "smtp.mail-syntax-error": "Postfix accepts MAIL FROM:garbage unless strict_rfc821_envelopes = yes",
    "smtp.reply-line-512": "Postfix echoes an over-long VRFY argument in a 561-octet reply line",
    "esmtp.auth-bad-base64": "Postfix answers undecodable SASL data with 535, RFC 4954 §4 says 501",
    "pop3.capa-both-states": "Dovecot's CAPA after login drops USER and SASL (RFC 2449 §5: announced in both states)",
    "pop3.user-no-argument": "Dovecot answers USER without its required mailbox argument with +OK, not -ERR (RFC 1939 §3, §7)",
    "esmtp.auth-unknown-mechanism": "Postfix answers an unknown SASL mechanism with 535, RFC 4954 §4 says 504",
    "smtp.bad-domain-syntax": "Postfix accepts bad_host in a sender domain (RFC 5321 §4.1.2 says 501)",
    # SHOULD
    "smtp.help": "Postfix has no HELP command",
    "smtp.quit-with-argument": "Postfix accepts QUIT with an argument",
    "pop3.maildrop-lock": "Dovecot does not lock the maildrop by default (pop3_lock_session = no)",
    # POLICY
    "esmtp.starttls-requires-new-ehlo": "smtpd_helo_required = no",
    "smtp.mail-before-ehlo": "smtpd_helo_required = no",
    "smtp.bare-lf-command": "Postfix takes a bare LF as a command line end",
    "esmtp.utf8-address-without-smtputf8": "Postfix accepts a UTF-8 address without the SMTPUTF8 parameter",
    "security.vrfy-no-enumeration": "VRFY is enabled by default (disable_vrfy_command = no)",
}
# Only with the default configuration: the bare-CR variant \r\n.\r\r\n is also delivered.
DEFAULT_ONLY = LF_SMUGGLING | {"security.smuggling-crlf-dot-cr-crlf"}
SMUGGLING = [c for c in CHECKS if c.id.startswith("security.smuggling-")]


def _start(*flags: str):
    # Output goes to a file: the daemons outlive the script, and a pipe they held would never close.
    log = STATE.parent / "mailharness-servers-start.log"
    with open(log, "w") as out:
        proc = subprocess.run(["bash", str(START), "--clean", *flags], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, timeout=180)
    assert proc.returncode == 0, log.read_text()
    return load_target(STATE / "target.yaml")


@pytest.fixture(scope="module", autouse=True)
def _stop_at_end():
    yield
    subprocess.run(["bash", str(STOP)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)


def _run(target):
    limits = Limits(read_timeout=10.0, reply_deadline=10.0)
    return Runner(target, RunOptions(jobs=8, limits=limits)).run(CHECKS)


def _run_without_pop3(target):
    """The smuggling checks on a target file with no POP3 section: judged from the replies, never skipped."""
    limits = Limits(read_timeout=10.0, reply_deadline=10.0)
    smtp_only = dataclasses.replace(target, pop3=None, pop3s=None)
    return Runner(smtp_only, RunOptions(jobs=8, limits=limits)).run(SMUGGLING)


def _verdicts(run) -> dict[str, Status]:
    return {r.id: r.status for r in run.checks}


def _describe(run) -> str:
    return "\n".join(f"{r.id}: {r.status.value} {r.error_class or ''} {r.message[:160]}"
                     for r in run.checks if r.status in (Status.FAILED, Status.ERROR))


def test_postfix_defaults_are_vulnerable_to_smuggling():
    run = _run(_start())
    verdicts = _verdicts(run)
    errors = [r.id for r in run.checks if r.status is Status.ERROR]
    assert not errors, "checks ended in error against healthy servers:\n" + _describe(run)
    for check_id in LF_SMUGGLING:
        assert verdicts[check_id] is Status.FAILED, f"{check_id}: {verdicts[check_id]}\n" + _describe(run)
    failed = {r.id for r in run.checks if r.status is Status.FAILED}
    unexpected = failed - DEFAULT_ONLY - set(EXPECTED_FAILURES)
    assert not unexpected, "unexpected failures:\n" + _describe(run)
    assert not run.gate_passed
    for check_id in LF_SMUGGLING:     # the verdict names the delivery the mailbox showed
        result = next(r for r in run.checks if r.id == check_id)
        assert any("smuggled message was delivered" in f for f in result.failures), result.failures


def test_postfix_defaults_are_vulnerable_to_smuggling_without_pop3():
    run = _run_without_pop3(_start())
    verdicts = _verdicts(run)
    assert len(verdicts) == len(SMUGGLING) >= 11
    assert not [r.id for r in run.checks if r.status in (Status.ERROR, Status.SKIPPED)], _describe(run)
    failed = {r.id for r in run.checks if r.status is Status.FAILED}
    assert failed == DEFAULT_ONLY, _describe(run)
    for result in run.checks:
        if result.status is Status.FAILED:
            assert any("no POP3 endpoint" in f for f in result.failures), result.failures
    assert not run.gate_passed


def test_postfix_with_bare_newline_fix_is_safe_and_passes_the_gate():
    target = _start("--smuggling-fix")
    run = _run(target)
    verdicts = _verdicts(run)
    assert not [r.id for r in run.checks if r.status is Status.ERROR], _describe(run)
    for check_id in LF_SMUGGLING:
        assert verdicts[check_id] is Status.PASSED, f"{check_id}: {verdicts[check_id]}\n" + _describe(run)
    failed = {r.id for r in run.checks if r.status is Status.FAILED}
    assert failed <= set(EXPECTED_FAILURES), "unexpected failures:\n" + _describe(run)
    missing = set(EXPECTED_FAILURES) - failed
    assert not missing, f"expected deviations no longer seen (update the list): {sorted(missing)}"
    assert run.gate_passed, _describe(run)
    pop3_must = [r for r in run.checks if r.suite.startswith("pop3") and r.level.value == "MUST"]
    assert len(pop3_must) >= 40
    bad = [r.id for r in pop3_must if r.status not in (Status.PASSED, Status.SKIPPED) and not r.known_deviation]
    assert not bad, _describe(run)
    assert DEFAULT_ONLY.isdisjoint(failed)
    smtp_only = _run_without_pop3(target)
    assert all(r.status is Status.PASSED for r in smtp_only.checks), _describe(smtp_only)
    assert len(smtp_only.checks) == len(SMUGGLING)
