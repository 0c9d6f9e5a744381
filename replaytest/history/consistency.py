"""Checks a schema-valid native history for the things a schema cannot say: ids in order,
references to events that exist, outcomes of things that were started, nothing after the end.

Replay trusts a history that passed these checks; one that fails them is an invalid-history
error naming the file and the event, never an internal exception halfway through a replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .errors import HistoryFormatError
from .events import ACTIVITY_OUTCOMES, CLOSING_EVENTS, COMMAND_EVENTS


def check_consistency(events: Sequence[dict[str, Any]], source: str) -> None:
    """Raise HistoryFormatError at the first inconsistent event (``events`` passed the schema)."""
    activities: dict[str, int] = {}  # activity id → its ActivityTaskScheduled event id
    closed_activities: set[str] = set()
    timers: dict[str, int] = {}  # timer id → its TimerStarted event id
    fired: set[str] = set()
    good_times: set[str] = set()  # most events share a time with the one before
    previous = ""
    for index, e in enumerate(events):
        eid, etype, a, when = e["id"], e["type"], e["attrs"], e["time"]
        if eid != index + 1:
            raise HistoryFormatError(
                source, f"/events/{index}/id", f"event ids must run 1, 2, 3, …; found {eid} at position {index + 1}"
            )
        if when not in good_times:
            if not _valid_time(when):
                raise _bad(source, index, e, f"time {when!r} is not a real UTC time")
            good_times.add(when)
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
        if etype == "WorkflowTaskStarted":
            _refers(source, index, e, events, "scheduled_event_id", "WorkflowTaskScheduled")
        elif etype == "WorkflowTaskCompleted" or etype == "WorkflowTaskFailed":
            _refers(source, index, e, events, "started_event_id", "WorkflowTaskStarted")
        elif etype == "ActivityTaskScheduled":
            if a["activity_id"] in activities:
                raise _bad(
                    source,
                    index,
                    e,
                    f"activity id {a['activity_id']} was already scheduled at event {activities[a['activity_id']]}",
                )
            activities[a["activity_id"]] = eid
        elif etype == "ActivityTaskStarted" or etype in ACTIVITY_OUTCOMES:
            scheduled = _refers(source, index, e, events, "scheduled_event_id", "ActivityTaskScheduled")
            if scheduled["attrs"]["activity_id"] != a["activity_id"]:
                raise _bad(
                    source,
                    index,
                    e,
                    f"activity id {a['activity_id']} does not match event {scheduled['id']}'s "
                    f"activity id {scheduled['attrs']['activity_id']}",
                )
            if a["activity_id"] in closed_activities:
                raise _bad(source, index, e, f"activity {a['activity_id']} already has an outcome")
            if etype in ACTIVITY_OUTCOMES:
                closed_activities.add(a["activity_id"])
        elif etype == "TimerStarted":
            if a["timer_id"] in timers:
                raise _bad(
                    source, index, e, f"timer id {a['timer_id']} was already started at event {timers[a['timer_id']]}"
                )
            timers[a["timer_id"]] = eid
        elif etype == "TimerFired":
            started = _refers(source, index, e, events, "started_event_id", "TimerStarted")
            if started["attrs"]["timer_id"] != a["timer_id"] or a["timer_id"] in fired:
                raise _bad(
                    source, index, e, f"timer {a['timer_id']} was not started at event {started['id']} or already fired"
                )
            fired.add(a["timer_id"])
        previous = etype


def _bad(source: str, index: int, e: dict[str, Any], reason: str) -> HistoryFormatError:
    return HistoryFormatError(source, f"/events/{index}", f"event {e['id']} ({e['type']}): {reason}")


def _refers(
    source: str, index: int, e: dict[str, Any], events: Sequence[dict[str, Any]], key: str, expected: str
) -> dict[str, Any]:
    """The earlier event ``e`` names by id under ``key`` (ids are positions: checked above)."""
    ref = e["attrs"][key]
    target = events[ref - 1] if 1 <= ref <= index else None
    if target is None or target["type"] != expected:
        raise _bad(source, index, e, f"{key} {e['attrs'][key]} does not name an earlier {expected} event")
    return target


def _valid_time(text: str) -> bool:
    """The schema's pattern lets through digits it cannot range-check (month 13, year 0000,
    non-ASCII digits, a trailing newline): the time must parse and be ASCII."""
    if not text.isascii() or text != text.strip():
        return False
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
