"""``mailharness``: argument parsing and output only; the work lives in scenario/, refserver/ and report/."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path
from typing import Sequence, TextIO

from harness import __version__
from harness.errors import ScenarioError
from harness.untrusted import clean
from harness.results import LEVELS
from harness.session import Limits
from harness.terminal import Progress, Style, color_enabled, write_summary

__all__ = ["main", "default_scenario_paths"]

EXIT_OK, EXIT_GATE, EXIT_USAGE = 0, 1, 2


def default_scenario_paths() -> list[Path]:
    """The bundled suites: ``scenarios/`` in a checkout, ``harness/bundled_scenarios/`` when installed
    (``MAILHARNESS_SCENARIOS`` overrides); see harness/bundled.py."""
    from harness.bundled import scenario_paths
    return scenario_paths()


def _levels(value: str) -> tuple[str, ...]:
    levels = tuple(v.strip().upper() for v in value.split(",") if v.strip())
    bad = [v for v in levels if v not in LEVELS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown level(s) {', '.join(bad)}; use {', '.join(LEVELS)}")
    return levels


EXIT_CODES = """exit codes:
  0  the gate passed (for load: every threshold passed)
  1  the gate failed: a check at a --fail-on level failed or could not be judged, or a load threshold was crossed
  2  bad input or a setup problem: a scenario, target, profile or results file is invalid, an option is wrong
     (nothing was run), or a check could not run because of its scenario or a harness bug (not the server)
  130  interrupted (Ctrl-C)"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailharness", description="Conformance and load harness for SMTP/POP3 servers.",
                                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"mailharness {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run conformance checks against a target (default: the embedded server)",
                         description="Run conformance checks against a target (default: the embedded reference "
                                     "server) and write results.json, junit.xml and report.html.",
                         epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("paths", nargs="*", type=Path, help="scenario files or folders (default: bundled scenarios/)")
    run.add_argument("--target", type=Path, metavar="FILE",
                     help="target file (YAML: endpoints, users, delivery; docs/target-file.md); without it and "
                          "without --smtp/--pop3 the embedded reference server is started")
    run.add_argument("--smtp", metavar="HOST:PORT",
                     help="the SMTP server to test; overrides the target file's smtp endpoint")
    run.add_argument("--pop3", metavar="HOST:PORT",
                     help="the POP3 server to test; overrides the target file's pop3 endpoint (without one, "
                          "POP3 and round-trip checks are skipped)")
    run.add_argument("--user", action="append", metavar="LOGIN:PASSWORD[:ADDRESS]",
                     help="a mailbox (repeatable); replaces the target file's users; ADDRESS defaults to "
                          "LOGIN@domain")
    run.add_argument("--tls", choices=["none", "starttls", "implicit"],
                     help="how --smtp/--pop3 speak TLS: none (plain), starttls (STARTTLS/STLS before "
                          "anything else) or implicit (TLS from the first byte)")
    run.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                     help="colour in the terminal output: auto (default: only on a terminal, and not when "
                          "NO_COLOR is set), always, never")
    run.add_argument("-k", dest="keyword", metavar="EXPR", help="select checks by words of id, title, suite or tags (substrings; a whole check id selects that check only; and/or/not/parentheses)")
    run.add_argument("--tag", action="append", default=[], help="select checks by tag or suite (repeatable)")
    run.add_argument("--level", type=_levels, default=(), metavar="LEVELS",
                     help="only these levels, comma-separated in any case: MUST, SHOULD, MAY, SECURITY, POLICY")
    run.add_argument("--fail-on", type=_levels, default=("MUST", "SECURITY"), metavar="LEVELS",
                     help="levels whose failures and errors fail the gate, comma-separated in any case "
                          "(default: MUST,SECURITY)")
    run.add_argument("--jobs", type=int, default=8, metavar="N", help="checks run in parallel (default 8)")
    run.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS", help="seconds to wait for one reply (default 10)")
    run.add_argument("--out", type=Path, metavar="DIR", help="report folder (default reports/<UTC timestamp>/)")
    run.add_argument("--json", type=Path, metavar="FILE", help="also write results.json here")
    run.add_argument("--junit", type=Path, metavar="FILE", help="also write junit.xml here")
    run.add_argument("--html", type=Path, metavar="FILE", help="also write the HTML report here")
    run.add_argument("--baseline", type=Path, metavar="RESULTS.json",
                     help="an earlier results.json: only regressions fail the gate (a check failing "
                          "in both runs is reported, not gated)")
    run.add_argument("--defect", action="append", default=[], metavar="NAME",
                     help="embedded server only: switch on a defect knob (for demos and self-tests)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    run.add_argument("--pcap", nargs="?", const="failed", choices=["failed", "all"],
                     help="write pcap/<check-id>.pcap into the report folder for failed/error checks "
                          "(--pcap all: every check); live capture as root on loopback, else synthesized")

    for name, helptext in (("list", "list checks: id, level, RFC sections, title"),
                           ("validate", "schema-check scenario files")):
        sp = sub.add_parser(name, help=helptext, epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.add_argument("paths", nargs="*", type=Path, help="scenario files or folders (default: bundled scenarios/)")
        if name == "list":
            sp.add_argument("--profiles", action="store_true",
                            help="list the load profiles instead (bundled ones by default): name, path, "
                                 "description; `mailharness load NAME` runs one")

    serve = sub.add_parser("serve", help="run the embedded reference server", epilog=EXIT_CODES,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--smtp-port", type=int, default=2525, help="SMTP port (default 2525)")
    serve.add_argument("--pop3-port", type=int, default=1110, help="POP3 port (default 1110)")
    serve.add_argument("--smtps-port", type=int, default=4465, help="implicit-TLS SMTP port (default 4465)")
    serve.add_argument("--pop3s-port", type=int, default=1995, help="implicit-TLS POP3 port (default 1995)")
    serve.add_argument("--maildir", type=Path, help="the Maildir root to store mail in (default: a temporary folder)")
    serve.add_argument("--defect", action="append", default=[], metavar="NAME",
                       help="switch on a defect knob (repeatable); --list-defects shows them")
    serve.add_argument("--list-defects", action="store_true", help="list the defect knobs and exit")

    from harness.load.cli import add_load_parser      # mailharness load (harness/load/cli.py)
    add_load_parser(sub)

    report = sub.add_parser("report", help="render stored results.json files (conformance, load) into one HTML report",
                            epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("results", type=Path, nargs="+", metavar="RESULTS.json",
                        help="results files; a conformance and a load run given together are merged")
    report.add_argument("--baseline", type=Path, metavar="RESULTS.json",
                        help="an earlier results.json: show regressions first; exit 1 only on regressions")
    report.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.html", help="the HTML file to write")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ScenarioError as exc:
        print(f"mailharness: error: {clean(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mailharness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout went away (e.g. piped into head): nothing left to say, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_GATE


# -- list / validate ---------------------------------------------------------------------------

def _load(paths: list[Path]) -> list:
    from harness.scenario.loader import load_paths
    return load_paths(paths or default_scenario_paths())


def cmd_list(args: argparse.Namespace) -> int:
    if args.profiles:
        return _list_profiles(args.paths)
    files = _load(args.paths)
    for f in files:
        for c in f.checks:
            print(f"{c.id:<44} {c.level.value:<8} {','.join(c.rfc):<22} {c.title}")
    return EXIT_OK


def _profile_paths(paths: list[Path]) -> list[Path]:
    """Load profiles among the given paths: files in (or under) a ``load/`` folder."""
    from harness.bundled import find_profiles
    return find_profiles(paths)


def _list_profiles(paths: list[Path]) -> int:
    """``list --profiles``: one line per profile, name (what ``mailharness load`` accepts), path, description."""
    from harness.config.yamlfile import load_all
    from harness.load.profile import load_profile
    found = _profile_paths(paths or default_scenario_paths())
    profiles = load_all(functools.partial(load_profile, p) for p in found)   # every bad file at once, exit 2
    width = max((len(p.stem) for p in found), default=0)
    for path, profile in zip(found, profiles):
        description = clean(profile.description.strip().splitlines()[0]) if profile.description.strip() else ""
        print(f"{path.stem:<{width}}  {clean(str(path))}  {description}".rstrip())
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.config.yamlfile import load_all
    from harness.load.profile import load_profile
    from harness.scenario.loader import load_paths
    paths = args.paths or default_scenario_paths()
    profiles = _profile_paths(paths)
    scenario_paths = [p for p in paths if p not in profiles and p.name != "load"]
    # Scenario files and load profiles (their own schema) are checked together, all errors at once.
    loaders: list = [functools.partial(load_paths, scenario_paths)] if scenario_paths else []
    loaders += [functools.partial(load_profile, p) for p in profiles]
    results = load_all(loaders)
    files = results[0] if scenario_paths else []
    checks = sum(len(f.checks) for f in files)
    print(f"{len(files)} scenario file(s), {checks} check(s), {len(profiles)} load profile(s): valid")
    return EXIT_OK


# -- run ---------------------------------------------------------------------------------------

def _print_preflight(out: TextIO, preflight: object) -> None:
    for line in preflight.lines():      # type: ignore[attr-defined]
        out.write(clean(line) + "\n")
    out.flush()


def _selection(args: argparse.Namespace) -> list[str]:
    """The options that chose the target and the scenarios, to rerun the same thing (minus -k)."""
    words = [str(p) for p in args.paths]
    if args.target:
        words += ["--target", str(args.target)]
    for flag, value in (("--smtp", args.smtp), ("--pop3", args.pop3), ("--tls", args.tls)):
        if value:
            words += [flag, value]
    for user in args.user or ():
        login, _, rest = user.partition(":")
        _, _, address = rest.partition(":")
        words += ["--user", f"{login}:PASSWORD" + (f":{address}" if address else "")]
    for defect in args.defect:
        words += ["--defect", defect]
    if tuple(args.fail_on) != ("MUST", "SECURITY"):
        words += ["--fail-on", ",".join(args.fail_on)]
    return words


def cmd_run(args: argparse.Namespace) -> int:
    from harness.config.target import with_overrides
    from harness.embedded import run_target
    from harness.report import write_all, write_html, write_json, write_junit
    from harness.report.outdir import link_latest, report_dir
    from harness.scenario.runner import Runner, RunOptions, select_checks

    files = _load(args.paths)
    checks = select_checks(files, keyword=args.keyword, tags=args.tag, levels=args.level)
    baseline = _load_baseline(args.baseline)       # before anything runs: a bad file is exit 2
    if args.jobs < 1 or args.timeout <= 0:
        raise ScenarioError("--jobs must be at least 1 and --timeout positive")
    capture = None
    with run_target(args.target, defects=args.defect, embedded=not (args.smtp or args.pop3),
                    announce=None if args.quiet else sys.stderr) as target:
        target = with_overrides(target, smtp=args.smtp, pop3=args.pop3, users=args.user, tls=args.tls)
        limits = Limits(read_timeout=min(args.timeout, 10.0), reply_deadline=args.timeout)
        progress = Progress(sys.stderr, args.quiet, len(checks),
                            style=Style(color_enabled(args.color, sys.stderr)))
        options = RunOptions(jobs=args.jobs, limits=limits, fail_on=args.fail_on, progress=progress,
                             on_start=progress.on_start,
                             on_preflight=None if args.quiet else functools.partial(_print_preflight, sys.stderr))
        if args.pcap:
            from harness import capture as _capture
            capture = _capture.for_target(args.pcap, target).start()
        try:
            progress.start()
            run = Runner(target, options).run(checks)
        finally:
            progress.close()
    if baseline is not None:
        from harness.report.baseline import apply_baseline
        apply_baseline(run, baseline, label=str(args.baseline))
    out_dir = report_dir(args.out)
    if capture is not None:
        # pcaps first, so every report written below links them
        written = capture.finish(run, out_dir)
        for result in run.checks:
            result.pcap = written.get(result.id)
            result.pcap_method = capture.method.get(result.id)
    write_all(run, out_dir, baseline=baseline)
    if args.out is None:
        link_latest(out_dir)
    for path, writer in ((args.json, write_json), (args.junit, write_junit)):
        if path:
            writer(run, path)
    if args.html:
        write_html(run, args.html, baseline=baseline)
    write_summary(run, sys.stdout, out_dir, style=Style(color_enabled(args.color, sys.stdout)),
                  selection=_selection(args))
    if run.setup_problems():
        # Not a verdict on the server: CI must be able to tell "server broken" (1) from "fix the setup" (2).
        return EXIT_USAGE
    return EXIT_OK if run.gate_passed else EXIT_GATE


# -- serve / report ----------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from harness.refserver import DEFECTS, serve_forever
    if args.list_defects:
        for name, defect in sorted(DEFECTS.items()):
            print(f"{name:<32} {defect.protocol:<5} {defect.description}")
        return EXIT_OK
    unknown = [d for d in args.defect if d not in DEFECTS]
    if unknown:
        raise ScenarioError(f"unknown defect(s): {', '.join(unknown)} (see --list-defects)")
    serve_forever(host=args.host, smtp_port=args.smtp_port, pop3_port=args.pop3_port,
                  smtps_port=args.smtps_port, pop3s_port=args.pop3s_port, maildir=args.maildir,
                  defects=args.defect)
    return EXIT_OK


def _load_baseline(path: Path | None) -> dict | None:
    if path is None:
        return None
    from harness.report import load_json
    return load_json(path)


def cmd_report(args: argparse.Namespace) -> int:
    # Exit codes as for every command: 0 the (merged, baseline-aware) gate passed, 1 it failed,
    # 2 a results file is missing or invalid, or the report cannot be written.
    from harness.report import build_report, load_json, write_report
    datas = [load_json(path) for path in args.results]
    baseline = _load_baseline(args.baseline)
    out_dir = args.output.resolve().parent
    report = build_report(datas, baseline=baseline, baseline_label=str(args.baseline or ""),
                          labels=[str(p) for p in args.results],
                          link_base=[p.resolve().parent for p in args.results], out_dir=out_dir)
    try:
        write_report(report, args.output)
    except OSError as exc:
        raise ScenarioError(f"cannot write the report: {exc.strerror or exc}", file=str(args.output)) from None
    if report.baseline is not None:
        b = report.baseline
        print(f"baseline {clean(str(args.baseline))}: {len(b.regressions)} regressions, "
              f"{len(b.still_failing)} still failing, {len(b.fixed)} fixed, "
              f"{len(b.latency_regressions)} latency percentiles grew")
        if b.target_warning:
            print(f"warning: {b.target_warning}")
    for reason in report.gate_reasons:
        print(f"  {reason}")            # already clean(): model text is terminal-safe
    print(f"gate: {report.summary['gate'].upper()}")
    print(f"report: {args.output}")
    return EXIT_OK if report.gate_passed else EXIT_GATE


COMMANDS = {"run": cmd_run, "list": cmd_list, "validate": cmd_validate, "serve": cmd_serve, "report": cmd_report}


def cmd_load(args: argparse.Namespace) -> int:
    from harness.load.cli import cmd_load as run
    return run(args)


COMMANDS["load"] = cmd_load
