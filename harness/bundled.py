"""Where the bundled check suites and load profiles are, in a checkout and in an installed package.

The repository's top-level ``scenarios/`` folder is their single source. A wheel (and so any
non-editable install) carries it as ``harness/bundled_scenarios/`` (pyproject.toml maps the folder
into the package at build time); in a checkout, or an editable install of one, it is
``scenarios/`` beside ``harness/``. ``MAILHARNESS_SCENARIOS`` (paths separated by ``os.pathsep``)
replaces both. Load profiles are the YAML files in a ``load/`` folder below those paths; ``mailharness
load NAME`` finds one by its file name without ``.yaml``.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import ScenarioError

__all__ = ["find_profiles", "profile_names", "resolve_profile", "scenario_paths", "display_path"]

PACKAGE = Path(__file__).resolve().parent
INSTALLED = PACKAGE / "bundled_scenarios"      # in a wheel / non-editable install
CHECKOUT = PACKAGE.parent / "scenarios"         # in the source tree


def display_path(path: str | Path) -> str:
    """A scenario path as reports show it: ``scenarios/...`` for a bundled suite, else relative to the
    working folder when below it, else as given (never absolute to the machine that ran, if avoidable)."""
    text = str(path)
    p = Path(text)
    if not p.is_absolute():
        return text
    for root in (INSTALLED, CHECKOUT):
        try:
            return "scenarios/" + p.resolve().relative_to(root).as_posix()
        except (ValueError, OSError):
            continue
    try:
        return p.relative_to(Path.cwd()).as_posix()
    except (ValueError, OSError):
        return text


def scenario_paths() -> list[Path]:
    """The default paths of ``run``, ``list`` and ``validate``: the bundled suites (or the override)."""
    env = os.environ.get("MAILHARNESS_SCENARIOS")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    # The installed copy first: next to an installed package, ../scenarios is some other folder.
    for candidate in (INSTALLED, CHECKOUT):
        if candidate.is_dir():
            return [candidate]
    raise ScenarioError(f"the bundled scenarios are missing (neither {INSTALLED} nor {CHECKOUT} exists): "
                        f"a broken installation? Give scenario paths or set MAILHARNESS_SCENARIOS")


def find_profiles(paths: list[Path]) -> list[Path]:
    """Load profiles among the given paths: YAML files in (or under) a ``load/`` folder."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(f for f in p.rglob("*.y*ml") if f.suffix in (".yaml", ".yml")
                            and ("load" in f.relative_to(p).parts[:-1] or (p.name == "load" and f.parent == p)))
        elif "load" in p.parts[:-1] and p.suffix in (".yaml", ".yml"):
            found.append(p)
    return found


def profile_names() -> dict[str, Path]:
    """The bundled load profiles by name (the file name without ``.yaml``), sorted by name."""
    return {p.stem: p for p in sorted(find_profiles(scenario_paths()), key=lambda p: p.stem)}


def resolve_profile(arg: str | Path) -> Path:
    """``mailharness load`` 's argument → a profile file: an existing path, else a bundled profile's name.

    ``smtp-throughput`` and ``smtp-throughput.yaml`` both name the bundled profile (a file of that name
    in the current folder wins). A path with a folder in it is returned as it is, so the profile loader
    reports a missing one with its usual ``no such file`` error; an unknown bare name is an error that
    lists the bundled names.
    """
    path = Path(arg)
    if path.exists():
        return path
    text = str(arg)
    if os.sep in text or (os.altsep and os.altsep in text):
        return path
    name = text[: -len(path.suffix)] if path.suffix in (".yaml", ".yml") else text
    bundled = profile_names()
    if name in bundled:
        return bundled[name]
    known = ", ".join(bundled) or "none"
    raise ScenarioError(f"no load profile named {text!r}: neither a file nor a bundled profile "
                        f"(bundled: {known}; `mailharness list --profiles` describes them)")
