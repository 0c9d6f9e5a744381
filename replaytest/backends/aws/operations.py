"""History → the operations the SDK replays from, and a checkpoint client that records.

The SDK replays from ``InitialExecutionState.Operations`` (what ``GetDurableExecutionState``
returns). We build those from the folded history ourselves instead of through the testing
SDK's conversion, because three things must differ from a plain conversion:

- a step that failed with a retry pending (``NextAttemptDelaySeconds`` > 0) is READY, so its
  code runs again now, as the next invocation would (the testing SDK makes it a final failure);
- every completed child context (map, parallel, their iterations) is marked ``ReplayChildren``,
  so the SDK runs the child's code over its recorded children instead of returning the child's
  recorded result — the only way to see a rename inside it;
- a failed ``run_in_child_context`` is presented as STARTED, for the same reason.

The client answers ``checkpoint`` like the service would (the operation's new status) and never
calls AWS.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_durable_execution_sdk_python.lambda_service import (
    CallbackDetails,
    ChainedInvokeDetails,
    CheckpointOutput,
    CheckpointUpdatedExecutionState,
    ContextDetails,
    ErrorObject,
    ExecutionDetails,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    StateOutput,
    StepDetails,
    WaitDetails,
)

from .history import AwsHistory, RecordedOp, readable

#: child-context subtypes whose code we re-run even when history recorded them FAILED
_RERUN_FAILED = {"RunInChildContext", "WaitForCallback", None}


def _error(payload: dict[str, Any] | None) -> ErrorObject | None:
    return ErrorObject.from_dict(payload) if payload else None


def to_operation(op: RecordedOp) -> Operation:
    status = op.status
    step = wait = callback = context = invoke = None
    if op.type == "STEP":
        if status == "PENDING":
            status = "READY"  # the retry's time has come: the code runs again, as on the next invocation
        step = StepDetails(attempt=op.attempt, result=op.result, error=_error(op.error), next_attempt_timestamp=None)
    elif op.type == "WAIT":
        wait = WaitDetails(scheduled_end_timestamp=op.scheduled_end)
    elif op.type == "CALLBACK":
        callback = CallbackDetails(
            callback_id=op.callback_id or f"replay-{op.id[:12]}", result=op.result, error=_error(op.error)
        )
    elif op.type == "CONTEXT":
        if status == "SUCCEEDED":
            result = _batch_summary(op) if op.sub_type in ("Map", "Parallel") else op.result
            context = ContextDetails(replay_children=True, result=result)
        elif status == "FAILED" and op.sub_type in _RERUN_FAILED:
            status = "STARTED"
        else:
            context = ContextDetails(result=op.result, error=_error(op.error))
    elif op.type == "CHAINED_INVOKE":
        invoke = ChainedInvokeDetails(result=op.result, error=_error(op.error))
    return Operation(
        operation_id=op.id,
        operation_type=OperationType(op.type),
        status=OperationStatus(status),
        parent_id=op.parent_id,
        name=op.name,
        sub_type=op.sub_type,
        start_timestamp=op.start,
        end_timestamp=op.end,
        step_details=step,
        wait_details=wait,
        callback_details=callback,
        context_details=context,
        chained_invoke_details=invoke,
    )


def _batch_summary(op: RecordedOp) -> str | None:
    """A map/parallel result as the summary the SDK writes when it replays children: the
    completion record (how many branches started, which stayed STARTED, why it completed),
    without which the SDK cannot rebuild a FLAT batch from its children."""
    batch = readable(op.result)
    if not isinstance(batch, dict) or "totalCount" in batch or not isinstance(batch.get("all"), list):
        return op.result
    items = [i for i in batch["all"] if isinstance(i, dict)]
    return json.dumps(
        {
            "type": "MapResult" if op.sub_type == "Map" else "ParallelResult",
            "totalCount": len(items),
            "completionReason": batch.get("completionReason"),
            "startedIndexes": [i.get("index") for i in items if i.get("status") == "STARTED"],
        }
    )


def initial_operations(history: AwsHistory) -> list[Operation]:
    execution = Operation(
        operation_id=history.execution.id,
        operation_type=OperationType.EXECUTION,
        status=OperationStatus.STARTED,
        name=history.execution.name,
        start_timestamp=history.execution.start,
        execution_details=ExecutionDetails(input_payload=history.input_payload),
    )
    return [execution, *(to_operation(op) for op in history.ops.values())]


@dataclass
class RecordingClient:
    """A ``DurableServiceClient`` that keeps every update and answers as the service would."""

    operations: dict[str, Operation]
    updates: list[OperationUpdate] = field(default_factory=list)
    _tokens: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def checkpoint(
        self,
        durable_execution_arn: str,
        checkpoint_token: str,
        updates: list[OperationUpdate],
        client_token: str | None,
    ) -> CheckpointOutput:
        with self._lock:
            changed = []
            for update in updates:
                self.updates.append(update)
                op = _apply(self.operations.get(update.operation_id), update)
                if op is not None:
                    self.operations[op.operation_id] = op
                    changed.append(op)
            token = None if _ends_execution(updates) else f"replay-{next(self._tokens)}"
        return CheckpointOutput(
            checkpoint_token=token, new_execution_state=CheckpointUpdatedExecutionState(operations=changed)
        )

    def get_execution_state(
        self, durable_execution_arn: str, checkpoint_token: str, next_marker: str, max_items: int = 1000
    ) -> StateOutput:
        return StateOutput(operations=[], next_marker=None)


def _ends_execution(updates: list[OperationUpdate]) -> bool:
    return any(
        u.operation_type is OperationType.EXECUTION and u.action in (OperationAction.SUCCEED, OperationAction.FAIL)
        for u in updates
    )


_STATUS = {
    OperationAction.START: OperationStatus.STARTED,
    OperationAction.SUCCEED: OperationStatus.SUCCEEDED,
    OperationAction.FAIL: OperationStatus.FAILED,
    OperationAction.RETRY: OperationStatus.PENDING,
    OperationAction.CANCEL: OperationStatus.CANCELLED,
}


def _apply(prev: Operation | None, u: OperationUpdate) -> Operation | None:
    """The operation as the service would store it after ``u``."""
    if u.operation_type is OperationType.EXECUTION:
        return None
    now = datetime.now(UTC)
    op = prev or Operation(
        operation_id=u.operation_id,
        operation_type=u.operation_type,
        status=OperationStatus.STARTED,
        parent_id=u.parent_id,
        name=u.name,
        sub_type=u.sub_type,
        start_timestamp=now,
    )
    status = _STATUS[u.action]
    op = replace(op, status=status, end_timestamp=now if status is not OperationStatus.STARTED else None)
    if u.operation_type is OperationType.STEP:
        d = op.step_details or StepDetails()
        attempt = (
            d.attempt + 1
            if u.action in (OperationAction.RETRY, OperationAction.FAIL, OperationAction.SUCCEED)
            else d.attempt
        )
        delay = u.step_options.next_attempt_delay_seconds if u.step_options else 0
        op = replace(
            op,
            step_details=StepDetails(
                attempt=attempt,
                result=u.payload if u.action is OperationAction.SUCCEED else d.result,
                error=u.error or d.error,
                next_attempt_timestamp=now + timedelta(seconds=delay) if u.action is OperationAction.RETRY else None,
            ),
        )
    elif u.operation_type is OperationType.CONTEXT:
        op = replace(op, context_details=ContextDetails(result=u.payload, error=u.error))
    elif u.operation_type is OperationType.WAIT and u.wait_options:
        op = replace(
            op, wait_details=WaitDetails(scheduled_end_timestamp=now + timedelta(seconds=u.wait_options.wait_seconds))
        )
    elif u.operation_type is OperationType.CALLBACK and op.callback_details is None:
        op = replace(op, callback_details=CallbackDetails(callback_id=f"replay-{u.operation_id[:12]}"))
    return op
