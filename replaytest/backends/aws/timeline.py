"""The AWS backend's timeline hook: an exported durable execution history as lanes (one per
operation: steps with their attempts, waits, callbacks, child contexts, chained invokes) and
event rows for the page. Reads the JSON as data; imports nothing of the SDK."""

from __future__ import annotations

from typing import Any

from ...view.model import LaneBuilder, Timeline, TimelineEvent
from .history import EVENT_TYPES, AwsEvent, describe, load, op_label, readable, split_executions

_KIND = {
    "EXECUTION": "workflow",
    "STEP": "activity",
    "WAIT": "timer",
    "CALLBACK": "signal",
    "CONTEXT": "child",
    "CHAINED_INVOKE": "child",
}
_END = {
    "SUCCEEDED": "completed",
    "FAILED": "failed",
    "TIMED_OUT": "timed_out",
    "STOPPED": "canceled",
    "CANCELLED": "canceled",
}


def _detail(e: AwsEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        k: v for k, v in (("Id", e.op_id), ("Name", e.name), ("ParentId", e.parent_id), ("SubType", e.sub_type)) if v
    }
    for key, value in e.details.items():
        if isinstance(value, dict) and "Payload" in value:
            value = {**value, "Payload": readable(value["Payload"])}
        out[key] = value
    return out


def timeline(doc: Any, index: int, display: str, name: str | None) -> Timeline:
    """Raises HistoryFormatError (naming ``display``) for an execution that does not load."""
    history = load(split_executions(doc)[index], display)
    lanes = LaneBuilder()
    events: list[TimelineEvent] = []
    for e in history.events:
        op_type, status = EVENT_TYPES[e.type]
        kind = _KIND.get(op_type or "", "workflow_task")
        events.append(TimelineEvent(e.id, e.time.timestamp(), e.type, describe(e), kind, _detail(e)))
        if op_type is None:  # an invocation of the Lambda ended (or the execution paused/resumed)
            lanes.point("invocations", "workflow_task", "invocations", e.id, bar_label=e.type)
            continue
        key = "wf" if op_type == "EXECUTION" else e.op_id
        label = (
            f"execution {history.execution_name or ''}".rstrip()
            if op_type == "EXECUTION"
            else op_label(op_type, e.sub_type, e.name)
        )
        if status == "STARTED":
            lanes.begin(key, kind, label, e.id)
            continue
        retry = (e.details.get("RetryDetails") or {}) if isinstance(e.details.get("RetryDetails"), dict) else {}
        attempt = retry.get("CurrentAttempt")
        if e.type == "StepFailed" and retry.get("NextAttemptDelaySeconds"):
            lanes.end(key, e.id, "retrying", f"attempt {attempt}, retry in {retry['NextAttemptDelaySeconds']}s")
            if isinstance(attempt, int):
                lanes.started(key, attempt + 1)  # relabel the lane with its retries
            continue
        if not lanes.end(key, e.id, _END.get(status or "", "completed"), f"attempt {attempt}" if attempt else None):
            lanes.point(key, kind, label, e.id, _END.get(status or "", "point"))  # a result with no start
    status = history.status.lower().replace("_", " ")
    return Timeline(
        "aws",
        history.execution_name or name or "?",
        history.function_name or "?",
        status,
        events,
        lanes.ordered(),
        run_id=history.arn or "",
        facts=[(k, v) for k, v in (("function", history.function_name), ("sdk", history.sdk_version)) if v],
    )
