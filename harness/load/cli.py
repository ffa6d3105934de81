"""Arguments of ``mailharness load`` and the command itself (kept out of harness/cli.py).

Only parses and hands over to ``harness.load.run``; imports no locust.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.config.duration import parse_duration

__all__ = ["add_load_parser", "cmd_load"]


def _duration(value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {value!r} (e.g. 30s, 2m, 500ms)") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the duration must be positive")
    return seconds


def _rate(value: str) -> float:
    from harness.load.profile import parse_rate
    try:
        return parse_rate(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a rate: {value!r} (e.g. 50, 50/s, 600/m)") from None


def add_load_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("load", help="put load on a target with Locust (a bundled profile's name or a file)",
                       description="Run a load profile with Locust: headless and bounded by default; "
                                   "--web serves the Locust UI. Exit 0 when every threshold passes, "
                                   "1 when one is crossed, 2 for a bad profile or target.")
    p.add_argument("profile", metavar="PROFILE",
                   help="a bundled profile's name, e.g. smtp-throughput (`mailharness list --profiles`), "
                        "or a profile file (YAML)")
    p.add_argument("--target", type=Path, help="target file (default: the embedded reference server)")
    p.add_argument("--users", type=int, help="peak number of users (overrides the profile's shape)")
    p.add_argument("--spawn-rate", type=float, help="users started per second")
    p.add_argument("--rate", type=_rate, help="arrival shapes: sessions per second (overrides the profile)")
    p.add_argument("--duration", type=_duration, help="run time, e.g. 30s or 2m (default: the profile's); "
                   "with --web, how long the UI stays up (default 10m)")
    p.add_argument("--workers", type=int, default=0, help="local Locust worker processes (plus a master)")
    p.add_argument("--web", action="store_true", help="serve the Locust web UI instead of running headless")
    p.add_argument("--web-host", default="127.0.0.1", help="web UI address (default 127.0.0.1)")
    p.add_argument("--web-port", type=int, default=8089, help="web UI port (default 8089)")
    p.add_argument("--master-bind-host", default="127.0.0.1",
                   help="with --workers: where the master listens for workers (0.0.0.0 admits other machines)")
    p.add_argument("--master-port", type=int, help="with --workers: the master's port (default: a free one)")
    p.add_argument("--out", type=Path, help="report folder (default reports/<UTC timestamp>-load/)")
    p.add_argument("--json", type=Path, help="also write results.json here")
    p.add_argument("--defect", action="append", default=[], metavar="NAME",
                   help="embedded server only: switch on a defect knob (repeatable)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for one reply (default 10)")
    p.add_argument("--sched", choices=("batch", "normal"), default="batch",
                   help="CPU scheduling of the Locust processes: batch (default, Linux SCHED_BATCH) keeps them "
                        "from preempting a server on the same machine when its replies wake them; normal leaves "
                        "the default policy")
    p.add_argument("--validate-only", action="store_true", help="check the profile and exit (0 valid, 2 not)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    return p


def cmd_load(args: argparse.Namespace) -> int:
    from harness.bundled import resolve_profile
    profile = resolve_profile(args.profile)       # an unknown name is exit 2 before anything is imported
    from harness.load.run import LoadOptions, run_load
    opts = LoadOptions(profile=profile, target=args.target, users=args.users, spawn_rate=args.spawn_rate,
                       duration=args.duration, rate=args.rate, workers=args.workers, web=args.web,
                       web_host=args.web_host, web_port=args.web_port, out=args.out, json=args.json,
                       defects=list(args.defect), quiet=args.quiet, validate_only=args.validate_only,
                       timeout=args.timeout, sched=args.sched, master_bind_host=args.master_bind_host, master_port=args.master_port)
    return run_load(opts)
