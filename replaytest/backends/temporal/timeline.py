"""The Temporal backend's timeline hook: an exported history as lanes and event rows for the
page (``replaytest view``, ``--replay-html``), drawn the way Temporal's Web UI groups events.
Reads the JSON as data and decodes JSON payloads for people; imports nothing of temporalio."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...view.model import LaneBuilder, Timeline, TimelineEvent
from .events import TEvent, args_text, as_int, decode_payloads, describe, events_of

_CLOSED = {
    "WorkflowExecutionCompleted": "completed",
    "WorkflowExecutionFailed": "failed",
    "WorkflowExecutionTimedOut": "timed_out",
    "WorkflowExecutionTerminated": "failed",
    "WorkflowExecutionCanceled": "canceled",
    "WorkflowExecutionContinuedAsNew": "completed",
}
_ENDS = {
    "Completed": "completed",
    "Failed": "failed",
    "TimedOut": "timed_out",
    "Canceled": "canceled",
    "Terminated": "failed",
}


def _kind(t: str) -> str:
    if t.startswith("WorkflowTask"):
        return "workflow_task"
    if t.startswith("ActivityTask"):
        return "activity"
    if t.startswith("Timer"):
        return "timer"
    if "ChildWorkflow" in t:
        return "child"
    if "Signal" in t or "Update" in t:
        return "signal"
    if t == "MarkerRecorded":
        return "marker"
    if t.startswith("WorkflowExecution"):
        return "workflow"
    return "other"


def _end_status(t: str) -> str:
    return next((status for suffix, status in _ENDS.items() if t.endswith(suffix)), "completed")


def parse_event_time(value: Any) -> float | None:
    """``2024-05-01T10:00:00.123456789Z`` (nanoseconds, proto JSON) → epoch seconds."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # fromisoformat takes at most microseconds
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{(digits + '000000')[:6]}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _decoded(value: Any) -> Any:
    """Attributes with every ``{"payloads": [...]}`` replaced by its decoded values."""
    if isinstance(value, dict):
        if isinstance(value.get("payloads"), list) and set(value) == {"payloads"}:
            return [v if not isinstance(v, str) else str(v) for v in decode_payloads(value)]
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def timeline(history: dict[str, Any], workflow_id: str, workflow_type: str | None) -> Timeline:
    raw_events = [r for r in history.get("events") or [] if isinstance(r, dict)]
    parsed = events_of(history)
    lanes = LaneBuilder()
    events: list[TimelineEvent] = []
    activity_key: dict[int, Any] = {}
    status = "running"
    for raw, e in zip(raw_events, parsed):
        events.append(
            TimelineEvent(
                e.id, parse_event_time(raw.get("eventTime")), e.type, describe(e), _kind(e.type), _decoded(e.attrs)
            )
        )
        status = _place(lanes, e, activity_key) or status
    return Timeline(
        "temporal",
        workflow_id,
        workflow_type or "?",
        status,
        events,
        lanes.ordered(),
        run_id=_run_id(parsed),
        facts=_facts(parsed),
    )


def _place(lanes: LaneBuilder, e: TEvent, activity_key: dict[int, Any]) -> str | None:
    """Put one event on its lane; returns the workflow's status when the event closes it."""
    a, t = e.attrs, e.type
    if t == "WorkflowExecutionStarted":
        lanes.begin("wf", "workflow", f"workflow {(a.get('workflowType') or {}).get('name')}", e.id)
    elif t in _CLOSED:
        lanes.end("wf", e.id, _CLOSED[t])
        return t.removeprefix("WorkflowExecution").lower().replace("continuedasnew", "continued as new")
    elif t == "WorkflowTaskScheduled":
        lanes.begin("wft", "workflow_task", "workflow tasks", e.id, f"attempt {a.get('attempt', 1)}")
    elif t.startswith("WorkflowTask") and t != "WorkflowTaskStarted":
        lanes.end("wft", e.id, _end_status(t))
    elif t == "ActivityTaskScheduled":
        label = f"{(a.get('activityType') or {}).get('name')} · activity {a.get('activityId')}"
        activity_key[e.id] = ("activity", e.id)
        lanes.begin(("activity", e.id), "activity", label, e.id)
    elif t == "ActivityTaskStarted":
        lanes.started(("activity", as_int(a.get("scheduledEventId"))), as_int(a.get("attempt")) or 1)
    elif t.startswith("ActivityTask") and t != "ActivityTaskCancelRequested":
        lanes.end(("activity", as_int(a.get("scheduledEventId"))), e.id, _end_status(t))
    elif t == "TimerStarted":
        lanes.begin(("timer", a.get("timerId")), "timer", f"timer {a.get('timerId')}", e.id)
    elif t in ("TimerFired", "TimerCanceled"):
        lanes.end(("timer", a.get("timerId")), e.id, "completed" if t == "TimerFired" else "canceled")
    elif t == "StartChildWorkflowExecutionInitiated":
        label = f"child {(a.get('workflowType') or {}).get('name')} · {a.get('workflowId')}"
        lanes.begin(("child", e.id), "child", label, e.id)
    elif "ChildWorkflowExecution" in t and t != "ChildWorkflowExecutionStarted":
        key = ("child", as_int(a.get("initiatedEventId")))
        lanes.end(key, e.id, "failed" if t.startswith("StartChild") else _end_status(t))
    elif t == "WorkflowExecutionSignaled":
        lanes.point(("signal", a.get("signalName")), "signal", f"signal {a.get('signalName')!r}", e.id)
    elif t == "SignalExternalWorkflowExecutionInitiated":
        wid = (a.get("workflowExecution") or {}).get("workflowId")
        lanes.begin(("signal-out", e.id), "signal", f"signal {a.get('signalName')!r} → {wid}", e.id)
    elif t in ("ExternalWorkflowExecutionSignaled", "SignalExternalWorkflowExecutionFailed"):
        lanes.end(("signal-out", as_int(a.get("initiatedEventId"))), e.id, "completed" if "Signaled" in t else "failed")
    elif t == "WorkflowExecutionUpdateAccepted":
        name = ((a.get("acceptedRequest") or {}).get("input") or {}).get("name")
        lanes.begin(("update", a.get("protocolInstanceId")), "signal", f"update {name!r}", e.id)
    elif t == "WorkflowExecutionUpdateCompleted":
        lanes.end(("update", (a.get("meta") or {}).get("updateId")), e.id, "completed")
    elif t == "MarkerRecorded":
        name = a.get("markerName")
        lanes.point(("marker", name), "marker", f"markers: {'patch' if name == 'core_patch' else name}", e.id)
    return None


def _run_id(events: list[TEvent]) -> str:
    if not events:
        return ""
    a = events[0].attrs
    return str(a.get("originalExecutionRunId") or a.get("firstExecutionRunId") or "")


def _facts(events: list[TEvent]) -> list[tuple[str, str]]:
    if not events:
        return []
    a = events[0].attrs
    facts = [("task queue", str((a.get("taskQueue") or {}).get("name") or ""))]
    args = decode_payloads(a.get("input"))
    if args:
        facts.append(("input", args_text(args)))
    return [f for f in facts if f[1]]
