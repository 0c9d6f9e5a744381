"""The SDK's ``DurableContext`` with replaytest's hook where every operation is allocated.

The hook (the SDK's private operation hook, see ``_sdk``, through which every ``step``/``wait``/callback/invoke/
child context/map/parallel passes) asks :class:`~.run.Run` about the operation before the SDK
acts on it. The public operations run the SDK's machinery unrestricted by the sandbox and put
the handler code the SDK calls back (a child context's body, a map function, a parallel branch)
back under it. Child contexts the SDK creates are given this class too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aws_durable_execution_sdk_python.config import ParallelBranch
from aws_durable_execution_sdk_python.context import DurableContext
from aws_durable_execution_sdk_python.lambda_service import OperationType

from ...core.frames import user_source
from ...report.divergence import InternalError
from . import _sdk
from .history import op_label
from .run import Run, _Stop


@dataclass
class _LambdaContext:
    """What handler code may read from the Lambda context while replaying."""

    function_name: str = "replay"
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    memory_limit_in_mb: int = 128
    aws_request_id: str = "replaytest"
    log_group_name: str = ""
    log_stream_name: str = ""
    tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class ReplayContext(DurableContext):
    """The SDK's context with replaytest's hook on every operation (see the module docstring)."""

    _rt: Run

    @contextmanager
    def replay_hook(
        self, sub_type: str, name: str | None = None, *, operation_type: OperationType, is_virtual: bool = False
    ) -> Iterator[Any]:
        """Installed as the SDK's operation hook (see ``_sdk.OPERATION_HOOK``)."""
        rt = self._rt
        op_id = _sdk.next_operation_id(self)
        rt.before(op_id, operation_type.value, sub_type, name, _sdk.parent_id(self), user_source(sys._getframe(1)))
        try:
            with _sdk.sdk_operation(self)(
                sub_type, name, operation_type=operation_type, is_virtual=is_virtual
            ) as ident:
                yield ident
        finally:
            rt.after(op_id)

    def create_child_context(self, operation_id: str, *, is_virtual: bool = False) -> DurableContext:
        child = super().create_child_context(operation_id, is_virtual=is_virtual)
        child.__class__ = ReplayContext
        child._rt = self._rt  # type: ignore[attr-defined]
        self._rt.entered.add(operation_id)
        self._rt.visited.setdefault(operation_id, self._rt.last_source)
        return child

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        rt = self._rt
        try:
            with rt.unrestricted():
                return fn(*args, **kwargs)
        finally:
            rt.pending_args.value = None  # consumed by the hook; never left for the next operation
            rt.sync_clock()
            if rt.observer is not None:
                rt.returned(sys._getframe(1))

    def step(self, func: Callable[..., Any], name: str | None = None, config: Any = None) -> Any:
        rt, step_name = self._rt, _sdk.step_name(self, name, func)
        op_id = _sdk.next_operation_id(self)

        def body(step_context: Any) -> Any:
            rec = rt.history.ops.get(op_id)
            if rec is None or rec.status not in ("PENDING", "READY"):  # never a recorded step's body
                rt.stop = rt.stop or InternalError(f"the SDK started the body of {op_label('STEP', 'Step', step_name)}")
                raise _Stop
            try:
                return func(step_context)
            except Exception as e:
                rt.step_failures.append((rec, e))
                raise

        return self._call(super().step, body, step_name, config)

    def wait(self, duration: Any, name: str | None = None) -> None:
        self._rt.pending_args.value = ("wait", duration.to_seconds())
        self._call(super().wait, duration, name)

    def invoke(self, function_name: str, payload: Any, name: str | None = None, config: Any = None) -> Any:
        self._rt.pending_args.value = ("invoke", function_name)
        return self._call(super().invoke, function_name, payload, name, config)

    def create_callback(self, name: str | None = None, config: Any = None) -> Any:
        return self._call(super().create_callback, name, config)

    def wait_for_callback(self, submitter: Callable[..., Any], name: str | None = None, config: Any = None) -> Any:
        return self._call(super().wait_for_callback, submitter, _sdk.step_name(self, name, submitter), config)

    def wait_for_condition(self, check: Callable[..., Any], config: Any, name: str | None = None) -> Any:
        return self._call(super().wait_for_condition, check, config, name)

    def run_in_child_context(self, func: Callable[..., Any], name: str | None = None, config: Any = None) -> Any:
        return self._call(
            super().run_in_child_context, self._rt.sandboxed(func), _sdk.step_name(self, name, func), config
        )

    def map(self, inputs: Any, func: Callable[..., Any], name: str | None = None, config: Any = None) -> Any:
        return self._call(super().map, inputs, self._rt.sandboxed(func), _sdk.step_name(self, name, func), config)

    def parallel(self, functions: Any, name: str | None = None, config: Any = None) -> Any:
        wrapped = [
            ParallelBranch(func=self._rt.sandboxed(f.func), name=f.name)
            if isinstance(f, ParallelBranch)
            else self._rt.sandboxed(f)
            for f in functions
        ]
        return self._call(super().parallel, wrapped, name, config)


_sdk.hook_operations(ReplayContext, ReplayContext.replay_hook)
