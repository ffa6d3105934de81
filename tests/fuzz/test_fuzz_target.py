"""The atheris target in benchmarks/fuzz_parsers.py stays runnable: seeds plus a 2 s random run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_parsers.py"


def load():
    spec = importlib.util.spec_from_file_location("fuzz_parsers", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seeds_and_short_random_run(tmp_path: Path, monkeypatch) -> None:
    fuzz = load()
    for seed in fuzz.SEEDS:
        fuzz.one_input(seed)
    monkeypatch.chdir(tmp_path)
    assert fuzz.random_fuzz(2.0, seed=7) == 0
    assert fuzz.COUNT > 1000
