"""Which Python function replays a history. The history records the orchestrator's name, as
``add_orchestrator`` registers it (the function's ``__name__``); it is looked up among the
functions of the replay modules, or named with ``--replay-handler NAME=MODULE:ATTR`` (for an
orchestrator registered under another name with ``add_named_orchestrator``)."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ...core.frames import is_user_file
from ...modules import ModuleImportError, import_target
from ...report import UnknownWorkflowError

if TYPE_CHECKING:
    from .. import ReplaySettings


def _spec(text: str, settings: ReplaySettings) -> tuple[str | None, str]:
    flag = settings.flag("--replay-handler")
    name, _, target = text.strip().rpartition("=")
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise UnknownWorkflowError(
            f"{flag} {text!r}: expected [NAME=]MODULE:ATTR, e.g. order_saga=app.orchestrators:order_saga"
        )
    return name or None, target


def _load(text: str, target: str, settings: ReplaySettings) -> Callable[..., Any]:
    flag = settings.flag("--replay-handler")
    try:
        obj = import_target(target)
    except ModuleImportError as e:
        raise UnknownWorkflowError(f"{flag} {text}: {settings.import_problem(target.partition(':')[0], e)}") from None
    if not callable(obj):
        raise UnknownWorkflowError(f"{flag} {text}: {target} is not a function")
    function: Callable[..., Any] = obj
    return function


def _orchestrator(text: str, target: str, set_aside: list[str], settings: ReplaySettings) -> Callable[..., Any] | None:
    """The function ``--replay-handler text`` names, or None (said in ``set_aside``) when it is
    no orchestrator the user wrote: the option is shared with AWS, whose ``@durable_execution``
    handlers are the SDK's wrapper functions, and a Lambda function may share a name with an
    orchestrator."""
    flag = settings.flag("--replay-handler")
    fn = _load(text, target, settings)
    code = getattr(fn, "__code__", None)
    if code is None or is_user_file(code.co_filename):
        return fn
    set_aside.append(
        f"{flag} {text} is not a Durable Task orchestrator: {target} is a function of "
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
    settings: ReplaySettings,
) -> Callable[..., Any]:
    """The orchestrator function for ``name``, or UnknownWorkflowError saying what was searched
    (in the spelling of the run ``settings`` describe)."""
    flag = settings.flag("--replay-handler")
    parsed = [(text, *_spec(text, settings)) for text in specs]
    named = [(t, target) for t, n, target in parsed if n == name]
    if len(named) > 1:
        raise UnknownWorkflowError(
            f"{source}: several {flag} options name orchestrator {name!r} ({', '.join(t for t, _ in named)}); keep one"
        )
    set_aside: list[str] = []  # --replay-handler targets that are not orchestrators (AWS handlers)
    if named and (fn := _orchestrator(*named[0], set_aside, settings)) is not None:
        return fn
    found = _candidates(name, modules)
    if len(found) == 1:
        return found[0][1]
    if found:
        raise UnknownWorkflowError(
            f"{source}: several functions named {name!r} in the replay modules "
            f"({', '.join(w for w, _ in found)}); pick one with {flag} {name}=MODULE:ATTR"
        )
    unnamed = [(t, target) for t, n, target in parsed if n is None]
    if len(unnamed) == 1 and (fn := _orchestrator(*unnamed[0], set_aside, settings)) is not None:
        return fn
    lines = [f"{source}: no orchestrator {name!r} (the name the history records) in the replay modules"]
    lines.extend(f"  {line}" for line in search + set_aside)
    lines.append(
        f"  name the module that defines it with {settings.module_flag} MODULE, or the function with "
        f"{flag} {name}=MODULE:ATTR (for add_named_orchestrator names)"
    )
    raise UnknownWorkflowError("\n".join(lines))


__all__ = ["resolve"]
