"""Importing the user's own modules by name (``--module``, ``--replay-module``, ``MODULE:NAME``),
with every failure turned into one line that says why."""

from __future__ import annotations

import importlib
import types
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
            raise ModuleImportError(f"cannot import module {name!r}: no module named {e.name!r} "
                                    "(run from the directory that contains it, or check the module path)") from None
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
