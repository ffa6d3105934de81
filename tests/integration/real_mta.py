"""Shared by test_exim.py and test_haraka.py: start a server with its ci/servers script, run every bundled
check against it, and compare every non-passing verdict with the pinned list.

A pinned verdict is ``check id -> (status, reason)``; the reason says whether it is a finding about the
server (with its behaviour) or a suspected mistake of the check (``harness:``), so that a change in any
verdict, in either direction, is noticed and explained.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.results import Status
from harness.scenario.loader import load_paths
from harness.scenario.runner import Runner, RunOptions
from harness.session import Limits
from harness.config.target import load_target

REPO = Path(__file__).resolve().parents[2]
SERVERS = REPO / "ci/servers"
CHECKS = [c for f in load_paths([REPO / "scenarios"]) for c in f.checks]
SMUGGLING = sorted(c.id for c in CHECKS if c.id.startswith("security.smuggling-"))

PASSED, FAILED, ERROR, SKIPPED = Status.PASSED, Status.FAILED, Status.ERROR, Status.SKIPPED


def require(installed: bool, what: str, install: str) -> None:
    """Skip the module when the server is missing (or we are not root); in CI that is a failure."""
    missing = None
    if not installed:
        missing = f"{what} is not installed (run {install} as root)"
    elif os.geteuid() != 0:
        missing = f"{what}: the start script needs root"
    elif shutil.which("dovecot") is None and not Path("/usr/sbin/dovecot").exists():
        missing = f"{what}: Dovecot is not installed (run {install} as root)"
    if missing is None:
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"{missing}: ci/test.sh must install it")
    pytest.skip(missing, allow_module_level=True)


def start(script: str, state: Path):
    """Run ``ci/servers/<script> --clean`` and load the target file it writes."""
    # Output goes to a file: the daemons outlive the script, and a pipe they held would never close.
    log = state.parent / f"{state.name}-start.log"
    with open(log, "w") as out:
        proc = subprocess.run(["bash", str(SERVERS / script), "--clean"], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, timeout=180)
    assert proc.returncode == 0, log.read_text()
    return load_target(state / "target.yaml")


def stop(script: str) -> None:
    subprocess.run(["bash", str(SERVERS / script)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)


def run(target):
    limits = Limits(read_timeout=10.0, reply_deadline=10.0)
    return Runner(target, RunOptions(jobs=8, limits=limits)).run(CHECKS)


def describe(run_, ids=None) -> str:
    return "\n".join(f"{r.id}: {r.status.value} {r.error_class or ''} {r.message[:200]}"
                     for r in run_.checks
                     if (r.status is not Status.PASSED if ids is None else r.id in ids))


def assert_pinned(run_, pinned: dict[str, tuple[Status, str]]) -> None:
    """Every non-passing check is pinned with the same status, and every pinned check still shows it."""
    got = {r.id: r.status for r in run_.checks if r.status is not Status.PASSED}
    unknown = set(pinned) - {c.id for c in CHECKS}
    assert not unknown, f"pinned checks that no longer exist (update the list): {sorted(unknown)}"
    new = {i: s for i, s in got.items() if i not in pinned or pinned[i][0] is not s}
    gone = {i: pinned[i][0] for i in pinned if got.get(i, Status.PASSED) is not pinned[i][0]}
    assert not new and not gone, (
        f"verdicts changed.\nnot pinned (or another status): {sorted((i, s.value) for i, s in new.items())}\n"
        f"pinned but now different: {sorted((i, s.value) for i, s in gone.items())}\n" + describe(run_))


# Both MTAs are served by a Dovecot configured like Postfix's: the same POP3 verdicts.
DOVECOT_PINS: dict[str, tuple[Status, str]] = {
    "pop3.capa-both-states": (FAILED, "Dovecot: CAPA after login drops USER and SASL (as with Postfix)"),
    "pop3.maildrop-lock": (FAILED, "Dovecot: a second concurrent login to one maildrop succeeds "
                           "(pop3_lock_session = no)"),
    "pop3.user-no-argument": (FAILED, "Dovecot answers 'USER' without a name with +OK (RFC 1939 §3: a "
                              "syntactically invalid command gets -ERR)"),
    "pop3.apop-timestamp-unique": (SKIPPED, "Dovecot's greeting has no APOP timestamp"),
    "pop3.apop": (SKIPPED, "no APOP timestamp"),
    "pop3.apop-bad-digest": (SKIPPED, "no APOP timestamp"),
    "pop3.apop-missing-digest": (SKIPPED, "no APOP timestamp"),
    "pop3.auth-cram-md5": (SKIPPED, "Dovecot: auth_mechanisms = plain login, as for Postfix"),
    "pop3.auth-cram-md5-bad-password": (SKIPPED, "as above"),
}


def server_run(start_script: str, stop_script: str, state: Path):
    """A module fixture's body: start the server, run every check once, stop it."""
    try:
        yield run(start(start_script, state))
    finally:
        stop(stop_script)


def assert_safe_against_smuggling(run_) -> None:
    assert len(SMUGGLING) >= 8
    bad = [r.id for r in run_.checks if r.id in SMUGGLING and r.status is not PASSED]
    assert not bad, describe(run_, bad)


def assert_verdicts(run_, pinned: dict[str, tuple[Status, str]]) -> None:
    errors = [r.id for r in run_.checks if r.status is ERROR]
    assert not errors, "checks ended in error against healthy servers:\n" + describe(run_, errors)
    assert_pinned(run_, {**DOVECOT_PINS, **pinned})
