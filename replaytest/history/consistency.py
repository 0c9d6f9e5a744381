"""Checks a schema-valid native history for the things a schema cannot say: ids in order,
references to events that exist, outcomes of things that were started, nothing after the end.

Replay trusts a history that passed these checks; one that fails them is an invalid-history
error naming the file and the event, never an internal exception halfway through a replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .errors import HistoryFormatError
from .events import ACTIVITY_OUTCOMES, CLOSING_EVENTS, COMMAND_EVENTS, Event, real_utc_time

#: Events that name an earlier one: (the attribute holding its id, the type it must have).
_REFERS = {
    "WorkflowTaskStarted": ("scheduled_event_id", "WorkflowTaskScheduled"),
    "WorkflowTaskCompleted": ("started_event_id", "WorkflowTaskStarted"),
    "WorkflowTaskFailed": ("started_event_id", "WorkflowTaskStarted"),
    "ActivityTaskStarted": ("scheduled_event_id", "ActivityTaskScheduled"),
    **{t: ("scheduled_event_id", "ActivityTaskScheduled") for t in ACTIVITY_OUTCOMES},
    "TimerFired": ("started_event_id", "TimerStarted"),
}
#: Events whose place in the history is checked (a command needs a completed workflow task before it).
_PLACED = COMMAND_EVENTS | {"WorkflowExecutionStarted"}
#: What a command may follow.
_BEFORE_COMMANDS = COMMAND_EVENTS | {"WorkflowTaskCompleted"}


def check_consistency(events: Sequence[Event], source: str, good_times: Iterable[str] = ()) -> None:
    """Raise HistoryFormatError at the first inconsistent event (``events`` passed the schema).
    One loop, written for speed: most events only check their id, time and reference.
    ``good_times`` are times already known to be real UTC times."""
    activities: dict[str, int] = {}  # activity id → its ActivityTaskScheduled event id
    closed_activities: set[str] = set()
    timers: dict[str, int] = {}  # timer id → its TimerStarted event id
    fired: set[str] = set()
    good_times = set(good_times)  # most events share a time with the one before
    previous = ""
    closed = False  # previous in CLOSING_EVENTS
    for index, e in enumerate(events):
        etype = e.type
        if e.id != index + 1:
            raise HistoryFormatError(
                source, f"/events/{index}/id", f"event ids must run 1, 2, 3, …; found {e.id} at position {index + 1}"
            )
        if e.time not in good_times:
            if not real_utc_time(e.time):
                raise _bad(source, index, e, f"time {e.time!r} is not a real UTC time")
            good_times.add(e.time)
        if etype in _PLACED or closed or not index:
            # a command right after WorkflowTaskCompleted or another command is in place: no call
            if closed or not index or etype == "WorkflowExecutionStarted" or previous not in _BEFORE_COMMANDS:
                _check_place(source, index, e, previous)
            closed = etype in CLOSING_EVENTS
        previous = etype
        refers = _REFERS.get(etype)
        if refers is None:
            if etype == "ActivityTaskScheduled":
                activity_id = e.attrs["activity_id"]
                if activity_id in activities:
                    raise _bad(
                        source,
                        index,
                        e,
                        f"activity id {activity_id} was already scheduled at event {activities[activity_id]}",
                    )
                activities[activity_id] = e.id
            elif etype == "TimerStarted":
                timer_id = e.attrs["timer_id"]
                if timer_id in timers:
                    raise _bad(source, index, e, f"timer id {timer_id} was already started at event {timers[timer_id]}")
                timers[timer_id] = e.id
            continue
        key, expected = refers
        a = e.attrs
        ref = a[key]
        target = events[ref - 1 if type(ref) is int else int(ref) - 1] if 1 <= ref <= index else None
        if target is None or target.type != expected:
            raise _bad(source, index, e, f"{key} {ref} does not name an earlier {expected} event")
        if expected == "ActivityTaskScheduled":
            activity_id = a["activity_id"]
            if target.attrs["activity_id"] != activity_id:
                raise _bad(
                    source,
                    index,
                    e,
                    f"activity id {activity_id} does not match event {target.id}'s "
                    f"activity id {target.attrs['activity_id']}",
                )
            if activity_id in closed_activities:
                raise _bad(source, index, e, f"activity {activity_id} already has an outcome")
            if etype in ACTIVITY_OUTCOMES:
                closed_activities.add(activity_id)
        elif expected == "TimerStarted":
            timer_id = a["timer_id"]
            if target.attrs["timer_id"] != timer_id or timer_id in fired:
                raise _bad(source, index, e, f"timer {timer_id} was not started at event {target.id} or already fired")
            fired.add(timer_id)


def _check_place(source: str, index: int, e: Event, previous: str) -> None:
    etype = e.type
    if index == 0:
        if etype != "WorkflowExecutionStarted":
            raise _bad(source, index, e, "a history must start with WorkflowExecutionStarted")
    elif etype == "WorkflowExecutionStarted":
        raise _bad(source, index, e, "a second WorkflowExecutionStarted; a history holds one workflow run")
    elif previous in CLOSING_EVENTS:
        raise _bad(source, index, e, f"recorded after the workflow closed at event {index}")
    if etype in COMMAND_EVENTS and previous != "WorkflowTaskCompleted" and previous not in COMMAND_EVENTS:
        raise _bad(
            source,
            index,
            e,
            "a command outside a workflow task: workflow code issues commands only in a "
            "completed workflow task, so one must come right after WorkflowTaskCompleted",
        )


def _bad(source: str, index: int, e: Event, reason: str) -> HistoryFormatError:
    return HistoryFormatError(source, f"/events/{index}", f"event {e.id} ({e.type}): {reason}")
