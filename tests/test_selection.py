"""-k selection: substrings of ids, titles, suites and tags, but a whole check id picks that check only."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario.loader import load_paths
from harness.scenario.runner import select_checks

FILES = load_paths([Path(__file__).resolve().parents[1] / "scenarios"])


def ids(expr: str) -> list[str]:
    return [c.id for c in select_checks(FILES, keyword=expr)]


def test_a_whole_id_selects_that_check_not_the_ids_it_prefixes():
    assert ids("smtp.help") == ["smtp.help"]
    assert sorted(ids("smtp.quit or smtp.help")) == ["smtp.help", "smtp.quit"]


def test_a_partial_word_still_matches_as_a_substring():
    picked = ids("smtp.hel")
    assert {"smtp.help", "smtp.help-advertised-works"} <= set(picked)


def test_not_and_parentheses_combine_with_exact_ids():
    picked = ids("help and not smtp.help")
    assert "smtp.help" not in picked and "smtp.help-advertised-works" in picked


def test_a_malformed_expression_is_a_scenario_error():
    with pytest.raises(ScenarioError):
        ids("smtp.help and")
