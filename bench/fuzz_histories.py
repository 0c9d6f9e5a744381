"""Feed generated malformed histories of every format (replaytest's own, Temporal, AWS Lambda
durable, Durable Task) to every surface a history reaches, and count the inputs that end in anything other
than one of replaytest's verdicts.

    python bench/fuzz_histories.py                        # 300 inputs per format, seed 1
    python bench/fuzz_histories.py -n 100 --seed 7 --format temporal --surface cli
    python bench/fuzz_histories.py --sequences 250        # + hypothesis event sequences

Inputs are mutations of real recorded histories: ``fixtures/histories`` (native),
``tests/data/aws`` (recorded with the AWS testing SDK), Temporal histories a real worker
records on a real ``temporal server start-dev`` (tests/temporal_recording.py; recorded once
into a temporary directory, or read from ``--temporal-dir``) and Durable Task histories the
SDK's worker records on its in-memory backend (tests/dt_recording.py, or ``--dt-dir``): the
export JSON and the protobuf JSON forms, and a fifth of the inputs as gzipped JSON Lines.

Surfaces:
  load     parse, ``backend_for``, ``validate`` through the seam in this process: a
           HistoryFormatError or nothing, never another exception.
  cli      ``replaytest replay DIR`` over the inputs, in batches of 50 (as a user runs it): every
           input gets its line, none says "internal error", no traceback, no hang (a batch that
           does not finish in --timeout seconds per input counts every unreported input).
  pytest   one ``pytest --replay DIR`` session (and with ``--xdist`` one with ``-n 2``): every
           input is reported (JUnit), none as ``error``, no INTERNALERROR, the summary printed.
  seam     hypothesis event sequences per format (built from the recorded events) replayed
           through ``replay_entry`` in this process: a verdict, never another exception; a
           replay that times out counts as a hang.

A verdict is: replayed ok, a divergence, a workflow task error, an unknown workflow, an
invalid-history error or a replay timeout of a history temporalio could never finish.
"""

from __future__ import annotations

import argparse
import builtins
import copy
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASES = sorted((ROOT / "fixtures" / "histories").glob("*.json"))
AWS_BASES = sorted((ROOT / "tests" / "data" / "aws").glob("*.json"))
MODULES = [
    "fixtures.workflows.orders",
    "fixtures.workflows.payments",
    "fixtures.workflows.onboarding",
    "fixtures.temporal.orders",
    "fixtures.temporal.coupon_fixed",
    "tests.dt_orchestrators.shop",  # Durable Task orchestrators are found by name in the modules
]
#: Lambda function (from each AWS history's ARN) → the handler that recorded it
AWS_HANDLERS = {
    "orders": "orders",
    "batch": "batch",
    "trips": "saga",
    "greeter": "clock",
    "invoices": "broken",
    "approvals": "waiting",
    "kitchen": "kitchen",
    "reminders": "fanout",
    "payments": "flaky",
}
BUILTIN_ERRORS = sorted(
    n
    for n in dir(builtins)
    if isinstance(getattr(builtins, n), type) and issubclass(getattr(builtins, n), BaseException)
)
#: A bare built-in exception where a report belongs (``FAIL  path: KeyError: '99'``), a traceback, or
#: pytest giving up. "workflow code raised KeyError" is a verdict (a workflow task error), not this.
INTERNAL = re.compile(
    r"^FAIL  .*?\.json: (" + "|".join(BUILTIN_ERRORS) + r"): |Traceback \(most recent call last\)"
    r"|INTERNALERROR|internal error",
    re.M,
)

Doc = dict[str, Any]
FORMATS = ["native", "temporal", "aws", "durabletask"]


# ---------------------------------------------------------------- mutations
def _events(doc: Doc) -> list[Doc]:
    events: list[Doc] = doc["events"]
    return events


def _pick(rng: random.Random, doc: Doc, *types: str) -> Doc | None:
    found = [e for e in _events(doc) if not types or e["type"] in types]
    return rng.choice(found) if found else None


def drop_event(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    if len(ev) > 1:
        del ev[rng.randrange(1, len(ev))]
        for i, e in enumerate(ev):
            e["id"] = i + 1


def duplicate_event(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    i = rng.randrange(len(ev))
    ev.insert(rng.randrange(1, len(ev) + 1), copy.deepcopy(ev[i]))
    for j, e in enumerate(ev):
        e["id"] = j + 1


def swap_events(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    if len(ev) > 2:
        i, j = rng.randrange(1, len(ev)), rng.randrange(1, len(ev))
        ev[i], ev[j] = ev[j], ev[i]
        for k, e in enumerate(ev):
            e["id"] = k + 1


def dangling_reference(rng: random.Random, doc: Doc) -> None:
    e = _pick(
        rng,
        doc,
        "ActivityTaskCompleted",
        "ActivityTaskFailed",
        "ActivityTaskStarted",
        "TimerFired",
        "WorkflowTaskCompleted",
        "WorkflowTaskStarted",
    )
    if e:
        for key in ("scheduled_event_id", "started_event_id"):
            if key in e["attrs"]:
                e["attrs"][key] = rng.choice([99, 999999, 1, len(_events(doc)) + 5])


def foreign_sequence_id(rng: random.Random, doc: Doc) -> None:
    e = _pick(
        rng, doc, "ActivityTaskCompleted", "ActivityTaskFailed", "TimerFired", "ActivityTaskScheduled", "TimerStarted"
    )
    if e:
        key = "timer_id" if "timer_id" in e["attrs"] else "activity_id"
        e["attrs"][key] = rng.choice(["99", "0", "x", "1"])


def outcome_for_never_scheduled(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    kind = rng.choice(["ActivityTaskCompleted", "TimerFired"])
    attrs = (
        {"activity_id": "99", "scheduled_event_id": 99, "result": 1}
        if kind == "ActivityTaskCompleted"
        else {"timer_id": "99", "started_event_id": 99}
    )
    ev.insert(rng.randrange(2, len(ev) + 1), {"id": 0, "time": ev[0]["time"], "type": kind, "attrs": attrs})
    for i, e in enumerate(ev):
        e["id"] = i + 1


def input_arity(rng: random.Random, doc: Doc) -> None:
    doc["events"][0]["attrs"]["input"] = rng.choice([[], [1, 2, 3], [None], ["x"], [{}]])


def bad_time(rng: random.Random, doc: Doc) -> None:
    e = rng.choice(_events(doc))
    e["time"] = rng.choice(
        [
            "2026-13-05T09:00:00.000Z",
            "0000-01-05T09:00:00.000Z",
            "2026-01-05T09:00:00.000Z\n",
            "\u0662\u0660\u0662\u0666-01-05T09:00:00.000Z",
            "2026-02-30T09:00:00.000Z",
            "2026-01-05T25:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "2026-01-05T09:00:00.0000000000001Z",
        ]
    )


def hostile_id(rng: random.Random, doc: Doc) -> None:
    attrs = doc["events"][0]["attrs"]
    key = rng.choice(["workflow_id", "workflow_type", "run_id"])
    attrs[key] = rng.choice(
        [
            "\ud800",
            "a\nFAIL  forged",
            "\x1b[2J\x1b[31mred",
            "a::b",
            "a\rb",
            "\u202eevil",
            "x" * 5000,
            "\udcff\udcfe",
            "tab\there",
            "nul\x00byte",
        ]
    )


def second_start(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    ev.insert(rng.randrange(1, len(ev) + 1), copy.deepcopy(ev[0]))
    for i, e in enumerate(ev):
        e["id"] = i + 1


def only_start_and_close(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    doc["events"] = [
        ev[0],
        {"id": 2, "time": ev[0]["time"], "type": "WorkflowExecutionCompleted", "attrs": {"result": 1}},
    ]


def retype_event(rng: random.Random, doc: Doc) -> None:
    e = _pick(rng, doc)
    if e and e["id"] != 1:
        e["type"] = rng.choice(
            [
                "WorkflowExecutionCompleted",
                "WorkflowTaskFailed",
                "TimerFired",
                "MarkerRecorded",
                "ActivityTaskScheduled",
                "WorkflowExecutionSignaled",
                "WorkflowTaskStarted",
            ]
        )


def drop_attr(rng: random.Random, doc: Doc) -> None:
    e = rng.choice(_events(doc))
    if e["attrs"]:
        del e["attrs"][rng.choice(sorted(e["attrs"]))]


def wrong_type(rng: random.Random, doc: Doc) -> None:
    e = rng.choice(_events(doc))
    if e["attrs"]:
        e["attrs"][rng.choice(sorted(e["attrs"]))] = rng.choice(["1", 1, None, [], {}, True, -1, 1.5, "\ud800"])


def nested_payload(rng: random.Random, doc: Doc) -> None:
    e = _pick(rng, doc, "ActivityTaskCompleted", "WorkflowExecutionCompleted")
    if e:
        key = "result"
        e["attrs"][key] = "__NEST__"


def signal_never_handled(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    ev.insert(
        rng.randrange(2, len(ev) + 1),
        {
            "id": 0,
            "time": ev[0]["time"],
            "type": "WorkflowExecutionSignaled",
            "attrs": {"signal_name": rng.choice(["x", "\ud800", "a\nb"]), "payload": None},
        },
    )
    for i, e in enumerate(ev):
        e["id"] = i + 1


def marker_noise(rng: random.Random, doc: Doc) -> None:
    ev = _events(doc)
    ev.insert(
        rng.randrange(2, len(ev) + 1),
        {
            "id": 0,
            "time": ev[0]["time"],
            "type": "MarkerRecorded",
            "attrs": {
                "marker_name": rng.choice(["side_effect", "patch"]),
                "marker_id": "1",
                "value": rng.choice([None, 1, "x"]),
            },
        },
    )
    for i, e in enumerate(ev):
        e["id"] = i + 1


STRUCTURAL: list[Callable[[random.Random, Doc], None]] = [
    drop_event,
    duplicate_event,
    swap_events,
    dangling_reference,
    foreign_sequence_id,
    outcome_for_never_scheduled,
    input_arity,
    bad_time,
    hostile_id,
    second_start,
    only_start_and_close,
    retype_event,
    drop_attr,
    wrong_type,
    nested_payload,
    signal_never_handled,
    marker_noise,
]


def textual(rng: random.Random, text: str) -> bytes:
    """Mutations of the bytes: what a JSON parser sees before any schema."""
    choice = rng.randrange(9)
    if choice == 0:
        return text[: rng.randrange(len(text))].encode("utf-8", "surrogatepass")
    if choice == 1:  # a number JSON allows but Python refuses
        return re.sub(r'"seed": \d+', '"seed": ' + "9" * rng.choice([4301, 5000, 20000]), text, count=1).encode(
            "utf-8", "surrogatepass"
        )
    if choice == 2:
        return re.sub(
            r'"initial_interval": [\d.]+',
            '"initial_interval": ' + rng.choice(["NaN", "Infinity", "-Infinity", "1e400"]),
            text,
        ).encode("utf-8", "surrogatepass")
    if choice == 3:
        return re.sub(
            r'"start_to_close_timeout": [\d.]+',
            '"start_to_close_timeout": ' + rng.choice(["NaN", "Infinity"]),
            text,
            count=1,
        ).encode("utf-8", "surrogatepass")
    if choice == 4:  # duplicate keys: the last one would silently win
        return text.replace('"workflow_type": ', '"workflow_type": "shadow", "workflow_type": ', 1).encode(
            "utf-8", "surrogatepass"
        )
    if choice == 5:  # raw invalid UTF-8 inside the workflow id
        return text.encode("utf-8", "surrogatepass").replace(b'"workflow_id": "', b'"workflow_id": "\xff\xfe', 1)
    if choice == 6:
        return text.encode("utf-8", "surrogatepass") + b"\n" + bytes([rng.randrange(256)])
    if choice == 7:
        return ("[" * rng.choice([1000, 5000, 200000])).encode()
    return text.encode("utf-8", "surrogatepass")


# ---------------------------------------------------------------- any format: values anywhere
def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in ``doc`` (iterative; documents here are small)."""
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(doc, prefix)]
    while stack:
        node, path = stack.pop()
        out.append(path)
        if isinstance(node, dict):
            stack.extend((v, (*path, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(node))
    return out


def _put(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


HOSTILE_TEXT = [
    "\ud800",
    "\ud800\u0000",
    "a\nFAIL  forged",
    "\x1b[2J\x1b[31mred",
    "a\rb",
    "\u202eevil",
    "x" * 5000,
    "nul\x00byte",
    "",
]
HOSTILE_VALUES: list[Any] = [None, [], {}, [1], {"a": 1}, "x", 1, -1, 1.5, True, 2**64, "__NEST__", "__BIG__"]


def any_value(rng: random.Random, doc: Doc) -> None:
    """A value somewhere in the document replaced by one of another JSON kind."""
    paths = [p for p in _paths(doc) if p]
    if paths:
        _put(doc, rng.choice(paths), rng.choice(HOSTILE_VALUES + HOSTILE_TEXT))


def any_key(rng: random.Random, doc: Doc) -> None:
    """A key somewhere renamed to hostile text."""
    paths = [p for p in _paths(doc) if p and isinstance(p[-1], str)]
    if paths:
        path = rng.choice(paths)
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[rng.choice(HOSTILE_TEXT) or "k"] = node.pop(path[-1])


# ---------------------------------------------------------------- Temporal
def _t_renumber(ev: list[Any]) -> None:
    for i, e in enumerate(ev):
        if isinstance(e, dict):
            e["eventId"] = str(i + 1)


def t_drop(rng: random.Random, doc: Doc) -> None:
    ev = doc["events"]
    if len(ev) > 1:
        del ev[rng.randrange(1, len(ev))]
        if rng.random() < 0.7:
            _t_renumber(ev)


def t_duplicate(rng: random.Random, doc: Doc) -> None:
    ev = doc["events"]
    i = rng.randrange(len(ev))
    ev.insert(rng.randrange(1, len(ev) + 1), copy.deepcopy(ev[i]))
    if rng.random() < 0.7:
        _t_renumber(ev)


def t_swap(rng: random.Random, doc: Doc) -> None:
    ev = doc["events"]
    if len(ev) > 2:
        i = rng.randrange(1, len(ev) - 1)
        j = i + 1 if rng.random() < 0.6 else rng.randrange(1, len(ev))
        ev[i], ev[j] = ev[j], ev[i]
        if rng.random() < 0.7:
            _t_renumber(ev)


def t_prefix(rng: random.Random, doc: Doc) -> None:
    doc["events"] = doc["events"][: rng.choice([1, 1, 2, 3, rng.randrange(1, len(doc["events"]) + 1)])]


def t_retype(rng: random.Random, doc: Doc) -> None:
    e = rng.choice(doc["events"])
    e["eventType"] = rng.choice(
        [
            "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
            "EVENT_TYPE_TIMER_FIRED",
            "EVENT_TYPE_ACTIVITY_TASK_COMPLETED",
            "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
            "EVENT_TYPE_NOPE",
            "WorkflowTaskStarted",
            None,
            5,
            ["x"],
        ]
    )


def t_event_kind(rng: random.Random, doc: Doc) -> None:
    doc["events"][rng.randrange(len(doc["events"]))] = rng.choice([None, [1], "event", 5, True])


def t_metadata(rng: random.Random, doc: Doc) -> None:
    paths = [p for p in _paths(doc) if p and p[-1] == "metadata"]
    if paths:
        _put(doc, rng.choice(paths), rng.choice(["x", [1], 5, None, {"encoding": 5}]))


def t_hostile_id(rng: random.Random, doc: Doc) -> None:
    attrs = doc["events"][0].get("workflowExecutionStartedEventAttributes") or {}
    key = rng.choice(["workflowId", "workflowType"])
    attrs[key] = rng.choice(HOSTILE_TEXT) if key == "workflowId" else {"name": rng.choice(HOSTILE_TEXT)}


TEMPORAL_MUTATIONS: list[Callable[[random.Random, Doc], None]] = [
    t_drop,
    t_duplicate,
    t_swap,
    t_prefix,
    t_retype,
    t_event_kind,
    t_metadata,
    t_hostile_id,
    any_value,
    any_value,
    any_key,
]


# ---------------------------------------------------------------- AWS
def _a_renumber(ev: list[Any]) -> None:
    for i, e in enumerate(ev):
        if isinstance(e, dict):
            e["EventId"] = i + 1


def a_drop(rng: random.Random, doc: Doc) -> None:
    ev = doc["Events"]
    if len(ev) > 1:
        del ev[rng.randrange(len(ev))]
        _a_renumber(ev)


def a_duplicate(rng: random.Random, doc: Doc) -> None:
    ev = doc["Events"]
    ev.insert(rng.randrange(len(ev) + 1), copy.deepcopy(rng.choice(ev)))
    _a_renumber(ev)


def a_swap(rng: random.Random, doc: Doc) -> None:
    ev = doc["Events"]
    if len(ev) > 2:
        i, j = rng.randrange(len(ev)), rng.randrange(len(ev))
        ev[i], ev[j] = ev[j], ev[i]
        if rng.random() < 0.7:
            _a_renumber(ev)


def a_field(rng: random.Random, doc: Doc) -> None:
    e = rng.choice(doc["Events"])
    key = rng.choice(["EventType", "ParentId", "Id", "Name", "SubType", "EventId", "EventTimestamp"])
    e[key] = rng.choice([["x"], {"a": 1}, None, 5, "nope", "", *HOSTILE_TEXT[:4]])


def a_details(rng: random.Random, doc: Doc) -> None:
    e = rng.choice(doc["Events"])
    details = next((v for k, v in e.items() if k.endswith("Details") and isinstance(v, dict)), None)
    if details is None:
        return
    key = rng.choice(["Result", "Error", "Input", "RetryDetails"])
    details[key] = rng.choice(
        ["x", 5, [1], None, {"Payload": "{not json"}, {"Payload": 5}, {"Payload": "[" * 990 + "]" * 990}]
    )


def a_failed_without_details(rng: random.Random, doc: Doc) -> None:
    last = doc["Events"][-1]
    if last.get("EventType", "").startswith("Execution"):
        doc["Events"][-1] = {k: v for k, v in last.items() if not k.endswith("Details")}
        doc["Events"][-1]["EventType"] = "ExecutionFailed"


AWS_MUTATIONS: list[Callable[[random.Random, Doc], None]] = [
    a_drop,
    a_duplicate,
    a_swap,
    a_field,
    a_field,
    a_details,
    a_details,
    a_failed_without_details,
    any_value,
    any_value,
    any_key,
]


# ---------------------------------------------------------------- Durable Task
def _d_events(doc: Any) -> list[Any]:
    """The event list of either JSON form: the export's ``events``, or the protobuf list."""
    events: list[Any] = doc["events"] if isinstance(doc, dict) else doc
    return events


def _d_kind(event: dict[str, Any]) -> str | None:
    """The protobuf form's oneof key of an event (None for the export form)."""
    return next((k for k in event if k not in ("eventId", "timestamp", "event_id", "event_type")), None)


def d_drop(rng: random.Random, doc: Any) -> None:
    ev = _d_events(doc)
    if len(ev) > 1:
        del ev[rng.randrange(len(ev))]


def d_duplicate(rng: random.Random, doc: Any) -> None:
    ev = _d_events(doc)
    ev.insert(rng.randrange(len(ev) + 1), copy.deepcopy(rng.choice(ev)))


def d_swap(rng: random.Random, doc: Any) -> None:
    ev = _d_events(doc)
    if len(ev) > 2:
        i = rng.randrange(len(ev) - 1)
        j = i + 1 if rng.random() < 0.6 else rng.randrange(len(ev))
        ev[i], ev[j] = ev[j], ev[i]


def d_prefix(rng: random.Random, doc: Any) -> None:
    ev = _d_events(doc)
    del ev[rng.randrange(1, len(ev) + 1) :]


def d_retype(rng: random.Random, doc: Any) -> None:
    e = rng.choice(_d_events(doc))
    kinds = ["TaskCompletedEvent", "TimerFiredEvent", "ExecutionCompletedEvent", "NopeEvent", "", None, 5, ["x"]]
    if "event_type" in e:
        e["event_type"] = rng.choice(kinds)
    elif (kind := _d_kind(e)) is not None:
        e[rng.choice(["taskCompleted", "timerFired", "executionCompleted", "nope", "eventId"])] = e.pop(kind)


def d_sequence(rng: random.Random, doc: Any) -> None:
    """A command's or an outcome's sequence number changed: another task, or none at all."""
    e = rng.choice(_d_events(doc))
    value = rng.choice([-1, 0, 1, 2, 99, 2**40, "1", None, 1.5, True])
    if "event_id" in e:
        e["event_id"] = value
    elif "eventId" in e:
        e["eventId"] = value
    for key in ("task_scheduled_id", "taskScheduledId", "timer_id", "timerId"):
        for node in (e, *(v for v in e.values() if isinstance(v, dict))):
            if key in node:
                node[key] = value


def d_time(rng: random.Random, doc: Any) -> None:
    e = rng.choice(_d_events(doc))
    e["timestamp"] = rng.choice(
        ["2026-13-01T00:00:00Z", "not a time", "", 5, None, "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z"]
    )


def d_payload(rng: random.Random, doc: Any) -> None:
    """An input, result or failure replaced by text that is no JSON, JSON of another kind, or nesting."""
    paths = [p for p in _paths(doc) if p and p[-1] in ("input", "result", "failure_details", "failureDetails")]
    if paths:
        _put(doc, rng.choice(paths), rng.choice(["{not json", '"x"', "5", "null", [], {}, 5, "__NEST__", "\ud800"]))


def d_event_kind(rng: random.Random, doc: Any) -> None:
    ev = _d_events(doc)
    ev[rng.randrange(len(ev))] = rng.choice([None, [1], "event", 5, True, {}])


DT_MUTATIONS: list[Callable[[random.Random, Any], None]] = [
    d_drop,
    d_duplicate,
    d_swap,
    d_swap,
    d_prefix,
    d_retype,
    d_sequence,
    d_sequence,
    d_time,
    d_payload,
    d_event_kind,
    any_value,
    any_value,
    any_key,
]


def _jsonl_gz(rng: random.Random, doc: Any) -> bytes | None:
    """The export's other form, gzipped JSON Lines (a header, then one event per line)."""
    import gzip

    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        return None
    header = {k: v for k, v in doc.items() if k != "events"}
    lines = [json.dumps(header)] + [json.dumps(e) for e in doc["events"]]
    data = gzip.compress("\n".join(lines).encode("utf-8", "surrogatepass"))
    return data[: rng.randrange(10, len(data))] if rng.random() < 0.2 else data


def _text(rng: random.Random, doc: Doc) -> str:
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    if "__NEST__" in text:
        depth = rng.choice([50, 250, 970, 999, 1500, 100000])
        text = text.replace(
            '"__NEST__"', rng.choice(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth]), 1
        )
    if "__BIG__" in text:
        text = text.replace('"__BIG__"', "9" * rng.choice([4300, 4301, 20]), 1)
    return text


def generic_textual(rng: random.Random, text: str) -> bytes:
    """Byte-level mutations that apply to any format."""
    choice = rng.randrange(5)
    raw = text.encode("utf-8", "surrogatepass")
    if choice == 0:
        return raw[: rng.randrange(len(raw))]
    if choice == 1:
        return raw + b"\n" + bytes([rng.randrange(256)])
    if choice == 2:
        i = rng.randrange(len(raw))
        return raw[:i] + b"\xff\xfe" + raw[i:]
    if choice == 3:
        return ("[" * rng.choice([1000, 5000, 200000])).encode()
    return raw


def generate(fmt: str, n: int, seed: int, temporal_dir: Path | None, dt_dir: Path | None = None) -> list[bytes]:
    rng = random.Random(f"{fmt}-{seed}")
    mutations: list[Callable[[random.Random, Any], None]]
    if fmt == "native":
        bases, mutations = [json.loads(p.read_text(encoding="utf-8")) for p in BASES], STRUCTURAL
    elif fmt == "aws":
        bases, mutations = [json.loads(p.read_text(encoding="utf-8")) for p in AWS_BASES], AWS_MUTATIONS
    elif fmt == "durabletask":
        assert dt_dir is not None
        paths = sorted(dt_dir.glob("export/*.json")) + sorted(dt_dir.glob("proto/*.json"))
        bases, mutations = [json.loads(p.read_text(encoding="utf-8")) for p in paths], DT_MUTATIONS
    else:
        assert temporal_dir is not None
        paths = sorted(temporal_dir.glob("*/*.json"))
        bases, mutations = [json.loads(p.read_text(encoding="utf-8")) for p in paths], TEMPORAL_MUTATIONS
    out = []
    for _ in range(n):
        doc = copy.deepcopy(rng.choice(bases))
        for _ in range(rng.choice([1, 1, 2, 3])):
            try:
                rng.choice(mutations)(rng, doc)
            except (TypeError, KeyError, AttributeError, IndexError, ValueError):
                pass  # an earlier mutation took away what this one edits
        text = _text(rng, doc)
        if fmt == "durabletask" and rng.random() < 0.2 and (packed := _jsonl_gz(rng, doc)) is not None:
            out.append(packed)
        elif rng.random() < 0.25:
            out.append(textual(rng, text) if fmt == "native" and rng.random() < 0.6 else generic_textual(rng, text))
        else:
            out.append(text.encode("utf-8", "surrogatepass"))
    return out


def write_inputs(inputs: list[bytes], directory: Path, prefix: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(inputs):
        p = directory / f"{prefix}{i:04d}.json"
        p.write_bytes(data)
        paths.append(p)
    return paths


def record_durabletask(into: Path) -> Path:
    """Record the Durable Task fixture histories on the SDK's in-memory backend
    (tests/dt_recording.py): DIR/export/<id>.json and DIR/proto/<id>.json."""
    subprocess.run(
        [sys.executable, "-m", "tests.dt_recording", str(into / "durabletask")],
        cwd=ROOT,
        check=True,
        timeout=120,
        capture_output=True,
    )
    return into / "durabletask"


def record_temporal(into: Path) -> Path:
    """Record the Temporal fixture histories with a real worker on a real dev server."""
    sys.path.insert(0, str(ROOT))
    from tests import temporal_recording, temporal_server

    server = temporal_server.start(into / "server", namespaces=temporal_recording.NAMESPACES)
    try:
        subprocess.run(
            [sys.executable, "-m", "tests.temporal_recording", server.address, str(into / "histories")],
            cwd=ROOT,
            check=True,
            timeout=300,
            capture_output=True,
        )
    finally:
        server.stop()
    return into / "histories"


# ---------------------------------------------------------------- surfaces
def surface_load(paths: list[Path], timeout: float) -> list[tuple[str, str]]:
    from replaytest.backends import backend_for
    from replaytest.history import HistoryFormatError, parse_json, read_bytes

    bad = []
    for p in paths:
        try:
            doc = parse_json(read_bytes(p), source=p.name)
            backend = backend_for(doc, p.name)
            backend.entries(p, doc)
            backend.validate(doc, p.name)
        except HistoryFormatError:
            pass
        except BaseException as e:
            bad.append((p.name, f"{type(e).__name__}: {str(e)[:120]}"))
    return bad


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _limit_memory() -> None:
    import resource  # a /dev/zero read must hit MemoryError early, not the shared machine

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def _handler_args() -> list[str]:
    return [a for f, h in AWS_HANDLERS.items() for a in ("--handler", f"{f}=tests.aws_handlers.{h}:handler")]


def _cli_batch(paths: list[Path], timeout: float) -> tuple[dict[str, str], str, bool]:
    """(file name → its report line, all output, finished in time) for one CLI run over ``paths``."""
    cmd = [sys.executable, "-m", "replaytest", "replay", *map(str, paths), *_mods("--module"), *_handler_args()]
    cmd += ["--timeout", str(min(timeout, 30))]
    try:
        r = subprocess.run(
            cmd, capture_output=True, cwd=ROOT, env=_env(), timeout=timeout * len(paths) + 30, preexec_fn=_limit_memory
        )
        out, done = (r.stdout + r.stderr).decode("utf-8", "replace"), True
    except subprocess.TimeoutExpired as e:
        out, done = ((e.stdout or b"") + (e.stderr or b"")).decode("utf-8", "replace"), False
    lines: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"^(ok|FAIL)  .*?/((?:n|t|a|d|s)\d{4}\.json|fifo\.json|zero)", line)
        if m and m.group(2) not in lines:
            lines[m.group(2)] = line
    return lines, out, done


def _mods(flag: str) -> list[str]:
    return [a for m in MODULES for a in (flag, m)]


def surface_cli(paths: list[Path], timeout: float) -> list[tuple[str, str]]:
    bad: list[tuple[str, str]] = []
    for start in range(0, len(paths), 50):
        batch = paths[start : start + 50]
        lines, out, done = _cli_batch(batch, timeout)
        tail = "" if done else f"hang: the run did not finish in {timeout * len(batch) + 30:.0f} s"
        for p in batch:
            line = lines.get(p.name)
            if line is None:
                bad.append((p.name, tail or "no line: the run stopped before it"))
            elif INTERNAL.search(line):
                bad.append((p.name, line[:160]))
        if done and "Traceback (most recent call last)" in out:
            bad.append(("(batch)", "a traceback: " + out[out.index("Traceback") :][:200]))
    return bad


def surface_pytest(paths: list[Path], timeout: float, xdist: bool = False) -> list[tuple[str, str]]:
    directory = paths[0].parent
    junit = directory.parent / f"junit-{directory.name}-{int(xdist)}.xml"
    junit.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--replay",
        str(directory),
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-o",
        "junit_family=xunit1",
        f"--junitxml={junit}",
        "--replay-timeout",
        str(min(timeout, 30)),
        *_mods("--replay-module"),
        *[a.replace("--handler", "--replay-handler") for a in _handler_args()],
    ]
    if xdist:
        cmd += ["-n", "2"]
    try:
        r = subprocess.run(cmd, capture_output=True, cwd=ROOT, env=_env(), timeout=timeout * len(paths) + 60)
    except subprocess.TimeoutExpired:
        return [(p.name, "hang: no summary, no JUnit file") for p in paths]
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    seen: dict[str, str] = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            outcome = props.get("replay_outcome")
            text = "".join((el.text or "") for el in case if el.tag in ("failure", "error"))
            file_name = re.search(r"[ntads]\d{4}\.json", (case.get("file") or "") + (case.get("classname") or ""))
            key = file_name.group(0) if file_name else case.get("name", "?")
            if outcome in (None, "error"):
                lines = [ln[1:].strip() for ln in text.splitlines() if ln.startswith("E ")] or text.splitlines()[-1:]
                first = lines[-1] if lines else text[:120]
                seen[key] = f"outcome {outcome}: {first.strip()[:140]}"
            else:
                seen.setdefault(key, "")
    bad = [(k, v) for k, v in seen.items() if v]
    missing = [p.name for p in paths if p.name not in seen]
    why = "INTERNALERROR" if "INTERNALERROR" in out else f"not reported (exit {r.returncode})"
    bad += [(n, why) for n in missing]
    if "replaytest: " not in out:
        bad.append(("(session)", "no replaytest summary line"))
    return bad


# ---------------------------------------------------------------- hypothesis sequences
def _templates(fmt: str, temporal_dir: Path | None, dt_dir: Path | None = None) -> tuple[Doc, list[Any]]:
    """(a recorded history, its events to draw from) for event sequences of ``fmt``."""
    if fmt == "temporal":
        assert temporal_dir is not None
        doc = json.loads((temporal_dir / "cli" / "order-1.json").read_text())
        return doc, doc["events"]
    if fmt == "aws":
        doc = json.loads((ROOT / "tests" / "data" / "aws" / "order-1.json").read_text())
        return doc, doc["Events"]
    if fmt == "durabletask":
        assert dt_dir is not None
        doc = json.loads((dt_dir / "export" / "order-1.json").read_text())
        return doc, doc["events"]
    doc = json.loads((ROOT / "fixtures" / "histories" / "order-42.json").read_text())
    return doc, doc["events"]


def surface_seam(
    fmt: str, count: int, seed: int, temporal_dir: Path | None, timeout: float, dt_dir: Path | None = None
) -> list[tuple[str, str]]:
    """Hypothesis event sequences: the recorded first event (Durable Task: its first two, the
    episode's start and the execution's), then any sequence of recorded events (ids
    renumbered), replayed through the seam with the workflows that recorded them."""
    import importlib

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from replaytest.backends import ReplaySettings, Sessions, backend_for, replay_entry
    from replaytest.definitions import ReplaytestError
    from replaytest.report.divergence import NondeterminismError, ReplayTimeout, WorkflowTaskError

    sys.path.insert(0, str(ROOT))
    doc, events = _templates(fmt, temporal_dir, dt_dir)
    head = 2 if fmt == "durabletask" else 1
    modules = [importlib.import_module(m) for m in MODULES]
    options = {"aws": {"handlers": ["tests.aws_handlers.orders:handler"]}}
    s = ReplaySettings(modules, list(MODULES), backend_options=options, timeout=min(timeout, 30))
    bad: list[tuple[str, str]] = []
    n = [0]

    @settings(
        max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=False
    )
    @given(st.lists(st.sampled_from(range(head, len(events))), max_size=len(events) + 4), st.random_module())
    def run(picks: list[int], _: Any) -> None:
        n[0] += 1
        seq = [copy.deepcopy(e) for e in events[:head]] + [copy.deepcopy(events[i]) for i in picks]
        key = "events" if fmt != "aws" else "Events"
        history = {**doc, key: seq}
        for i, e in enumerate(seq, 1):
            if fmt == "temporal":
                e["eventId"] = str(i)
            elif fmt == "aws":
                e["EventId"] = i
            elif fmt == "native":
                e["id"] = i  # Durable Task: event_id is the command's sequence number, kept
        name = f"s{n[0]:04d}.json"
        try:
            backend = backend_for(history, name)
            for entry in backend.entries(Path(name), history):
                replay_entry(entry, history, s, sessions, name)
            kinds["replayed"] = kinds.get("replayed", 0) + 1
        except ReplayTimeout as e:
            bad.append((name, f"hang: {str(e)[:140]}"))
        except (ReplaytestError, NondeterminismError, WorkflowTaskError) as e:
            kind = type(e).__name__
            kinds[kind] = kinds.get(kind, 0) + 1
        except BaseException as e:
            bad.append((name, f"{type(e).__name__}: {str(e)[:140]}"))

    kinds: dict[str, int] = {}
    with Sessions(s) as sessions:
        run()
    print(f"          seq-{fmt} verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=300, help="inputs per format (default 300)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", action="append", choices=FORMATS, help="default: all four")
    ap.add_argument("--surface", action="append", choices=["load", "cli", "pytest"], help="default: all three")
    ap.add_argument("--sequences", type=int, default=0, help="hypothesis event sequences per format (seam surface)")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per input before it counts as a hang")
    ap.add_argument("--xdist", action="store_true", help="also run the pytest surface with -n 2")
    ap.add_argument("--show", type=int, default=5, help="examples to print per surface")
    ap.add_argument("--keep", metavar="DIR", help="write the inputs here and keep them")
    ap.add_argument("--temporal-dir", type=Path, help="recorded Temporal histories (DIR/cli/*.json); default: record")
    ap.add_argument("--dt-dir", type=Path, help="recorded Durable Task histories (DIR/export/*.json); default: record")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    formats = args.format or FORMATS
    with tempfile.TemporaryDirectory() as tmp:
        temporal_dir, dt_dir = args.temporal_dir, args.dt_dir
        if temporal_dir is None and "temporal" in formats:
            temporal_dir = record_temporal(Path(tmp) / "temporal")
        if dt_dir is None and "durabletask" in formats:
            dt_dir = record_durabletask(Path(tmp))
        directory = Path(args.keep or tmp) / "inputs"
        paths: list[Path] = []
        for fmt in formats:
            paths += write_inputs(generate(fmt, args.n, args.seed, temporal_dir, dt_dir), directory, fmt[0])
        print(f"{len(paths)} inputs: {', '.join(f'{args.n} {f}' for f in formats)} (seed {args.seed})")
        surfaces: list[tuple[str, Callable[[], list[tuple[str, str]]]]] = []
        chosen = args.surface or ["load", "cli", "pytest"]
        if "load" in chosen:
            surfaces.append(("load", lambda: surface_load(paths, args.timeout)))
        if "cli" in chosen:
            surfaces.append(("cli", lambda: surface_cli(paths, args.timeout)))
        if "pytest" in chosen:
            surfaces.append(("pytest", lambda: surface_pytest(paths, args.timeout)))
            if args.xdist:
                surfaces.append(("pytest-n2", lambda: surface_pytest(paths, args.timeout, xdist=True)))
        for fmt in formats if args.sequences else []:

            def sequences(fmt: str = fmt) -> list[tuple[str, str]]:
                return surface_seam(fmt, args.sequences, args.seed, temporal_dir, args.timeout, dt_dir)

            surfaces.append((f"seq-{fmt}", sequences))
        for name, run in surfaces:
            t0 = time.perf_counter()
            bad = run()
            took = time.perf_counter() - t0
            total = args.sequences if name.startswith("seq-") else len(paths)
            by_format = {f: sum(1 for b in bad if b[0].startswith(f[0])) for f in formats}
            split = "" if name.startswith("seq-") else " (" + ", ".join(f"{f} {c}" for f, c in by_format.items()) + ")"
            print(f"{name:9} {len(bad):4d} of {total} ended in a non-verdict{split} ({took:.0f} s)")
            for file_name, why in bad[: args.show]:
                print(f"          {file_name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
