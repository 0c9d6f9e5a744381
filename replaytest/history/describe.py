"""One readable line per native event (or per command, which records as an event).

The engine's ``show``, the timelines in reports and the divergence lines all describe an event
through :func:`describe`, so the same thing never reads two ways.
"""

from __future__ import annotations

from typing import Any

from ..report.text import short_duration
from ..report.text import short_json as _json
from .model import Event


def describe(event_type: str, a: dict[str, Any]) -> str:
    """One readable line for an event (or the command it records): type and what matters."""
    if event_type == "ActivityTaskScheduled":
        args = ", ".join(_json(x) for x in a.get("input", []))
        return f"{event_type} {a.get('activity_type')}({args})"
    if event_type == "TimerStarted":
        return f"{event_type} timer {a.get('timer_id')} for {short_duration(a.get('duration', 0))}"
    if event_type == "TimerFired":
        return f"{event_type} timer {a.get('timer_id')}"
    if event_type == "MarkerRecorded":
        if a.get("marker_name") == "patch":
            return f"{event_type} patch {a.get('marker_id')!r}"
        return f"{event_type} side_effect {a.get('marker_id')} = {_json(a.get('value'))}"
    if event_type == "WorkflowExecutionCompleted":
        return f"{event_type} result={_json(a.get('result'))}"
    if event_type in ("WorkflowExecutionFailed", "WorkflowTaskFailed", "ActivityTaskFailed", "ActivityTaskTimedOut"):
        f = a.get("failure", {})
        where = ""
        if src := f.get("source"):
            where = f" at {src.get('file')}:{src.get('line')}"
        return f"{event_type} {f.get('type')}: {f.get('message')}{where}"
    if event_type == "ActivityTaskCompleted":
        return f"{event_type} activity {a.get('activity_id')} → {_json(a.get('result'))}"
    if event_type == "ActivityTaskStarted":
        return f"{event_type} activity {a.get('activity_id')} attempt {a.get('attempt')}"
    if event_type == "WorkflowExecutionSignaled":
        return f"{event_type} {a.get('signal_name')!r} {_json(a.get('payload'))}"
    if event_type == "WorkflowExecutionStarted":
        args = ", ".join(_json(x) for x in a.get("input", []))
        return f"{event_type} {a.get('workflow_type')}({args}) id={a.get('workflow_id')}"
    if event_type == "WorkflowTaskScheduled" and a.get("attempt", 1) > 1:
        return f"{event_type} attempt {a['attempt']}"
    return event_type


def describe_event(e: Event) -> str:
    return describe(e.type, e.attrs)
