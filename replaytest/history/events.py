"""The native event (``Event``) and the event types, grouped by the role each plays in replay."""

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec


def format_time(t: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix: what the schema accepts."""
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


#: Bound once: the sandbox's freezegun patches rewrite a module's ``datetime`` class (to one whose
#: constructors run Python code, ~3× slower) but never a method bound before they start.
_fromisoformat = datetime.fromisoformat


def parse_time(s: str) -> datetime:
    return _fromisoformat(s.replace("Z", "+00:00"))


def real_utc_time(text: str) -> bool:
    """The schema's pattern lets through digits it cannot range-check (month 13, year 0000,
    non-ASCII digits, a trailing newline): the time must parse and be ASCII."""
    if not text.isascii() or text != text.strip():
        return False
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


class Event(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One event: ``attrs`` as the file has them (plain JSON values). A struct so that a history
    file decodes straight into events (``history.typed``): decoding one checks what the schema
    says of an event itself (these four keys, an id ≥ 1); ``typed`` checks the rest. Not tracked
    by the garbage collector (a tenth of json.loads less per load): an event holds JSON values,
    never a reference back to itself."""

    id: Annotated[int, msgspec.Meta(ge=1)]
    time: str
    type: str
    attrs: dict[str, Any]

    @property
    def timestamp(self) -> datetime:
        return parse_time(self.time)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time, "type": self.type, "attrs": self.attrs}


#: Events matched, in order, against the commands workflow code issues.
COMMAND_EVENTS = frozenset(
    {"ActivityTaskScheduled", "TimerStarted", "MarkerRecorded", "WorkflowExecutionCompleted", "WorkflowExecutionFailed"}
)
#: Events that replay feeds back into workflow code; each wakes the next workflow task.
OUTCOME_EVENTS = frozenset(
    {"ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut", "TimerFired", "WorkflowExecutionSignaled"}
)
#: Events that end a workflow run.
CLOSING_EVENTS = frozenset({"WorkflowExecutionCompleted", "WorkflowExecutionFailed"})
#: Events that end one activity (its last attempt).
ACTIVITY_OUTCOMES = frozenset({"ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut"})
