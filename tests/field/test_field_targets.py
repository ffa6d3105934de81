"""The targets users bring: one mailbox, SMTP that never delivers to POP3, a silent server, wrong passwords.

Each must be judged from the preflight in one pass: the checks that depend on
the broken part end at once with its cause (they never open a connection of
their own), the rest still run, and nothing ends in ``error`` because the
target lists one user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.refserver import ReferenceServer
from harness.refserver.server import target_yaml
from harness.results import Status
from harness.scenario.loader import load_paths
from harness.scenario.preflight import needs_of
from harness.scenario.runner import Runner, RunOptions
from harness.session import Limits
from harness.config.target import target_from_mapping
from tests.field.servers import split_target
from tests.hostile.server import HostileServer

ROOT = Path(__file__).resolve().parents[2]
CHECKS = [c for f in load_paths([ROOT / "scenarios"]) for c in f.checks]
LIMITS = Limits(read_timeout=3.0, reply_deadline=3.0)


@pytest.fixture(scope="module")
def split_run():
    with split_target(users=1) as mapping:
        mapping["delivery_timeout"] = "2s"
        target = target_from_mapping(mapping, "split")
        yield target, Runner(target, RunOptions(jobs=8, limits=LIMITS)).run(CHECKS)


def test_split_target_canary_names_the_cause(split_run) -> None:
    _, run = split_run
    delivery = run.preflight["delivery"]
    assert delivery["status"] == "missing", delivery
    assert "alice@example.test" in delivery["message"]
    assert "does the SMTP server deliver to the mailbox that POP3 reads?" in delivery["message"]


def test_split_target_delivery_checks_end_at_once_as_delivery_errors(split_run) -> None:
    target, run = split_run
    by_id = {c.id: c for c in CHECKS}
    needing = [r for r in run.checks if needs_of(by_id[r.id], target).delivery and r.status is not Status.SKIPPED]
    assert len(needing) > 50
    for r in needing:
        assert (r.status, r.error_class) == (Status.ERROR, "delivery"), (r.id, r.status, r.message)
        assert r.message.startswith("preflight: a message sent to alice@example.test"), r.message
        assert r.transcript == [], f"{r.id} opened a connection although its verdict was known"


def test_split_target_other_checks_still_judged(split_run) -> None:
    target, run = split_run
    by_id = {c.id: c for c in CHECKS}
    judged = [r for r in run.checks if not needs_of(by_id[r.id], target).delivery]
    assert sum(r.status is Status.PASSED for r in judged) > 50
    # no check ends in error for want of a second mailbox or a template variable
    for r in run.checks:
        assert "template" not in r.message and "no element" not in r.message, (r.id, r.message)
        if r.status is Status.ERROR:
            assert r.error_class is not None, (r.id, r.message)


def test_one_mailbox_on_the_embedded_server_never_errors() -> None:
    with ReferenceServer() as server:
        mapping = server.target()
        mapping["users"] = mapping["users"][:1]
        run = Runner(target_from_mapping(mapping), RunOptions(jobs=8, limits=LIMITS)).run(CHECKS)
    bad = [(r.id, r.status.value, r.message[:100]) for r in run.checks if r.status is not Status.PASSED]
    assert not bad, bad
    assert run.preflight["delivery"]["status"] == "delivered"


def test_wrong_passwords_block_only_the_checks_that_log_in() -> None:
    with ReferenceServer() as server:
        mapping = server.target()
        mapping["users"] = [dict(u, password="not-the-password") for u in mapping["users"][:2]]
        target = target_from_mapping(mapping)
        run = Runner(target, RunOptions(jobs=8, limits=LIMITS)).run(CHECKS)
    assert [x["ok"] for x in run.preflight["logins"]] == [False, False]
    by_id = {c.id: c for c in CHECKS}
    for r in run.checks:
        needs = needs_of(by_id[r.id], target)
        if needs.pop3_login and r.status is not Status.SKIPPED:
            assert r.status is Status.ERROR and "no POP3 login works" in r.message, (r.id, r.message)
    smtp_only = [r for r in run.checks if not needs_of(by_id[r.id], target).services - {"smtp", "smtps"}
                 and not needs_of(by_id[r.id], target).delivery]
    assert smtp_only and all(r.status is Status.PASSED for r in smtp_only
                             if "auth" not in r.id), [(r.id, r.message) for r in smtp_only if r.status is not Status.PASSED]


def test_silent_server_costs_one_timeout_and_names_the_cause(tmp_path: Path) -> None:
    with HostileServer("silent") as srv:
        target = tmp_path / "target.yaml"
        target.write_text(target_yaml({
            "smtp": {"host": "127.0.0.1", "port": srv.ports["smtp"]},
            "pop3": {"host": "127.0.0.1", "port": srv.ports["pop3"]},
            "users": [{"address": "alice@example.test", "login": "alice", "password": "alicepw"}]}))
        env = dict(os.environ)        # harness as installed (the wheel in CI)
        proc = subprocess.run([sys.executable, "-m", "harness", "run", "--target", str(target), "--timeout", "2",
                               "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)
        accepted = len(srv._conns)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    first = proc.stderr.splitlines()[:2]
    assert any(f"SMTP 127.0.0.1:{srv.ports['smtp']}: FAILED (timeout): greeting" in line for line in first), first
    assert any(f"POP3 127.0.0.1:{srv.ports['pop3']}: FAILED (timeout): greeting" in line for line in first), first
    assert "root causes:" in proc.stdout and "could not be judged (timeout): preflight:" in proc.stdout
    assert "fix: is the server listening on" in proc.stdout
    # one connection per protocol, the preflight's: no check waited out its own timeout
    assert accepted == 2, accepted
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {(c["status"], c["error_class"]) for c in data["checks"]} == {("error", "timeout")}
    assert all(c["message"].startswith("preflight: ") for c in data["checks"])


def test_smtp_only_target_warns_about_what_it_could_not_judge(tmp_path: Path) -> None:
    with split_target() as mapping:
        target = tmp_path / "target.yaml"
        target.write_text(target_yaml({"smtp": mapping["smtp"], "users": mapping["users"]}))
        proc = subprocess.run([sys.executable, "-m", "harness", "run", "--target", str(target), "-q",
                               "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path,
                              timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "SMTP check(s) need a mailbox to judge and did not run (add a pop3 section to the target)" \
        in proc.stdout, proc.stdout
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert not [c for c in data["checks"] if c["status"] == "error"]
    # the smuggling checks are judged from the replies alone, not skipped for want of a mailbox
    smuggling = [c for c in data["checks"] if c["id"].startswith("security.smuggling-")]
    assert len(smuggling) == 11 and all(c["status"] == "passed" for c in smuggling), smuggling
