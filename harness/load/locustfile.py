"""The Locust side of ``mailharness load``: users, arrival generators, stats shipping, web tab.

Only a Locust process imports this file (``python -m locust -f
harness/load/locustfile.py[,harness/load/locust_shape.py]``, started by
``harness.load.run``). ``import locust`` monkey-patches the process with
gevent and hangs if another thread is alive (docs/architecture.md), so the
CLI, pytest and the conformance runner never import it.

The run is described by a JSON file named in ``MAILHARNESS_LOAD_CONFIG``
(written by the CLI): the validated profile, the target, the run id, where to
write ``load-stats.json``. User classes are made from the profile's user mix at
import time, so Locust's class discovery, weights and ``fixed_count`` apply.

Each phase of a session is one Locust request (``request_type`` SMTP or
POP3, ``name`` connect/banner/EHLO/MAIL/RCPT/DATA/QUIT, USER/PASS/STAT/LIST/
RETR/DELE...) and one record in our own HDR histograms (``stats.Collector``);
successes are buffered and folded into both in bulk (``_Batch``), failures
fire ``events.request`` at once.
Workers ship collector deltas in ``report_to_master``; the master merges them
and, when it quits, writes the merged collector for the CLI.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections import Counter
from typing import Any

import gevent
from gevent.pool import Pool
from locust import User, between, constant, events, task
from locust import stats as locust_stats
from locust.runners import WorkerRunner
from locust.user.users import LOCUST_STATE_STOPPING

from harness.load.clients import (
    MessageFactory,
    SessionContext,
    pop3_session,
    resolve,
    smtp_session,
)
from harness.wire.hub import connect as hub_connect
from harness.load.profile import UserMix
from harness.load.runtime import CONFIG, PROCESSES, PROFILE, TARGET
from harness.load.shapes import arrival_interval, due_sessions, generator_count
from harness.load.stats import Collector
from harness.load.verdicts import load_section, verdict_rows
from harness.protocol.protocols import Protocol


def apply_sched(policy: str) -> None:
    """``batch``: this process's threads run under SCHED_BATCH (Linux; others keep their policy).

    A generator on the same machine as the server it measures is woken by
    the server's replies; under the default policy each wakeup may preempt
    the server, which then waits for a CPU while the generator's sessions
    wait for the server. SCHED_BATCH disfavours exactly those wakeup
    preemptions. Measured with 2 workers on 2 cores against smtp-sink: the
    sink was preempted about 1,700 times a second, 12 % of the CPU sat idle,
    and batch raised the throughput from 3,850-4,050 to 4,550-5,600 msgs/s.
    Threads made later (gevent's pool) inherit the policy.
    """
    if policy == "batch" and hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError:
            pass        # not permitted here: the default policy is still correct, only less kind


apply_sched(CONFIG.get("sched", "batch"))
COLLECTOR = Collector()
_STATE: dict[str, Any] = {"ctx": None, "mailbox_seq": 0, "t_start": None, "elapsed": 0.0, "env": None}


# -- per-process session context -----------------------------------------------------------

class _Batch:
    """Per-process request recording with the per-request cost of a list append.

    Successful phases are buffered as ``(rtype, name, ms, length)`` and
    flushed at most ``FLUSH_INTERVAL_S`` later (and before every worker report,
    at test stop, and before the master reads its own numbers): each phase's
    samples go into our HDR histogram in one pass (``Collector.record_many``,
    exact) and into Locust's ``StatsEntry`` for the phase and the total with
    the same arithmetic as ``StatsEntry.log`` (count, sum, min, max, Locust's
    rounded buckets, per-second counts, content length), so the web UI, the
    CSVs and the master's aggregation see every request under its phase name.
    A failure flushes the buffer and then fires Locust's ordinary request
    event, so failures and their messages are reported exactly as before.
    """

    FLUSH_INTERVAL_S = 0.25
    MAX_PENDING = 5000

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        # (rtype, name) -> [response times in ms, content length]: grouped as they come, so a flush
        # hands each phase's list to C-speed counting without a pass over the samples in Python
        self.pending: dict[tuple[str, str], list] = {}
        self.count = 0
        self.fire_event = environment.events.request.fire

    def fire(self, rtype: str, name: str, ms: float, length: int, exc: BaseException | None) -> None:
        if exc is None:
            slot = self.pending.get((rtype, name))
            if slot is None:
                slot = self.pending[(rtype, name)] = [[], 0]
            slot[0].append(ms)
            slot[1] += length
            self.count += 1
            if self.count >= self.MAX_PENDING:
                self.flush()
            return
        self.flush()
        self.fire_event(request_type=rtype, name=name, response_time=ms, response_length=length,
                        exception=exc, context={})
        COLLECTOR.record(f"{rtype} {name}", int(ms * 1000), str(exc), t=time.time())

    def flush(self) -> None:
        pending = self.pending
        if not pending:
            return
        self.pending, self.count = {}, 0
        runner = self.environment.runner
        stats = runner.stats if runner is not None else self.environment.stats
        now = time.time()
        for (rtype, name), (times, length) in pending.items():
            COLLECTOR.record_many(f"{rtype} {name}", [int(ms * 1000) for ms in times], t=now)
            if stats is not None:
                _log_many(stats, rtype, name, times, length, now)

    def run(self) -> None:
        while True:
            gevent.sleep(self.FLUSH_INTERVAL_S)
            self.flush()


_LOCUST_BUCKET = locust_stats.bucket_response_time


def _log_many(stats: Any, rtype: str, name: str, times: list[float], length: int, now: float) -> None:
    """``RequestStats.log_request`` for many successful requests at once (``StatsEntry.log``'s arithmetic)."""
    n, total, lo, hi = len(times), sum(times), min(times), max(times)
    bucket = locust_stats.bucket_response_time
    if hi < 99.5 and bucket is _LOCUST_BUCKET:
        buckets = Counter(map(round, times))     # Locust's buckets below 100 ms are round(ms)
    else:
        buckets = Counter(map(bucket, times))
    t = int(now)
    for entry in (stats.total, stats.get(name, rtype)):
        if entry.use_response_times_cache and entry.last_request_timestamp and t > int(entry.last_request_timestamp):
            entry._cache_response_times(t - 1)
        entry.num_requests += n
        entry.num_reqs_per_sec[t] += n
        entry.last_request_timestamp = now
        entry.total_response_time += total
        entry.min_response_time = lo if entry.min_response_time is None else min(entry.min_response_time, lo)
        entry.max_response_time = max(entry.max_response_time, hi)
        rt = entry.response_times
        for k, c in buckets.items():
            rt[k] += c
        entry.total_content_length += length


def _batch(environment: Any) -> _Batch:
    batch = _STATE.get("batch")
    if batch is None:
        batch = _STATE["batch"] = _Batch(environment)
        gevent.spawn(batch.run)
    return batch


def flush_requests() -> None:
    batch = _STATE.get("batch")
    if batch is not None:
        batch.flush()


def _fire_for(environment: Any):
    return _batch(environment).fire


def _recipients(users: list[dict[str, Any]]) -> tuple[str, ...]:
    """Round trip: send only to the mailboxes that POP3 users drain during the run.

    POP3 users take mailboxes in order (``next_mailbox``), so with a known
    number of them (``fixed_count``) the first that many mailboxes are read;
    mail sent elsewhere would wait for the final drain and inflate the latency.
    """
    readers = sum(m.fixed_count or 0 for m in PROFILE.users if m.kind is Protocol.POP3)
    if PROFILE.verify and readers and PROFILE.shape.kind != "arrival":
        users = [u for u in users if u.get("password")][:readers] or users
    return tuple(u["address"] for u in users)


def context(environment: Any) -> SessionContext:
    ctx = _STATE["ctx"]
    if ctx is None:
        users = TARGET["users"]
        smtp = TARGET.get("smtp")
        pop3 = TARGET.get("pop3")
        tag = f"{os.getpid()}{random.randrange(16 ** 4):04x}"
        prefix = CONFIG["run_id"]
        sender = TARGET.get("sender") or (users[0]["address"] if users else f"load@{TARGET.get('domain', 'example.test')}")
        ctx = SessionContext(
            smtp=resolve(smtp["host"], smtp["port"], smtp.get("tls", "none")) if smtp else None,
            pop3=resolve(pop3["host"], pop3["port"], pop3.get("tls", "none")) if pop3 else None,
            fire=_fire_for(environment),
            factory=MessageFactory(PROFILE.messages, f"{prefix}.{tag}", sender, seed=os.getpid()),
            recipients=_recipients(users) or (sender,),
            mailboxes=tuple((u["login"], u["password"]) for u in users if u.get("password")),
            client_name=TARGET.get("client_name", "load.mailharness.test"),
            smtp_auth=tuple(TARGET["smtp_auth"]) if TARGET.get("smtp_auth") else None,
            timeout=float(CONFIG.get("timeout", 10.0)), verify=PROFILE.verify, id_prefix=prefix,
            on_sent=COLLECTOR.sent, on_seen=COLLECTOR.seen,
            on_message=lambda: COLLECTOR.count("messages_sent"),
            rng=random.Random(os.getpid()),
            connect=hub_connect,
        )
        _STATE["ctx"] = ctx
    return ctx


def next_mailbox(environment: Any) -> tuple[str, str]:
    """Spread POP3 users over the mailboxes: worker index first, then a per-process counter."""
    ctx = context(environment)
    if not ctx.mailboxes:
        raise RuntimeError("the target has no users with passwords for POP3")
    index = getattr(environment.runner, "worker_index", 0) + _STATE["mailbox_seq"] * PROCESSES
    _STATE["mailbox_seq"] += 1
    return ctx.mailboxes[index % len(ctx.mailboxes)]


def run_session(environment: Any, mix: UserMix, mailbox: tuple[str, str] | None = None) -> None:
    ctx = context(environment)
    if mix.kind is Protocol.SMTP:
        smtp_session(ctx, mix)
    else:
        abort = mix.abort_ratio > 0 and ctx.rng.random() < mix.abort_ratio
        n = pop3_session(ctx, mix, mailbox or next_mailbox(environment), abort=abort)
        COLLECTOR.count("messages_retrieved", n)
        if abort:
            COLLECTOR.count("sessions_aborted")


# -- user classes, made from the profile ------------------------------------------------------

def _wait(mix: UserMix):
    lo, hi = mix.wait
    return constant(lo) if lo == hi else between(lo, hi)


class _SessionUser(User):
    """One session per task run; with no wait, sessions back to back inside one task run.

    Between two task runs Locust schedules the next task and sleeps
    ``wait_time()`` (a ``gevent.sleep(0)``, one more trip through the hub, when
    the wait is 0): measured at 4-5 % of a worker's CPU on smtp-throughput. So a
    zero-wait user loops inside its task: it yields to the hub every
    ``YIELD_EVERY`` sessions (a session that never blocks, such as a refused
    connect on loopback, cannot starve the runner's greenlets) and returns when
    Locust asks it to stop gracefully (``stop_timeout``: the state is set to
    stopping); a forced stop kills the greenlet wherever it waits, as before.
    """

    abstract = True
    mix: UserMix
    mailbox: tuple[str, str] | None = None
    YIELD_EVERY = 8

    @task
    def session(self) -> None:
        if self.mix.wait != (0.0, 0.0):
            run_session(self.environment, self.mix, self.mailbox)
            return
        while True:
            for _ in range(self.YIELD_EVERY):
                run_session(self.environment, self.mix, self.mailbox)
                if self._state == LOCUST_STATE_STOPPING:
                    return
            gevent.sleep(0)


class _SmtpBase(_SessionUser):
    abstract = True


class _Pop3Base(_SessionUser):
    abstract = True

    def on_start(self) -> None:
        self.mailbox = next_mailbox(self.environment)


class ArrivalGenerator(User):
    """Open model: starts sessions on a fixed schedule, whether or not earlier ones have finished.

    A session that is due while ``max_in_flight`` sessions are running is not
    started and is counted (``sessions.not_started``), so an overloaded server
    shows up as refused arrivals instead of silently lower pressure.
    """

    abstract = True
    wait_time = constant(0)

    @task
    def generate(self) -> None:
        shape = PROFILE.shape
        interval = arrival_interval(shape, PROCESSES)
        cap = max(1, math.ceil(shape.max_in_flight / generator_count(shape, PROCESSES)))
        mixes = [m for m in PROFILE.users if m.weight]
        weights = [m.weight for m in mixes]
        pool = Pool(cap)
        started, t0 = 0, time.monotonic()
        offset = random.uniform(0, min(interval, 1.0))
        try:
            while True:
                for _ in range(due_sessions(started, time.monotonic() - t0, interval, offset)):
                    started += 1
                    if pool.full():
                        COLLECTOR.count("sessions_not_started")
                        continue
                    COLLECTOR.count("sessions_started")
                    pool.spawn(run_session, self.environment, random.choices(mixes, weights)[0])
                gevent.sleep(max(0.0, offset + started * interval - (time.monotonic() - t0)))
        finally:
            pool.kill(block=False)


def _make_user_classes() -> dict[str, type]:
    if PROFILE.shape.kind == "arrival":
        return {"ArrivalGenerator": type("ArrivalGenerator", (ArrivalGenerator,), {"abstract": False})}
    classes: dict[str, type] = {}
    for mix in PROFILE.users:
        if not (mix.weight or mix.fixed_count):
            continue
        base = _SmtpBase if mix.kind is Protocol.SMTP else _Pop3Base
        stem = "SmtpUser" if mix.kind is Protocol.SMTP else "Pop3User"
        name = stem if stem not in classes else f"{stem}{len(classes) + 1}"
        attrs: dict[str, Any] = {"abstract": False, "mix": mix, "weight": mix.weight or 1, "wait_time": _wait(mix)}
        if mix.fixed_count:
            attrs["fixed_count"] = mix.fixed_count
        classes[name] = type(name, (base,), attrs)
    return classes


globals().update(_make_user_classes())


# -- master side: merge, progress, stats file, web tab -----------------------------------------

def _is_worker(environment: Any) -> bool:
    return isinstance(environment.runner, WorkerRunner)


def elapsed() -> float:
    running = time.monotonic() - _STATE["t_start"] if _STATE["t_start"] is not None else 0.0
    return _STATE["elapsed"] + running


SERIES_LAG_S = 4      # with workers, a second is complete once every worker has reported it (every 3 s)


def live_section(final: bool = False) -> dict[str, Any]:
    flush_requests()
    COLLECTOR.merge_own()
    until = int(time.time()) - (SERIES_LAG_S if CONFIG.get("workers") else 0)   # the current second is still filling
    return load_section(PROFILE, COLLECTOR, elapsed(), final=final, until=until)


def write_stats() -> None:
    flush_requests()
    COLLECTOR.merge_own()
    COLLECTOR.elapsed_s = elapsed()
    path = CONFIG["stats_file"]
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(COLLECTOR.to_json(), fh)
    os.replace(tmp, path)


def _sample_users(environment: Any) -> None:
    """The peak user count (results.json ``load.users``); runs for the life of the master process."""
    while True:
        users = getattr(environment.runner, "user_count", 0) or 0
        if users > COLLECTOR.counters.get("users_max", 0):
            COLLECTOR.counters["users_max"] = users
        if users or _STATE["t_start"] is not None:
            COLLECTOR.series.sample_users(int(time.time()), users)
        gevent.sleep(0.5)


def _progress(environment: Any) -> None:
    while True:
        gevent.sleep(float(CONFIG.get("progress_interval", 2.0)))
        if _STATE["t_start"] is None:
            continue
        load = live_section()
        phases = load["phases"]
        key = "SMTP DATA" if "SMTP DATA" in phases else ("POP3 RETR" if "POP3 RETR" in phases else None)
        lat = f"  {key} p95 {phases[key]['p95']:.2f} ms" if key else ""
        rt = (f"  verified {load.get('messages_verified', 0)} pending {load.get('messages_pending', 0)}"
              if PROFILE.verify else "")
        users = getattr(environment.runner, "user_count", 0)
        sys.stderr.write(f"[{elapsed():6.1f}s] users {users:<4} messages {load['messages_sent']} "
                         f"({load['messages_per_s']:.1f}/s)  requests {load['requests']}  failures "
                         f"{load['failures']}{lat}{rt}\n")
        sys.stderr.flush()


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    _STATE["env"] = environment
    if _is_worker(environment):
        return
    if environment.web_ui is not None:
        from harness.load.webui import install
        install(environment, lambda: verdict_rows(live_section()), live_section)
    if CONFIG.get("progress", True):
        gevent.spawn(_progress, environment)
    gevent.spawn(_sample_users, environment)


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    if _STATE["t_start"] is None:
        _STATE["t_start"] = time.monotonic()


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    flush_requests()
    if _STATE["t_start"] is not None:
        _STATE["elapsed"] += time.monotonic() - _STATE["t_start"]
        _STATE["t_start"] = None
    if not _is_worker(environment):
        write_stats()


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    # Registered at import, before Locust's own listener serializes the stats: flush first.
    flush_requests()
    data["mailharness"] = COLLECTOR.flush()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    payload = data.get("mailharness")
    if payload:
        COLLECTOR.merge(payload)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    if not _is_worker(environment):
        write_stats()
        environment.process_exit_code = 0      # the CLI judges thresholds from the stats file
