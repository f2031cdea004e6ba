"""The layout's promise, checked: no import circles among ``acts`` and ``verify``
modules, and each layer imports only what sits below it (docs/design.md, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("acts", "verify")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, anywhere in its body (a deferred
    import inside a function still ties the two modules together)."""
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and not name.startswith(t + "."):  # a package's own parents are not edges
                    graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def test_the_walker_sees_a_planted_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    found = cycles(import_graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(g) for g in found)


# The floors of verify, lowest first (docs/design.md, "Layout"). A module imports only
# from floors below its own, or from its own package; the report reads results alone.
FLOORS: list[tuple[str, ...]] = [
    ("verify.errors", "verify.internals", "verify.profiles", "verify.tolerances", "verify.results",
     "verify.layout"),
    ("verify.subject", "verify.strategies"),
    ("verify.targets", "verify.halves"),
    ("verify.discover",),
    ("verify.analysis",),
    ("verify.checks",),
    ("verify.runner",),
    ("verify.progress", "verify.report"),  # what the front ends use
    ("verify.ci",),
    ("verify.cli", "verify.plugin", "verify.cuda_ready"),  # the front ends, and tox -e cuda's probe
    ("verify.__main__",),
]
REPORT_READS = ("verify.results", "verify.report")


def floor(module: str) -> tuple[int, str]:
    """(floor number, package) of a verify module."""
    for number, names in enumerate(FLOORS):
        for name in names:
            if module == name or module.startswith(name + "."):
                return number, name
    raise AssertionError(f"{module} is on no floor: add it to FLOORS (and to docs/design.md)")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in sorted(graph.items()):
        if module == "verify" or not module.startswith("verify"):
            continue
        here, package = floor(module)
        for t in sorted(targets):
            if not t.startswith("verify") or t == "verify":
                continue
            there, other = floor(t)
            if package == "verify.report" and not t.startswith(REPORT_READS):
                wrong.append(f"{module} -> {t}: the report reads results only")
            elif there > here or (there == here and other != package):
                wrong.append(f"{module} -> {t}")
    return wrong


def test_acts_imports_nothing_from_verify() -> None:
    graph = import_graph()
    assert not [f"{m} -> {t}" for m in graph if m.startswith("acts") for t in graph[m] if t.startswith("verify")]


def test_each_module_imports_only_from_below() -> None:
    wrong = upward_imports(import_graph())
    assert not wrong, "imports against the layout:\n" + "\n".join(wrong)


def test_the_walker_sees_a_planted_upward_import() -> None:
    planted = {"verify.subject": {"verify.runner"}, "verify.report.render": {"verify.checks.base"},
               "verify.checks.kinks": {"verify.checks.base"}}
    assert upward_imports(planted) == ["verify.report.render -> verify.checks.base: the report reads results only",
                                       "verify.subject -> verify.runner"]
