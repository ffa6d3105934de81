"""Runs checks against a target: capability probe, parallel checks on fresh connections, the gate.

Imports no pytest and no locust: the CLI, the pytest plugin and tests all
drive it the same way.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from harness import __version__
from harness.errors import ScenarioError, TransportError
from harness.escapes import EscapeError
from harness.protocol.protocols import Protocol
from harness.results import CheckResult, RunResult, Status
from harness.scenario.context import CheckContext, CheckFailed, CheckPassedEarly, CheckSkipped, ServerInfo
from harness.scenario.delivery import EXISTING_SKIP
from harness.scenario.mailbox import MailboxLocks
from harness.scenario.model import Check, ScenarioFile
from harness.scenario.needs import requires_mailboxes, shortfall
from harness.scenario.preflight import Blocker, Preflight, needs_of, run_preflight
from harness.scenario.actions import run_step
from harness.scenario.stepbase import open_service
from harness.scenario.templating import TemplateProblem
from harness.bundled import display_path
from harness.session import Limits
from harness.config.target import DeliveryKind, Target
from harness.transcript import Transcript

__all__ = ["RunOptions", "Runner", "select_checks", "keyword_matcher", "apply_gate"]


@dataclass
class RunOptions:
    jobs: int = 8
    limits: Limits = field(default_factory=Limits)
    fail_on: tuple[str, ...] = ("MUST", "SECURITY")
    progress: Callable[[CheckResult, int, int], None] | None = None
    # called once the preflight is done, before any check runs (the CLI prints it)
    on_preflight: Callable[[Preflight], None] | None = None
    canary: bool = True       # one SMTP→POP3 delivery in the preflight when both sides exist
    # called when a check starts (its id), so progress can show what is still running
    on_start: Callable[[str], None] | None = None


# -- selection ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def keyword_matcher(expr: str, ids: Iterable[str] = ()) -> Callable[[Check], bool]:
    """pytest-style ``-k``: words match id, title, suite or tags as substrings; and/or/not/parentheses.

    A word that is the whole id of one of ``ids`` selects that check only: the rerun line the CLI prints
    names failed checks by id, and ``smtp.help`` must not also pick ``smtp.help-argument``.
    """
    exact = {i.lower() for i in ids}
    tokens = _TOKEN.findall(expr)
    if not tokens:
        return lambda _c: True

    def evaluate(check: Check) -> bool:
        haystack = " ".join((check.id, check.title, check.suite, *check.tags)).lower()
        out = []
        for tok in tokens:
            low = tok.lower()
            if low in ("and", "or", "not", "(", ")"):
                out.append(low)
            elif low in exact:
                out.append(str(low == check.id.lower()))
            else:
                out.append(str(low in haystack))
        try:
            return bool(eval(" ".join(out), {"__builtins__": {}}, {}))  # noqa: S307 - only True/False/and/or/not/()
        except SyntaxError:
            raise ScenarioError(f"-k {expr!r}: not a valid expression") from None

    return evaluate


def select_checks(files: Sequence[ScenarioFile], *, keyword: str | None = None,
                  tags: Iterable[str] = (), levels: Iterable[str] = ()) -> list[Check]:
    ids = [c.id for f in files for c in f.checks]
    match = keyword_matcher(keyword, ids) if keyword else (lambda _c: True)
    tag_set, level_set = set(tags), {lv.upper() for lv in levels}
    out = []
    for f in files:
        for c in f.checks:
            if tag_set and not tag_set.intersection(c.tags) and c.suite not in tag_set:
                continue
            if level_set and c.level.value not in level_set:
                continue
            if match(c):
                out.append(c)
    return out


def apply_gate(result: CheckResult, fail_on: Iterable[str], known: frozenset[str]) -> None:
    result.known_deviation = result.id in known
    result.gated = (result.status in (Status.FAILED, Status.ERROR)
                    and result.level.value in set(fail_on) and not result.known_deviation)


# -- requirements ------------------------------------------------------------------------------

def _requirement_met(req: str, check: Check, target: Target, info: ServerInfo) -> tuple[bool, str]:
    if req.startswith("target:"):
        key = req[len("target:"):]
        legacy = requires_mailboxes([req])       # target:users2 in a Check built without the loader
        if legacy:
            why = shortfall(legacy, len(target.users))
            return why is None, why or ""
        return bool(getattr(target, key, None)), f"the target has no {key}"
    if req.startswith("greeting:"):
        banner = info.smtp_greeting if check.protocol is Protocol.SMTP else info.pop3_greeting
        return bool(re.search(req[len("greeting:"):], banner)), "the server's greeting does not match"
    prefix, colon, rest = req.partition(":")
    named = colon and prefix in {p.value for p in Protocol}     # "smtp:SIZE", "pop3:UIDL"; a bare "SIZE" is the check's own
    protocol, cap = (Protocol.parse(prefix), rest) if named else (check.protocol, req)
    smtp = protocol is Protocol.SMTP
    plain, tls = (info.smtp, info.smtp_tls) if smtp else (info.pop3, info.pop3_tls)
    if plain is None and tls is None:
        error = info.smtp_error if smtp else info.pop3_error
        failure = TransportError(f"capability probe failed: {error or 'no capabilities'}")
        failure.error_class = (info.smtp_error_class if smtp else info.pop3_error_class) \
            or failure.error_class
        raise failure
    met = any(c is not None and c.has(cap) for c in (plain, tls))
    return met, f"the server does not advertise {cap}"


class _Blocked(Exception):
    """Internal control flow: the preflight found that a part this check needs is broken."""

    def __init__(self, blocker: Blocker) -> None:
        super().__init__(blocker.message)
        self.blocker = blocker


# -- running -----------------------------------------------------------------------------------

class Runner:
    def __init__(self, target: Target, options: RunOptions | None = None) -> None:
        self.target = target
        self.options = options or RunOptions()
        self.locks = MailboxLocks()
        self.run_id = uuid.uuid4().hex[:8]
        self._preflight: Preflight | None = None

    @property
    def preflight(self) -> Preflight:
        if self._preflight is None:
            self._preflight = run_preflight(self.target, self.options.limits, canary=self.options.canary)
            if self.options.on_preflight:
                self.options.on_preflight(self._preflight)
        return self._preflight

    @property
    def info(self) -> ServerInfo:
        return self.preflight.info

    def _skip_reason(self, check: Check) -> str | None:
        if self.target.endpoint(check.protocol.value) is None:
            return f"the target has no {check.protocol.value} section"
        needs = needs_of(check, self.target)
        for protocol in Protocol:
            if any(Protocol.of_service(s) is protocol for s in needs.services) \
                    and self.target.endpoint(protocol.value) is None:
                return f"the target has no {protocol.value} section"
        how = self.target.deliver_by
        if needs.own_message and how is not None and how.kind is DeliveryKind.EXISTING:
            return EXISTING_SKIP
        # before any step runs: a users[N] the target lacks would end the check in a template error
        lacking = shortfall(check.mailboxes, len(self.target.users))
        if lacking:
            return lacking
        blocker = self.preflight.blocker(needs)
        if blocker is not None:
            raise _Blocked(blocker)
        for req in check.requires:
            met, why = _requirement_met(req, check, self.target, self.info)
            if not met:
                return why
        return None

    def run_check(self, check: Check, rotation: int = 0) -> CheckResult:
        transcript = Transcript(self.target.secrets())
        result = CheckResult(id=check.id, title=check.title, suite=check.suite, level=check.level,
                             rfc=check.rfc, status=Status.PASSED, rationale=check.rationale,
                             quote=check.quote_text,
                             source=display_path(check.file) + f":{check.line}")
        started = time.perf_counter()
        if self.options.on_start:
            self.options.on_start(check.id)
        ctx = CheckContext(check, self.target, self.options.limits, self.locks, ServerInfo(),
                           transcript, run_id=self.run_id, rotation=rotation)
        try:
            reason = self._skip_reason(check)
            if reason:
                raise CheckSkipped(reason)
            if check.connect:
                open_service(ctx, check.protocol.value, check.protocol.value, check.tls)
            for step in check.steps:
                run_step(ctx, step)
        except CheckFailed as exc:
            result.status = Status.FAILED
            # file:line of the failing step (or of the check), so a user can open it
            where = f"{display_path(check.file)}:{exc.step.line if exc.step else check.line}: "
            result.failures = exc.problems
            result.message = where + exc.problems[0] if exc.problems else "failed"
        except CheckPassedEarly as exc:
            result.message = str(exc)
        except CheckSkipped as exc:
            result.status = Status.SKIPPED
            result.message = str(exc)
        except _Blocked as exc:
            result.status, result.error_class, result.message = exc.blocker.status, exc.blocker.error_class, \
                exc.blocker.message
        except TransportError as exc:
            result.status = Status.ERROR
            result.error_class = exc.error_class
            result.message = str(exc)
        except (ScenarioError, TemplateProblem, EscapeError) as exc:
            result.status = Status.ERROR
            result.message = f"scenario error: {exc}".replace(check.file, display_path(check.file))
        except Exception:  # noqa: BLE001 - a harness bug: keep the whole traceback in the result
            result.status = Status.ERROR
            result.message = "harness bug (please report):\n" + traceback.format_exc()
        finally:
            ctx.close_all()
        result.duration_ms = (time.perf_counter() - started) * 1000
        result.transcript = transcript.to_json()
        seen: list[str] = []
        for conn in ctx.conns.values():
            for v in conn.findings:
                if str(v) not in seen:
                    seen.append(str(v))
        result.findings = seen
        apply_gate(result, self.options.fail_on, self.target.known_deviations)
        return result

    def run(self, checks: Sequence[Check]) -> RunResult:
        started = dt.datetime.now(dt.timezone.utc)
        t0 = time.perf_counter()
        results: list[CheckResult | None] = [None] * len(checks)
        if checks:
            _ = self.preflight          # once, before the parallel part
        with ThreadPoolExecutor(max_workers=max(1, self.options.jobs), thread_name_prefix="check") as pool:
            futures = {pool.submit(self.run_check, c, i): i for i, c in enumerate(checks)}
            for done, fut in enumerate(as_completed(futures), 1):
                index = futures[fut]
                results[index] = fut.result()
                if self.options.progress:
                    self.options.progress(results[index], done, len(checks))  # type: ignore[arg-type]
        return RunResult(tool_version=__version__, started=started.isoformat(timespec="seconds"),
                         target=self.target.to_json(), checks=[r for r in results if r is not None],
                         duration_s=time.perf_counter() - t0, fail_on=tuple(self.options.fail_on),
                         preflight=self._preflight.to_json() if self._preflight else None)
