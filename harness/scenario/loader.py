"""Scenario files → model, with every error as ``file:line: what is wrong``.

Validation happens here, at load (collection) time, never while a check runs:
the file against ``schema.yaml``; variants expanded (``variants.py``) and the
suite's ``before``/``after`` steps put around each check's own; then each step
against the definition of its action (``actions.ACTIONS``), the templates'
syntax, ``message:`` specs, and whether each step's action and expectations fit
the protocol of the connection it runs on. Errors are collected so a user sees
every problem of a file at once; they are raised as one ``ScenarioError``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from harness.config.duration import parse_duration
from harness.config.yamlfile import ScenarioErrors, YamlFileLoader, load_all, locate
from harness.config.yamlload import LineDict
from harness.errors import ScenarioError
from harness.escapes import EscapeError, decode_escapes
from harness.protocol.protocols import Protocol
from harness.results import Level
from harness.message import MessageSpecError, spec_from_mapping
from harness.scenario.actions import ACTIONS
from harness.scenario.model import Check, Expect, ScenarioFile, Step, walk_protocols
from harness.scenario.needs import LEGACY_USERS, requires_mailboxes, steps_mailboxes, strings_in
from harness.scenario.templating import is_template, syntax_error
from harness.scenario.variants import expand_variants, without_variants

__all__ = ["load_file", "load_paths", "discover", "protocol_problems"]

_SCHEMA_PATH = Path(__file__).with_name("schema.yaml")


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    with open(_SCHEMA_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@functools.lru_cache(maxsize=64)
def _validator(ref: str) -> jsonschema.protocols.Validator:
    schema = _schema()
    target = schema if ref == "file" else {"$ref": f"#/$defs/{ref}", "$defs": schema["$defs"]}
    cls = jsonschema.validators.validator_for(schema)
    return cls(target)


class _FileLoader(YamlFileLoader):
    def validate(self, node: Any, ref: str, base: list[Any], root: Any) -> bool:
        return self.schema_errors(_validator(ref), node, base, root)

    def load(self) -> ScenarioFile:
        data = self.read_mapping("a scenario file must be a mapping with 'suite' and 'checks'")
        if not self.validate(data, "file", [], data):
            raise ScenarioErrors(self.errors)
        protocol = Protocol.parse(data.get("protocol", "smtp"))   # the schema allows only smtp|pop3
        defaults = {side: self.steps(data.get(side, ()), [side], data) or () for side in ("before", "after")}
        checks: list[Check] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(data["checks"]):
            for raw_check, base, root in self.expanded(raw, index, data):
                if not self.validate(raw_check, "check", base, root):
                    continue
                check = self.check(raw_check, data["suite"], protocol, defaults, base, root)
                if check is None:
                    continue
                if check.id in seen:
                    self.error(f"duplicate check id {check.id!r} (first at line {seen[check.id]})", check.line)
                seen[check.id] = check.line
                checks.append(check)
        if self.errors:
            raise ScenarioErrors(self.errors)
        return ScenarioFile(self.name, data["suite"], protocol, tuple(checks), data.get("description", ""))

    def expanded(self, raw: Any, index: int, data: LineDict) -> list[tuple[LineDict, list[Any], Any]]:
        """The checks one entry of ``checks`` stands for, each with its path and the root to find it in."""
        base: list[Any] = ["checks", index]
        if not isinstance(raw, LineDict):
            return [(raw, base, data)]          # the check schema says what it should be
        if "variants" not in raw:
            check, problems = without_variants(raw)
            for problem, line in problems:
                self.error(f"checks.{index}: {problem}", line)
            return [] if problems else [(check, base, data)]
        if not self.validate(raw, "variants_of", base, data):
            return []
        checks, problems = expand_variants(raw)
        for problem, line in problems:
            self.error(f"checks.{index}: {problem}", line)
        if problems:
            return []
        # An expanded check is nowhere in the file's tree: errors locate it in a root of its own,
        # under the same path, and its nodes keep the body's and the variant's line numbers.
        out = []
        for number, check in enumerate(checks, 1):
            key = f"{index}(variant {number})"
            root = LineDict({"checks": {key: check}})
            out.append((check, ["checks", key], root))
        return out

    def check(self, raw: LineDict, suite: str, protocol: Protocol, defaults: dict[str, tuple[Step, ...]],
              base: list[Any], root: Any) -> Check | None:
        own = self.steps(raw["steps"], base + ["steps"], root)
        around = {side: self.steps(raw[side], base + [side], root) if side in raw else defaults[side]
                  for side in ("before", "after")}
        if own is None or around["before"] is None or around["after"] is None:
            return None
        steps = around["before"] + own + around["after"]
        requires = tuple(raw.get("requires", ()))
        check_protocol = Protocol.parse(raw.get("protocol", protocol))
        connect = raw.get("connect", True)
        for line, problem in protocol_problems(steps, check_protocol, connect):
            self.error(f"{'.'.join(map(str, base))}: {problem}", line)
        mailboxes = max(steps_mailboxes(steps, check_protocol, connect), raw.get("mailboxes", 0),
                        requires_mailboxes(requires))
        return Check(
            id=raw["id"], title=raw["title"], level=Level(raw["level"]), rfc=tuple(raw["rfc"]),
            steps=steps, suite=suite, file=self.name, line=raw.line,
            protocol=check_protocol, rationale=raw.get("rationale", ""),
            quote=(raw["quote"]["rfc"], " ".join(raw["quote"]["text"].split())) if "quote" in raw else None,
            tags=tuple(raw.get("tags", ())),
            requires=tuple(r for r in requires if not LEGACY_USERS.match(r)),   # folded into mailboxes
            tls=raw.get("tls", "target"), connect=connect,
            timeout=parse_duration(raw.get("timeout", 60)), defects=tuple(raw.get("defects", ())),
            mailboxes=mailboxes,
        )

    def steps(self, raw_steps: list[Any], base: list[Any], root: Any) -> tuple[Step, ...] | None:
        out: list[Step] = []
        ok = True
        lines = getattr(raw_steps, "item_lines", [])
        for index, raw in enumerate(raw_steps):
            if isinstance(raw, str):
                # a bare action name: the action without a value (its line is the list item's)
                bare = LineDict({raw: None})
                bare.line = bare.end_line = lines[index] if index < len(lines) else getattr(raw_steps, "line", 0)
                bare.key_lines[raw] = bare.line
                raw = bare
            step = self.step(raw, base + [index], root)
            if step is None:
                ok = False
            else:
                out.append(step)
        return tuple(out) if ok else None

    def step(self, raw: Any, path: list[Any], root: Any) -> Step | None:
        line = getattr(raw, "line", 0)
        actions = [key for key in ACTIONS if key in raw]
        # "expect" rides along with most actions; it is the action only when alone.
        if len(actions) > 1 and "expect" in actions:
            actions.remove("expect")
        if len(actions) != 1:
            where = ".".join(map(str, path))
            if not actions:
                keys = ", ".join(map(repr, raw)) or "nothing"
                self.error(f"{where}: a step needs one action ({', '.join(ACTIONS)}); got {keys}", line,
                           getattr(raw, "end_line", line))
            else:
                self.error(f"{where}: a step has exactly one action, got {', '.join(actions)}", line)
            return None
        action = actions[0]
        if not self.validate(raw, f"step_{action}", path, root):
            return None
        self.templates(raw, path, root)
        if isinstance(raw[action], dict) and isinstance(raw[action].get("message"), dict):   # retrieve names one
            self.message(raw[action]["message"], path + [action, "message"], root)
        expects = self.expects(raw.get("expect"), path + ["expect"], root)
        if action == "greeting" and raw["greeting"]:
            expects = self.expects(raw["greeting"], path + ["greeting"], root)
        children: tuple[Step, ...] = ()
        if action == "repeat":
            children = self.steps(raw["steps"], path + ["steps"], root) or ()
        options = tuple((k, _freeze(v)) for k, v in raw.items()
                        if k not in (action, "expect", "conn", "steps", "note"))
        return Step(action, _freeze(raw[action]), line, expects, raw.get("conn"), options, children)

    def message(self, spec: Any, path: list[Any], root: Any) -> None:
        """A ``message:`` spec, as far as it can be judged before its templates are rendered."""
        try:
            spec_from_mapping(_untemplated(spec))
        except MessageSpecError as exc:
            where = [int(p) if p.isdigit() else p for p in _SPEC_PATH.findall(exc.path)]
            if any(is_template(s) for s in strings_in(_at(spec, where))):
                return      # judged once rendered, when the check runs
            line, end = locate(root, path + where)
            self.error(f"{'.'.join(map(str, path))}: {exc}", line, end)

    def templates(self, node: Any, path: list[Any], root: Any) -> None:
        if isinstance(node, str):
            problem = syntax_error(node)
            if problem is None and path[-1] in _ESCAPED_KEYS and not is_template(node):
                try:
                    decode_escapes(node)
                except EscapeError as exc:
                    problem = str(exc)
            if problem:
                line, end = locate(root, path)
                self.error(f"{'.'.join(map(str, path))}: {problem}", line, end)
        elif isinstance(node, dict):
            for key, value in node.items():
                self.templates(value, path + [key], root)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                self.templates(value, path + [index], root)

    def expects(self, raw: Any, path: list[Any], root: Any) -> tuple[Expect, ...]:
        if raw is None:
            return ()
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for index, item in enumerate(items):
            item_path = path + [index] if isinstance(raw, list) else path
            try:
                out.append(_expect(item))
            except re.error as exc:
                line, end = locate(root, item_path)
                self.error(f"{'.'.join(map(str, item_path))}: invalid regular expression: {exc}", line, end)
        return tuple(out)


def protocol_problems(steps: tuple[Step, ...], protocol: Protocol, connect: bool) -> list[tuple[int, str]]:
    """(line, problem) for each step that cannot work on the connection it runs on: an action or an
    expectation of the other protocol, or no connection open at all."""
    problems: list[tuple[int, str]] = []
    for step, on in walk_protocols(steps, protocol, connect):
        action = ACTIONS[step.action]
        if on is None:
            if action.on_connection and step.option("when") is None:
                where = f"no connection named {step.conn!r}" if step.conn else "no connection"
                problems.append((step.line, f"{step.action}: runs on {where}: open one first (connect:)"))
            continue
        if action.protocol not in (None, on):
            problems.append((step.line, f"{step.action} is {action.protocol.name} only, but this step "
                                        f"runs on a {on.name} connection"))
        other = Protocol.POP3 if on is Protocol.SMTP else Protocol.SMTP
        for expect in step.expects:
            wrong = [_YAML_KEY.get(name, name) for name in expect.only_for(other)]
            if wrong:
                problems.append((expect.line or step.line,
                                 f"{step.action}: expect {', '.join(wrong)} judge{'s' if len(wrong) == 1 else ''} "
                                 f"{other.name} replies only, but this step runs on a {on.name} connection"))
    return problems


_YAML_KEY = {"klass": "class"}
_SPEC_PATH = re.compile(r"[^.\[\]]+")


def _at(node: Any, path: list[Any]) -> Any:
    """The value at ``path`` in ``node``, or the deepest one on the way there."""
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return node


def _untemplated(node: Any) -> Any:
    """``node`` with each template replaced by "0", a value every string and count of a spec accepts."""
    if isinstance(node, str):
        return "0" if is_template(node) else node
    if isinstance(node, dict):
        return {k: _untemplated(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_untemplated(v) for v in node]
    return node


def _codes(value: Any) -> frozenset[int] | None:
    if value is None:
        return None
    return frozenset(value if isinstance(value, list) else [value])


def _regex(pattern: str | None) -> str | None:
    """Check a regex now unless it is a template (then it is compiled when judged)."""
    if pattern is not None and not is_template(pattern):
        re.compile(pattern, re.MULTILINE)
    return pattern


def _expect(raw: dict[str, Any]) -> Expect:
    klass = raw.get("class")
    return Expect(
        line=getattr(raw, "line", 0),
        code=_codes(raw.get("code")), not_code=_codes(raw.get("not_code")),
        klass=frozenset(klass if isinstance(klass, list) else [klass]) if klass is not None else None,
        enhanced=raw.get("enhanced"), enhanced_class=raw.get("enhanced_class"),
        text=_regex(raw.get("text")),
        multiline=raw.get("multiline"),
        capabilities=tuple(raw.get("capabilities", ())),
        no_capabilities=tuple(raw.get("no_capabilities", ())),
        ok=raw.get("ok"), continuation=raw.get("continuation"), resp_code=raw.get("resp_code"),
        body=_regex(raw.get("body")),
        body_lines=raw.get("body_lines"), min_body_lines=raw.get("min_body_lines"),
        stuffed=raw.get("stuffed"), closed=raw.get("closed", False), or_closed=raw.get("or_closed", False),
        nothing=parse_duration(raw["nothing"]) if "nothing" in raw else None,
        violations=raw.get("violations", "fail"),
        timeout=parse_duration(raw["timeout"]) if "timeout" in raw else None,
        capture=tuple((k, re.compile(v)) for k, v in raw.get("capture", {}).items()),
    )


# Values that go through decode_escapes when sent: check them at load time.
_ESCAPED_KEYS = frozenset({"send_raw", "raw", "end", "data", "body_bytes"})


class _FrozenDict(dict):
    """A read-only mapping for step values (hashable enough for our use, never mutated)."""

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("scenario step values are read-only")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _readonly  # type: ignore


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return _FrozenDict({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def load_file(path: Path | str) -> ScenarioFile:
    return _FileLoader(Path(path)).load()


def discover(paths: Iterable[Path | str]) -> list[Path]:
    """YAML files under the given paths, sorted; ``load/`` profile folders are not scenario suites."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(f for f in p.rglob("*.y*ml")
                            if f.suffix in (".yaml", ".yml") and "load" not in f.relative_to(p).parts[:-1])
        elif p.exists():
            found.append(p)
        else:
            raise ScenarioError("no such file or directory", file=str(p))
    return found


def load_paths(paths: Iterable[Path | str]) -> list[ScenarioFile]:
    """Load every file; report the problems of all files together."""
    files = load_all(functools.partial(load_file, path) for path in discover(paths))
    ids: dict[str, str] = {}
    for f in files:
        for c in f.checks:
            if c.id in ids and ids[c.id] != c.source:
                raise ScenarioError(f"check id {c.id!r} is also defined at {ids[c.id]}",
                                    file=c.file, line=c.line)
            ids[c.id] = c.source
    return files
