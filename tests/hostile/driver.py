"""Runs the real CLI against a hostile server in a subprocess and collects what happened.

Kept separate from the test module so that ``python -m tests.hostile.driver``
prints the outcome table by hand (the table in docs/robustness.md comes from it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.hostile.server import MODES, HostileServer

ROOT = Path(__file__).resolve().parents[2]
CHECKS = Path(__file__).resolve().parent / "checks.yaml"
TIMEOUT = 2.0


@dataclass
class Outcome:
    mode: str
    returncode: int
    wall_s: float
    peak_rss_mib: float
    stdout: str
    stderr: str
    out_dir: Path
    results: dict = field(default_factory=dict)

    @property
    def checks(self) -> dict[str, dict]:
        return {c["id"]: c for c in self.results.get("checks", [])}


# The whole run's peak RSS: a tiny wrapper runs the CLI as its child and reports
# the child's ru_maxrss, so concurrently running modes do not mix their numbers.
_WRAPPER = r"""
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(f"\n@@peak_rss_kib={peak_kib}\n")
sys.exit(rc)
"""


def run_mode(mode: str, workdir: Path, timeout: float = TIMEOUT) -> Outcome:
    out_dir = workdir / mode
    with HostileServer(mode) as server:
        # A target file rather than --smtp/--pop3: --tls only applies to SMTP, and the
        # TLS modes need STLS on the POP3 side too.
        tls = MODES[mode].tls
        target = workdir / f"{mode}.target.yaml"
        target.write_text(
            f"smtp: {{host: 127.0.0.1, port: {server.ports['smtp']}, tls: {tls}}}\n"
            f"pop3: {{host: 127.0.0.1, port: {server.ports['pop3']}, tls: {tls}}}\n"
            "domain: example.test\n"
            "users:\n  - {address: alice@example.test, login: alice, password: alicepw}\n",
            encoding="utf-8")
        cmd = [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "harness", "run", str(CHECKS),
               "--target", str(target), "--timeout", str(timeout), "--out", str(out_dir), "--jobs", "8"]
        env = dict(os.environ, COLUMNS="100")   # harness as installed (the wheel in CI)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=120)
        wall = time.perf_counter() - t0
    stderr = proc.stderr.decode("utf-8", "replace")
    peak = 0.0
    for line in stderr.splitlines():
        if line.startswith("@@peak_rss_kib="):
            peak = int(line.split("=", 1)[1]) / 1024
    stderr = "\n".join(line for line in stderr.splitlines() if not line.startswith("@@peak_rss_kib="))
    outcome = Outcome(mode, proc.returncode, wall, peak, proc.stdout.decode("utf-8", "replace"),
                      stderr, out_dir)
    results = out_dir / "results.json"
    if results.exists():
        outcome.results = json.loads(results.read_text(encoding="utf-8"))
    return outcome


def run_all(workdir: Path, modes: list[str] | None = None) -> dict[str, Outcome]:
    modes = modes or list(MODES)
    # Four at a time: the timings stay honest on a 2-core machine.
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {m: pool.submit(run_mode, m, workdir) for m in modes}
        return {m: f.result() for m, f in futures.items()}


def table(outcomes: dict[str, Outcome]) -> str:
    rows = ["| mode | hostile side | check outcomes (status/error_class) | max check s | wall s | peak RSS MiB | exit |",
            "|---|---|---|---|---|---|---|"]
    for mode, o in outcomes.items():
        m = MODES[mode]
        side = "+".join(p for p in ("smtp", "pop3") if getattr(m, p))
        seen: dict[str, int] = {}
        for c in o.checks.values():
            key = c["status"] + (f"/{c['error_class']}" if c.get("error_class") else "")
            seen[key] = seen.get(key, 0) + 1
        shown = ", ".join(f"{k} x{v}" for k, v in sorted(seen.items()))
        longest = max((c["duration_ms"] for c in o.checks.values()), default=0) / 1000
        rows.append(f"| {mode} | {side} | {shown} | {longest:.1f} | {o.wall_s:.1f} | {o.peak_rss_mib:.0f} | {o.returncode} |")
    return "\n".join(rows)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        res = run_all(Path(tmp), sys.argv[1:] or None)
        print(table(res))
        for o in res.values():
            for c in o.checks.values():
                print(f"  {o.mode:<22} {c['id']:<26} {c['status']:<8} {str(c.get('error_class')):<20} "
                      f"{c['duration_ms']/1000:5.1f}s {c['message'][:90]!r}")
