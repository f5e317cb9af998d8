"""The package's shape: no import cycles between its modules, and no module too long to read whole.

The import graph comes from the source (ast), not from importing it: every `import zsarbench.x` and
relative import counts, inside functions too (a deferred import hides a cycle, it does not remove
one), and so does a call of `importlib.import_module` or `__import__` with a literal module name
(a dynamic import is an import all the same), except those under `if TYPE_CHECKING:`, which never run."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from helpers import ROOT

PACKAGE = "zsarbench"
MAX_LINES = 400
LENGTH_CHECKED = [ROOT / "zsarbench", ROOT / "baselines" / "zsarbench_baselines"]


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (a package is its __init__)."""
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


DYNAMIC_IMPORTS = {"import_module", "__import__"}   # importlib.import_module(name[, package]), __import__(name)


def _literal(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dynamic_import(node: ast.Call, package: str) -> str | None:
    """The module a call `import_module("literal")` / `importlib.import_module(".x", "pkg")` /
    `__import__("literal")` imports (a relative name against its `package` argument, or against this
    module's package when that is `__package__`/`__name__`); None for any other call or a computed name."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if called not in DYNAMIC_IMPORTS or not node.args or (name := _literal(node.args[0])) is None:
        return None
    if not name.startswith(".") or called == "__import__":
        return name
    anchor = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "package"), None)
    base = _literal(anchor) if anchor is not None else None
    if base is None and isinstance(anchor, ast.Name) and anchor.id in ("__package__", "__name__"):
        base = package
    if base is None:
        return None
    level = len(name) - len(name.lstrip("."))
    parts = base.split(".")
    return ".".join(parts[:len(parts) - (level - 1)] + ([name.lstrip(".")] if name.lstrip(".") else []))


def _runtime_imports(tree: ast.AST):
    """Import nodes and dynamic-import calls that can run: all of them but those in `if TYPE_CHECKING:` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Call)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_modules(name: str, path: Path, modules: set[str]) -> set[str]:
    """The package's modules that module `name` imports, each as the most specific module named:
    `from .data import synth` imports zsarbench.data.synth, `from .errors import UserError` zsarbench.errors."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            targets = [t] if (t := _dynamic_import(node, package)) else []
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin
                       for alias in node.names]
        for target in targets:
            while target and target not in modules:  # `import zsarbench.x.attr` -> zsarbench.x
                target = target.rpartition(".")[0]
            if target and target.split(".")[0] == PACKAGE:
                found.add(target)
    return found


def import_graph(package_dir: Path = ROOT / PACKAGE) -> dict[str, set[str]]:
    files = module_files(package_dir)
    return {name: imported_modules(name, path, set(files)) for name, path in files.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One shortest import path from the component's first module back to itself (breadth first)."""
    start, members = component[0], set(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def import_cycles(graph: dict[str, set[str]]) -> list[str]:
    """Each import cycle of the graph, as its modules and one shortest path around it."""
    tangles = [c for c in strongly_connected(graph) if len(c) > 1 or c[0] in graph[c[0]]]
    return [f"{', '.join(c)}: e.g. {' -> '.join(a_cycle(graph, c))}" for c in tangles]


def test_no_import_cycles():
    graph = import_graph()
    assert "zsarbench.data.videoset" in graph and "zsarbench.protocol" in graph["zsarbench.data.synth"]
    cycles = import_cycles(graph)
    assert not cycles, "import cycles (break each by moving what both sides need into a leaf module):\n" + \
        "\n".join(cycles)


def test_a_re_added_dynamic_import_circle_fails_the_check(tmp_path):
    """The circle of zsarbench before the built-in methods became entry points: the registry imported
    them with importlib.import_module (a string, invisible to import statements), and they import the
    registry. Re-added to a copy of the package, in each spelling of a dynamic import, the check finds it."""
    pkg = tmp_path / PACKAGE
    shutil.copytree(ROOT / PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.toml"))
    assert not import_cycles(import_graph(pkg))
    (pkg / "methods" / "__init__.py").write_text("from . import rest  # noqa: F401\n")
    registry = (pkg / "registry.py").read_text()
    anchor = "    for ep in entry_points(group=ENTRY_POINT_GROUP):"
    assert anchor in registry
    for call in ('importlib.import_module("zsarbench.methods")', 'importlib.import_module(".methods", __package__)',
                 'importlib.import_module(".methods", package="zsarbench")', '__import__("zsarbench.methods")'):
        (pkg / "registry.py").write_text("import importlib\n" + registry.replace(anchor, f"    {call}\n{anchor}", 1))
        cycles = import_cycles(import_graph(pkg))
        assert len(cycles) == 1 and cycles[0].startswith(
            "zsarbench.methods, zsarbench.methods.rest, zsarbench.registry: e.g. "), (call, cycles)


def test_the_cycle_search_finds_cycles():
    graph = {"a": {"b"}, "b": {"c", "a"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert strongly_connected(graph) == [["d"], ["a", "b", "c"], ["e"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "a"]
    assert a_cycle(graph, ["e"]) == ["e", "e"]
    assert strongly_connected({"a": {"b"}, "b": set()}) == [["b"], ["a"]]


def test_imports_are_resolved_to_modules(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "data").mkdir(parents=True)
    for f in ("__init__.py", "errors.py", "data/__init__.py", "data/synth.py", "data/video.py"):
        (pkg / f).touch()
    (pkg / "data" / "synth.py").write_text(
        "from typing import TYPE_CHECKING\nfrom ..errors import UserError\nfrom . import video\n"
        "import numpy\nif TYPE_CHECKING:\n    from zsarbench import cli\n"
        "def f():\n    import zsarbench.data.video as v\n    from zsarbench import data\n")
    files = module_files(pkg)
    assert sorted(files) == ["zsarbench", "zsarbench.data", "zsarbench.data.synth", "zsarbench.data.video",
                             "zsarbench.errors"]
    got = imported_modules("zsarbench.data.synth", files["zsarbench.data.synth"], set(files))
    assert got == {"zsarbench.errors", "zsarbench.data.video", "zsarbench.data"}
    (pkg / "data" / "__init__.py").write_text("from .synth import thing\n")
    assert imported_modules("zsarbench.data", files["zsarbench.data"], set(files)) == {"zsarbench.data.synth"}
    # dynamic imports with a literal name count; a computed name cannot be followed
    (pkg / "data" / "video.py").write_text(
        "import importlib\nfrom importlib import import_module\n"
        "def f(name):\n    importlib.import_module('zsarbench.errors.UserError'.rpartition('.')[0])\n"
        "    import_module(name)\n    __import__('numpy')\n    import_module('..errors', __package__)\n"
        "    importlib.import_module('.synth', package='zsarbench.data')\n    __import__('zsarbench')\n")
    assert imported_modules("zsarbench.data.video", files["zsarbench.data.video"], set(files)) == \
        {"zsarbench.errors", "zsarbench.data.synth", "zsarbench"}


def test_modules_are_short():
    long = [f"{path.relative_to(ROOT)}: {n} lines"
            for package in LENGTH_CHECKED for path in sorted(package.rglob("*.py"))
            if (n := len(path.read_text().splitlines())) > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines (split them by concept):\n" + "\n".join(long)
