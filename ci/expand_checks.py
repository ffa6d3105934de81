"""Every bundled check fully expanded, as canonical JSON; or the difference between two trees.

A check is what the loader hands the runner: id, level, quote, defects, its steps with their
values, options and expectations, nested steps included. Line numbers and the file's directory are
left out, so restructuring a file (suite defaults, variants) changes nothing here while any change to
what a check does shows up.

    python ci/expand_checks.py                        # dump this tree's scenarios/ as JSON
    python ci/expand_checks.py --dump out.json        # ... into a file
    python ci/expand_checks.py --before /other/tree   # compare: exit 1 and list what differs

Both sides are loaded with this tree's loader (it reads every older form too), from
``<tree>/scenarios``; ``--before`` also takes a JSON dump written earlier.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.scenario.loader import load_paths  # noqa: E402

__all__ = ["expanded", "canonical", "differences", "main"]

_SKIP = frozenset({"line", "file"})      # where a value was written, not what it is


def canonical(value: Any) -> Any:
    """Plain JSON data for a model value; sets sorted, regexes as their pattern."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name not in _SKIP}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, (set, frozenset)):
        return sorted(canonical(v) for v in value)
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def expanded(tree: Path) -> dict[str, Any]:
    """check id -> the check as canonical data, with the scenario file's name as ``file``."""
    out: dict[str, Any] = {}
    for scenario in load_paths([tree / "scenarios"]):
        for check in scenario.checks:
            out[check.id] = {"file": Path(check.file).name, **canonical(check)}
    return dict(sorted(out.items()))


def _paths(a: Any, b: Any, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _paths(a.get(key, "<missing>"), b.get(key, "<missing>"), f"{where}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in _paths(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {json.dumps(a)[:200]} -> {json.dumps(b)[:200]}"]


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per difference: a check only on one side, or a field path whose value changed."""
    out = [f"{cid}: only before" for cid in sorted(set(before) - set(after))]
    out += [f"{cid}: only after" for cid in sorted(set(after) - set(before))]
    for cid in sorted(set(before) & set(after)):
        out += _paths(before[cid], after[cid], cid)
    return out


def _side(arg: str) -> dict[str, Any]:
    path = Path(arg)
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    return expanded(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(REPO), help="the tree to expand (default: this one)")
    parser.add_argument("--before", help="a tree or JSON dump to compare --tree with")
    parser.add_argument("--dump", help="write the JSON here instead of stdout")
    args = parser.parse_args(argv)
    after = _side(args.tree)
    if args.before:
        diff = differences(_side(args.before), after)
        for line in diff:
            print(line)
        print(f"{len(after)} checks; {len(diff)} difference(s)", file=sys.stderr)
        return 1 if diff else 0
    text = json.dumps(after, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if args.dump:
        Path(args.dump).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
