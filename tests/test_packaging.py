"""Packaging: the wheel carries every bundled suite, load profile and data file; pyproject.toml declares
every third-party module that harness/ imports; the bundled suites are found in a checkout and when
installed.

``.ci/run`` builds the wheel (sdist, then the wheel from the sdist), installs it and passes its path in
``MAILHARNESS_WHEEL``; without that variable the wheel is built here the same way from a copy of the
checkout (``python -m build``, which fetches setuptools into an isolated environment).
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import harness
from harness import bundled
from harness.errors import ScenarioError

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
HARNESS = REPO / "harness"


def _copy_ignore(folder: str, names: list[str]) -> set[str]:
    skip = {".git", "build", "dist", "reports", "__pycache__", ".hypothesis", ".pytest_cache"}
    return {n for n in names if n in skip or n.endswith(".egg-info") or n.startswith(".venv")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("MAILHARNESS_WHEEL")
    if given:
        path = Path(given)
        assert path.is_file(), f"MAILHARNESS_WHEEL={given} is not a file"
        return path
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=_copy_ignore)       # a build writes into its source folder
    r = subprocess.run([sys.executable, "-m", "build", "--outdir", str(tmp / "dist"), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (path,) = (tmp / "dist").glob("mailharness-*.whl")
    return path


@pytest.fixture(scope="module")
def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return {n for n in z.namelist() if not n.endswith("/")}


def test_wheel_carries_every_bundled_suite_and_load_profile(wheel_files: set[str]) -> None:
    suites = sorted(SCENARIOS.glob("*.yaml"))
    profiles = sorted((SCENARIOS / "load").glob("*.yaml"))
    assert len(suites) >= 10 and len(profiles) >= 5
    expected = {f"harness/bundled_scenarios/{p.relative_to(SCENARIOS).as_posix()}" for p in suites + profiles}
    assert sorted(expected - wheel_files) == []


def test_wheel_carries_the_package_data(wheel_files: set[str]) -> None:
    templates = sorted((HARNESS / "report" / "templates").iterdir())
    assert templates
    expected = {f"harness/report/templates/{t.name}" for t in templates}
    expected |= {"harness/scenario/schema.yaml", "harness/py.typed"}
    assert sorted(expected - wheel_files) == []


def test_wheel_carries_every_module(wheel_files: set[str]) -> None:
    # pyproject.toml lists the packages (a mapped package cannot be found): a new subpackage must be added
    modules = {p.relative_to(REPO).as_posix() for p in HARNESS.rglob("*.py") if "__pycache__" not in p.parts}
    assert "harness/load/locustfile.py" in modules
    assert sorted(modules - wheel_files) == []


def test_wheel_holds_only_the_package(wheel_files: set[str]) -> None:
    tops = {n.split("/")[0] for n in wheel_files}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"harness"}, tops
    # scenarios/gen/ generates pop3-states.yaml; it is not needed at run time
    assert not [n for n in wheel_files if n.startswith("harness/bundled_scenarios/gen/")]


def _third_party_imports() -> dict[str, str]:
    """Top-level module → the first file of harness/ importing it, for modules outside the stdlib."""
    found: dict[str, str] = {}
    for path in sorted(HARNESS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("harness", "__future__"):
                    found.setdefault(top, str(path.relative_to(REPO)))
    return found


def test_dependencies_cover_every_third_party_import() -> None:
    imports = _third_party_imports()
    assert {"yaml", "jinja2", "hdrh", "gevent", "locust"} <= set(imports)      # the scan sees them
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {canonicalize_name(Requirement(r).name) for r in pyproject["project"]["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, where in sorted(imports.items()):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists:
            problems.append(f"{module} (imported by {where}): no installed distribution provides it")
        elif not dists & declared:
            problems.append(f"{module} (imported by {where}): {', '.join(sorted(dists))} "
                            f"missing from [project.dependencies]")
    assert problems == []


# -- where the bundled suites are ----------------------------------------------------------------

def test_scenario_paths_prefer_the_installed_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILHARNESS_SCENARIOS", raising=False)
    installed, checkout = tmp_path / "harness" / "bundled_scenarios", tmp_path / "scenarios"
    monkeypatch.setattr(bundled, "INSTALLED", installed)
    monkeypatch.setattr(bundled, "CHECKOUT", checkout)
    with pytest.raises(ScenarioError, match="bundled scenarios are missing"):
        bundled.scenario_paths()
    checkout.mkdir()
    assert bundled.scenario_paths() == [checkout]
    installed.mkdir(parents=True)
    assert bundled.scenario_paths() == [installed]
    monkeypatch.setenv("MAILHARNESS_SCENARIOS", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    assert bundled.scenario_paths() == [tmp_path / "a", tmp_path / "b"]


def test_bundled_profile_names_match_their_files(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.load.profile import load_profile
    monkeypatch.delenv("MAILHARNESS_SCENARIOS", raising=False)
    names = bundled.profile_names()
    assert {"smtp-throughput", "pop3-drain", "mixed", "roundtrip", "smtp-arrival"} <= set(names)
    for name, path in names.items():
        assert load_profile(path).name == name, path        # `list --profiles` shows what `load` accepts


@pytest.mark.skipif(not os.environ.get("MAILHARNESS_TEST_INSTALLED"),
                    reason="only when the tests run against an installed wheel (.ci/run sets MAILHARNESS_TEST_INSTALLED)")
def test_tests_import_the_installed_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILHARNESS_SCENARIOS", raising=False)
    package = Path(harness.__file__).resolve().parent
    assert REPO not in package.parents, f"harness imported from the checkout ({package}), not the wheel"
    (root,) = bundled.scenario_paths()
    assert root == package / "bundled_scenarios"
    shipped = {p.relative_to(root): p.read_bytes() for p in root.rglob("*.yaml")}
    source = {p.relative_to(SCENARIOS): p.read_bytes() for p in [*SCENARIOS.glob("*.yaml"),
                                                                  *SCENARIOS.glob("load/*.yaml")]}
    assert shipped == source
