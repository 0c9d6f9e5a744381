"""Which Python function replays a history. The history records the orchestrator's name, as
``add_orchestrator`` registers it (the function's ``__name__``); it is looked up among the
functions of the replay modules, or named with ``--replay-handler NAME=MODULE:ATTR`` (for an
orchestrator registered under another name with ``add_named_orchestrator``)."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.frames import is_user_file
from ...modules import ModuleImportError, import_target
from ...report import UnknownWorkflowError

if TYPE_CHECKING:
    from .. import ReplaySettings


@dataclass(frozen=True)
class _Run:
    """How this run spells the options a report names (pytest's, or the CLI's), and why a
    module did not import."""

    settings: ReplaySettings | None

    @property
    def handler(self) -> str:
        return self.settings.flag("--replay-handler") if self.settings else "--replay-handler"

    @property
    def module(self) -> str:
        return self.settings.module_flag if self.settings else "--replay-module"

    def problem(self, module: str, e: ModuleImportError) -> str:
        return self.settings.import_problem(module, e) if self.settings else str(e)


def _spec(text: str, run: _Run) -> tuple[str | None, str]:
    name, _, target = text.strip().rpartition("=")
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise UnknownWorkflowError(
            f"{run.handler} {text!r}: expected [NAME=]MODULE:ATTR, e.g. order_saga=app.orchestrators:order_saga"
        )
    return name or None, target


def _load(text: str, target: str, run: _Run) -> Callable[..., Any]:
    try:
        obj = import_target(target)
    except ModuleImportError as e:
        raise UnknownWorkflowError(f"{run.handler} {text}: {run.problem(target.partition(':')[0], e)}") from None
    if not callable(obj):
        raise UnknownWorkflowError(f"{run.handler} {text}: {target} is not a function")
    function: Callable[..., Any] = obj
    return function


def _orchestrator(text: str, target: str, set_aside: list[str], run: _Run) -> Callable[..., Any] | None:
    """The function ``--replay-handler text`` names, or None (said in ``set_aside``) when it is
    no orchestrator the user wrote: the option is shared with AWS, whose ``@durable_execution``
    handlers are the SDK's wrapper functions, and a Lambda function may share a name with an
    orchestrator."""
    fn = _load(text, target, run)
    code = getattr(fn, "__code__", None)
    if code is None or is_user_file(code.co_filename):
        return fn
    set_aside.append(
        f"{run.handler} {text} is not a Durable Task orchestrator: {target} is a function of "
        f"{code.co_filename} (a library's wrapper, such as an AWS @durable_execution handler)"
    )
    return None


def _candidates(name: str, modules: Iterable[Any]) -> list[tuple[str, Callable[..., Any]]]:
    found: list[tuple[str, Callable[..., Any]]] = []
    seen: set[int] = set()
    for module in modules:
        if inspect.isfunction(module):  # given directly (a marker's workflows=[...])
            values = [module] if module.__name__ == name else []
            where = module.__module__
        elif isinstance(module, types.ModuleType):
            value = vars(module).get(name)
            values = [value] if inspect.isfunction(value) and value.__name__ == name else []
            where = module.__name__
        else:
            continue
        for value in values:
            if id(value) not in seen:
                seen.add(id(value))
                found.append((f"{where}:{name}", value))
    return found


def resolve(
    name: str,
    specs: Iterable[str],
    modules: Iterable[Any],
    source: str,
    search: list[str],
    settings: ReplaySettings | None = None,
) -> Callable[..., Any]:
    """The orchestrator function for ``name``, or UnknownWorkflowError saying what was searched
    (in the spelling of the run ``settings`` describe; pytest's when None)."""
    run = _Run(settings)
    parsed = [(text, *_spec(text, run)) for text in specs]
    named = [(t, target) for t, n, target in parsed if n == name]
    if len(named) > 1:
        raise UnknownWorkflowError(
            f"{source}: several {run.handler} options name orchestrator {name!r} "
            f"({', '.join(t for t, _ in named)}); keep one"
        )
    set_aside: list[str] = []  # --replay-handler targets that are not orchestrators (AWS handlers)
    if named and (fn := _orchestrator(*named[0], set_aside, run)) is not None:
        return fn
    found = _candidates(name, modules)
    if len(found) == 1:
        return found[0][1]
    if found:
        raise UnknownWorkflowError(
            f"{source}: several functions named {name!r} in the replay modules "
            f"({', '.join(w for w, _ in found)}); pick one with {run.handler} {name}=MODULE:ATTR"
        )
    unnamed = [(t, target) for t, n, target in parsed if n is None]
    if len(unnamed) == 1 and (fn := _orchestrator(*unnamed[0], set_aside, run)) is not None:
        return fn
    lines = [f"{source}: no orchestrator {name!r} (the name the history records) in the replay modules"]
    lines.extend(f"  {line}" for line in search + set_aside)
    lines.append(
        f"  name the module that defines it with {run.module} MODULE, or the function with "
        f"{run.handler} {name}=MODULE:ATTR (for add_named_orchestrator names)"
    )
    raise UnknownWorkflowError("\n".join(lines))


__all__ = ["resolve"]
