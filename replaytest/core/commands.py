"""Commands: what workflow code asks of the outside world.

Every command is recorded as one history event (its *command event*) with the same attributes;
on replay the command the code issues is compared with that event (``matcher``). A command
reads in reports exactly as the event it records (``history.describe``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..history.describe import describe
from ..report.source import Source


@dataclass
class Command:
    event_type: str
    attrs: dict[str, Any]
    source: Source | None = field(default=None, compare=False)

    def describe(self) -> str:
        return describe(self.event_type, self.attrs)


def schedule_activity(
    activity_id: str,
    activity_type: str,
    args: list[Any],
    retry_policy: dict[str, Any],
    start_to_close_timeout: float | None,
) -> Command:
    return Command(
        "ActivityTaskScheduled",
        {
            "activity_id": activity_id,
            "activity_type": activity_type,
            "input": args,
            "retry_policy": retry_policy,
            "start_to_close_timeout": start_to_close_timeout,
        },
    )


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
