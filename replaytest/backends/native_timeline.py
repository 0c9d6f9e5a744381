"""The native backend's timeline hook: a replaytest history as lanes and event rows for the
page (``replaytest view``, ``--replay-html``). Reads the history as data; runs nothing."""

from __future__ import annotations

from typing import Any

from ..history import History
from ..history.describe import describe_event
from ..history.model import parse_time
from ..view.model import LaneBuilder, Timeline, TimelineEvent

_KIND = {
    "WorkflowExecutionStarted": "workflow",
    "WorkflowExecutionCompleted": "workflow",
    "WorkflowExecutionFailed": "workflow",
    "WorkflowTaskScheduled": "workflow_task",
    "WorkflowTaskStarted": "workflow_task",
    "WorkflowTaskCompleted": "workflow_task",
    "WorkflowTaskFailed": "workflow_task",
    "ActivityTaskScheduled": "activity",
    "ActivityTaskStarted": "activity",
    "ActivityTaskCompleted": "activity",
    "ActivityTaskFailed": "activity",
    "ActivityTaskTimedOut": "activity",
    "TimerStarted": "timer",
    "TimerFired": "timer",
    "WorkflowExecutionSignaled": "signal",
    "MarkerRecorded": "marker",
}


def timeline(doc: Any, display: str) -> Timeline:
    """Raises HistoryFormatError (naming ``display``) for a document that is not a valid history."""
    history = History.from_dict(doc, source=display)
    lanes = LaneBuilder()
    events: list[TimelineEvent] = []
    for e in history.events:
        a = e.attrs
        events.append(
            TimelineEvent(
                e.id, parse_time(e.time).timestamp(), e.type, describe_event(e), _KIND.get(e.type, "other"), a
            )
        )
        t = e.type
        if t == "WorkflowExecutionStarted":
            lanes.begin("wf", "workflow", f"workflow {history.workflow_type}", e.id)
        elif t in ("WorkflowExecutionCompleted", "WorkflowExecutionFailed"):
            lanes.end("wf", e.id, "completed" if t.endswith("Completed") else "failed")
        elif t == "WorkflowTaskScheduled":
            lanes.end("wft", e.id, "failed")  # a task still open was abandoned (its lease expired)
            lanes.begin("wft", "workflow_task", "workflow tasks", e.id, f"attempt {a.get('attempt', 1)}")
        elif t in ("WorkflowTaskCompleted", "WorkflowTaskFailed"):
            lanes.end("wft", e.id, "completed" if t.endswith("Completed") else "failed")
        elif t == "ActivityTaskScheduled":
            key = ("activity", a.get("activity_id"))
            lanes.begin(key, "activity", f"{a.get('activity_type')} · activity {a.get('activity_id')}", e.id)
        elif t == "ActivityTaskStarted":
            lanes.started(("activity", a.get("activity_id")), a.get("attempt", 1))
        elif t in ("ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut"):
            status = {"ActivityTaskCompleted": "completed", "ActivityTaskFailed": "failed"}.get(t, "timed_out")
            lanes.end(("activity", a.get("activity_id")), e.id, status)
        elif t == "TimerStarted":
            lanes.begin(("timer", a.get("timer_id")), "timer", f"timer {a.get('timer_id')}", e.id)
        elif t == "TimerFired":
            lanes.end(("timer", a.get("timer_id")), e.id, "completed")
        elif t == "WorkflowExecutionSignaled":
            name = a.get("signal_name")
            lanes.point(("signal", name), "signal", f"signal {name!r}", e.id)
        elif t == "MarkerRecorded":
            what = "patch" if a.get("marker_name") == "patch" else "side_effect"
            lanes.point(("marker", what), "marker", f"markers: {what}", e.id, bar_label=str(a.get("marker_id")))
    return Timeline(
        "native",
        history.workflow_id,
        history.workflow_type,
        history.status,
        events,
        lanes.ordered(),
        run_id=history.run_id,
        facts=[("module", str(history.started.get("workflow_module", "")))],
    )
