"""docs/coverage.md maps every requirement of docs/coverage-inventory.yaml to checks, or says why not.

The generator is ``ci/coverage.py``; these tests fail on an item with no checks, load profile,
unobservable reason or open note, on a check id that does not exist, and on a stale docs/coverage.md.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("mailharness_ci_coverage", REPO / "ci" / "coverage.py")
assert _spec is not None and _spec.loader is not None
coverage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(coverage)


def test_every_item_is_mapped_and_every_check_exists() -> None:
    _, issues = coverage.build()
    assert not issues, "docs/coverage-inventory.yaml:\n" + "\n".join(issues)


def test_coverage_md_is_up_to_date() -> None:
    text, _ = coverage.build()
    assert coverage.OUTPUT.read_text(encoding="utf-8") == text, "docs/coverage.md is stale: run python ci/coverage.py"


def test_an_item_with_neither_checks_nor_a_reason_is_reported() -> None:
    data = {"items": [{"id": "Z1", "rfc": "1#1", "req": "r"},
                      {"id": "Z2", "rfc": "1#1", "req": "r", "checks": ["no.such-check"]},
                      {"id": "Z3", "rfc": "1#1", "req": "r", "unobservable": "why"}]}
    issues = coverage.problems(data, {"a.check"}, set())
    assert issues == ["Z1: no checks, load profile, unobservable reason or open note",
                      "Z2: unknown check no.such-check"]
    assert [coverage.classify(i) for i in data["items"]] == ["unmapped", "covered", "unobservable"]


def test_an_open_item_fails() -> None:
    """Every observable requirement has its check: an item left ``open`` is a failure, not a note."""
    data = {"items": [{"id": "Z4", "rfc": "1#1", "req": "r", "open": "no check yet"}]}
    assert coverage.classify(data["items"][0]) == "open"
    assert coverage.problems(data, set(), set()) == [
        "Z4: open (observable, no check yet): write its check, or say why it is unobservable"]


def test_a_side_needs_checks_or_a_reason() -> None:
    data = {"items": [], "sides": [{"rule": "R", "sides": [
        {"side": "tested", "checks": ["a.check"]},
        {"side": "excused", "checks": [], "unobservable": "why"},
        {"side": "forgotten", "checks": []}]}]}
    assert coverage.problems(data, {"a.check"}, set()) == ["sides/forgotten: no checks and no unobservable reason"]
    text = coverage.render(data, {"a.check": "MUST"})
    assert "1 of 3 sides tested, 1 unobservable." in text and "| excused | unobservable: why |" in text


def test_the_inventory_has_no_open_item() -> None:
    data = coverage.load_inventory()
    still_open = [i["id"] for i in data["items"] if coverage.classify(i) == "open"]
    assert not still_open, f"open coverage items (write their checks): {still_open}"
