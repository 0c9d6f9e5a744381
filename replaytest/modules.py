"""Importing the user's own modules by name (``--module``, ``--replay-module``, ``MODULE:NAME``),
with every failure turned into one line that says why."""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import sys
import sysconfig
import types
from pathlib import Path
from typing import Any

from .definitions import ReplaytestError


class ModuleImportError(ReplaytestError):
    """A module the user named does not import."""


#: the general advice for a module that is not found; import_problem replaces it with the
#: exact fix when it finds the package in the project
_WHERE_TO_RUN = " (run from the directory that contains it, or check the module path)"


def import_module(name: str) -> types.ModuleType:
    """Import ``name``, turning every failure into one ModuleImportError line that says why."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise ModuleImportError(
                f"cannot import module {name!r}: no module named {e.name!r}{_WHERE_TO_RUN}"
            ) from None
        where = _raised_at(e, Path.cwd().resolve())
        raise ModuleImportError(f"importing module {name!r} failed: {type(e).__name__}: {e}{where}") from None
    except BaseException as e:  # SystemExit from a script-like module, too: one line, not an exit
        where = f" ({e.filename}:{e.lineno})" if isinstance(e, SyntaxError) else _raised_at(e, Path.cwd().resolve())
        raise ModuleImportError(f"importing module {name!r} failed: {type(e).__name__}: {e}{where}") from None


def import_target(spec: str) -> Any:
    """``"package.module:name"`` → the object (``name`` may be dotted)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ModuleImportError(f"{spec!r} is not MODULE:NAME (for example fixtures.workflows.orders:process_order)")
    obj: Any = import_module(module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ModuleImportError(f"module {module_name!r} has no {attr!r}") from None
    return obj


def import_spec(spec: str) -> Any:
    """``MODULE`` → the module; ``MODULE:NAME`` → that one workflow (class, function or
    handler), the way to pick one of several definitions sharing a workflow type name."""
    return import_target(spec) if ":" in spec else import_module(spec)


def package_home(project_dir: Path, top: str) -> Path | None:
    """The directory of the project that holds the top-level package or module ``top``: the
    project directory itself, else one of its direct subdirectories (``src`` first, the src
    layout); None when the project has no such package."""
    root = project_dir.resolve()

    def holds(d: Path) -> bool:
        return (d / top).is_dir() or (d / f"{top}.py").is_file()

    if holds(root):
        return root
    try:
        subdirs = sorted(
            (
                d
                for d in root.iterdir()
                if d.is_dir() and not d.name.startswith(".") and not (d / "pyvenv.cfg").exists()
            ),
            key=lambda d: (d.name != "src", d.name),
        )
    except OSError:
        return None
    return next((d for d in subdirs if holds(d)), None)


def import_problem(name: str, e: Exception, project_dir: Path, under_pytest: bool = True) -> str:
    """Why ``name`` did not import, in one line. When its top-level package lies in the project
    (or in a subdirectory of it, such as a src layout's ``src``) but that directory is not on
    sys.path (a bare ``pytest`` adds only the directories of test files and conftests; the CLI
    only the current one), say where it is and what adds it: the ini's ``pythonpath`` under
    pytest (spelled as each ini file takes it: a TOML list in pyproject.toml), ``PYTHONPATH``
    for the CLI."""
    text = str(e) if isinstance(e, ModuleImportError) else f"{type(e).__name__}: {e}"
    top = name.partition(":")[0].split(".")[0]
    missing = isinstance(e, ModuleNotFoundError) or (isinstance(e, ModuleImportError) and "no module named" in text)
    root = project_dir.resolve()
    text += _raised_at(e, root)
    home = package_home(root, top) if missing and top.isidentifier() else None
    if home is None:
        return text
    # only real directories: an editable install's path-hook entry ("__editable__…finder.__path_hook__")
    # would resolve as if it were a folder of the project
    entries = [Path(p or ".").resolve() for p in sys.path if Path(p or ".").is_dir()]
    if home in entries:
        return text
    text = text.replace(_WHERE_TO_RUN, "")  # the exact fix follows
    where = home.relative_to(root).as_posix()  # "." or "src"
    if not under_pytest:
        return f"{text}; {top} is in {home}, which is not on sys.path: run replaytest with PYTHONPATH={where}"
    ours = [str(p) for p in entries if p.is_relative_to(root)]
    put = f"put only {', '.join(ours)} on sys.path" if ours else "put no directory of this project on sys.path"
    also = ", or run `python -m pytest`" if home == root else ""  # it adds the current directory only
    return (
        f'{text}; {top} is in {home}, but pytest {put}: add `pythonpath = ["{where}"]` to '
        f"[tool.pytest.ini_options] in pyproject.toml (or `pythonpath = {where}` to [pytest] in pytest.ini){also}"
    )


def _raised_at(e: BaseException, root: Path) -> str:
    """`` (at app/orders.py:3)``: the project's line the import failed at, when the module was
    found and its own code raised (a SyntaxError already names its line)."""
    if isinstance(e, (ModuleImportError, SyntaxError)):
        return ""
    from .core.frames import user_tb_frames  # not replaytest's frames, the stdlib's or installed packages'

    for frame in reversed(user_tb_frames(e)):
        path = Path(frame.filename)
        if path.is_absolute() and path.resolve().is_relative_to(root):
            return f" (at {path.resolve().relative_to(root).as_posix()}:{frame.lineno})"
    return ""


def parse_task_queue(spec: str, option: str) -> tuple[str, str]:
    """``QUEUE=MODULE[:NAME]`` → (queue, module spec), or ModuleImportError saying the form."""
    queue, sep, target = spec.partition("=")
    queue, target = queue.strip(), target.strip()
    if not sep or not queue or not target:
        raise ModuleImportError(
            f"{option} {spec!r} is not QUEUE=MODULE[:CLASS] (for example orders-queue=app.workflows or "
            "orders-queue=app.workflows:OrderWorkflow)"
        )
    return queue, target


# ---------------------------------------------------------------- modules a history names
def project_origin(module: str, project_dir: Path) -> tuple[Path | None, str]:
    """The file ``module`` would load from if it is the project's own code, found without
    executing anything: ``(path, "")`` when that file and every package ``__init__`` importing
    it would run lie under ``project_dir``, outside the standard library and installed
    packages; else ``(None, why not)``.

    Each level of a dotted name is looked up with the import system's own finders, searching
    the parent's real ``__path__`` -- without importing the parent (``importlib.util.find_spec``
    of a dotted name would run its packages). So a namespace package with a portion elsewhere
    on sys.path (through PYTHONPATH, say) cannot lend a file outside the project its name."""
    if not module or not all(part.isidentifier() for part in module.split(".")):
        return None, "not a module name"
    project = Path(project_dir).resolve()
    stubs: list[tuple[str, types.ModuleType]] = []
    try:
        return _origin(module.split("."), project, stubs)
    finally:
        for name, stub in reversed(stubs):
            if sys.modules.get(name) is stub:
                del sys.modules[name]


def _origin(parts: list[str], project: Path, stubs: list[tuple[str, types.ModuleType]]) -> tuple[Path | None, str]:
    search: list[str] | None = None  # the parent's __path__ (None: sys.path)
    origin: Path | None = None
    locations: list[str] = []
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        try:
            spec = _spec(name, search)
        except Exception as e:  # a finder's own failure: we cannot tell, so not the project's
            return None, f"not importable here ({type(e).__name__}: {e})"
        if spec is None:
            return None, f"not importable here (no module named {name!r})"
        locations = list(spec.submodule_search_locations or [])
        if spec.origin and spec.has_location:
            origin = Path(spec.origin).resolve()
            if _installed(origin):
                return None, f"in the standard library or an installed package ({origin})"
            if not origin.is_relative_to(project):
                return None, f"outside the project {project} ({origin})"
        elif spec.submodule_search_locations is None:
            return None, "built into Python"
        else:
            origin = None  # a namespace package: no file of its own runs
        if depth < len(parts):
            if spec.submodule_search_locations is None:
                return None, f"not importable here ({name!r} is not a package)"
            search = list(spec.submodule_search_locations)
            if name not in sys.modules:
                # the finders look a namespace subpackage's parent up in sys.modules: lend them
                # an empty stand-in with the parent's path (taken out again; nothing runs)
                stub = types.ModuleType(name)
                stub.__path__ = search
                stub.__spec__ = spec
                sys.modules[name] = stub
                stubs.append((name, stub))
    if origin is None:  # the module itself is a namespace package: nothing in it defines anything
        return None, f"a namespace package without source ({', '.join(locations)})"
    return origin, ""


def _spec(name: str, search: list[str] | None) -> importlib.machinery.ModuleSpec | None:
    """What ``import name`` would load, asking sys.meta_path's finders as the import system
    does -- without importing parents (a module already imported answers for itself)."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        own: importlib.machinery.ModuleSpec | None = getattr(loaded, "__spec__", None)
        return own
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        spec: importlib.machinery.ModuleSpec | None = None if find_spec is None else find_spec(name, search, None)
        if spec is not None:
            return spec
    return None


def defines_workflow(path: Path, workflow_type: str) -> bool:
    """Does the source at ``path`` define workflow ``workflow_type`` (an ``async def``
    decorated with ``…defn``, named so or given ``name=`` that type)? Read and parsed, never
    run: a history may name any file, and only a module that declares its workflow is the
    one it was recorded from."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                target = call.func if call is not None else decorator
                if not (isinstance(target, ast.Attribute) and target.attr == "defn") and not (
                    isinstance(target, ast.Name) and target.id == "defn"
                ):
                    continue
                named = next((k.value for k in call.keywords if k.arg == "name"), None) if call else None
                if named is None and node.name == workflow_type:
                    return True
                if isinstance(named, ast.Constant) and named.value == workflow_type:
                    return True
                if named is not None and not isinstance(named, ast.Constant):
                    return True  # a computed name: the module declares a workflow; importing tells which
    return False


def _installed(path: Path) -> bool:
    if any(part in ("site-packages", "dist-packages") for part in path.parts):
        return True
    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return any(path.is_relative_to(Path(root).resolve()) for root in roots if root)
