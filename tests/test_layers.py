"""The import graph of ``harness``: no cycles, and no import against the layer order.

The graph is read from the source with ``ast`` (nothing is imported), one node per module. Every
``import harness.x`` and ``from .x import y`` is an edge, wherever it stands: at the top, inside a
function (a lazy import) or under ``if TYPE_CHECKING``. A lazy import still makes its module depend
on the other one; it only delays the cost (scapy, locust, the reference server). Counting it means a
lazy import cannot hide a cycle or an upward dependency, which is what such imports were once used
for here. ``from harness.pkg import name`` is an edge to ``harness.pkg.name`` when that is a module,
else to the package's ``__init__``. The implicit import of a parent package is not an edge: every
submodule import has one, and it would turn each package that re-exports its modules into a cycle.

``LAYERS`` is the table of docs/architecture.md ("Layers"); ``test_docs_table_matches`` keeps the
two equal. A unit is a top-level module or package of ``harness/`` (``__init__`` is the package
itself). A module may import its own unit and any unit of a lower layer; units of one layer are
independent of each other.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "harness"
DOC = ROOT / "docs/architecture.md"

# Bottom to top: (layer name, units). Keep in sync with docs/architecture.md (test_docs_table_matches).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("__init__", "errors", "untrusted", "rootcause")),
    ("protocol", ("protocol",)),
    ("values and wire", ("escapes", "wire", "results", "bundled")),
    ("files and bytes", ("config", "transcript", "message", "capture")),
    ("session", ("session",)),
    ("engines", ("scenario", "report", "refserver")),
    ("run setup and output", ("embedded", "terminal")),
    ("load", ("load",)),
    ("front ends", ("cli", "pytest_plugin")),
    ("entry point", ("__main__",)),
)

# Stricter than the layers: the sans-I/O protocol core needs nothing of harness but its exceptions.
ONLY: dict[str, frozenset[str]] = {"protocol": frozenset({"errors"})}

# Modules that run only in Locust's processes (docs/architecture.md, "Load"): `import locust` patches
# the process with gevent and hangs with other threads alive, so nothing else may import them, and
# nothing else may import locust or gevent, not even lazily.
LOCUST_SIDE = frozenset({"harness.load.locustfile", "harness.load.locust_shape", "harness.load.runtime",
                         "harness.load.webui", "harness.wire.hub"})
LOCUST_LIBS = ("locust", "gevent")

LAYER_OF = {unit: n for n, (_, units) in enumerate(LAYERS) for unit in units}


@dataclass(frozen=True, slots=True)
class Edge:
    source: str          # importing module, dotted
    target: str          # imported module, dotted
    names: tuple[str, ...]
    where: str           # harness/x/y.py:LINE

    def __str__(self) -> str:
        what = f" ({', '.join(self.names)})" if self.names else ""
        return f"{self.where}: {self.source} imports {self.target}{what}"


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _edges_of(module: str) -> tuple[list[Edge], list[tuple[str, str]]]:
    """Edges to harness modules, and (third-party top-level name, where) of every other import."""
    path = MODULES[module]
    rel = path.relative_to(ROOT)
    edges: list[Edge] = []
    external: list[tuple[str, str]] = []
    package = module if _is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(rel))):
        where = f"{rel}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "harness" or alias.name.startswith("harness."):
                    edges.append(Edge(module, alias.name, (), where))
                else:
                    external.append((alias.name.partition(".")[0], where))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not (target == "harness" or target.startswith("harness.")):
                external.append((target.partition(".")[0], where))
                continue
            plain = []
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    edges.append(Edge(module, sub, (), where))
                else:
                    plain.append(alias.name)
            if plain:
                edges.append(Edge(module, target, tuple(plain), where))
    return edges, external


GRAPH: dict[str, list[Edge]] = {}
EXTERNAL: dict[str, list[tuple[str, str]]] = {}
for _module in MODULES:
    GRAPH[_module], EXTERNAL[_module] = _edges_of(_module)


def unit(module: str) -> str:
    if module == "harness":
        return "__init__"
    return module.split(".")[1]


def _private(edge: Edge) -> list[str]:
    """The private (single underscore) parts of what ``edge`` reaches: module path parts and names."""
    parts = edge.target.split(".") + list(edge.names)
    return [p for p in parts if p.startswith("_") and not (p.startswith("__") and p.endswith("__"))]


def cycles(graph: dict[str, list[Edge]]) -> list[list[Edge]]:
    """Cycles as lists of edges: in each strongly connected component (Tarjan), the shortest cycle
    through each module that no cycle listed before passes through, so every module on a cycle is named."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:       # recursion depth is bounded by the ~150 modules
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for e in graph[v]:
            w = e.target
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or any(e.target == v for e in graph[v]):
                components.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    out = []
    for comp in components:
        members = set(comp)
        covered: set[str] = set()
        for start in comp:           # breadth-first back to start: the shortest cycle through it
            if start in covered:
                continue
            paths: dict[str, list[Edge]] = {start: []}
            queue = [start]
            found = None
            while queue and found is None:
                v = queue.pop(0)
                for e in graph[v]:
                    if e.target == start:
                        found = paths[v] + [e]
                        break
                    if e.target in members and e.target not in paths:
                        paths[e.target] = paths[v] + [e]
                        queue.append(e.target)
            assert found is not None, start          # every member of a component is on a cycle
            covered.update(e.source for e in found)
            out.append(found)
    return out


def test_every_import_resolves_to_a_module() -> None:
    """A typo or a moved module must fail here too, not only when the line runs."""
    missing = [str(e) for edges in GRAPH.values() for e in edges if e.target not in MODULES]
    assert not missing, "imports of harness modules that do not exist:\n" + "\n".join(missing)


def cycle_text(cycle: list[Edge]) -> str:
    chain = " -> ".join([cycle[0].source] + [e.target for e in cycle])
    return f"cycle {chain}\n" + "\n".join(f"    {e}" for e in cycle)


def test_no_import_cycles() -> None:
    found = cycles(GRAPH)
    text = [cycle_text(c) for c in found]
    assert not found, ("import cycles (break each by moving what both sides need into a lower module; "
                        "a lazy import does not count as a break):\n" + "\n".join(text))


def test_every_unit_has_a_layer() -> None:
    units = {unit(m) for m in MODULES}
    unknown = sorted(units - set(LAYER_OF))
    assert not unknown, (f"harness units without a layer: {', '.join(unknown)}; add each to LAYERS in "
                         "tests/test_layers.py and to the table in docs/architecture.md")
    gone = sorted(set(LAYER_OF) - units)
    assert not gone, f"LAYERS names units that no longer exist: {', '.join(gone)}"


def _layer_text(n: int) -> str:
    return f"layer {n} '{LAYERS[n][0]}'"


def layer_problems(graph: dict[str, list[Edge]]) -> list[str]:
    """Every edge against ``LAYERS``/``ONLY``, each with the rule it breaks."""
    wrong = []
    for edges in graph.values():
        for e in edges:
            src, dst = unit(e.source), unit(e.target)
            if src == dst or src not in LAYER_OF or dst not in LAYER_OF:
                continue
            ls, ld = LAYER_OF[src], LAYER_OF[dst]
            if src in ONLY and dst not in ONLY[src]:
                wrong.append(f"{e}\n    {src} may import only {', '.join(sorted(ONLY[src]))} of harness")
            elif ld > ls:
                wrong.append(f"{e}\n    upward: {src} is {_layer_text(ls)}, {dst} is {_layer_text(ld)}")
            elif ld == ls:
                wrong.append(f"{e}\n    sideways: {src} and {dst} are both {_layer_text(ls)}, "
                             "whose units must not import each other")
    return wrong


def test_imports_follow_the_layer_order() -> None:
    wrong = layer_problems(GRAPH)
    assert not wrong, "imports against the layer order (docs/architecture.md, \"Layers\"):\n" + "\n".join(wrong)


def test_no_private_imports_across_units() -> None:
    """What another unit needs is a public name (in ``__all__``) of the module it comes from."""
    wrong = [f"{e}\n    private: {', '.join(_private(e))}"
             for edges in GRAPH.values() for e in edges
             if unit(e.source) != unit(e.target) and _private(e)]
    assert not wrong, "private names imported from another unit:\n" + "\n".join(wrong)


def test_locust_side_stays_in_the_locust_processes() -> None:
    wrong = [f"{e}\n    only the Locust processes may import {e.target}"
             for module, edges in GRAPH.items() if module not in LOCUST_SIDE
             for e in edges if e.target in LOCUST_SIDE]
    wrong += [f"{where}: {module} imports {name}\n    only the Locust-side modules may import {name}"
              for module, imports in EXTERNAL.items() if module not in LOCUST_SIDE
              for name, where in imports if name in LOCUST_LIBS]
    assert not wrong, "\n".join(wrong)


_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|")


def test_docs_table_matches() -> None:
    """docs/architecture.md lists the same layers: ``| N | name | `unit`, `unit` | ... |`` rows."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            rows[int(m.group(1))] = (m.group(2), tuple(re.findall(r"`([^`]+)`", m.group(3))))
    doc = tuple(rows[n] for n in sorted(rows))
    assert doc == LAYERS, ("docs/architecture.md's layer table differs from LAYERS in tests/test_layers.py:\n"
                           f"docs:  {doc}\ntest:  {LAYERS}")


# -- the checker itself ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target, names, private", [
    ("harness.report._atomic", ("atomic_write_bytes",), ["_atomic"]),
    ("harness.config.yamlfile", ("_describe", "locate"), ["_describe"]),
    ("harness", ("__version__",), []),
])
def test_private_detection(target: str, names: tuple[str, ...], private: list[str]) -> None:
    assert _private(Edge("harness.load.run", target, names, "x.py:1")) == private


def test_graph_sees_lazy_and_relative_imports() -> None:
    """The cases the rules depend on: a function-level import, a relative import, a submodule by name."""
    targets = {e.target for e in GRAPH["harness.pytest_plugin"]}
    assert "harness.embedded" in targets                      # imported inside _runner()
    assert "harness.refserver.server" in {e.target for e in GRAPH["harness.refserver"]}   # from .server import
    assert "harness.capture" in {e.target for e in GRAPH["harness.cli"]}                  # from harness import capture


def _graph(*pairs: tuple[str, str]) -> dict[str, list[Edge]]:
    graph: dict[str, list[Edge]] = {}
    for n, (a, b) in enumerate(pairs):
        graph.setdefault(a, []).append(Edge(a, b, (), f"x.py:{n + 1}"))
        graph.setdefault(b, [])
    return graph


def test_cycle_finder() -> None:
    graph = _graph(("harness.a", "harness.b"), ("harness.b", "harness.c"), ("harness.c", "harness.a"),
                   ("harness.b", "harness.a"), ("harness.c", "harness.d"), ("harness.d", "harness.d"))
    found = sorted(cycles(graph), key=len)
    assert [[(e.source, e.target) for e in c] for c in found] == [
        [("harness.d", "harness.d")], [("harness.a", "harness.b"), ("harness.b", "harness.a")],
        [("harness.c", "harness.a"), ("harness.a", "harness.b"), ("harness.b", "harness.c")]]
    assert cycle_text(found[1]).startswith("cycle harness.a -> harness.b -> harness.a\n    x.py:1: ")
    assert cycles(_graph(("harness.a", "harness.b"), ("harness.a", "harness.c"), ("harness.b", "harness.c"))) == []


def test_layer_checker() -> None:
    graph = _graph(("harness.report.model", "harness.cli"), ("harness.refserver.smtp", "harness.scenario.model"),
                   ("harness.protocol.smtp", "harness.untrusted"), ("harness.load.run", "harness.report.jsonout"),
                   ("harness.report.model", "harness.report.baseline"))
    problems = layer_problems(graph)
    assert len(problems) == 3
    assert "upward: report is layer 5 'engines', cli is layer 8 'front ends'" in problems[0]
    assert "sideways: refserver and scenario are both layer 5 'engines'" in problems[1]
    assert "protocol may import only errors of harness" in problems[2]
