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

import json
import logging
import re
import traceback
from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python import __about__ as sdk_about
from aws_durable_execution_sdk_python import state as sdk_state
from aws_durable_execution_sdk_python.context import DurableContext
from aws_durable_execution_sdk_python.exceptions import NonDeterministicExecutionError, SuspendExecution
from aws_durable_execution_sdk_python.execution import (
    DurableExecutionInvocationInputWithClient,
    InitialExecutionState,
    durable_execution,
)

from ...modes import ArgsMode, SandboxMode, parse_mode
from .. import Document, ReplayDebugger, ReplaySettings
from . import AwsOptions
from . import handlers as _handlers
from . import history as _history
from ._compat import (
    NondeterminismError,
    ReplayResult,
    Source,
    WorkflowTaskError,
    exception_source,
    return_source,
    user_tb_frames,
)
from .context import ReplayContext, _LambdaContext
from .history import AwsHistory
from .operations import RecordingClient, initial_operations
from .run import Run, _Stop
from .verdicts import divergence

SDK_VERSION = sdk_about.__version__


def replay_history(
    history: AwsHistory,
    handler: Callable[..., Any],
    *,
    args_mismatch: ArgsMode | str | None = ArgsMode.WARN,
    sandbox: SandboxMode | str = SandboxMode.STRICT,
    workflow_type: str | None = None,
    observer: ReplayDebugger | None = None,
) -> ReplayResult:
    """Replay ``history`` with ``handler`` (a ``@durable_execution`` function). Returns a
    ReplayResult or raises NondeterminismError / WorkflowTaskError / SandboxViolation."""
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
    # The checkpoint thread re-checks for shutdown every 0.1 s: 90% of a replay's time, spent
    # waiting. Polled faster while we replay (the constant is the SDK's; restored after).
    poll = getattr(sdk_state, "_STOP_SIGNAL_POLL_SECONDS", None)
    if poll is not None:
        sdk_state._STOP_SIGNAL_POLL_SECONDS = min(poll, 0.005)
    try:
        lambda_context: Any = _LambdaContext(function_name=history.function_name or "replay")
        output = dict(durable_execution(entry)(invocation, lambda_context))
    except _Stop:
        pass
    finally:
        sdk_log.setLevel(level)
        if poll is not None:
            sdk_state._STOP_SIGNAL_POLL_SECONDS = poll
    return _verdict(rt, output)


def _verdict(rt: Run, output: dict[str, Any] | None) -> ReplayResult:
    """The ReplayResult, or the verdict raised, with the warnings collected before it."""
    try:
        return _judge(rt, output)
    except (NondeterminismError, WorkflowTaskError) as e:
        target = e.divergence if isinstance(e, NondeterminismError) else e
        target.warnings = list(rt.warnings)
        if isinstance(e, NondeterminismError):
            raise NondeterminismError(e.divergence) from None  # the message includes the warnings
        raise


def _judge(rt: Run, output: dict[str, Any] | None) -> ReplayResult:
    h = rt.history
    name = h.execution_name or "execution"
    if isinstance(rt.stop, Exception):  # a sandbox violation in strict mode
        raise _task_error(
            name,
            rt.stop,
            "in a Lambda durable handler, do I/O inside a context.step: handler code "
            "outside steps is replayed (--replay-sandbox=warn reports this instead of failing)",
            rt.violation_at,
            rt.violation_frames,
        )
    if rt.stop is not None and not isinstance(rt.stop, str):  # a divergence
        raise NondeterminismError(rt.stop)
    if isinstance(rt.stop, str) and rt.stop.startswith("internal:"):
        raise RuntimeError(rt.stop)
    err = rt.handler_error
    if isinstance(err, NonDeterministicExecutionError):  # the SDK saw what our hook did not
        rec = h.ops.get(err.step_id or "")
        issued = None
        if rec is not None and (m := re.search(r"name checkpoint=.*? current=('.*?'|None)", str(err))):
            issued = _history.op_label(rec.type, rec.sub_type, m.group(1).strip("'") if m.group(1) != "None" else None)
        raise NondeterminismError(
            divergence(
                "command",
                h,
                rt.workflow_type,
                rec.first_event if rec else None,
                rec.label() if rec else None,
                issued,
                exception_source(err),
                f"the SDK: {err}",
            )
        )
    if rt.step_failures:
        rec, exc = rt.step_failures[-1]
        failed = _task_error(
            name,
            exc,
            f"history recorded {rec.label()} failing with a retry pending (event "
            f"{rec.events[-1].id}); re-run on replay, it still fails",
        )
        failed.event_id = rec.events[-1].id
        raise failed
    status = output.get("Status") if output else None
    if status == "FAILED" and h.status != "FAILED" and err is not None:
        # the code now fails where history recorded it going on
        raise _task_error(name, err, f"history recorded the execution {h.status.lower()}")
    if rt.frontier is None and (missing := rt.missing()) is not None:
        rt.diverged_after_return(missing)
        raise NondeterminismError(missing)
    if status == "SUCCEEDED" and h.status == "SUCCEEDED" and not rt.frontier:
        _compare_result(rt, output)
    # a timed-out or stopped execution is over without completing: "failed" for the summary
    result_status = {"SUCCEEDED": "completed", "RUNNING": "running"}.get(h.status, "failed")
    out: Any = None
    if h.status == "SUCCEEDED":
        payload = h.events[-1].payload("Result")[0]
        out = _loads(payload)
    elif h.status != "RUNNING":
        out = (h.events[-1].details.get("Error") or {}).get("Payload")
    waiting = None
    if status == "PENDING" and rt.frontier is None:
        at = rt.suspended_at or rt.last_source
        waiting = str(at) if at else None
    elif rt.waiting_at is not None:
        waiting = str(rt.waiting_at)
    new = [rt.frontier] if rt.frontier and rt.waiting_at is None else []
    if status == "SUCCEEDED" and h.status == "RUNNING" and not new and output is not None:
        new = [f"the execution completes with {_history.short(_loads(output.get('Result')), 80)}"]
    if status == "FAILED" and h.status == "FAILED" and output is not None and isinstance(out, dict):
        now_type = (output.get("Error") or {}).get("ErrorType")
        if now_type and out.get("ErrorType") and now_type != out["ErrorType"]:
            rt.warnings.append(
                f"history recorded the execution failing with {out['ErrorType']}; the code now fails with {now_type}"
            )
    return ReplayResult(name, rt.workflow_type, result_status, out, len(h.events), rt.warnings, waiting, new)


def _task_error(
    name: str,
    exc: BaseException,
    note: str,
    source: Source | None = None,
    frames: list[traceback.FrameSummary] | None = None,
) -> WorkflowTaskError:
    """Handler code raised ``exc``: at ``source`` through ``frames``, by default its traceback's."""
    if frames is None:
        source, frames = exception_source(exc), user_tb_frames(exc)
    failed = WorkflowTaskError(name, exc, source, {"type": type(exc).__name__, "message": str(exc)}, frames=frames)
    failed.history_note = note
    return failed


def _loads(payload: Any) -> Any:
    try:
        return json.loads(payload) if isinstance(payload, str) else payload
    except ValueError:
        return payload


def _compare_result(rt: Run, output: dict[str, Any] | None) -> None:
    h = rt.history
    payload, truncated = h.events[-1].payload("Result")
    if truncated or payload is None or output is None:
        return
    recorded, now = _loads(payload), _loads(output.get("Result"))
    if recorded != now:
        d = divergence(
            "result",
            h,
            rt.workflow_type,
            h.events[-1],
            _history.short(recorded, 120),
            _history.short(now, 120),
            return_source(rt.user_fn),
            "every operation matched; only the returned value differs",
        )
        rt.diverged_after_return(d)
        raise NondeterminismError(d)


def replay_document(
    doc: Document, index: int, settings: ReplaySettings, *, source: str, fallback_name: str | None = None
) -> ReplayResult:
    """The seam's ``replay``: load entry ``index`` of ``doc``, find its handler, replay it."""
    history = _history.load(_history.split_executions(doc)[index], source)
    if history.execution.name is None and fallback_name:
        history.execution.name = fallback_name
    handler = _handlers.resolve(
        history.function_name, AwsOptions.of(settings).handlers, [*settings.modules, *settings.extra_workflows], source
    )
    return replay_history(
        history, handler, args_mismatch=settings.args_mismatch, sandbox=settings.sandbox, observer=settings.observer()
    )


__all__ = ["SDK_VERSION", "ReplayContext", "replay_document", "replay_history"]
