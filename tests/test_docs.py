"""The repository documents itself: no references to design files users never see, no dead docs links.

The project's design notes live outside the repository. Code, tests and docs must
point at the repository's own ``docs/`` instead (``docs/architecture.md``,
``docs/results.md``, ...), so every file tracked by git is scanned for the names
of the external files.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve()

# References to the external design set. ``architecture.md`` is allowed only as
# ``docs/architecture.md``, the repository's own page.
FORBIDDEN = re.compile(
    r"shared/design"
    r"|product\.md"
    r"|field[- ]notes"
    r"|rfc[- ]inventory"
    r"|(?<!docs/)architecture\.md"
    r"|architecture principle",
    re.IGNORECASE,
)
DOCS_LINK = re.compile(r"docs/[A-Za-z0-9_.-]+\.md")


def tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [REPO / name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]


def forbidden_references(path: Path, root: Path = REPO) -> list[str]:
    """``path:line: text`` for every line that names an external design file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []          # binary files, or deleted in the working tree
    rel = path.relative_to(root)
    return [f"{rel}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1)
            if FORBIDDEN.search(line)]


@pytest.mark.parametrize("text, bad", [
    ("see docs/architecture.md", False),
    ("[docs/architecture.md](docs/architecture.md)", False),
    ("the results contract (docs/results.md)", False),
    ("(architecture.md principle 7)", True),
    ('(architecture.md, "Process boundaries")', True),
    ("product.md's format", True),
    ("# field-notes.md: small backlogs", True),
    ("(field notes)", True),
    ("(rfc-inventory C.4)", True),
    ("/work/shared/design/field-notes.md", True),
    ("Architecture principle 11", True),
])
def test_pattern(text: str, bad: bool) -> None:
    assert bool(FORBIDDEN.search(text)) is bad


def test_no_file_cites_the_external_design_files() -> None:
    hits = [hit for path in tracked_files() if path != THIS for hit in forbidden_references(path)]
    assert not hits, ("point at the repository's docs/ instead of design files users never see:\n"
                      + "\n".join(hits))


def test_the_check_catches_a_citation(tmp_path: Path) -> None:
    # The scan must fail on a planted citation, or a broken scan would pass forever.
    planted = tmp_path / "x.py"
    planted.write_text('"""Errors (product.md)."""\nOK = 1  # see docs/architecture.md\n', encoding="utf-8")
    assert forbidden_references(planted, tmp_path) == ['x.py:1: """Errors (product.md)."""']


def test_docs_links_in_readme_and_docs_exist() -> None:
    sources = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    missing = []
    for src in sources:
        for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
            for link in DOCS_LINK.findall(line):
                if not (REPO / link).is_file():
                    missing.append(f"{src.relative_to(REPO)}:{n}: {link}")
    assert not missing, "links to docs/ files that do not exist:\n" + "\n".join(missing)


def test_readme_lists_every_doc() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Documentation", 1)
    assert len(section) == 2, "README.md has no '## Documentation' section"
    listed = set(DOCS_LINK.findall(section[1].split("\n## ", 1)[0]))
    on_disk = {f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")}
    assert on_disk <= listed, f"add to README's Documentation section: {sorted(on_disk - listed)}"
