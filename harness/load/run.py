"""``mailharness load``: orchestrate a Locust run from the CLI process (which never imports locust).

1. Load and validate the profile (exit 2 on a bad file), apply ``--users``/
   ``--spawn-rate``/``--duration``.
2. Resolve the target: a target file, or the embedded ``ReferenceServer``
   started *here*, before any Locust process exists (with ``--defect`` knobs).
3. Optionally prefill mailboxes (``prefill:``) over SMTP from this process.
4. Write ``load-config.json`` and start Locust: one local process, or a master
   plus ``--workers`` local worker processes; ``--web`` serves the Locust UI.
   Every process is bounded: the run's duration plus a grace period, then
   SIGTERM, then SIGKILL of the process group we created.
5. Read the master's ``load-stats.json`` (merged HDR histograms and ledger),
   drain the mailboxes over POP3 for a round-trip profile, compute the
   ``load`` section and the threshold verdicts, write ``results.json`` and
   ``report.html``.

Ctrl-C (SIGINT) and SIGTERM (what a CI timeout sends) end the run the same
way: the handler only records the signal (``_StopSignals``); the wait loop
sees it, every Locust process group is stopped (SIGTERM, then SIGKILL), and
the results and the report are written from what was measured so far.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from harness import __version__
from harness.errors import ScenarioError, TargetError
from harness.load.clients import (
    MessageFactory,
    SessionContext,
    pop3_session,
    resolve,
    smtp_session,
)
from harness.load.profile import Profile, UserMix, load_profile
from harness.load.shapes import compile_stages
from harness.load.stats import Collector
from harness.load.verdicts import load_section, value_text, verdict_line
from harness.config.target import Target
from harness.protocol.protocols import Protocol
from harness.report.outdir import link_latest, report_dir

__all__ = ["HERE", "LoadOptions", "form_defaults", "locust_command", "run_load"]

HERE = Path(__file__).resolve().parent
LOCUSTFILE = HERE / "locustfile.py"
SHAPEFILE = HERE / "locust_shape.py"
STARTUP_GRACE_S = 30.0
STOP_GRACE_S = 15.0
WEB_DEFAULT_S = 600.0
INTERRUPTED_DRAIN_S = 3.0     # after Ctrl-C/SIGTERM the drain is cut short: the report comes first
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass
class LoadOptions:
    profile: Path
    target: Path | None = None
    users: int | None = None
    spawn_rate: float | None = None
    duration: float | None = None
    rate: float | None = None
    workers: int = 0
    web: bool = False
    web_host: str = "127.0.0.1"
    web_port: int = 8089
    out: Path | None = None
    json: Path | None = None
    defects: list[str] = field(default_factory=list)
    quiet: bool = False
    validate_only: bool = False
    timeout: float = 10.0
    sched: str = "batch"                  # the Locust processes' CPU scheduling policy (locustfile.apply_sched)
    master_bind_host: str = "127.0.0.1"
    master_port: int | None = None


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _target_config(target: Target) -> dict[str, Any]:
    def ep(e: Any) -> dict[str, Any] | None:
        return {"host": e.host, "port": e.port, "tls": e.tls} if e else None
    smtp = target.smtp or (target.smtps and replace(target.smtps, tls="implicit"))
    pop3 = target.pop3 or (target.pop3s and replace(target.pop3s, tls="implicit"))
    return {"smtp": ep(smtp), "pop3": ep(pop3), "domain": target.domain,
            "users": [{"address": u.address, "login": u.login, "password": u.password} for u in target.users],
            "smtp_auth": list(target.smtp_auth) if target.smtp_auth else None,
            "client_name": target.client_name}


def _check_target(profile: Profile, target: Target) -> None:
    kinds = profile.kinds()
    cfg = _target_config(target)
    if Protocol.SMTP in kinds and not cfg["smtp"]:
        raise TargetError("the profile has SMTP users but the target has no smtp section")
    if Protocol.POP3 in kinds and not cfg["pop3"]:
        raise TargetError("the profile has POP3 users but the target has no pop3 section")
    if profile.verify and not cfg["pop3"]:
        raise TargetError("a round-trip profile (roundtrip.verify) needs a pop3 section in the target")
    if (Protocol.POP3 in kinds or profile.verify) and not any(u.password for u in target.users):
        raise TargetError("POP3 users need target users with login and password")
    if any(u.auth for u in profile.users) and not target.smtp_auth:
        raise TargetError("the profile uses SMTP AUTH but the target has no smtp_auth")


def form_defaults(profile: Profile, target_cfg: dict[str, Any], processes: int = 1) -> tuple[int, float, str]:
    """Peak users, the first spawn rate and a host text for Locust's start form (``--users/--spawn-rate/--host``).

    The web UI prefills its form from Locust's parsed options; without them it
    shows 1 user at 1/s and warns that no host is set. Our users never read
    the host (they connect to the target's endpoints); it is shown so the
    operator sees what is under load.
    """
    stages = compile_stages(profile.shape, profile.duration, processes)
    users = max(1, max(s.users for s in stages))
    rate = next((s.spawn_rate for s in stages if s.users), stages[0].spawn_rate)
    hosts = [f"{p.value}://{ep['host']}:{ep['port']}" for p in Protocol
             if (ep := target_cfg.get(p.value)) and (p in profile.kinds() or profile.verify
                                                    or (p is Protocol.SMTP and profile.prefill))]
    return users, round(float(rate), 3), " ".join(hosts) or "-"


def locust_command(config: Path, opts: LoadOptions, role: str, master_port: int | None,
                   out_dir: Path, headless: bool, form: tuple[int, float, str] | None = None) -> list[str]:
    """The Locust command line for ``role`` = local | master | worker (documented in docs/load.md).

    ``form``: (users, spawn rate, host) for the web UI's start form.
    """
    files = str(LOCUSTFILE) if (role == "worker" or not headless) else f"{LOCUSTFILE},{SHAPEFILE}"
    # --skip-log-setup: Locust's INFO output (its own summary tables) stays off the terminal; our
    # progress lines and the final summary come from the harness. Its warnings still reach stderr.
    cmd = [sys.executable, "-m", "locust", "-f", files, "--skip-log-setup", "--exit-code-on-error", "0"]
    if role == "worker":
        return cmd + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    cmd += ["--csv", str(out_dir / "locust"), "--only-summary"]
    if headless:
        cmd += ["--headless"]
    else:
        cmd += ["--web-host", opts.web_host, "--web-port", str(opts.web_port)]
        if form is not None:
            users, rate, host = form
            cmd += ["--users", str(users), "--spawn-rate", f"{rate:g}", "--host", host]
    if role == "master":
        cmd += ["--master", "--master-bind-host", opts.master_bind_host, "--master-bind-port", str(master_port)]
        if headless:
            cmd += ["--expect-workers", str(opts.workers), "--expect-workers-max-wait", str(int(STARTUP_GRACE_S))]
    return cmd


class _Processes:
    """The Locust processes of one run, each in its own process group (so we can stop exactly them)."""

    def __init__(self, env: dict[str, str], log: TextIO, quiet: bool) -> None:
        self.env, self.log, self.quiet = env, log, quiet
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, cmd: list[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, env=self.env, stdout=self.log, stdin=subprocess.DEVNULL,
                                stderr=self.log if self.quiet else None, start_new_session=True)
        self.procs.append(proc)
        return proc

    def signal(self, proc: subprocess.Popen[bytes], sig: int) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def stop_all(self, grace: float) -> None:
        """SIGINT, then SIGTERM, then SIGKILL to each process group that is still running.

        SIGINT first: a headless Locust run waits for its shape in the main
        greenlet before it installs its SIGTERM handler, so SIGTERM would kill
        it before it writes its statistics; Ctrl-C (KeyboardInterrupt) stops
        the shape, fires ``quitting`` (our ``load-stats.json``) and exits, in
        web mode too. SIGTERM is for a process that ignored that.
        """
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            running = [proc for proc in self.procs if proc.poll() is None]
            if not running:
                return
            for proc in running:
                self.signal(proc, sig)
            deadline = time.monotonic() + wait
            for proc in running:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(max(0.1, deadline - time.monotonic()))


class _StopSignals:
    """SIGINT and SIGTERM as a flag while the run is on (the previous handlers come back afterwards).

    The handler does nothing but record the first signal, so it cannot
    interrupt a file write or a half-started process; the loops that wait
    (``_wait``, ``drain``) look at ``received``.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.received is None:
            self.received = signum
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"\nmailharness: {signal.Signals(signum).name}: stopping Locust, "
                                 "then writing results.json and report.html\n")

    def __exit__(self, *_: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _wait(proc: subprocess.Popen[bytes], bound: float, stop: _StopSignals) -> bool:
    """Wait up to ``bound`` seconds for ``proc``; False when the time ran out (a stop signal ends it early)."""
    deadline = time.monotonic() + bound
    while proc.poll() is None and stop.received is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.2, left))
    return True


def _context(target_cfg: dict[str, Any], profile: Profile, collector: Collector, prefix: str,
             timeout: float) -> SessionContext:
    users = target_cfg["users"]
    sender = users[0]["address"] if users else f"load@{target_cfg['domain']}"
    smtp, pop3 = target_cfg["smtp"], target_cfg["pop3"]

    def fire(rtype: str, name: str, ms: float, length: int, exc: BaseException | None) -> None:
        collector.record(f"{rtype} {name}", int(ms * 1000), None if exc is None else str(exc))

    return SessionContext(
        smtp=resolve(smtp["host"], smtp["port"], smtp["tls"]) if smtp else None,
        pop3=resolve(pop3["host"], pop3["port"], pop3["tls"]) if pop3 else None,
        fire=fire, factory=MessageFactory(profile.messages, prefix, sender),
        recipients=tuple(u["address"] for u in users) or (sender,),
        mailboxes=tuple((u["login"], u["password"]) for u in users if u["password"]),
        client_name=target_cfg["client_name"], timeout=timeout, id_prefix=prefix,
        on_message=lambda: collector.count("messages_sent"))


def prefill(target_cfg: dict[str, Any], profile: Profile, run_id: str, timeout: float) -> Collector:
    """Put ``profile.prefill`` messages into the target's mailboxes before the load starts."""
    collector = Collector()
    ctx = _context(target_cfg, profile, collector, f"prefill-{run_id}", timeout)
    mix = UserMix(kind=Protocol.SMTP, messages_per_session=50)
    left = profile.prefill
    deadline = time.monotonic() + max(30.0, profile.prefill / 50)
    while left > 0 and time.monotonic() < deadline:
        n = min(left, 50)
        got = smtp_session(ctx, replace(mix, messages_per_session=n))
        left -= n
        if got == 0 and collector.failures:
            break
    collector.merge_own()
    return collector


def drain(target_cfg: dict[str, Any], profile: Profile, collector: Collector, run_id: str, timeout: float,
          wait_s: float) -> Collector:
    """Retrieve what is still undelivered (round trip), verifying each message, for up to ``wait_s``."""
    side = Collector()
    ctx = _context(target_cfg, profile, side, run_id, timeout)
    ctx.verify = True
    ctx.on_seen = lambda mid, t, digest: (collector.ledger.add_seen(mid, t, digest) if mid is not None
                                          else setattr(collector.ledger, "unidentified",
                                                       collector.ledger.unidentified + 1))
    mix = UserMix(kind=Protocol.POP3, dele=True, max_retrieve=100_000)
    deadline = time.monotonic() + wait_s
    rounds = 0
    while rounds < 10_000:
        rounds += 1
        for mailbox in ctx.mailboxes:
            side.count("messages_retrieved", pop3_session(ctx, mix, mailbox))
        if not collector.ledger.pending_ids() or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    side.merge_own()
    return side


def _print_summary(load: dict[str, Any], out: TextIO, results_path: Path) -> None:
    out.write(f"\n{'phase':<16}{'requests':>10}{'fail':>7}{'rps':>10}{'p50 ms':>10}{'p95 ms':>10}"
              f"{'p99 ms':>10}{'max ms':>10}\n")
    for name, p in load["phases"].items():
        out.write(f"{name:<16}{p['requests']:>10}{p['failures']:>7}{p['rps']:>10.1f}{p['p50']:>10.2f}"
                  f"{p['p95']:>10.2f}{p['p99']:>10.2f}{p['max']:>10.2f}\n")
        out.writelines(f"    ! {err[:150]}\n" for err in p.get("errors", [])[:2])
    out.write(f"\n{load['messages_sent']} messages in {load['duration_s']:.1f} s = {load['messages_per_s']:.1f} msgs/s "
              f"({load.get('sessions_per_s', 0):.1f} sessions/s); {load['failures']} failures of "
              f"{load['requests']} requests\n")
    if load["roundtrip"]:
        lat = load["delivery_latency_ms"]
        out.write(f"round trip: {load['messages_verified']} verified, {load['messages_lost']} lost, "
                  f"{load['messages_corrupted']} corrupted, {load['messages_duplicated']} duplicated; "
                  f"delivery p50 {lat['p50']:.1f} / p95 {lat['p95']:.1f} / p99 {lat['p99']:.1f} / "
                  f"max {lat['max']:.1f} ms\n")
    for t in load["thresholds"]:
        out.write(f"  {t['verdict'].upper():<7} {t['name']}: {value_text(t['value'], t['unit'])} "
                  f"(limit {value_text(t['limit'], t['unit'])})\n")
    out.write(f"gate: {load['gate'].upper()} ({verdict_line(load)[1]})\nresults: {results_path}\n"
              f"report: {results_path.with_name('report.html')}\n")


def run_load(opts: LoadOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    # sys.stdout/stderr as they are now, not when this module was imported (pytest's capture replaces them)
    out, err = out or sys.stdout, err or sys.stderr
    profile = load_profile(opts.profile).with_overrides(users=opts.users, spawn_rate=opts.spawn_rate,
                                                        duration=opts.duration, rate=opts.rate)
    if opts.workers < 0 or (opts.users is not None and opts.users < 0) or opts.timeout <= 0:
        raise ScenarioError("--workers and --users must not be negative, --timeout must be positive")
    if profile.duration <= 0:
        raise ScenarioError("--duration must be positive")
    if opts.validate_only:
        out.write(f"{opts.profile}: valid load profile {profile.name!r} ({profile.shape.kind}, "
                  f"{profile.duration:g} s, users: {', '.join(u.kind.value for u in profile.users)})\n")
        return 0
    with _StopSignals() as stop:
        return _serve_and_run(profile, opts, out, err, stop)


def _serve_and_run(profile: Profile, opts: LoadOptions, out: TextIO, err: TextIO, stop: _StopSignals) -> int:
    from harness.embedded import run_target

    with run_target(opts.target, defects=opts.defects, announce=None if opts.quiet else err) as target:
        _check_target(profile, target)
        return _run(profile, target, opts, out, err, stop)


def _run(profile: Profile, target: Target, opts: LoadOptions, out: TextIO, err: TextIO,
         stop: _StopSignals) -> int:
    started = dt.datetime.now(dt.UTC)
    out_dir = report_dir(opts.out, "-load").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = f"lt{started.strftime('%H%M%S')}{secrets.token_hex(3)}"
    target_cfg = _target_config(target)
    stats_file = out_dir / "load-stats.json"
    with contextlib.suppress(FileNotFoundError):
        stats_file.unlink()
    processes = max(1, opts.workers)
    config = {"profile": profile.to_json(), "target": target_cfg, "run_id": run_id, "stats_file": str(stats_file),
              "processes": processes, "progress": not opts.quiet, "timeout": opts.timeout, "web": opts.web,
              "sched": opts.sched, "workers": opts.workers}
    config_file = out_dir / "load-config.json"
    config_file.write_text(json.dumps(config, indent=2), encoding="utf-8")
    os.chmod(config_file, 0o600)          # it holds the target's passwords

    pre = None
    if profile.prefill:
        pre = prefill(target_cfg, profile, run_id, opts.timeout)
        if not opts.quiet:
            err.write(f"prefill: {pre.counters.get('messages_sent', 0)} messages\n")

    env = dict(os.environ)
    env["MAILHARNESS_LOAD_CONFIG"] = str(config_file)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent.parent)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("PYTHONUNBUFFERED", "1")
    headless = not opts.web
    log = open(out_dir / "locust.log", "wb")  # noqa: SIM115 - closed in the finally below
    procs = _Processes(env, log, opts.quiet)
    master_port = opts.master_port or (_free_port() if opts.workers else None)
    form = form_defaults(profile, target_cfg, processes)
    master = None
    t0 = time.monotonic()
    try:
        if stop.received is None:
            role = "master" if opts.workers else "local"
            master = procs.start(locust_command(config_file, opts, role, master_port, out_dir, headless, form))
            for _ in range(opts.workers):
                procs.start(locust_command(config_file, opts, "worker", master_port, out_dir, headless))
            if opts.web and not opts.quiet:
                err.write(f"Locust web UI: http://{opts.web_host}:{opts.web_port}/ (stops after "
                          f"{opts.duration or WEB_DEFAULT_S:g} s or Ctrl-C)\n")
            bound = (opts.duration or WEB_DEFAULT_S) if opts.web else profile.duration + STARTUP_GRACE_S
            if not _wait(master, bound, stop) and headless:
                err.write(f"mailharness: Locust did not finish within {bound:g} s; stopping it\n")
    finally:
        procs.stop_all(STOP_GRACE_S)
        log.close()
    interrupted = stop.received
    wall = time.monotonic() - t0
    if not stats_file.exists():
        code = "not started" if master is None else f"exit code {master.returncode}"
        err.write(f"mailharness: the Locust process wrote no statistics ({code}); "
                  f"see {out_dir / 'locust.log'}\n")
        return EXIT_SIGNAL.get(interrupted, 1) if interrupted else 1

    collector = Collector.from_json(json.loads(stats_file.read_text(encoding="utf-8")))
    duration = collector.elapsed_s or wall
    drained = None
    if profile.verify:
        wait_s = profile.drain_timeout if profile.drain_timeout is not None else target.delivery_timeout
        if interrupted:
            wait_s = min(wait_s, INTERRUPTED_DRAIN_S)
        drained = drain(target_cfg, profile, collector, run_id, opts.timeout, wait_s)
    load = load_section(profile, collector, duration, final=True)
    load["workers"] = opts.workers
    load["sched"] = opts.sched
    load["locust_csv"] = str(out_dir / "locust_stats.csv")
    if pre is not None:
        load["prefill"] = {"messages": pre.counters.get("messages_sent", 0),
                           "failures": sum(pre.failures.values())}
    if drained is not None:
        load["drain"] = {"messages_retrieved": drained.counters.get("messages_retrieved", 0),
                         "phases": drained.phases(max(duration, 1e-9))}
    if interrupted:
        load["interrupted"] = signal.Signals(interrupted).name
    passed = sum(1 for t in load["thresholds"] if t["verdict"] == "passed")
    failed = len(load["thresholds"]) - passed
    document = {
        "tool": "mailharness", "version": __version__, "started": started.isoformat(timespec="seconds"),
        "target": target.to_json(),
        "summary": {"total": len(load["thresholds"]), "passed": passed, "failed": failed, "errors": 0,
                    "skipped": 0, "gate": load["gate"], "fail_on": ["thresholds"],
                    "duration_s": round(wall, 3)},
        "checks": [],
        "load": load,
    }
    results = out_dir / "results.json"
    from harness.report import write_html
    from harness.report.jsonout import dumps_json, write_json
    write_json(document, results)
    if opts.json:
        write_json(document, opts.json)
    write_html(json.loads(dumps_json(document)), out_dir / "report.html")
    if opts.out is None:
        link_latest(out_dir)
    _print_summary(load, out, results)
    if interrupted and not opts.web:       # with --web, Ctrl-C is the ordinary way to finish
        return EXIT_SIGNAL.get(interrupted, 130)
    return 0 if load["gate"] == "passed" else 1
