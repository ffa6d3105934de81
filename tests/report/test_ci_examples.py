"""The CI pipeline examples in ci/ only use mailharness commands and options that exist."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [ROOT / "ci" / "github-actions.yml", ROOT / "ci" / "gitlab-ci.yml"]
SHELL_KEYS = {"run", "script", "before_script", "after_script"}
SHELL_STOP = {"||", "&&", ";", "|", "&", ">", "2>&1", ")", "fi", "then", "else"}


def _shell_texts(node, key=None):
    """Every shell snippet in a workflow / pipeline file (GitHub `run:`, GitLab `script:` lists)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _shell_texts(v, k)
    elif isinstance(node, list):
        for item in node:
            yield from _shell_texts(item, key)
    elif isinstance(node, str) and key in SHELL_KEYS:
        yield node


def mailharness_commands(path: Path) -> list[list[str]]:
    commands = []
    for text in _shell_texts(yaml.safe_load(path.read_text())):
        text = text.replace("\\\n", " ")
        for line in text.splitlines():
            for m in re.finditer(r"(?:^|[\s;&|(])mailharness\s+(.*)", line):
                tokens = shlex.split(m.group(1), comments=True)
                cut = next((i for i, t in enumerate(tokens) if t in SHELL_STOP or t.startswith(">")), len(tokens))
                commands.append(tokens[:cut])
    return commands


@cache
def help_text(sub: str) -> str:
    r = subprocess.run([sys.executable, "-m", "harness", sub, "--help"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 0, f"mailharness {sub} --help failed: {r.stderr}"
    return r.stdout


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_use_existing_commands_and_options(path):
    commands = mailharness_commands(path)
    subs = {c[0] for c in commands}
    assert {"serve", "run"} <= subs, f"{path.name}: expected to start a server and run the checks"
    for tokens in commands:
        sub, args = tokens[0], tokens[1:]
        text = help_text(sub)
        for arg in args:
            if arg.startswith("-") and arg != "-":
                option = arg.split("=", 1)[0]
                assert re.search(rf"(^|[\s,\[]){re.escape(option)}\b", text), \
                    f"{path.name}: `mailharness {sub}` has no option {option}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_publish_junit_and_the_html_report(path):
    text = path.read_text()
    commands = mailharness_commands(path)
    assert any("--junit" in c for c in commands if c[0] == "run")
    assert any("--baseline" in c for c in commands if c[0] == "run")
    assert "junit.xml" in text and "report.html" in text


def test_parser_finds_continued_lines(tmp_path):
    doc = {"jobs": {"j": {"steps": [{"run": "mailharness run --target t.yaml \\\n  --junit x.xml || true"}]}}}
    p = tmp_path / "probe.yml"
    p.write_text(yaml.safe_dump(doc))
    assert mailharness_commands(p) == [["run", "--target", "t.yaml", "--junit", "x.xml"]]
