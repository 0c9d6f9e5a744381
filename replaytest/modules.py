"""Importing the user's own modules by name (``--module``, ``--replay-module``, ``MODULE:NAME``),
with every failure turned into one line that says why."""

from __future__ import annotations

import importlib
import importlib.util
import sysconfig
import types
from pathlib import Path
from typing import Any

from .definitions import ReplaytestError


class ModuleImportError(ReplaytestError):
    """A module the user named does not import."""


def import_module(name: str) -> types.ModuleType:
    """Import ``name``, turning every failure into one ModuleImportError line that says why."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise ModuleImportError(
                f"cannot import module {name!r}: no module named {e.name!r} "
                "(run from the directory that contains it, or check the module path)"
            ) from None
        raise ModuleImportError(f"importing module {name!r} failed: {type(e).__name__}: {e}") from None
    except Exception as e:
        where = f" ({e.filename}:{e.lineno})" if isinstance(e, SyntaxError) else ""
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


# ---------------------------------------------------------------- modules a history names
def project_origin(module: str, project_dir: Path) -> tuple[Path | None, str]:
    """Where ``module``'s top-level package lives if it is the project's own code, without
    executing anything: ``(path, "")`` when it lies under ``project_dir`` and outside the
    standard library and installed packages, else ``(None, why not)``.

    Only the top-level name is looked up (``importlib.util.find_spec`` of a dotted name would
    import, i.e. run, its parent packages). A module found elsewhere on sys.path (through
    PYTHONPATH, say) is not the project's, even if importable."""
    top = module.split(".", 1)[0]
    if not module or not all(part.isidentifier() for part in module.split(".")):
        return None, "not a module name"
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as e:
        return None, f"not importable here ({type(e).__name__}: {e})"
    if spec is None:
        return None, f"not importable here (no module named {top!r})"
    places = [spec.origin] if spec.origin and spec.has_location else list(spec.submodule_search_locations or [])
    if not places:
        return None, "built into Python"
    where = Path(places[0]).resolve()
    if _installed(where):
        return None, f"in the standard library or an installed package ({where})"
    try:
        where.relative_to(Path(project_dir).resolve())
    except ValueError:
        return None, f"outside the project {Path(project_dir).resolve()} ({where})"
    return where, ""


def _installed(path: Path) -> bool:
    if any(part in ("site-packages", "dist-packages") for part in path.parts):
        return True
    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return any(path.is_relative_to(Path(root).resolve()) for root in roots if root)
