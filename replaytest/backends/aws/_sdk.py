"""Every private name of the AWS durable execution SDK (and its testing package) that
replaytest touches, reached from here only.

The SDK has no public hook where every operation is allocated, nor a public way to learn the
next operation id, so pyproject pins it to one minor version and ``tests/test_sdk_names.py``
resolves each entry of :data:`PRIVATE_NAMES`: an upgrade that drops one fails that test by
name. Nothing here imports the SDK at module level (``handlers`` recognises a handler without
it); each function imports what it needs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

SDK_PACKAGE = "aws_durable_execution_sdk_python"
#: what ``@durable_execution`` returns: a function of this name, defined in the SDK's package,
#: that keeps the user's function in ``__wrapped__``
WRAPPER_NAME = "wrapper"
#: DurableContext's method every operation (step, wait, callback, invoke, child context, map,
#: parallel) passes through, with the id it is about to allocate
OPERATION_HOOK = "_operation_replay_aware"


def hook_operations(context_class: type, hook: Callable[..., Any]) -> None:
    """Make ``hook`` the operation hook of ``context_class`` (a DurableContext subclass)."""
    setattr(context_class, OPERATION_HOOK, hook)


def sdk_operation(context: Any) -> Callable[..., contextlib.AbstractContextManager[Any]]:
    """The SDK's own operation hook, bound to ``context``."""
    from aws_durable_execution_sdk_python.context import DurableContext

    hook: Callable[..., contextlib.AbstractContextManager[Any]] = getattr(DurableContext, OPERATION_HOOK).__get__(
        context
    )
    return hook


def next_operation_id(context: Any) -> str:
    op_id: str = context._peek_next_operation_id()
    return op_id


def parent_id(context: Any) -> str | None:
    parent: str | None = context._parent_id
    return parent


def step_name(context: Any, name: str | None, func: Callable[..., Any]) -> str | None:
    """The name the SDK gives an operation: ``name``, else the function's."""
    resolved: str | None = context._resolve_step_name(name, func)
    return resolved


@contextlib.contextmanager
def fast_stop_polling(seconds: float = 0.005) -> Iterator[None]:
    """The checkpoint thread re-checks for shutdown every 0.1 s: 90% of a replay's time, spent
    waiting. Polled every ``seconds`` while the block runs (the SDK's constant, restored)."""
    from aws_durable_execution_sdk_python import state

    poll = state._STOP_SIGNAL_POLL_SECONDS
    state._STOP_SIGNAL_POLL_SECONDS = min(poll, seconds)
    try:
        yield
    finally:
        state._STOP_SIGNAL_POLL_SECONDS = poll


#: the SDK modules whose ``ThreadPoolExecutor`` runs handler code (the invocation, map items
#: and parallel branches)
POOL_MODULES = ("execution", "concurrency.executor")


@contextlib.contextmanager
def daemon_pools(pool: type) -> Iterator[None]:
    """The SDK's thread pools are ``pool`` while the block runs (its modules' global name
    ``ThreadPoolExecutor``, restored after)."""
    import importlib

    modules = [importlib.import_module(f"{SDK_PACKAGE}.{name}") for name in POOL_MODULES]
    saved = [m.ThreadPoolExecutor for m in modules]
    for m in modules:
        m.ThreadPoolExecutor = pool  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for m, original in zip(modules, saved, strict=True):
            m.ThreadPoolExecutor = original  # type: ignore[attr-defined]


def _pool_name(module: str) -> Callable[[], object]:
    def resolve() -> object:
        import importlib

        found: object = importlib.import_module(f"{SDK_PACKAGE}.{module}").ThreadPoolExecutor
        return found

    return resolve


def runner_history_page(runner: Any, arn: str, marker: str) -> Any:
    """One page of a DurableFunctionTestRunner execution's history (the runner's own method has
    no marker: its executor's does)."""
    return runner._executor.get_execution_history(arn, include_execution_data=True, marker=marker)


def _wrapper_name() -> str:
    from aws_durable_execution_sdk_python.execution import durable_execution

    def handler(event: Any, context: Any) -> None:
        return None

    wrapped = durable_execution(handler)
    assert getattr(wrapped, "__wrapped__", None) is handler, "@durable_execution no longer keeps __wrapped__"
    assert SDK_PACKAGE in wrapped.__code__.co_filename, wrapped.__code__.co_filename
    name: str = wrapped.__code__.co_name
    assert name == WRAPPER_NAME, f"@durable_execution returns {name!r}, not {WRAPPER_NAME!r}"
    return name


def _context_member(name: str) -> Callable[[], object]:
    def resolve() -> object:
        from aws_durable_execution_sdk_python.context import DurableContext

        if name.startswith("self."):  # set in __init__: look for the assignment
            import inspect

            assert name in inspect.getsource(DurableContext.__init__), f"DurableContext.__init__ sets no {name}"
            return name
        return getattr(DurableContext, name)

    return resolve


def _stop_poll() -> object:
    from aws_durable_execution_sdk_python import state

    return float(state._STOP_SIGNAL_POLL_SECONDS)


def _runner_executor() -> object:
    import inspect

    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

    assert "self._executor" in inspect.getsource(DurableFunctionTestRunner.__init__)
    from aws_durable_execution_sdk_python_testing.executor import Executor

    return Executor.get_execution_history


#: name → how to reach it; each must resolve (tests/test_sdk_names.py)
PRIVATE_NAMES: dict[str, Callable[[], object]] = {
    f"DurableContext.{OPERATION_HOOK}": _context_member(OPERATION_HOOK),
    "DurableContext._peek_next_operation_id": _context_member("_peek_next_operation_id"),
    "DurableContext._resolve_step_name": _context_member("_resolve_step_name"),
    "DurableContext._parent_id": _context_member("self._parent_id"),
    "state._STOP_SIGNAL_POLL_SECONDS": _stop_poll,
    f"durable_execution returns {WRAPPER_NAME}": _wrapper_name,
    "DurableFunctionTestRunner._executor.get_execution_history": _runner_executor,
    **{f"{module}.ThreadPoolExecutor": _pool_name(module) for module in POOL_MODULES},
}
