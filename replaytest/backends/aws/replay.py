"""Replay an AWS Lambda durable execution history against the current handler code, offline.

The handler runs through the SDK's own ``@durable_execution`` invocation path, fed the
history's operations (see :mod:`.operations`) and a checkpoint client that records instead of
calling AWS. Its context is a :class:`~.context.ReplayContext`: the SDK's ``DurableContext`` with one
hook where every operation is allocated, which (see :mod:`.run`)

- compares the operation with the one history recorded at its id, BEFORE the SDK runs
  anything, and names the handler line that issued it;
- stops the replay (:class:`_Stop`, a BaseException the SDK lets through) before an
  operation the history does not have can run its body for real;
- remembers which recorded operations the code reached, so those it no longer reaches are
  reported when the handler returns (the SDK reports success there).

Handler code runs in replaytest's sandbox (recorded time, seeded randomness, I/O flagged);
step bodies, and the SDK's own machinery, run unrestricted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python import __about__ as sdk_about
from aws_durable_execution_sdk_python.context import DurableContext
from aws_durable_execution_sdk_python.exceptions import SuspendExecution
from aws_durable_execution_sdk_python.execution import (
    DurableExecutionInvocationInputWithClient,
    InitialExecutionState,
    durable_execution,
)

from ...core.frames import exception_source
from ...modes import ArgsMode, SandboxMode, parse_mode
from ...report.result import ReplayResult
from .. import Document, ReplayDebugger, ReplaySettings
from . import AwsOptions, _sdk, bound
from . import handlers as _handlers
from . import history as _history
from .context import ReplayContext, _LambdaContext
from .history import AwsHistory
from .judge import judge
from .operations import RecordingClient, initial_operations
from .run import Run, _Stop

SDK_VERSION = sdk_about.__version__


def replay_history(
    history: AwsHistory,
    handler: Callable[..., Any],
    *,
    args_mismatch: ArgsMode | str | None = ArgsMode.WARN,
    sandbox: SandboxMode | str = SandboxMode.STRICT,
    workflow_type: str | None = None,
    observer: ReplayDebugger | None = None,
    timeout: float | None = None,
    timeout_flag: str = "--timeout",
) -> ReplayResult:
    """Replay ``history`` with ``handler`` (a ``@durable_execution`` function). Returns a
    ReplayResult or raises NondeterminismError / WorkflowTaskError / SandboxViolation, or
    ReplayTimeout when the handler has run ``timeout`` seconds (see :mod:`.bound`)."""
    user_fn: Callable[..., Any] = getattr(handler, "__wrapped__")  # noqa: B009 (typed as a plain callable)
    wtype = str(workflow_type or history.function_name or getattr(user_fn, "__name__", "handler"))
    rt = Run(
        history,
        user_fn,
        wtype,
        parse_mode(ArgsMode, args_mismatch or ArgsMode.WARN, "args_mismatch"),
        parse_mode(SandboxMode, sandbox, "sandbox"),
        observer,
    )
    rt.warnings.extend(history.caveats(SDK_VERSION))

    def entry(event: Any, context: DurableContext) -> Any:
        context.__class__ = ReplayContext
        context._rt = rt  # type: ignore[attr-defined]
        try:
            return rt.sandboxed(user_fn)(event, context)
        except SuspendExecution as e:
            rt.suspended_at = exception_source(e)
            raise
        except Exception as e:
            rt.handler_error = e
            raise

    ops = initial_operations(history)
    client = RecordingClient({op.operation_id: op for op in ops})
    exec_id = history.execution.id
    arn = history.arn if history.arn and history.arn.endswith("/" + exec_id) else f"replaytest/{exec_id}"
    invocation = DurableExecutionInvocationInputWithClient(
        durable_execution_arn=arn,
        checkpoint_token="replay-0",
        initial_execution_state=InitialExecutionState(operations=ops, next_marker=""),
        service_client=client,
    )
    output: dict[str, Any] | None = None
    sdk_log = logging.getLogger("aws_durable_execution_sdk_python")
    level, sdk_log.level = sdk_log.level, logging.CRITICAL  # its "Execution failed" tracebacks are history here
    lambda_context: Any = _LambdaContext(function_name=history.function_name or "replay")

    def invoke() -> dict[str, Any]:
        with _sdk.fast_stop_polling():
            return dict(durable_execution(entry)(invocation, lambda_context))

    try:
        if timeout is None:
            output = invoke()
        else:
            with _sdk.daemon_pools(bound.DaemonPool):
                output = bound.call(invoke, rt, timeout, timeout_flag, history.source)
    except _Stop:
        pass
    finally:
        sdk_log.setLevel(level)
    return judge(rt, output)


def replay_document(
    doc: Document,
    index: int,
    settings: ReplaySettings,
    *,
    source: str,
    fallback_name: str | None = None,
    history: _history.AwsHistory | None = None,
) -> ReplayResult:
    """The seam's ``replay``: load entry ``index`` of ``doc`` (unless ``history`` is it, loaded
    already), find its handler, replay it."""
    if history is None:
        history = _history.load(_history.split_executions(doc)[index], source)
    if history.execution.name is None and fallback_name:
        history.execution.name = fallback_name
    handler = _handlers.resolve(
        history.function_name,
        AwsOptions.of(settings).handlers,
        [*settings.modules, *settings.extra_workflows],
        source,
        settings,
    )
    observer = settings.observer()
    return replay_history(
        history,
        handler,
        args_mismatch=settings.args_mismatch,
        sandbox=settings.sandbox,
        observer=observer,
        timeout=settings.timeout if observer is None else None,  # no limit while someone debugs
        timeout_flag=settings.timeout_flag,
    )


__all__ = ["SDK_VERSION", "ReplayContext", "replay_document", "replay_history"]
