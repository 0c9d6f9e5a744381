"""The decoders issue 22 compared for loading a native history, for bench/run.py's load section.

Each is built from the published schema's rules and answers "valid?" for one file's bytes:

- ``typed``: replaytest's own loader, ``History.from_json`` (one msgspec decode into the events,
  each event type's attrs checked against its struct, then the consistency checks): what
  replaytest uses.
- ``msgspec``: ``history.typed.decode`` alone: the decode, the attrs checks and the repeated-key
  count, no consistency.
- ``jsonschema_rs``: ``json.loads`` then jsonschema-rs's Draft 2020-12 validator of the schema.
- ``pydantic_core``: a core schema written from the same per-type rules (typed dicts in a union
  tagged by ``type``, extra attributes allowed), ``validate_json`` on the bytes; it builds plain
  dicts, so it is a loader too. Strict mode, so that ``"1"`` is not an integer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[bytes], Any]


def _pydantic_core() -> Check:
    from pydantic_core import SchemaValidator
    from pydantic_core import core_schema as cs

    from replaytest.history.typed import TIME

    def td(fields: dict[str, tuple[Any, bool]], extra: str = "allow") -> Any:
        return cs.typed_dict_schema(
            {k: cs.typed_dict_field(s, required=r) for k, (s, r) in fields.items()}, extra_behavior=extra
        )

    pos_id = cs.int_schema(ge=1)
    seq = cs.str_schema(min_length=1)
    anyv = cs.any_schema()
    failure = td(
        {
            "type": (cs.str_schema(), True),
            "message": (cs.str_schema(), True),
            "non_retryable": (cs.bool_schema(), False),
            "source": (td({"file": (cs.str_schema(), True), "line": (cs.int_schema(), True)}), False),
            "stack": (cs.str_schema(), False),
        }
    )
    retry = td(
        {
            "initial_interval": (cs.float_schema(gt=0), True),
            "backoff_coefficient": (cs.float_schema(ge=1), True),
            "maximum_interval": (cs.float_schema(gt=0), True),
            "maximum_attempts": (cs.int_schema(ge=0), True),
            "non_retryable_error_types": (cs.list_schema(cs.str_schema()), True),
        },
        extra="forbid",
    )
    act = {"activity_id": (seq, True), "scheduled_event_id": (pos_id, True)}
    attrs = {
        "WorkflowExecutionStarted": {
            "workflow_type": (seq, True),
            "workflow_id": (seq, True),
            "run_id": (cs.str_schema(), True),
            "input": (cs.list_schema(anyv), True),
            "seed": (cs.int_schema(), True),
            "workflow_module": (cs.str_schema(), False),
        },
        "WorkflowExecutionCompleted": {"result": (anyv, True)},
        "WorkflowExecutionFailed": {"failure": (failure, True)},
        "WorkflowExecutionSignaled": {"signal_name": (seq, True), "payload": (anyv, True)},
        "WorkflowTaskScheduled": {"attempt": (cs.int_schema(ge=1), True)},
        "WorkflowTaskStarted": {"scheduled_event_id": (pos_id, True), "worker": (cs.str_schema(), False)},
        "WorkflowTaskCompleted": {"started_event_id": (pos_id, True)},
        "WorkflowTaskFailed": {"started_event_id": (pos_id, True), "failure": (failure, True)},
        "ActivityTaskScheduled": {
            "activity_id": (seq, True),
            "activity_type": (seq, True),
            "input": (cs.list_schema(anyv), True),
            "retry_policy": (retry, True),
            "start_to_close_timeout": (cs.nullable_schema(cs.float_schema(ge=0)), False),
        },
        "ActivityTaskStarted": {**act, "attempt": (cs.int_schema(ge=1), True)},
        "ActivityTaskCompleted": {**act, "result": (anyv, True)},
        "ActivityTaskFailed": {**act, "failure": (failure, True)},
        "ActivityTaskTimedOut": {**act, "failure": (failure, True)},
        "TimerStarted": {"timer_id": (seq, True), "duration": (cs.float_schema(ge=0), True)},
        "TimerFired": {"timer_id": (seq, True), "started_event_id": (pos_id, True)},
        "MarkerRecorded": {
            "marker_name": (cs.literal_schema(["side_effect", "patch"]), True),
            "marker_id": (seq, True),
        },
    }
    choices = {
        name: td(
            {
                "id": (pos_id, True),
                "time": (cs.str_schema(pattern=TIME.pattern), True),
                "type": (cs.literal_schema([name]), True),
                "attrs": (td(fields), True),
            },
            extra="forbid",
        )
        for name, fields in attrs.items()
    }
    doc = td(
        {
            "format": (cs.literal_schema(["replaytest.history"]), True),
            "version": (cs.literal_schema([1]), True),
            "events": (cs.list_schema(cs.tagged_union_schema(choices, "type"), min_length=1), True),
        },
        extra="forbid",
    )
    return SchemaValidator(doc, config={"strict": True}).validate_json


def _jsonschema_rs() -> Check:
    import json

    import jsonschema_rs

    from replaytest.history import schema

    valid = jsonschema_rs.Draft202012Validator(schema()).is_valid
    return lambda data: valid(json.loads(data))


def _msgspec() -> Check:
    from replaytest.history import typed

    return typed.decode


def _typed() -> Check:
    from replaytest import History

    return History.from_json


def decoders() -> dict[str, Check]:
    """The candidates that import here (jsonschema-rs and pydantic-core are bench extras)."""
    out: dict[str, Check] = {"typed": _typed(), "msgspec": _msgspec()}
    for name, make in (("jsonschema_rs", _jsonschema_rs), ("pydantic_core", _pydantic_core)):
        try:
            out[name] = make()
        except ImportError:
            pass
    return out
