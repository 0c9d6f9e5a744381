"""The matcher: the one place that reads recorded events while workflow code runs.

For each workflow task it holds the command events history recorded and compares every
command the code issues with the next of them, the moment it is issued. It also answers the
look-ahead questions of ``workflow.patched()`` and ``workflow.side_effect()`` ("did history
record this marker here?"). A mismatch is described as a person would name it (``Mismatch``);
the execution turns it into a report at the user's line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..history import CLOSING_EVENTS, Event
from ..modes import ArgsMode
from .commands import Command

_AT_THE_END = (
    "history ends with this workflow task completed without this command; deployed, this code fails "
    "the workflow's next task (going on replays this task, and then the next event stands here)"
)


@dataclass
class Mismatch(Exception):
    """The code and history part ways at ``event`` (None: after the last recorded event)."""

    kind: str
    event: Event | None
    detail: str = ""


class Matcher:
    def __init__(self, history: Sequence[Event], args_mismatch: ArgsMode | str = ArgsMode.ERROR) -> None:
        self.history = history
        self.args_mismatch = ArgsMode(args_mismatch)
        self.expected: Sequence[Event] | None = None  # this task's recorded commands (None: live, all new)
        self.pos = 0
        self.next_recorded: Event | None = None  # what history recorded after them

    def begin_task(self, expected: Sequence[Event] | None, next_recorded: Event | None) -> None:
        self.expected, self.pos, self.next_recorded = expected, 0, next_recorded

    # -- questions workflow.* asks
    def replaying(self) -> bool:
        """Inside a recorded workflow task: history holds every command it issued, so a new
        code path (``patched``) is not taken there, even at the end of an in-flight history."""
        return self.expected is not None

    def next_expected(self) -> Event | None:
        if self.expected is not None and self.pos < len(self.expected):
            return self.expected[self.pos]
        return None

    def recorded_marker(self, marker_name: str, marker_id: str | None = None) -> Event | None:
        """The next recorded command, if it is this marker (any id when ``marker_id`` is None)."""
        e = self.next_expected()
        if e is None or e.type != "MarkerRecorded" or e.attrs.get("marker_name") != marker_name:
            return None
        if marker_id is not None and e.attrs.get("marker_id") != marker_id:
            return None
        return e

    def unmatched(self) -> Event | None:
        """After a task: the first recorded command the code did not issue, if any."""
        if self.expected is not None and self.pos < len(self.expected):
            return self.expected[self.pos]
        return None

    # -- the comparison
    def match(self, command: Command) -> tuple[Event | None, str | None]:
        """(the recorded event ``command`` matched or None for a new command, a warning or
        None). Raises Mismatch."""
        expected = self.expected
        if expected is not None and self.pos < len(expected):
            event = expected[self.pos]
            warning = self._compare(command, event)
            self.pos += 1
            return event, warning
        if expected is not None:
            # a recorded task is complete: the engine writes its commands with its completion,
            # and going on (a signal, a timer) replays it with something after them, which this
            # command would not match. The end of an in-flight history is no exception.
            raise Mismatch("extra", self.next_recorded, "" if self.next_recorded else _AT_THE_END)
        return None, None

    def _compare(self, command: Command, event: Event) -> str | None:
        c, e = command.attrs, event.attrs
        same_kind = command.event_type == event.type
        if same_kind and event.type == "ActivityTaskScheduled" and c["activity_type"] == e["activity_type"]:
            if c["input"] != e["input"]:
                if self.args_mismatch is ArgsMode.ERROR:
                    raise Mismatch("activity_args", event)
                if self.args_mismatch is ArgsMode.WARN:
                    return (
                        f"event {event.id}: activity {c['activity_type']} arguments differ: "
                        f"history {e['input']!r}, code {c['input']!r}"
                    )
            return None
        if same_kind and event.type == "TimerStarted":
            if c["duration"] != e["duration"]:
                raise Mismatch("timer_duration", event)
            return None
        if (
            same_kind
            and event.type == "MarkerRecorded"
            and (c["marker_name"], c["marker_id"]) == (e["marker_name"], e["marker_id"])
        ):
            return None
        if same_kind and event.type == "WorkflowExecutionCompleted":
            if c["result"] != e["result"]:
                raise Mismatch("result", event)
            return None
        if same_kind and event.type == "WorkflowExecutionFailed":
            cf, ef = c["failure"], e["failure"]
            if (cf["type"], cf["message"]) != (ef["type"], ef["message"]):
                raise Mismatch("result", event)
            return None
        kind, detail = self._mismatch_kind(command, event)
        raise Mismatch(kind, event, detail)

    def _mismatch_kind(self, command: Command, event: Event) -> tuple[str, str]:
        """Name the mismatch the way a person would, with a detail line where it helps."""
        if "patch" in (event.attrs.get("marker_name"), command.attrs.get("marker_name")):
            return "patch", ""
        if event.attrs.get("marker_name") == "side_effect":
            return "side_effect", ""
        if any(same_identity(command, later) for later in (self.expected or [])[self.pos + 1 :]):
            return "order", ""
        if command.event_type in CLOSING_EVENTS:
            return "missing", "the code finished where history recorded more steps"
        if event.type in CLOSING_EVENTS:
            return "extra", ""
        later = next((e for e in self.history[event.id : event.id + 500] if same_identity(command, e)), None)
        if later is not None:
            return "missing", (
                f"history recorded the code's command later, at event {later.id}: "
                f"this step was removed, or moved after it"
            )
        if command.event_type == event.type == "ActivityTaskScheduled":
            return "activity_type", ""
        return "command", ""


def same_identity(command: Command, event: Event) -> bool:
    """Would ``command`` record as ``event`` if only its arguments differed?"""
    if command.event_type != event.type:
        return False
    if event.type == "ActivityTaskScheduled":
        return bool(command.attrs["activity_type"] == event.attrs["activity_type"])
    if event.type == "MarkerRecorded":
        return bool(
            (command.attrs["marker_name"], command.attrs["marker_id"])
            == (event.attrs["marker_name"], event.attrs["marker_id"])
        )
    return event.type == "TimerStarted"
