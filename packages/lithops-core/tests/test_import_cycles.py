"""No import cycles among the kernel's modules, counting the imports made inside functions.

A cycle hidden in a function body still ties the modules together: neither can be read, tested or replaced
alone, and the order of first use decides whether an import fails half-way. Imports under
``if TYPE_CHECKING:`` are not executed and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lithops

#: Packages left out of the check, with the reason. Each entry is debt to pay off, not a place to hide new
#: cycles: remove it once its cycles are gone.
EXCLUDED = {
    # the submodules import the package's __init__ (which imports them); the stores are out of it (the factory
    # is lithops.multiprocessing.stores)
    "lithops.multiprocessing": "the multiprocessing package's __init__ cycle is not fixed yet",
}

ROOT = Path(lithops.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    """Module name -> source file, for every module of the ``lithops`` package."""
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that ``name`` imports anywhere in its source (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names if alias.name in modules)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parts = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join(parts + ([child.module] if child.module else []))
                for alias in child.names:
                    if f"{base}.{alias.name}" in modules:  # from package import submodule
                        found.add(f"{base}.{alias.name}")
                    elif base in modules:
                        found.add(base)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, without the excluded packages."""
    modules = _modules()

    def excluded(module: str) -> bool:
        return any(module == p or module.startswith(p + ".") for p in EXCLUDED)

    return {name: {m for m in _imports(name, path, modules) if not excluded(m)}
            for name, path in modules.items() if not excluded(name)}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_checker_finds_a_cycle_through_a_function_body() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_the_kernel_modules() -> None:
    graph = import_graph()
    assert "lithops.futures" in graph and "lithops.executors" in graph  # the scan saw the package
    found = cycles(graph)
    assert found == [], "import cycles (imports inside functions count): " + "; ".join(
        " <-> ".join(component) for component in found)


def test_futures_are_a_leaf_of_the_executor_modules() -> None:
    """The futures module imports none of the modules that create, submit or update futures, or draw them."""
    upward = {"lithops.executors", "lithops.monitor", "lithops.wait", "lithops.plots", "lithops.submit",
              "lithops.transport", "lithops.data_inputs"}
    assert import_graph()["lithops.futures"] & upward == set()
