"""The import rule of docs/architecture.md, checked on the package's import graph.

The graph is read from the source (every ``import`` of a ``rawdenoise`` module, at module level
or inside a function, outside ``if TYPE_CHECKING:``), so a circle or a wrong-way import fails
here even when it is only taken at run time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rawdenoise"

#: scripts that run the command line (``python -m ...``): above it, like a user
ENTRY_POINTS = {
    "rawdenoise.__main__",
    "rawdenoise.models.train_default",
    "rawdenoise.models.train_faithful",
}
#: what plugin discovery and shell completion load: never torch (nor numpy)
DISCOVERY = (
    "rawdenoise.plugins",
    "rawdenoise.plugin_cache",
    "rawdenoise.registry",
    "rawdenoise.name_completion",
)
#: the command line's layer, and the jobs and public API right below it
CLI = "rawdenoise.cli"
JOBS = ("rawdenoise.jobs", "rawdenoise.api")


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, bool]]:
    """(dotted name, at module level) of every import in ``tree``; ``from X import y`` yields
    ``X.y`` (a submodule or a name in X)."""

    def walk(node: ast.AST, top: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    yield from walk(other, top)
                continue
            if isinstance(child, ast.Import):
                yield from ((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = module.split(".")
                    parts = parts if is_package else parts[:-1]
                    parts = parts[: len(parts) - child.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                yield from ((f"{base}.{alias.name}", top) for alias in child.names)
            inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from walk(child, top and not inner)

    yield from walk(tree, True)


def import_graph(top_level_only: bool = False) -> dict[str, set[str]]:
    """Module -> the package's modules (and ``torch``/``numpy``) it imports."""
    files = module_files()

    def resolve(name: str) -> str | None:
        if name.split(".")[0] in ("torch", "numpy"):
            return name.split(".")[0]
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = set()
        for name, top in imported_names(tree, module, path.name == "__init__.py"):
            if top_level_only and not top:
                continue
            target = resolve(name)
            if target is not None and target != module:
                found.add(target)
        graph[module] = found
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_package_has_no_import_circles() -> None:
    assert circles(import_graph()) == []


def test_nothing_below_the_command_line_imports_it() -> None:
    graph = import_graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if not within(module, CLI) and module not in ENTRY_POINTS and module != "rawdenoise"
        for target in targets
        if within(target, CLI)
    )
    assert wrong == []


def test_the_library_does_not_import_the_jobs_or_the_public_api() -> None:
    """jobs/ and api.py sit right below the CLI: the library they use never needs them."""
    graph = import_graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if not within(module, CLI, *JOBS) and module not in ENTRY_POINTS
        and module != "rawdenoise"  # its public names load from jobs/ and api.py on first use
        for target in targets
        if within(target, *JOBS)
    )  # fmt: skip
    assert wrong == []


@pytest.mark.parametrize("module", DISCOVERY)
def test_plugin_discovery_never_imports_torch(module: str) -> None:
    heavy = reachable(import_graph(top_level_only=True), module) & {"torch", "numpy"}
    assert heavy == set()


def test_plugin_discovery_at_run_time_loads_no_torch() -> None:
    code = (
        "import sys\n"
        "from rawdenoise import plugins\n"
        "from rawdenoise.name_completion import complete_architectures\n"
        "plugins.discover(quiet=True)\n"
        "complete_architectures('')\n"
        "print('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "False", proc.stderr


def test_the_checks_see_circles_and_function_level_imports() -> None:
    """The graph counts an import inside a function, and a two-module loop is a circle."""
    tree = ast.parse("import a\nif TYPE_CHECKING:\n    import b\ndef f():\n    from . import c\n")
    names = list(imported_names(tree, "pkg.mod", is_package=False))
    assert names == [("a", True), ("pkg.c", False)]
    assert circles({"x": {"y"}, "y": {"x"}, "z": {"x"}}) == [["x", "y"]]
