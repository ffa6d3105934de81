"""Benchmark (on demand, not a test): our SMTP load generator vs Postfix's smtp-source, both on smtp-sink.

    python benchmarks/load_smtp_sink.py [--seconds 15] [--users 50] [--idle 500]

Starts ``smtp-sink`` (postfix package) on a free loopback port, then in the same run:
1. ``smtp-source -s 50 -l 1000 -m N``: 50 parallel sessions, 1000-byte messages, one per session;
2. ``mailharness load scenarios/load/smtp-throughput.yaml --target <sink>`` with 0, 1 and 2 workers
   (0 = one Locust process; N = a master plus N worker processes);
3. memory per idle concurrent session: a gevent-patched process holds ``--idle`` connections open after
   EHLO with the same lean client, and its RSS growth is divided by the count.
Prints messages/s, the ratio to smtp-source, the load average before and after (other engineers' tests
may share the machine); ``--save FILE`` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SINK, SOURCE = "/usr/sbin/smtp-sink", "/usr/sbin/smtp-source"

IDLE_SCRIPT = r"""
from gevent import monkey; monkey.patch_all()
import sys, gevent
from harness.load.clients import SmtpLoadClient, resolve
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
port, n = int(sys.argv[1]), int(sys.argv[2])
ep = resolve("127.0.0.1", port)
clients = []
def one():
    c = SmtpLoadClient(ep, lambda *a: None, 30.0)
    c.connect(); c.phase("banner", None, (220,)); c.phase("EHLO", b"EHLO bench\r\n", (250,))
    clients.append(c)
warm = [gevent.spawn(one) for _ in range(10)]; gevent.joinall(warm, timeout=30)
gevent.sleep(0.5); before = rss(); base = len(clients)
jobs = [gevent.spawn(one) for _ in range(n)]; gevent.joinall(jobs, timeout=60)
gevent.sleep(0.5); after = rss()
print(len(clients) - base, before, after)
for c in clients: c.close()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def smtp_source(port: int, messages: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([SOURCE, "-s", "50", "-l", "1000", "-m", str(messages), "-f", "a@example.test",
                    "-t", "b@example.test", f"127.0.0.1:{port}"], check=True, timeout=300)
    return messages / (time.perf_counter() - t0)


def ours(port: int, workers: int, seconds: int, users: int, tmp: Path) -> dict:
    target = tmp / "sink-target.yaml"
    target.write_text(f"smtp: {{host: 127.0.0.1, port: {port}}}\nusers: [{{address: b@example.test}}]\n")
    out = tmp / f"w{workers}"
    cmd = [sys.executable, "-m", "harness", "load", str(REPO / "scenarios/load/smtp-throughput.yaml"),
           "--target", str(target), "--users", str(users), "--spawn-rate", str(users), "--duration", f"{seconds}s",
           "--workers", str(workers), "--out", str(out), "-q"]
    subprocess.run(cmd, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=seconds + 120,
                   stdout=subprocess.DEVNULL, check=False)
    load = json.loads((out / "results.json").read_text())["load"]
    return {"messages_per_s": load["messages_per_s"], "messages": load["messages_sent"],
            "failures": load["failures"], "data_p99_ms": load["phases"].get("SMTP DATA", {}).get("p99")}


def idle_memory(port: int, n: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", IDLE_SCRIPT, str(port), str(n)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)), check=True)
    opened, before, after = map(int, proc.stdout.split())
    return {"sessions": opened, "bytes_per_session": round((after - before) / max(opened, 1))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--idle", type=int, default=500)
    ap.add_argument("--save", type=Path, help="also write the numbers as JSON here")
    args = ap.parse_args()
    if not (os.path.exists(SINK) and os.path.exists(SOURCE)):
        print("needs postfix's smtp-sink and smtp-source", file=sys.stderr)
        return 2
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = subprocess.Popen([SINK, *user, f"127.0.0.1:{port}", "1024"], start_new_session=True)
    results: dict = {"cpus": os.cpu_count(), "loadavg_before": loadavg()}
    try:
        time.sleep(0.5)
        with tempfile.TemporaryDirectory() as tmp:
            results["smtp_source_msgs_per_s"] = round(smtp_source(port, 20000), 1)
            for workers in (0, 1, 2):
                results[f"mailharness_workers_{workers}"] = ours(port, workers, args.seconds, args.users, Path(tmp))
            results["smtp_source_again_msgs_per_s"] = round(smtp_source(port, 20000), 1)
        results["idle_session_memory"] = idle_memory(port, args.idle)
    finally:
        os.killpg(sink.pid, signal.SIGTERM)
        sink.wait(10)
    base = (results["smtp_source_msgs_per_s"] + results["smtp_source_again_msgs_per_s"]) / 2
    for workers in (0, 1, 2):
        r = results[f"mailharness_workers_{workers}"]
        r["ratio_to_smtp_source"] = round(r["messages_per_s"] / base, 3)
    results["loadavg_after"] = loadavg()
    print(json.dumps(results, indent=2))
    if args.save:
        args.save.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
