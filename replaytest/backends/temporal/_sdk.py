"""Every private name of temporalio that replaytest touches, reached from here only.

temporalio has no public hook for these (see ``capture.py`` for why they are needed), so
pyproject pins temporalio to one minor version, and ``tests/test_sdk_names.py`` resolves each
entry of :data:`PRIVATE_NAMES`: an upgrade that drops one fails that test by name instead of
replays quietly losing timers or patches. Imports temporalio: loaded only once a Temporal
history is replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import temporalio.workflow
from temporalio.worker import _workflow_instance

#: the workflow instance's entry points every timer and every patch() passes through
TIMER_METHOD = "_timer_impl"
PATCH_METHOD = "workflow_patch"
#: what temporalio raises into workflow code when it tears a run down (not the code's failure)
EVICTION_ERROR = "_WorkflowBeingEvictedError"
#: the loggers that repeat, for our own replays, what our reports say better
REPLAY_LOGGERS = (
    "temporalio.worker._workflow_instance",
    "temporalio.worker._workflow",
    "temporalio.workflow",
    "temporalio.worker.workflow_sandbox._restrictions",
)


def workflow_name(cls: type) -> str | None:
    """The workflow type name of a ``@workflow.defn`` class; None for any other class."""
    defn = temporalio.workflow._Definition.from_class(cls)
    return defn.name if defn is not None else None


def current_instance() -> Any:
    """The running workflow's instance (inside workflow code only)."""
    return temporalio.workflow._Runtime.current()


def is_eviction(error: BaseException) -> bool:
    # by name: inside temporalio's sandbox the class object may be the sandbox's copy
    return type(error).__name__ == EVICTION_ERROR


def wrap_timer_and_patch(
    instance: Any,
    timer: Callable[[Callable[..., Any]], Callable[..., Any]],
    patch: Callable[[Callable[..., bool]], Callable[..., bool]],
) -> None:
    """Replace this instance's timer and patch entry points by ``timer(original)`` and
    ``patch(original)``."""
    setattr(instance, TIMER_METHOD, timer(getattr(instance, TIMER_METHOD)))
    setattr(instance, PATCH_METHOD, patch(getattr(instance, PATCH_METHOD)))


def _logger_of(module: str) -> Callable[[], object]:
    def resolve() -> object:
        import importlib

        logger = importlib.import_module(module).logger
        assert logger.name == module, f"{module}.logger is called {logger.name}"
        return logger

    return resolve


#: name → how to reach it; each must resolve (tests/test_sdk_names.py)
PRIVATE_NAMES: dict[str, Callable[[], object]] = {
    "temporalio.workflow._Definition.from_class": lambda: temporalio.workflow._Definition.from_class,
    "temporalio.workflow._Runtime.current": lambda: temporalio.workflow._Runtime.current,
    f"_WorkflowInstanceImpl.{TIMER_METHOD}": lambda: getattr(_workflow_instance._WorkflowInstanceImpl, TIMER_METHOD),
    f"_WorkflowInstanceImpl.{PATCH_METHOD}": lambda: getattr(_workflow_instance._WorkflowInstanceImpl, PATCH_METHOD),
    f"temporalio.worker._workflow_instance.{EVICTION_ERROR}": lambda: getattr(_workflow_instance, EVICTION_ERROR),
    **{f"logger {name}": _logger_of(name) for name in REPLAY_LOGGERS},
}
