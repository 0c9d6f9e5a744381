"""Commands: what workflow code asks of the outside world, and how each reads in a report.

Every command is recorded as one history event (its *command event*); on replay the command
the code issues is compared with that event. Keeping both directions here — command to
event attributes, event to a one-line description — means the engine, the replayer and the
reports can never describe the same thing two ways.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .history import Event


@dataclass(frozen=True)
class Source:
    """Where in workflow code a command was issued."""

    file: str                   # relative to the working directory when under it: for people
    line: int
    function: str
    code: str = ""
    path: str = field(default="", compare=False)  # absolute: for reading the line back

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function, "code": self.code}

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}"


@dataclass
class Command:
    event_type: str
    attrs: dict[str, Any]
    source: Source | None = field(default=None, compare=False)

    def describe(self) -> str:
        return describe(self.event_type, self.attrs)


def schedule_activity(activity_id: str, activity_type: str, args: list[Any], retry_policy: dict[str, Any],
                      start_to_close_timeout: float | None) -> Command:
    return Command("ActivityTaskScheduled", {
        "activity_id": activity_id, "activity_type": activity_type, "input": args,
        "retry_policy": retry_policy, "start_to_close_timeout": start_to_close_timeout})


def start_timer(timer_id: str, duration: float) -> Command:
    return Command("TimerStarted", {"timer_id": timer_id, "duration": duration})


def record_marker(marker_name: str, marker_id: str, value: Any = None) -> Command:
    attrs: dict[str, Any] = {"marker_name": marker_name, "marker_id": marker_id}
    if marker_name == "side_effect":
        attrs["value"] = value
    return Command("MarkerRecorded", attrs)


def complete_workflow(result: Any) -> Command:
    return Command("WorkflowExecutionCompleted", {"result": result})


def fail_workflow(failure: dict[str, Any]) -> Command:
    return Command("WorkflowExecutionFailed", {"failure": failure})


def _json(v: Any, limit: int = 60) -> str:
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _duration(s: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{int(s // size)}{unit}"
    return f"{s:g}s"


def describe(event_type: str, a: dict[str, Any]) -> str:
    """One readable line for an event (or the command it records): type and what matters."""
    if event_type == "ActivityTaskScheduled":
        args = ", ".join(_json(x) for x in a.get("input", []))
        return f"{event_type} {a.get('activity_type')}({args})"
    if event_type == "TimerStarted":
        return f"{event_type} timer {a.get('timer_id')} for {_duration(a.get('duration', 0))}"
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
