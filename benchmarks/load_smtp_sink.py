"""Benchmark (on demand, not a test): our SMTP load generator vs Postfix's smtp-source, both on smtp-sink.

    python benchmarks/load_smtp_sink.py [--seconds 15] [--users 50] [--repeat 3] [--idle 10000]

Starts ``smtp-sink`` (postfix package) on a free loopback port, then in the same run:
1. ``smtp-source -s 50 -l 1000 -m N``: 50 parallel sessions, 1000-byte messages, one per session;
2. ``mailharness load scenarios/load/smtp-throughput.yaml --target <sink>`` with 0, 1 and 2 workers
   (0 = one Locust process; N = a master plus N worker processes);
3. memory per idle concurrent session: a gevent-patched process holds ``--idle`` sessions open after
   EHLO with the same lean client and socket layer (``hubio``), each in a live greenlet (as a Locust user
   would), and its RSS growth
   is divided by the count. The sink gets ``-m`` (its default serves only 256 connections, the rest stay
   in the listen queue), a 4096 backlog and enough descriptors; the measuring process raises its own
   ``RLIMIT_NOFILE``. Kernel socket buffers are not in RSS.

``scenarios/load/smtp-throughput.yaml`` uses PIPELINING (RFC 2920) when the server advertises it, as
smtp-sink does; smtp-source does not pipeline (one command per round trip). ``--no-pipelining`` runs our
generator with ``pipelining: false`` too, for a like-for-like comparison.
Prints messages/s, the ratio to smtp-source (smtp-source runs before each of ours and at the end; a
ratio uses the two around its run), each configuration ``--repeat`` times interleaved with the
medians and the spread of the ratios, and the load average before and after (other engineers' tests
may share the machine); ``--save FILE`` also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SINK, SOURCE = "/usr/sbin/smtp-sink", "/usr/sbin/smtp-source"

IDLE_SCRIPT = r"""
from gevent import monkey; monkey.patch_all()
import resource, sys, gevent, gevent.event
from harness.load.clients import SmtpLoadClient, resolve
from harness.load.hubio import connect as hub_connect
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 256
if soft < want:     # one fd per session: raise the soft limit (up to the hard one)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want, hard))
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
ep = resolve("127.0.0.1", port)
clients, failed = [], []
release = gevent.event.Event()
def one():
    # An idle concurrent session as a Locust user holds it: its greenlet (and stack) stays alive,
    # parked after EHLO, with its client, buffer and socket.
    c = SmtpLoadClient(ep, lambda *a: failed.append(a[1]) if a[4] is not None else None, 30.0, hub_connect)
    try:
        c.connect(); c.phase("banner", None, (220,)); c.phase("EHLO", b"EHLO bench\r\n", (250,))
    except Exception:
        c.close(); return
    clients.append(c)
    release.wait()
warm = [gevent.spawn(one) for _ in range(10)]; gevent.sleep(1.0)
before = rss(); base = len(clients)
jobs = []
for i in range(n):
    jobs.append(gevent.spawn(one))
    if i % 500 == 499:
        gevent.sleep(0.05)          # let the sink accept: a bounded connect storm
deadline = 60
while len(clients) - base + len(failed) < n and deadline > 0:
    gevent.sleep(0.5); deadline -= 0.5
gevent.sleep(0.5); after = rss()
print(len(clients) - base, before, after, len(failed), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
release.set()
for c in clients: c.close()
gevent.joinall(warm + jobs, timeout=10)
"""


def _raise_nofile(want: int) -> None:
    """The sink (a child: it inherits the limit) needs one descriptor per idle session."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))


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


PROFILE = REPO / "scenarios/load/smtp-throughput.yaml"


def ours(port: int, workers: int, seconds: int, users: int, tmp: Path, pipelining: bool = True,
         sched: str = "batch") -> dict:
    target = tmp / "sink-target.yaml"
    target.write_text(f"smtp: {{host: 127.0.0.1, port: {port}}}\nusers: [{{address: b@example.test}}]\n")
    out = tmp / f"w{workers}{'p' if pipelining else 'n'}"
    profile = PROFILE
    if not pipelining:
        profile = tmp / "smtp-throughput-no-pipelining.yaml"
        profile.write_text(PROFILE.read_text().replace("pipelining: true", "pipelining: false"))
    cmd = [sys.executable, "-m", "harness", "load", str(profile),
           "--target", str(target), "--users", str(users), "--spawn-rate", str(users), "--duration", f"{seconds}s",
           "--workers", str(workers), "--sched", sched, "--out", str(out), "-q"]
    subprocess.run(cmd, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=seconds + 120,
                   stdout=subprocess.DEVNULL, check=False)
    load = json.loads((out / "results.json").read_text())["load"]
    return {"messages_per_s": load["messages_per_s"], "messages": load["messages_sent"],
            "failures": load["failures"], "data_p99_ms": load["phases"].get("SMTP DATA", {}).get("p99")}


def idle_memory(port: int, n: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", IDLE_SCRIPT, str(port), str(n)], cwd=REPO, capture_output=True,
                          text=True, timeout=180, env=dict(os.environ, PYTHONPATH=str(REPO)), check=True)
    opened, before, after, failed, nofile = map(int, proc.stdout.split())
    return {"requested": n, "sessions": opened, "failed": failed, "nofile": nofile,
            "bytes_per_session": round((after - before) / max(opened, 1)),
            "rss_mib_for_10000": round((after - before) / max(opened, 1) * 10000 / 2**20, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--idle", type=int, default=10000, help="idle sessions to hold open (0: skip)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each configuration (medians reported)")
    ap.add_argument("--pipelining", choices=("both", "on", "off"), default="both",
                    help="our generator with the profile's PIPELINING on, off, or both (default)")
    ap.add_argument("--sched", choices=("batch", "normal"), default="batch",
                    help="our Locust processes' scheduling policy (mailharness load --sched; default batch)")
    ap.add_argument("--save", type=Path, help="also write the numbers as JSON here")
    args = ap.parse_args()
    if not (os.path.exists(SINK) and os.path.exists(SOURCE)):
        print("needs postfix's smtp-sink and smtp-source", file=sys.stderr)
        return 2
    variants = {"both": (True, False), "on": (True,), "off": (False,)}[args.pipelining]
    suffix = {True: "", False: "_no_pipelining"}
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    _raise_nofile(args.idle + 1024)
    # smtp-sink serves at most 256 connections unless -m says otherwise (the rest wait in the listen
    # queue: that capped the idle measurement at 246); the last argument is the listen backlog.
    sink = subprocess.Popen([SINK, *user, "-m", str(args.idle + 512), f"127.0.0.1:{port}", "4096"],
                            start_new_session=True)
    results: dict = {"cpus": os.cpu_count(), "sched": args.sched, "loadavg_before": loadavg()}
    try:
        time.sleep(0.5)
        with tempfile.TemporaryDirectory() as tmp:
            # smtp-source runs before every run of ours and once at the end: each ratio uses the two
            # smtp-source runs around it, so a machine whose speed drifts (shared VM) skews it less.
            # Every configuration runs --repeat times, interleaved; the medians are reported.
            sources = [round(smtp_source(port, 20000), 1)]
            runs: list[tuple[str, dict]] = []
            for _ in range(args.repeat):
                for pipe in variants:
                    for workers in (0, 1, 2):
                        if runs:
                            sources.append(round(smtp_source(port, 20000), 1))
                        key = f"mailharness{suffix[pipe]}_workers_{workers}"
                        runs.append((key, ours(port, workers, args.seconds, args.users, Path(tmp), pipelining=pipe,
                                               sched=args.sched)))
            sources.append(round(smtp_source(port, 20000), 1))
        if args.idle:
            results["idle_session_memory"] = idle_memory(port, args.idle)
    finally:
        os.killpg(sink.pid, signal.SIGTERM)
        sink.wait(10)
    results["smtp_source_msgs_per_s"] = statistics.median(sources)
    results["smtp_source_runs_msgs_per_s"] = sources
    for i, (key, r) in enumerate(runs):
        around = (sources[i] + sources[i + 1]) / 2
        r["smtp_source_around_msgs_per_s"] = round(around, 1)
        r["ratio_to_smtp_source"] = round(r["messages_per_s"] / around, 3)
        results.setdefault(key, {"runs": []})["runs"].append(r)
    for key, entry in results.items():
        if isinstance(entry, dict) and "runs" in entry:
            entry["messages_per_s"] = round(statistics.median(r["messages_per_s"] for r in entry["runs"]), 1)
            entry["ratio_to_smtp_source"] = round(statistics.median(r["ratio_to_smtp_source"] for r in entry["runs"]), 3)
            entry["ratio_min_max"] = [min(r["ratio_to_smtp_source"] for r in entry["runs"]),
                                      max(r["ratio_to_smtp_source"] for r in entry["runs"])]
            entry["failures"] = sum(r["failures"] for r in entry["runs"])
    results["loadavg_after"] = loadavg()
    print(json.dumps(results, indent=2))
    for key, entry in results.items():
        if isinstance(entry, dict) and "runs" in entry:
            print(f"{key:40} {entry['messages_per_s']:8.0f} msgs/s  ratio {entry['ratio_to_smtp_source']:.3f} "
                  f"(runs {entry['ratio_min_max'][0]:.3f}-{entry['ratio_min_max'][1]:.3f})", file=sys.stderr)
    if args.save:
        args.save.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
