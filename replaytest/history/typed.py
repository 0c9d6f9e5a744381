"""The history format as typed structs (msgspec), one per event type, tagged by ``type``.

Decoding a file into them checks in C every field the published JSON Schema checks, at about
the speed of ``json.loads``. They are the fast path of loading, never the judge of a rejection:
a document they refuse, or one they cannot decide (a key given twice, an escaped colon, a time
the schema's pattern refuses), goes to the schema (``schema.py``), which decides and says why.
So they may refuse more than the schema (an integer written ``1.0``) but never accept what it
refuses; ``tests/test_history_typed.py`` checks that on mutated documents.
"""

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

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


class _Event(Struct, tag_field="type", forbid_unknown_fields=True, gc=False):
    id: Id
    time: str


#: One struct per event type, tagged by its name: {"id", "time", "type", "attrs"} and nothing else.
EVENT_TYPES = tuple(
    msgspec.defstruct(name, [("attrs", attrs)], bases=(_Event,), tag=name, forbid_unknown_fields=True)
    for name, attrs in ATTRS.items()
)
AnyEvent: Any = Union[EVENT_TYPES]  # noqa: UP007  (a union built from a tuple of types)


class TypedHistory(Struct, forbid_unknown_fields=True, gc=False):
    format: Literal["replaytest.history"]
    version: Literal[1]
    events: Annotated[list[AnyEvent], Meta(min_length=1)]


class _Envelope(Struct):
    """The events as data: attrs stay plain dicts, every key kept (the schema allows more)."""

    events: list[Event]


@lru_cache(maxsize=1)
def _coders() -> tuple[Any, Any, Any]:
    return (
        msgspec.json.Decoder(TypedHistory).decode,
        msgspec.json.Decoder(_Envelope).decode,
        msgspec.json.Encoder().encode,
    )


_UNDECIDED = (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError, TypeError)


def decode(data: bytes) -> tuple[list[Event], set[str]] | None:
    """The events of a schema-valid history file and its times that are real UTC times, or None:
    the file needs the schema to decide."""
    validate, envelope, encode = _coders()
    try:
        validate(data)
        events: list[Event] = envelope(data).events
    except _UNDECIDED:
        return None
    if repeats_a_key(data, encode(events), outside=3):  # format, version, events: not encoded again
        return None
    times = _settled(events)
    return None if times is None else (events, times)


def convert(doc: Any) -> tuple[list[Event], set[str]] | None:
    """:func:`decode` for a document already parsed (``io.parse_json`` refused repeated keys)."""
    try:
        msgspec.convert(doc, TypedHistory)
    except _UNDECIDED:
        return None
    events = [Event(e["id"], e["time"], e["type"], e["attrs"]) for e in doc["events"]]
    times = _settled(events)
    return None if times is None else (events, times)


def _settled(events: Sequence[Event]) -> set[str] | None:
    """What the structs leave to this module: the first event's type, and every distinct time
    against the schema's pattern (None if either fails). Returns the times that are also real
    UTC times (the consistency checks report the others at their first event)."""
    if events[0].type != "WorkflowExecutionStarted":
        return None
    times = {e.time for e in events}
    if not all(TIME.search(t) for t in times):
        return None
    return {t for t in times if real_utc_time(t)}
