"""The package's dependency rules, checked on the source (so a forbidden import fails here, not
in review): what may import what, no import cycles, and the plugin never imported by the library.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "replaytest"

#: package → packages it must never import (directly or lazily, at any depth in a function)
FORBIDDEN = {
    "core": {"engine", "debug", "pytest_support", "cli", "backends", "testing"},
    "history": {"core", "engine", "debug", "pytest_support", "cli", "backends", "sandbox", "testing"},
    "report": {"core", "history", "engine", "debug", "pytest_support", "cli", "backends", "sandbox", "testing"},
    "sandbox": {"engine", "debug", "pytest_support", "cli", "backends", "testing", "history"},
    "engine": {"debug", "pytest_support", "cli", "backends", "testing"},
    "backends": {"engine", "pytest_support", "cli", "testing"},
    "debug": {"engine", "pytest_support", "cli", "testing"},
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the replaytest modules ``path`` imports, anywhere in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)  # `from . import sandbox`
    return {m for m in found if m == "replaytest" or m.startswith(("replaytest.", "replaytest_pytest"))}


SOURCES = sorted(PACKAGE.rglob("*.py"))
IMPORTS = {_module_name(p): _imports(p) for p in SOURCES}


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_it_may(package: str) -> None:
    bad = sorted(
        f"{m} imports {i}"
        for m, imported in IMPORTS.items()
        if _top(m) == package
        for i in imported
        if _top(i) in FORBIDDEN[package]
    )
    assert bad == []


def test_the_library_never_imports_the_plugin() -> None:
    bad = sorted(
        f"{m} imports {i}" for m, imported in IMPORTS.items() for i in imported if i.startswith("replaytest_pytest")
    )
    assert bad == []


def test_no_import_cycles_between_modules() -> None:
    """Module-level imports only (lazy imports inside functions cannot deadlock an import)."""
    graph: dict[str, set[str]] = {}
    for path in SOURCES:
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                for a in node.names:  # `from . import x` names a submodule
                    edges.add(f"{target}.{a.name}" if f"{target}.{a.name}" in IMPORTS else target)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("replaytest."):
                edges.add(node.module)  # type: ignore[arg-type]
        graph[name] = {e for e in edges if e in IMPORTS and e != name and not name.startswith(e + ".")}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_rules_are_checked_against_real_code() -> None:
    # the checker itself must see imports: core imports history, the plugin is a real module
    assert "replaytest.history" in IMPORTS["replaytest.core.execution"]
    assert any(i.startswith("replaytest.report") for i in IMPORTS["replaytest.core.execution"])
    assert len(IMPORTS) > 40
