"""Generated scenario files are committed: they must equal their generator's output."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"gen_{name}", ROOT / "scenarios" / "gen" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pop3_state_matrix_is_up_to_date():
    gen = _load("pop3_states")
    committed = (ROOT / "scenarios" / "pop3-states.yaml").read_text()
    assert committed == gen.render(), "run: python scenarios/gen/pop3_states.py"


def test_pop3_state_matrix_covers_every_command_in_every_wrong_state():
    gen = _load("pop3_states")
    from harness.protocol.pop3_states import ALLOWED, Pop3State
    text = gen.render()
    a, t = Pop3State.AUTHORIZATION, Pop3State.TRANSACTION
    for verb in ALLOWED[t] - ALLOWED[a]:
        assert f"id: pop3.state.authorization.{verb.lower()}\n" in text, verb
    for verb in ALLOWED[a] - ALLOWED[t] - gen.NOT_GENERATED:
        assert f"id: pop3.state.transaction.{verb.lower()}\n" in text, verb
    for verb in ALLOWED[a] & ALLOWED[t]:
        assert f"id: pop3.state.authorization.{verb.lower()}\n" in text, verb
        assert f"id: pop3.state.transaction.{verb.lower()}\n" in text, verb
