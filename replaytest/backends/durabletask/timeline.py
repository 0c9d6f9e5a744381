"""The Durable Task backend's timeline hook: an orchestration history as lanes (activities with
their retries, timers, sub-orchestrations, external events, orchestrator episodes) and event rows
for the page (``replaytest view``, ``--replay-html``). Reads the history as data; imports nothing
of the SDK."""

from __future__ import annotations

from typing import Any

from ...view.model import LaneBuilder, Timeline, TimelineEvent
from .history import DtEvent, describe, label, load, readable

_KIND = {
    "executionStarted": "workflow",
    "executionCompleted": "workflow",
    "executionTerminated": "workflow",
    "continueAsNew": "workflow",
    "orchestratorStarted": "workflow_task",
    "orchestratorCompleted": "workflow_task",
    "taskScheduled": "activity",
    "taskCompleted": "activity",
    "taskFailed": "activity",
    "timerCreated": "timer",
    "timerFired": "timer",
    "subOrchestrationInstanceCreated": "child",
    "subOrchestrationInstanceCompleted": "child",
    "subOrchestrationInstanceFailed": "child",
    "eventRaised": "signal",
    "eventSent": "signal",
}
_ENDED = {"COMPLETED": "completed", "FAILED": "failed", "TERMINATED": "failed", "CANCELED": "canceled"}


def _detail(e: DtEvent) -> dict[str, Any]:
    """The event's fields, JSON-string payloads (input, result) parsed for people."""
    out: dict[str, Any] = {"sequence number": e.seq} if e.seq >= 0 else {}
    for key, value in e.data.items():
        out[key] = readable(value) if key in ("input", "result") else value
    return out


def timeline(doc: Any, display: str, name: str | None) -> Timeline:
    """Raises HistoryFormatError (naming ``display``) for a history that does not load."""
    history = load(doc, display)
    lanes = LaneBuilder()
    events: list[TimelineEvent] = []
    attempts: dict[int, int] = {}
    for e in history.events:
        t = e.time.timestamp() if e.time is not None else None
        events.append(TimelineEvent(e.pos, t, label(e), describe(e), _KIND.get(e.kind, "other"), _detail(e)))
        d, k = e.data, e.kind
        if k == "executionStarted":
            lanes.begin("wf", "workflow", f"orchestration {d.get('name')}", e.pos)
        elif k in ("executionCompleted", "executionTerminated"):
            status = "TERMINATED" if k == "executionTerminated" else history.status
            lanes.end("wf", e.pos, _ENDED.get(status, "completed"))
        elif k == "orchestratorStarted":
            lanes.begin("episodes", "workflow_task", "orchestrator episodes", e.pos)
        elif k == "orchestratorCompleted":
            lanes.end("episodes", e.pos, "completed")
        elif k == "taskScheduled":
            attempts[e.seq] = attempts.get(e.seq, 0) + 1  # a retry is scheduled again under its first number
            lanes.begin(("task", e.seq), "activity", f"{d.get('name')} · #{e.seq}", e.pos)
            lanes.started(("task", e.seq), attempts[e.seq])
        elif k in ("taskCompleted", "taskFailed"):
            lanes.end(("task", d.get("taskScheduledId")), e.pos, "completed" if k == "taskCompleted" else "failed")
        elif k == "timerCreated":
            lanes.begin(("timer", e.seq), "timer", f"timer #{e.seq}", e.pos)
        elif k == "timerFired":
            lanes.end(("timer", d.get("timerId")), e.pos, "completed")
        elif k == "subOrchestrationInstanceCreated":
            lanes.begin(("sub", e.seq), "child", f"sub-orchestration {d.get('name')} · {d.get('instanceId')}", e.pos)
        elif k in ("subOrchestrationInstanceCompleted", "subOrchestrationInstanceFailed"):
            status = "completed" if k.endswith("Completed") else "failed"
            lanes.end(("sub", d.get("taskScheduledId")), e.pos, status)
        elif k == "eventRaised":
            lanes.point(("raised", d.get("name")), "signal", f"event {d.get('name')!r}", e.pos)
        elif k == "eventSent":
            lanes.point(("sent", d.get("name")), "signal", f"event {d.get('name')!r} → {d.get('instanceId')}", e.pos)
    return Timeline(
        "durabletask",
        history.instance_id or name or "?",
        history.orchestrator or "?",
        history.status.lower().replace("_", " "),
        events,
        lanes.ordered(),
        facts=[("form", history.form)],
    )
