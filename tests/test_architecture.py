"""The package's dependency rules, checked on the source (so a forbidden import fails here, not
in review): what may import what, no module reaching into another package's private modules or
names, callers reaching a backend only through the seam, no import cycles, the plugin never
imported by the library. ``import x`` statements count as much as ``from x import y``.
docs/architecture.md states the same rules.
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
    "cli": {"pytest_support", "testing"},
    "pytest_support": {"cli"},
    "testing": {"debug", "pytest_support", "cli"},
    "view": {"core", "engine", "sandbox", "debug", "pytest_support", "cli", "testing"},
}

#: the one backend module callers outside backends/ may import: the native backend's
#: ``replay`` is the public ``replaytest.replay`` (the engine's own history format)
PUBLIC_BACKEND_MODULES = {"replaytest.backends.native"}


def test_the_view_model_is_plain_data_any_backend_can_build() -> None:
    assert IMPORTS["replaytest.view.model"] == set()


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
    found: set[str] = set()
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
PACKAGES = {_module_name(p) for p in SOURCES if p.name == "__init__.py"}


def _owner(imported: str) -> str | None:
    """The package that owns the first private (``_x``) module or name in ``imported``, or None
    when nothing in it is private."""
    parts = imported.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            parent = ".".join(parts[:i])  # a private module of a package, or a private name of a module
            return parent if parent in PACKAGES else parent.rpartition(".")[0]
    return None


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


def test_no_module_imports_another_packages_private_modules_or_names() -> None:
    bad = sorted(
        f"{m} imports {i}"
        for m, imported in IMPORTS.items()
        for i in imported
        if (owner := _owner(i)) is not None and not (m == owner or m.startswith(owner + "."))
    )
    assert bad == []


def test_callers_reach_a_backend_only_through_the_seam() -> None:
    """Outside backends/, only ``replaytest.backends`` itself (and the native ``replay``)."""
    bad = sorted(
        f"{m} imports {i}"
        for m, imported in IMPORTS.items()
        if _top(m) != "backends"
        for i in imported
        if i.startswith("replaytest.backends.")
        and not any(i == p or i.startswith(p + ".") for p in PUBLIC_BACKEND_MODULES)
        and i.rpartition(".")[0] != "replaytest.backends"  # `from ..backends import Entry`
    )
    assert bad == []


def test_a_backend_is_imported_only_through_its_registration() -> None:
    """No backend package imports another one: each stands alone behind its entry point."""
    backends = {p for p in PACKAGES if p.startswith("replaytest.backends.")}
    bad = sorted(
        f"{m} imports {i}"
        for m, imported in IMPORTS.items()
        for b in backends
        if m == b or m.startswith(b + ".")
        for i in imported
        if any((i == o or i.startswith(o + ".")) for o in backends - {b})
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
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("replaytest."):
                edges.add(node.module)
            elif isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name.startswith("replaytest."))
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

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_rules_are_checked_against_real_code() -> None:
    # the checker itself must see imports: core imports history, the plugin is a real module
    assert "replaytest.history" in IMPORTS["replaytest.core.execution"]
    assert _owner("replaytest.debug._pydevd.suspend") == "replaytest.debug"  # a private module
    assert _owner("replaytest.core.frames._display_path") == "replaytest.core"  # a private name
    assert _owner("replaytest.backends.aws._sdk") == "replaytest.backends.aws"
    assert _owner("replaytest.report.divergence.Divergence") is None
    assert "replaytest.backends.aws._sdk" in IMPORTS["replaytest.backends.aws.context"]
    assert any(i.startswith("replaytest.report") for i in IMPORTS["replaytest.core.execution"])
    assert len(IMPORTS) > 40


def test_the_command_line_declarations_import_only_the_standard_library() -> None:
    """pytest loads replaytest_options in every session, before anything is replayed."""
    import sys

    bad = []
    for path in sorted((ROOT / "replaytest_options").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            bad += [f"{path.name} imports {n}" for n in names if n.split(".")[0] not in sys.stdlib_module_names]
    assert bad == []
