"""Terminal output of ``mailharness run``: colour (TTY only), progress with ETA, the summary that leads with causes.

Plain lines when the output is not a terminal (CI logs): no cursor movement, no
colour unless ``--color always``; ``NO_COLOR`` (https://no-color.org) turns
colour off in ``auto``. Every text that came from a server or a file goes
through ``clean`` first, so it cannot drive the terminal.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from harness.untrusted import clean
from harness.results import CheckResult, RunResult, Status
from harness.rootcause import SERVER, SEVERITY, all_causes, group_causes, unjudged_for_want_of_a_mailbox, \
    unjudged_security

__all__ = ["Style", "color_enabled", "Progress", "write_summary", "rerun_command"]

_CODES = {"red": "31", "green": "32", "yellow": "33", "magenta": "35", "cyan": "36", "dim": "2", "bold": "1"}


def color_enabled(mode: str, stream: TextIO, environ: dict[str, str] | None = None) -> bool:
    """``always``/``never`` as said; ``auto``: a terminal that is not ``dumb``, and no ``NO_COLOR``."""
    env = os.environ if environ is None else environ
    if mode == "always":
        return True
    if mode == "never" or env.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and env.get("TERM", "") != "dumb"


class Style:
    """``style(text, "red", "bold")``: SGR codes around text when colour is on, the text alone otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *names: str) -> str:
        if not self.enabled or not names:
            return text
        return f"\x1b[{';'.join(_CODES[n] for n in names)}m{text}\x1b[0m"

    def status(self, result: CheckResult | Any, text: str) -> str:
        status = getattr(result.status, "value", result.status)
        return self(text, *{"failed": ("red", "bold"), "error": ("magenta", "bold"), "passed": ("green",),
                            "skipped": ("dim",)}.get(status, ()))


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


class Progress:
    """Progress of a run: a line redrawn in place on a terminal, rows of result letters otherwise.

    Both say how many checks are done, the elapsed time and an ETA; what is still
    running shows on the terminal line, and in CI logs as a line of its own when
    nothing has been printed for ``interval`` seconds.
    """

    SYMBOL = {Status.PASSED: ".", Status.FAILED: "F", Status.ERROR: "E", Status.SKIPPED: "s"}

    def __init__(self, stream: TextIO, quiet: bool, total: int = 0, *, tty: bool | None = None,
                 style: Style | None = None, interval: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream, self.quiet, self.total = stream, quiet, total
        self.tty = bool(getattr(stream, "isatty", lambda: False)()) if tty is None else tty
        self.style = style or Style(False)
        self.interval, self.clock = interval, clock
        self.started = clock()
        self.last_output = self.started
        self.running: dict[str, float] = {}
        self.counts = {s: 0 for s in Status}
        self.done, self.col = 0, 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- hooks of the runner ---------------------------------------------------------------------

    def on_start(self, check_id: str) -> None:
        with self._lock:
            self.running[check_id] = self.clock()

    def __call__(self, result: CheckResult, done: int, total: int) -> None:
        with self._lock:
            self.running.pop(result.id, None)
            self.done, self.total = done, total
            self.counts[result.status] += 1
            if self.quiet:
                return
            if self.tty:
                self._redraw()
                return
            self.stream.write(self.style.status(result, self.SYMBOL[result.status]))
            self.col += 1
            if self.col == 60 or done == total:
                pad = " " * (60 - self.col) if total > 60 else ""
                self.stream.write(f"{pad} [{done}/{total}] {self.timing()}\n")
                self.col = 0
                self.last_output = self.clock()
            self.stream.flush()

    # -- text ------------------------------------------------------------------------------------

    def timing(self) -> str:
        elapsed = self.clock() - self.started
        if not self.done or self.done >= self.total:
            return f"{_duration(elapsed)} elapsed"
        eta = elapsed / self.done * (self.total - self.done)
        return f"{_duration(elapsed)} elapsed, ETA {_duration(eta)}"

    def still_running(self, n: int = 3) -> str:
        now = self.clock()
        oldest = sorted(self.running.items(), key=lambda kv: kv[1])[:n]
        more = f" and {len(self.running) - n} more" if len(self.running) > n else ""
        return ", ".join(f"{clean(cid)} ({_duration(now - t)})" for cid, t in oldest) + more

    def line(self) -> str:
        pct = 100 * self.done // self.total if self.total else 100
        bad = self.counts[Status.FAILED] + self.counts[Status.ERROR]
        parts = [f"[{self.done}/{self.total}] {pct:3d}%", self.timing(),
                 self.style(f"{self.counts[Status.FAILED]} failed", "red") if self.counts[Status.FAILED] else "",
                 self.style(f"{self.counts[Status.ERROR]} errors", "magenta") if self.counts[Status.ERROR] else "",
                 "" if bad else "no failures yet"]
        text = " · ".join(p for p in parts if p)
        if self.running:
            text += f" · running: {self.still_running()}"
        return text

    def _redraw(self) -> None:
        width = 200
        try:
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            pass
        text = self.line()
        visible = text if self.style.enabled else text[: max(20, width - 1)]
        self.stream.write("\r\x1b[K" + visible)
        self.stream.flush()

    # -- the ticker: elapsed time and running checks even when nothing finishes --------------------

    def tick(self) -> None:
        with self._lock:
            if self.quiet or self.done >= self.total:
                return
            if self.tty:
                self._redraw()
            elif self.clock() - self.last_output >= self.interval:
                if self.col:
                    self.stream.write("\n")
                    self.col = 0
                self.stream.write(f"  [{self.done}/{self.total}] {self.timing()}; running: "
                                  f"{self.still_running() or 'nothing'}\n")
                self.stream.flush()
                self.last_output = self.clock()

    def start(self) -> "Progress":
        if not self.quiet and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.5 if self.tty else 1.0):
            self.tick()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            if self.quiet:
                return
            if self.tty and self.total:
                self.stream.write("\r\x1b[K" + self.line() + "\n")
            elif self.col:
                self.stream.write(f" [{self.done}/{self.total}] {self.timing()}\n")
                self.col = 0
            self.stream.flush()


# -- the summary ---------------------------------------------------------------------------------

def _tag(c: CheckResult) -> str:
    return ("GATE" if c.gated else "known" if c.known_deviation
            else "base" if c.baseline_status in ("failed", "error") else "info")


def _severity(level: str) -> int:
    return SEVERITY.index(level) if level in SEVERITY else len(SEVERITY)


def rerun_command(ids: Sequence[str], selection: Sequence[str], limit: int = 25) -> str:
    """``mailharness run <selection> -k "id1 or id2"`` for the given ids (at most ``limit``)."""
    expr = " or ".join(ids[:limit])
    return shlex.join(["mailharness", "run", *selection, "-k", expr])


def write_summary(run: RunResult, out: TextIO, report_dir: Path | None, *, style: Style | None = None,
                  selection: Sequence[str] = ()) -> None:
    """Causes (each once, with its check count and fix), failures by severity, skips, counts, next step."""
    st = style or Style(False)
    causes = all_causes(run.checks)
    shared = [c for c in causes if c.count > 1 or c.kind != SERVER]
    grouped = {i for cause in shared for i in cause.ids}
    if shared:
        out.write("\n" + st("root causes:", "bold") + "\n")
        width = max(len(str(c.count)) for c in shared)
        for cause in shared:
            colour = ("magenta",) if cause.kind != SERVER else ("red",)
            noun = "check " if cause.count == 1 else "checks"
            kind = f" ({cause.error_class})" if cause.error_class else ""
            out.write(f"  {cause.count:>{width}} {noun}  {st(cause.verb() + kind, *colour)}: "
                      f"{clean(cause.message)}\n")
            pad = " " * (width + 11)
            if cause.fix:
                out.write(f"{pad}{st('fix:', 'yellow')} {clean(cause.fix)}\n")
            out.write(f"{pad}{clean(cause.sample())}\n")
    problems = [c for c in run.checks if c.status in (Status.FAILED, Status.ERROR) and c.id not in grouped]
    problems.sort(key=lambda c: (_severity(c.level.value), not c.gated, c.status is not Status.FAILED, c.id))
    if problems:
        out.write("\n" + st("failures by severity:", "bold") + "\n")
        kinds = [c.status.value.upper() + (f"({c.error_class})" if c.error_class else "") for c in problems]
        kw = max(len(k) for k in kinds)
        iw = max(len(c.id) for c in problems)
        for c, kind in zip(problems, kinds):
            level = c.level.value
            lv = st(f"{level:<8}", "bold", "red") if level == "SECURITY" else f"{level:<8}"
            tag = _tag(c)
            out.write(f"  {lv} {st.status(c, f'{kind:<{kw}}')}  {st(f'{tag:<5}', 'bold') if tag == 'GATE' else f'{tag:<5}'}"
                      f"  {clean(c.id):<{iw}}  [{', '.join(c.rfc)}]\n")
            first = clean(c.message.splitlines()[0] if c.message else "")
            out.write(f"  {'':8} {first}\n")
    skips = group_causes(run.checks, ("skipped",))
    if skips:
        out.write("\n" + st("skipped:", "bold") + "\n")
        width = max(len(str(c.count)) for c in skips)
    for cause in skips:
        out.write(f"  {cause.count:>{width}}  {clean(cause.message)}\n")
    no_mailbox = unjudged_for_want_of_a_mailbox(run.checks)
    if no_mailbox:
        out.write("\n" + st("warning:", "yellow", "bold")
                  + f" {len(no_mailbox)} SMTP check(s) need a mailbox to judge and did not run "
                  f"(add a pop3 section to the target): {', '.join(c.id for c in no_mailbox[:6])}"
                  f"{' ...' if len(no_mailbox) > 6 else ''}\n")
    unjudged = unjudged_security(run.checks)
    if unjudged:
        out.write("\n" + st("warning:", "yellow", "bold") + f" {len(unjudged)} SECURITY check(s) did not run ("
                  f"{', '.join(c.id for c in unjudged[:4])}{' ...' if len(unjudged) > 4 else ''}): "
                  "security checks that could not run are not a pass\n")
    s = run.summary()
    counts = [f"{s['passed']} passed", f"{s['failed']} failed", f"{s['errors']} could not be judged (error)",
              f"{s['skipped']} skipped"]
    out.write(f"\n{s['total']} checks: {', '.join(counts)} in {s['duration_s']:.1f} s\n")
    if run.baseline is not None:
        b = run.baseline
        out.write(f"baseline {clean(b['file'])}: {len(b['regressions'])} regressions, "
                  f"{len(b['still_failing'])} still failing (not gated), {len(b['fixed'])} fixed\n")
        if b.get("target_warning"):
            out.write(st("warning:", "yellow", "bold") + f" {clean(b['target_warning'])}\n")
    gate = s["gate"].upper()
    out.write(f"gate ({','.join(run.fail_on)}): {st(gate, 'bold', 'green' if gate == 'PASSED' else 'red')}\n")
    setup = run.setup_problems()
    if setup:
        out.write(st("setup problem:", "magenta", "bold") + f" {len(setup)} check(s) could not run because of "
                  "the scenario or the harness, not the server (exit 2); see the causes above\n")
    if report_dir:
        out.write(f"report: {report_dir / 'report.html'}\n")
    failing = [c.id for c in sorted((c for c in run.checks if c.status in (Status.FAILED, Status.ERROR)),
                                    key=lambda c: (not c.gated, _severity(c.level.value), c.id))]
    if failing:
        more = f"  # the first 25 of {len(failing)}" if len(failing) > 25 else ""
        out.write(f"next: open the report, fix the first cause, then rerun what failed:\n"
                  f"  {clean(rerun_command(failing, selection))}{more}\n")
    out.flush()


def stderr_style(mode: str) -> Style:
    return Style(color_enabled(mode, sys.stderr))
