"""Which Python handler replays a history. The history names the Lambda function, never the
Python code, so the user says it (``--replay-handler [FUNCTION=]MODULE:ATTR``), or a replay
module holds exactly one ``@durable_execution`` handler.

Recognising a handler does not import the SDK: ``@durable_execution`` returns a function named
``wrapper`` defined in the SDK's ``execution.py`` that keeps the user's function in
``__wrapped__``.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...modules import ModuleImportError, import_target
from ...report.divergence import UnknownWorkflowError
from ._sdk import SDK_PACKAGE, WRAPPER_NAME

if TYPE_CHECKING:
    from .. import ReplaySettings


def is_durable_handler(obj: Any) -> bool:
    code = getattr(obj, "__code__", None)
    return (
        callable(obj)
        and code is not None
        and code.co_name == WRAPPER_NAME
        and SDK_PACKAGE in code.co_filename.replace("\\", "/").split("/")
        and callable(getattr(obj, "__wrapped__", None))
    )


@dataclass(frozen=True)
class HandlerSpec:
    function: str | None  # the Lambda function this spec is for; None: every AWS history
    module: str
    attr: str

    @classmethod
    def parse(cls, text: str, flag: str = "--replay-handler") -> HandlerSpec:
        function, _, target = text.strip().rpartition("=")
        module, sep, attr = target.partition(":")
        if not sep or not module or not attr:
            raise UnknownWorkflowError(
                f"{flag} {text!r}: expected [FUNCTION=]MODULE:ATTR, e.g. orders=app.handlers:handler"
            )
        return cls(function or None, module, attr)

    def __str__(self) -> str:
        return (f"{self.function}=" if self.function else "") + f"{self.module}:{self.attr}"

    def load(self, settings: ReplaySettings) -> Callable[..., Any]:
        flag = settings.flag("--replay-handler")
        try:
            obj = import_target(f"{self.module}:{self.attr}")
        except ModuleImportError as e:
            raise UnknownWorkflowError(f"{flag} {self}: {settings.import_problem(self.module, e)}") from None
        if not is_durable_handler(obj):
            raise UnknownWorkflowError(
                f"{flag} {self}: {self.module}:{self.attr} is not a function decorated with @durable_execution"
            )
        handler: Callable[..., Any] = obj
        return handler


def handlers_in(modules: Iterable[Any]) -> list[tuple[str, Callable[..., Any]]]:
    """(``module:name``, handler) for every durable handler defined at a module's top level
    (a handler given directly, as in ``@pytest.mark.replay(..., workflows=[handler])``, counts too)."""
    found, seen = [], set()
    for module in modules:
        if is_durable_handler(module):
            if id(module) not in seen:
                seen.add(id(module))
                found.append((f"{module.__module__}:{module.__name__}", module))
            continue
        if not isinstance(module, types.ModuleType):
            continue
        for name, value in vars(module).items():
            if is_durable_handler(value) and id(value) not in seen:
                seen.add(id(value))
                found.append((f"{module.__name__}:{name}", value))
    return found


def resolve(
    function: str | None,
    specs: Iterable[str],
    modules: Iterable[Any],
    source: str,
    settings: ReplaySettings,
) -> Callable[..., Any]:
    """The handler for a history of Lambda function ``function`` (None when the export does not
    say), or UnknownWorkflowError that lists what was tried and found, in the spelling of the run
    ``settings`` describe."""
    flag, modules_flag = settings.flag("--replay-handler"), settings.module_flag
    ini = " (ini: replay_handlers)" if settings.under_pytest else ""
    parsed = [HandlerSpec.parse(s, flag) for s in specs]
    for candidates in (
        [p for p in parsed if function and p.function == function],
        [p for p in parsed if p.function is None],
    ):
        if len(candidates) > 1:
            raise UnknownWorkflowError(
                f"{source}: several {flag} options apply "
                f"({', '.join(map(str, candidates))}); keep one, or prefix each with FUNCTION="
            )
        if candidates:
            return candidates[0].load(settings)
    modules = list(modules)
    found = handlers_in(modules)
    if len(found) == 1:
        return found[0][1]
    what = f"Lambda function {function!r}" if function else "this execution (the export names no function)"
    tried = ""
    if parsed:
        tried = f"; {flag} options given apply to other functions ({', '.join(map(str, parsed))})"
    if found:
        listing = ", ".join(name for name, _ in found)
        raise UnknownWorkflowError(
            f"{source}: no handler chosen for {what}{tried}; the replay modules hold several "
            f"durable handlers ({listing}): pick one with {flag} [FUNCTION=]MODULE:ATTR{ini}"
        )
    searched = ", ".join(getattr(m, "__name__", repr(m)) for m in modules) or "none given"
    raise UnknownWorkflowError(
        f"{source}: no handler for {what}{tried}; no @durable_execution handler in the replay "
        f"modules ({searched}): name it with {flag} [FUNCTION=]MODULE:ATTR{ini} or {modules_flag} MODULE"
    )
