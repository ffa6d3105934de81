"""Wall time of a full run against the targets users bring (on demand; not part of the tests).

    python benchmarks/field_targets.py [--timeout 10] [--only split|silent|postfix]

- ``split``: SMTP that accepts and discards (aiosmtpd) beside a real POP3 server, one mailbox:
  mail never arrives, the common misconfiguration.
- ``silent``: a server that accepts TCP on both ports and never sends a byte.
Each line: wall time, exit code, the counts, and the first lines the run printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.refserver.server import target_yaml  # noqa: E402
from tests.field.servers import split_target  # noqa: E402
from tests.hostile.server import HostileServer  # noqa: E402


@contextlib.contextmanager
def silent_target() -> Iterator[dict[str, Any]]:
    with HostileServer("silent") as srv:
        yield {"name": "silent", "smtp": {"host": "127.0.0.1", "port": srv.ports["smtp"]},
               "pop3": {"host": "127.0.0.1", "port": srv.ports["pop3"]},
               "users": [{"address": "alice@example.test", "login": "alice", "password": "alicepw"}]}


def run(name: str, target: dict[str, Any], timeout: float, extra: list[str]) -> None:
    with tempfile.TemporaryDirectory() as out:
        path = Path(out) / "target.yaml"
        path.write_text(target_yaml(target))
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "harness", "run", "--target", str(path), "--timeout",
                               str(timeout), "--out", str(Path(out) / "r"), *extra],
                              capture_output=True, text=True, cwd=REPO)
        wall = time.perf_counter() - t0
        s = json.loads((Path(out) / "r" / "results.json").read_text())["summary"]
    head = "\n    ".join((proc.stderr.splitlines() + proc.stdout.splitlines())[:8])
    print(f"{name}: {wall:.1f} s wall, exit {proc.returncode}, {s['total']} checks ({s['passed']} passed, "
          f"{s['failed']} failed, {s['errors']} errors, {s['skipped']} skipped)\n    {head}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--only", choices=["split", "silent"])
    parser.add_argument("extra", nargs="*", help="more mailharness run arguments")
    args = parser.parse_args()
    if args.only in (None, "split"):
        with split_target(users=1) as target:
            target["delivery_timeout"] = "10s"
            run("split (SMTP discards, one POP3 mailbox)", target, args.timeout, args.extra)
    if args.only in (None, "silent"):
        with silent_target() as target:
            run("silent", target, args.timeout, args.extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
