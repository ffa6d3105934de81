"""Benchmark (on demand, not a test): our load generator beside plain reference clients, SMTP and POP3.

    python benchmarks/load_smtp_sink.py [--seconds 10] [--users 50] [--repeat 3] [--workers 0,2]
        [--pipelining both|on|off] [--pop3|--no-pop3] [--pop3-users 10] [--pop3-procs 4]
        [--baseline-tree PATH] [--idle 10000] [--save FILE]

SMTP: starts ``smtp-sink`` (postfix package) on a free loopback port, then in the same run
1. ``smtp-source -s 50 -l 1000 -m 20000``: 50 parallel sessions, 1000-byte messages, one per session;
2. ``mailharness load scenarios/load/smtp-throughput.yaml --target <sink>`` with each ``--workers``
   count (0 = one Locust process; N = a master plus N worker processes), with and without PIPELINING
   (smtp-source does not pipeline: ``pipelining: false`` is the like-for-like run).
POP3: starts ``benchmarks/pop3_fixed_server.py`` (every login sees the same 10 messages of 1 KB; DELE
deletes nothing), then
1. the reference client: ``--pop3-procs`` processes, each a plain socket loop of sessions (USER, PASS,
   STAT, LIST, 10 x RETR, QUIT; one command per round trip, as our POP3 user sends them);
2. ``mailharness load`` with ``scenarios/load/pop3-drain.yaml`` made to fit a fixed maildrop: no prefill,
   ``dele: false``, ``max_retrieve: 10``, no wait between sessions, ``--pop3-users`` users.
A/B: ``--baseline-tree PATH`` also runs every configuration of ours with the harness of another
checkout (``PYTHONPATH=PATH``, run from there), interleaved with this one (the order alternates per
repeat), so "before and after, same machine, same run" is one command.
Memory: a gevent-patched process holds ``--idle`` sessions open after EHLO with the same lean client and
socket layer (``harness.wire.hub``), each in a live greenlet (as a Locust user would), and its RSS growth is divided
by the count (``--idle 0`` skips it). The sink gets ``-m`` (its default serves only 256 connections),
a 4096 backlog and enough descriptors. Kernel socket buffers are not in RSS.

Every run is bounded (``--seconds``, fixed message counts, subprocess timeouts) and on loopback only.
A reference run comes right before each of ours and once per protocol at the end; a ratio uses the two
reference runs around its run, so a machine whose speed drifts (shared VM) skews it less. Prints JSON,
then a markdown table (medians over ``--repeat``, the spread of the ratios); ``--save FILE`` writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
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

import yaml

REPO = Path(__file__).resolve().parents[1]
SINK, SOURCE = "/usr/sbin/smtp-sink", "/usr/sbin/smtp-source"

IDLE_SCRIPT = r"""
from gevent import monkey; monkey.patch_all()
import resource, sys, gevent, gevent.event
from harness.load.clients import SmtpLoadClient, resolve
from harness.wire.hub import connect as hub_connect
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


SMTP_PROFILE = REPO / "scenarios/load/smtp-throughput.yaml"
POP3_PROFILE = REPO / "scenarios/load/pop3-drain.yaml"
POP3_SERVER = REPO / "benchmarks/pop3_fixed_server.py"
POP3_MESSAGES, POP3_SIZE = 10, 1024


def smtp_profile(tmp: Path, pipelining: bool) -> Path:
    if pipelining:
        return SMTP_PROFILE
    profile = tmp / "smtp-throughput-no-pipelining.yaml"
    profile.write_text(SMTP_PROFILE.read_text().replace("pipelining: true", "pipelining: false"))
    return profile


def pop3_profile(tmp: Path) -> Path:
    """The bundled drain profile, made to fit a maildrop that never changes (see the docstring)."""
    data = yaml.safe_load(POP3_PROFILE.read_text())
    data.pop("prefill", None)
    data["description"] = "pop3-drain for the benchmark: USER, PASS, STAT, LIST, 10 x RETR, QUIT; no DELE"
    data["users"] = [{**u, "wait": 0, "dele": False, "max_retrieve": POP3_MESSAGES}
                     for u in data["users"] if u["kind"] == "pop3"]
    data["thresholds"] = {"failure_ratio": 0.01}
    profile = tmp / "pop3-fixed-maildrop.yaml"
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    return profile


def load_run(tree: Path, profile: Path, target: Path, workers: int, seconds: int, users: int, out: Path,
             sched: str) -> dict:
    """``mailharness load`` from ``tree`` (its own code: PYTHONPATH and working directory)."""
    cmd = [sys.executable, "-m", "harness", "load", str(profile), "--target", str(target), "--users", str(users),
           "--spawn-rate", str(users), "--duration", f"{seconds}s", "--workers", str(workers), "--sched", sched,
           "--out", str(out), "-q"]
    subprocess.run(cmd, cwd=tree, env=dict(os.environ, PYTHONPATH=str(tree)), timeout=seconds + 120,
                   stdout=subprocess.DEVNULL, check=False)
    try:
        load = json.loads((out / "results.json").read_text())["load"]
    except (OSError, ValueError, KeyError) as exc:
        return {"error": f"no results ({exc})"}
    phase = load["phases"].get("SMTP DATA") or load["phases"].get("POP3 RETR") or {}
    return {"messages_per_s": load["messages_per_s"], "sessions_per_s": round(load["sessions_per_s"], 1),
            "failures": load["failures"], "p99_ms": phase.get("p99")}


# -- POP3 reference client ---------------------------------------------------------------------------

def _pop3_reply(sock: socket.socket, buf: bytearray, multiline: bool) -> None:
    """Read one +OK reply (through the ".\\r\\n" line when ``multiline``); -ERR or a close is an error."""
    def fill() -> None:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        buf.extend(data)
    while b"\r\n" not in buf:
        fill()
    if not buf.startswith(b"+OK"):
        raise RuntimeError(bytes(buf[:80]))
    end = buf.index(b"\r\n") + 2
    if multiline:
        while (i := buf.find(b"\r\n.\r\n", end - 2)) < 0:
            fill()
        end = i + 5
    del buf[:end]


def _pop3_reference_loop(port: int, seconds: float, queue: "multiprocessing.Queue[tuple[int, int]]") -> None:
    """One process: sessions back to back until the time is up (the reference client's whole logic)."""
    done = failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                buf = bytearray()
                _pop3_reply(sock, buf, False)
                for command, multiline in [(b"USER bench", False), (b"PASS bench", False), (b"STAT", False),
                                           (b"LIST", True)] + \
                        [(b"RETR %d" % n, True) for n in range(1, POP3_MESSAGES + 1)] + [(b"QUIT", False)]:
                    sock.sendall(command + b"\r\n")
                    _pop3_reply(sock, buf, multiline)
            done += 1
        except (OSError, RuntimeError):
            failed += 1
    queue.put((done, failed))


def pop3_reference(port: int, procs: int, seconds: float) -> tuple[float, int]:
    """Sessions/s of ``procs`` reference-client processes over ``seconds`` (and the failed sessions)."""
    queue: multiprocessing.Queue[tuple[int, int]] = multiprocessing.Queue()
    t0 = time.perf_counter()
    workers = [multiprocessing.Process(target=_pop3_reference_loop, args=(port, seconds, queue)) for _ in range(procs)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=seconds + 60) for _ in workers]
    for w in workers:
        w.join(10)
    elapsed = time.perf_counter() - t0
    return sum(d for d, _ in results) / elapsed, sum(f for _, f in results)


def idle_memory(port: int, n: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", IDLE_SCRIPT, str(port), str(n)], cwd=REPO, capture_output=True,
                          text=True, timeout=180, env=dict(os.environ, PYTHONPATH=str(REPO)), check=True)
    opened, before, after, failed, nofile = map(int, proc.stdout.split())
    return {"requested": n, "sessions": opened, "failed": failed, "nofile": nofile,
            "bytes_per_session": round((after - before) / max(opened, 1)),
            "rss_mib_for_10000": round((after - before) / max(opened, 1) * 10000 / 2**20, 1)}


def _spawn(cmd: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _summarize(entries: list[dict], rate: str) -> dict:
    ok = [r for r in entries if "error" not in r]
    if not ok:
        return {"runs": entries, "error": entries[0].get("error") if entries else "not run"}
    return {"runs": entries, rate: round(statistics.median(r[rate] for r in ok), 1),
            "ratio_to_reference": round(statistics.median(r["ratio_to_reference"] for r in ok), 3),
            "ratio_min_max": [min(r["ratio_to_reference"] for r in ok), max(r["ratio_to_reference"] for r in ok)],
            "failures": sum(r["failures"] for r in ok), "errors": len(entries) - len(ok)}


def markdown(results: dict, trees: list[str]) -> str:
    rows = ["| protocol | our generator | workers | tree | ours (median) | reference (median) | ratio (spread) | failures |",
            "|---|---|---|---|---|---|---|---|"]
    refs = {"smtp": ("msgs/s", "smtp_source_msgs_per_s"), "pop3": ("sessions/s", "pop3_reference_sessions_per_s")}
    for key, per_tree in results["configurations"].items():
        proto, variant, workers = key.split("/")
        unit, ref_key = refs[proto]
        rate = "messages_per_s" if proto == "smtp" else "sessions_per_s"
        for tree in trees:
            e = per_tree.get(tree)
            if e is None:
                continue
            if "error" in e:
                rows.append(f"| {proto.upper()} | {variant} | {workers} | {tree} | error: {e['error']} | | | |")
                continue
            rows.append(f"| {proto.upper()} | {variant} | {workers} | {tree} | {e[rate]:,.0f} {unit} | "
                        f"{results[ref_key]:,.0f} {unit} | {e['ratio_to_reference']:.2f}x "
                        f"({e['ratio_min_max'][0]:.2f}-{e['ratio_min_max'][1]:.2f}) | {e['failures']} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10, help="length of each run of ours and of the POP3 reference")
    ap.add_argument("--users", type=int, default=50, help="SMTP users of ours")
    ap.add_argument("--workers", default="0,2", help="Locust worker counts to run, comma-separated (default 0,2)")
    ap.add_argument("--idle", type=int, default=10000, help="idle sessions to hold open (0: skip)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each configuration (medians reported)")
    ap.add_argument("--pipelining", choices=("both", "on", "off"), default="both",
                    help="our SMTP generator with the profile's PIPELINING on, off, or both (default)")
    ap.add_argument("--pop3", action=argparse.BooleanOptionalAction, default=True, help="the POP3 part (default on)")
    ap.add_argument("--pop3-users", type=int, default=10, help="POP3 users of ours")
    ap.add_argument("--pop3-procs", type=int, default=4, help="processes of the POP3 reference client")
    ap.add_argument("--pop3-server-procs", type=int, default=2, help="processes of the fixed-maildrop POP3 server")
    ap.add_argument("--baseline-tree", type=Path, help="another checkout: run each configuration with its harness too")
    ap.add_argument("--sched", choices=("batch", "normal"), default="batch",
                    help="our Locust processes' scheduling policy (mailharness load --sched; default batch)")
    ap.add_argument("--save", type=Path, help="also write the numbers as JSON here")
    args = ap.parse_args()
    if not (os.path.exists(SINK) and os.path.exists(SOURCE)):
        print("needs postfix's smtp-sink and smtp-source", file=sys.stderr)
        return 2
    trees = [("current", REPO)]
    if args.baseline_tree is not None:
        base = args.baseline_tree.resolve()
        if not (base / "harness" / "__init__.py").exists():
            print(f"--baseline-tree {base}: no harness/ package there", file=sys.stderr)
            return 2
        trees.append(("baseline", base))
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    variants = {"both": (True, False), "on": (True,), "off": (False,)}[args.pipelining]
    configs = [("smtp", "pipelining" if pipe else "one command per round trip", w, pipe)
               for pipe in variants for w in worker_counts]
    if args.pop3:
        configs += [("pop3", "pop3-drain, fixed maildrop", w, None) for w in worker_counts]
    smtp_port, pop3_port = free_port(), free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    _raise_nofile(args.idle + 1024)
    # smtp-sink serves at most 256 connections unless -m says otherwise; the last argument is the backlog.
    sink = _spawn([SINK, *user, "-m", str(args.idle + 512), f"127.0.0.1:{smtp_port}", "4096"])
    pop3d = _spawn([sys.executable, str(POP3_SERVER), str(pop3_port), "--procs", str(args.pop3_server_procs),
                    "--messages", str(POP3_MESSAGES), "--size", str(POP3_SIZE)]) if args.pop3 else None
    results: dict = {"cpus": os.cpu_count(), "sched": args.sched, "loadavg_before": loadavg(),
                     "trees": {label: str(path) for label, path in trees}}
    refs: dict[str, list[float]] = {"smtp": [], "pop3": []}
    ref_failures = 0
    runs: list[tuple[str, str, str, int, dict]] = []     # (protocol, config key, tree, index of the ref before, result)
    try:
        time.sleep(1.0)
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            (tmp / "sink.yaml").write_text(f"smtp: {{host: 127.0.0.1, port: {smtp_port}}}\n"
                                           "users: [{address: b@example.test}]\n")
            (tmp / "pop3.yaml").write_text(
                f"pop3: {{host: 127.0.0.1, port: {pop3_port}}}\nusers:\n" +
                "".join(f"  - {{address: u{i}@example.test, login: u{i}, password: pw{i}}}\n"
                        for i in range(max(8, args.pop3_users))))
            pop3_yaml = pop3_profile(tmp) if args.pop3 else None

            def reference(proto: str) -> None:
                nonlocal ref_failures
                if proto == "smtp":
                    refs["smtp"].append(round(smtp_source(smtp_port, 20000), 1))
                else:
                    rate, failed = pop3_reference(pop3_port, args.pop3_procs, args.seconds)
                    refs["pop3"].append(round(rate, 1))
                    ref_failures += failed

            n = 0
            for rep in range(args.repeat):
                for proto, variant, workers, pipe in configs:
                    key = f"{proto}/{variant}/{workers}"
                    for label, tree in (trees if rep % 2 == 0 else trees[::-1]):
                        reference(proto)
                        n += 1
                        out = tmp / f"run{n}"
                        if proto == "smtp":
                            r = load_run(tree, smtp_profile(tmp, bool(pipe)), tmp / "sink.yaml", workers,
                                         args.seconds, args.users, out, args.sched)
                        else:
                            assert pop3_yaml is not None
                            r = load_run(tree, pop3_yaml, tmp / "pop3.yaml", workers, args.seconds,
                                         args.pop3_users, out, args.sched)
                        runs.append((proto, key, label, len(refs[proto]) - 1, r))
                        print(f"{key} [{label}]: {r}", file=sys.stderr)
            for proto in ("smtp", "pop3"):
                if refs[proto]:
                    reference(proto)
        if args.idle:
            results["idle_session_memory"] = idle_memory(smtp_port, args.idle)
    finally:
        _stop(sink)
        if pop3d is not None:
            _stop(pop3d)
    results["smtp_source_runs_msgs_per_s"] = refs["smtp"]
    results["pop3_reference_runs_sessions_per_s"] = refs["pop3"]
    results["pop3_reference_failed_sessions"] = ref_failures
    results["smtp_source_msgs_per_s"] = statistics.median(refs["smtp"]) if refs["smtp"] else None
    results["pop3_reference_sessions_per_s"] = statistics.median(refs["pop3"]) if refs["pop3"] else None
    grouped: dict[str, dict[str, list[dict]]] = {}
    for proto, key, label, i, r in runs:
        if "error" not in r:
            around = (refs[proto][i] + refs[proto][i + 1]) / 2
            rate = r["messages_per_s"] if proto == "smtp" else r["sessions_per_s"]
            r["reference_around"] = round(around, 1)
            r["ratio_to_reference"] = round(rate / around, 3)
        grouped.setdefault(key, {}).setdefault(label, []).append(r)
    results["configurations"] = {
        key: {label: _summarize(entries, "messages_per_s" if key.startswith("smtp") else "sessions_per_s")
              for label, entries in per_tree.items()}
        for key, per_tree in grouped.items()}
    results["loadavg_after"] = loadavg()
    print(json.dumps(results, indent=2))
    print()
    print(markdown(results, [label for label, _ in trees]))
    if args.save:
        args.save.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
