"""Checks a schema-valid native history for the things a schema cannot say: ids in order,
references to events that exist, outcomes of things that were started, nothing after the end.

Replay trusts a history that passed these checks; one that fails them is an invalid-history
error naming the file and the event, never an internal exception halfway through a replay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from .errors import HistoryFormatError
from .events import ACTIVITY_OUTCOMES, CLOSING_EVENTS


def check_consistency(events: Sequence[dict[str, Any]], source: str) -> None:
    """Raise HistoryFormatError at the first inconsistent event (``events`` passed the schema)."""
    by_id: dict[int, dict[str, Any]] = {}
    activities: dict[str, int] = {}      # activity id → its ActivityTaskScheduled event id
    closed_activities: set[str] = set()
    timers: dict[str, int] = {}          # timer id → its TimerStarted event id
    fired: set[str] = set()
    for index, e in enumerate(events):
        where, eid, etype, a = f"/events/{index}", e["id"], e["type"], e["attrs"]

        def bad(reason: str) -> HistoryFormatError:
            return HistoryFormatError(source, where, f"event {eid} ({etype}): {reason}")

        if eid != index + 1:
            raise HistoryFormatError(source, f"{where}/id",
                                     f"event ids must run 1, 2, 3, …; found {eid} at position {index + 1}")
        if not _valid_time(e["time"]):
            raise bad(f"time {e['time']!r} is not a real UTC time")
        if index == 0 and etype != "WorkflowExecutionStarted":
            raise bad("a history must start with WorkflowExecutionStarted")
        if index > 0 and etype == "WorkflowExecutionStarted":
            raise bad("a second WorkflowExecutionStarted; a history holds one workflow run")
        if index > 0 and events[index - 1]["type"] in CLOSING_EVENTS:
            raise bad(f"recorded after the workflow closed at event {index}")

        def refers(key: str, expected: tuple[str, ...]) -> dict[str, Any]:
            target = by_id.get(a[key])
            if target is None or target["type"] not in expected:
                what = " or ".join(expected)
                raise bad(f"{key} {a[key]} does not name an earlier {what} event")
            return target

        if etype == "WorkflowTaskStarted":
            refers("scheduled_event_id", ("WorkflowTaskScheduled",))
        elif etype in ("WorkflowTaskCompleted", "WorkflowTaskFailed"):
            refers("started_event_id", ("WorkflowTaskStarted",))
        elif etype == "ActivityTaskScheduled":
            if a["activity_id"] in activities:
                raise bad(f"activity id {a['activity_id']} was already scheduled at event {activities[a['activity_id']]}")
            activities[a["activity_id"]] = eid
        elif etype == "ActivityTaskStarted" or etype in ACTIVITY_OUTCOMES:
            scheduled = refers("scheduled_event_id", ("ActivityTaskScheduled",))
            if scheduled["attrs"]["activity_id"] != a["activity_id"]:
                raise bad(f"activity id {a['activity_id']} does not match event {scheduled['id']}'s "
                          f"activity id {scheduled['attrs']['activity_id']}")
            if a["activity_id"] in closed_activities:
                raise bad(f"activity {a['activity_id']} already has an outcome")
            if etype in ACTIVITY_OUTCOMES:
                closed_activities.add(a["activity_id"])
        elif etype == "TimerStarted":
            if a["timer_id"] in timers:
                raise bad(f"timer id {a['timer_id']} was already started at event {timers[a['timer_id']]}")
            timers[a["timer_id"]] = eid
        elif etype == "TimerFired":
            started = refers("started_event_id", ("TimerStarted",))
            if started["attrs"]["timer_id"] != a["timer_id"] or a["timer_id"] in fired:
                raise bad(f"timer {a['timer_id']} was not started at event {started['id']} or already fired")
            fired.add(a["timer_id"])
        by_id[eid] = e


def _valid_time(text: str) -> bool:
    """The schema's pattern lets through digits it cannot range-check (month 13, year 0000,
    non-ASCII digits, a trailing newline): the time must parse and be ASCII."""
    if not text.isascii() or text != text.strip():
        return False
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).year >= 1
    except ValueError:
        return False
