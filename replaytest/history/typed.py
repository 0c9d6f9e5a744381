"""The history format as typed structs (msgspec): the file, its events, and the attrs of each
event type.

A file decodes once, in C, straight into ``Event``s (their attrs plain dicts); the attrs of each
event type are then checked against its struct, one ``msgspec.convert`` of the whole list per
type. Together that checks every field the published JSON Schema checks, at about half the time
of ``json.loads``. It is the fast path of loading, never the judge of a rejection: a document it
refuses, or one it cannot decide (a key given twice, an escaped colon, a time the schema's
pattern refuses), goes to the schema (``schema.py``), which decides and says why. So it may
refuse more than the schema (an integer written ``1.0``) but never accepts what it refuses;
``tests/test_history.py`` checks that on mutated documents.
"""

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from .events import Event, real_utc_time
from .io import repeats_a_key

Id = Annotated[int, Meta(ge=1)]
Seq = Annotated[str, Meta(min_length=1)]
Name = Annotated[str, Meta(min_length=1)]
Attempt = Annotated[int, Meta(ge=1)]
Seconds = Annotated[float, Meta(ge=0)]
#: The schema's pattern for event times, checked once per distinct time (msgspec's would run per event).
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


class Source(Struct, gc=False):
    file: str
    line: int
    function: str | UnsetType = UNSET
    code: str | UnsetType = UNSET


class Failure(Struct, gc=False):
    type: str
    message: str
    non_retryable: bool | UnsetType = UNSET
    source: Source | UnsetType = UNSET
    stack: str | UnsetType = UNSET


class RetryPolicy(Struct, forbid_unknown_fields=True, gc=False):
    initial_interval: Annotated[float, Meta(gt=0)]
    backoff_coefficient: Annotated[float, Meta(ge=1)]
    maximum_interval: Annotated[float, Meta(gt=0)]
    maximum_attempts: Annotated[int, Meta(ge=0)]
    non_retryable_error_types: list[str]


# The attributes of each event type: what the schema requires and types; others are allowed.
class Started(Struct, gc=False):
    workflow_type: Name
    workflow_id: Name
    run_id: str
    input: list[Any]
    seed: int
    workflow_module: str | UnsetType = UNSET


class Completed(Struct, gc=False):
    result: Any


class Failed(Struct, gc=False):
    failure: Failure


class Signaled(Struct, gc=False):
    signal_name: Name
    payload: Any


class TaskScheduled(Struct, gc=False):
    attempt: Attempt


class TaskStarted(Struct, gc=False):
    scheduled_event_id: Id
    worker: str | UnsetType = UNSET


class TaskCompleted(Struct, gc=False):
    started_event_id: Id


class TaskFailed(Struct, gc=False):
    started_event_id: Id
    failure: Failure


class ActivityScheduled(Struct, gc=False):
    activity_id: Seq
    activity_type: Name
    input: list[Any]
    retry_policy: RetryPolicy
    start_to_close_timeout: Seconds | UnsetType | None = UNSET


class ActivityStarted(Struct, gc=False):
    activity_id: Seq
    scheduled_event_id: Id
    attempt: Attempt


class ActivityCompleted(Struct, gc=False):
    activity_id: Seq
    scheduled_event_id: Id
    result: Any


class ActivityFailed(Struct, gc=False):
    activity_id: Seq
    scheduled_event_id: Id
    failure: Failure


class TimerStarted(Struct, gc=False):
    timer_id: Seq
    duration: Seconds


class TimerFired(Struct, gc=False):
    timer_id: Seq
    started_event_id: Id


class Marker(Struct, gc=False):
    marker_name: Literal["side_effect", "patch"]
    marker_id: Name


ATTRS: dict[str, type[Struct]] = {
    "WorkflowExecutionStarted": Started,
    "WorkflowExecutionCompleted": Completed,
    "WorkflowExecutionFailed": Failed,
    "WorkflowExecutionSignaled": Signaled,
    "WorkflowTaskScheduled": TaskScheduled,
    "WorkflowTaskStarted": TaskStarted,
    "WorkflowTaskCompleted": TaskCompleted,
    "WorkflowTaskFailed": TaskFailed,
    "ActivityTaskScheduled": ActivityScheduled,
    "ActivityTaskStarted": ActivityStarted,
    "ActivityTaskCompleted": ActivityCompleted,
    "ActivityTaskFailed": ActivityFailed,
    "ActivityTaskTimedOut": ActivityFailed,
    "TimerStarted": TimerStarted,
    "TimerFired": TimerFired,
    "MarkerRecorded": Marker,
}


class _Envelope(Struct, forbid_unknown_fields=True, gc=False):
    """A history file as data: its events are decoded straight into ``Event`` (attrs stay plain
    dicts with every key the file has: the schema allows more than it names)."""

    format: Literal["replaytest.history"]
    version: Literal[1]
    events: Annotated[list[Event], Meta(min_length=1)]


#: The attrs of each event type, checked a whole list at a time (one ``msgspec.convert`` per type).
_ATTRS_LISTS: dict[str, Any] = {name: list[struct] for name, struct in ATTRS.items()}  # type: ignore[valid-type]
_UNDECIDED = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError, TypeError)


@lru_cache(maxsize=1)
def _coders() -> tuple[Any, Any]:
    return msgspec.json.Decoder(_Envelope).decode, msgspec.json.Encoder().encode


def decode(data: bytes) -> tuple[list[Event], set[str]] | None:
    """The events of a schema-valid history file and its times that are real UTC times, or None:
    the file needs the schema to decide. One decode (into the events themselves), then the attrs
    checked type by type, then the repeated-key check."""
    envelope, encode = _coders()
    try:
        events: list[Event] = envelope(data).events
    except _UNDECIDED:
        return None
    checked = _checked(events)
    if checked is None:
        return None
    attrs, times = checked
    # Encoded again: the attrs alone. Each event's four keys and the two colons of its time
    # (checked against the pattern) and the file's three keys are counted, not encoded.
    if repeats_a_key(data, encode(attrs), outside=6 * len(events) + 3):
        return None
    return events, times


def convert(doc: Any) -> tuple[list[Event], set[str]] | None:
    """:func:`decode` for a document already parsed (``io.parse_json`` refused repeated keys)."""
    try:
        events: list[Event] = msgspec.convert(doc, _Envelope).events
    except _UNDECIDED:
        return None
    checked = _checked(events)
    return None if checked is None else (events, checked[1])


def _checked(events: Sequence[Event]) -> tuple[list[list[dict[str, Any]]], set[str]] | None:
    """What the decode into ``Event`` leaves: each event's attrs against its type's struct, the
    first event's type, and every distinct time against the schema's pattern (None if any of
    them fails). Returns the attrs grouped by event type, and the times that are also real UTC
    times (the consistency checks report the others at their first event)."""
    if events[0].type != "WorkflowExecutionStarted":
        return None
    by_type: dict[str, list[dict[str, Any]]] = {name: [] for name in ATTRS}
    try:
        for e in events:
            by_type[e.type].append(e.attrs)
        for name, attrs in by_type.items():
            if attrs:
                msgspec.convert(attrs, _ATTRS_LISTS[name])
    except KeyError:  # not an event type
        return None
    except _UNDECIDED:
        return None
    times = real_times({e.time for e in events})
    return None if times is None else (list(by_type.values()), times)


#: Times that are certainly real once their dates are, one a line: the schema's pattern with ASCII
#: digits and the clock's ranges (fromisoformat accepts every such time of a real date).
_CLEARLY_REAL = re.compile(r"(?:\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?Z\n)*", re.ASCII)


def real_times(times: set[str]) -> set[str] | None:
    """None if a time is off the schema's pattern; else those that are real UTC times. Usually
    all of them, told by one regex over them all and one check per distinct date."""
    lines = "\n".join(times) + "\n"
    if lines.count("\n") == len(times) and _CLEARLY_REAL.fullmatch(lines):  # no time has a newline of its own
        if all(real_utc_time(day + "T00:00:00Z") for day in {t[:10] for t in times}):
            return times
    if not all(TIME.search(t) for t in times):
        return None
    return {t for t in times if real_utc_time(t)}
