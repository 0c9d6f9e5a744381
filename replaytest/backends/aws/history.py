"""An exported AWS Lambda durable execution history, read without the AWS SDK.

``aws lambda get-durable-execution-history`` (boto3 ``get_durable_execution_history``, the
testing SDK's ``get_execution_history().to_dict()``) gives ``{"Events": [...]}``: one event per
state change of an *operation* (a step, a wait, a callback, a child context, a chained invoke,
the execution itself), named by the operation's ``Id``. This module checks such a document,
reads its timestamps in either form (epoch seconds from the API, ISO strings from the CLI) and
folds the events into the operations they describe, so that collection, reports and replay
share one reading of the file. It imports nothing of the SDK: a session that only collects
AWS histories never loads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ...history.errors import HistoryFormatError
from ...report.text import json_kind, short_json

#: event type → (operation type, operation status after the event)
EVENT_TYPES: dict[str, tuple[str | None, str | None]] = {
    "ExecutionStarted": ("EXECUTION", "STARTED"),
    "ExecutionSucceeded": ("EXECUTION", "SUCCEEDED"),
    "ExecutionFailed": ("EXECUTION", "FAILED"),
    "ExecutionTimedOut": ("EXECUTION", "TIMED_OUT"),
    "ExecutionStopped": ("EXECUTION", "STOPPED"),
    "StepStarted": ("STEP", "STARTED"),
    "StepSucceeded": ("STEP", "SUCCEEDED"),
    "StepFailed": ("STEP", "FAILED"),  # PENDING when a retry is scheduled (see fold)
    "WaitStarted": ("WAIT", "STARTED"),
    "WaitSucceeded": ("WAIT", "SUCCEEDED"),
    "WaitCancelled": ("WAIT", "CANCELLED"),
    "CallbackStarted": ("CALLBACK", "STARTED"),
    "CallbackSucceeded": ("CALLBACK", "SUCCEEDED"),
    "CallbackFailed": ("CALLBACK", "FAILED"),
    "CallbackTimedOut": ("CALLBACK", "TIMED_OUT"),
    "ContextStarted": ("CONTEXT", "STARTED"),
    "ContextSucceeded": ("CONTEXT", "SUCCEEDED"),
    "ContextFailed": ("CONTEXT", "FAILED"),
    "ChainedInvokeStarted": ("CHAINED_INVOKE", "STARTED"),
    "ChainedInvokeSucceeded": ("CHAINED_INVOKE", "SUCCEEDED"),
    "ChainedInvokeFailed": ("CHAINED_INVOKE", "FAILED"),
    "ChainedInvokeTimedOut": ("CHAINED_INVOKE", "TIMED_OUT"),
    "ChainedInvokeStopped": ("CHAINED_INVOKE", "STOPPED"),
    "ChainedInvokeCancelled": ("CHAINED_INVOKE", "CANCELLED"),
    "InvocationCompleted": (None, None),
    "ExecutionPaused": (None, None),
    "ExecutionResumed": (None, None),
}
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED"})
#: the execution statuses a finished history ends in
FINISHED = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionStopped": "STOPPED",
}


def looks_like(doc: Any) -> bool:
    """The cheap content sniff: an object whose ``Events`` list holds ``EventType``/``EventId``
    events (or is empty), or a list of such objects (pages, or several executions)."""
    if isinstance(doc, list):
        return bool(doc) and all(isinstance(d, dict) and looks_like(d) for d in doc)
    if not isinstance(doc, dict) or not isinstance(doc.get("Events"), list):
        return False
    first = doc["Events"][0] if doc["Events"] else None
    return first is None or (isinstance(first, dict) and "EventType" in first and "EventId" in first)


def split_executions(doc: Any) -> list[dict[str, Any]]:
    """One ``{"Events": [...]}`` per execution. A list of pages is joined into one execution
    (a page that does not start with ``ExecutionStarted`` continues the one before it). Linear
    in the events: each execution's list is built once and extended page by page. The pages
    are not changed. The last split is kept for the items of the same file (see
    :func:`_fingerprint`)."""
    global _last_split
    if isinstance(doc, dict):
        return [doc]
    if _last_split is not None and _last_split[0] is doc and _last_split[1] == _fingerprint(doc):
        return _last_split[2]
    executions: list[dict[str, Any]] = []
    own_events = False  # whether executions[-1]["Events"] is a list of ours (not a page's)
    for page in doc:
        events = page.get("Events") or []
        starts = bool(events) and isinstance(events[0], dict) and events[0].get("EventType") == "ExecutionStarted"
        if executions and not starts:
            prev = executions[-1]
            joined = prev["Events"] if own_events else list(prev.get("Events") or [])
            joined.extend(events)
            own_events = True
            executions[-1] = {**prev, **{k: v for k, v in page.items() if k != "Events"}, "Events": joined}
            if "NextMarker" not in page:
                executions[-1].pop("NextMarker", None)
        else:
            executions.append(dict(page))
            own_events = False
    _last_split = (doc, _fingerprint(doc), executions)
    return executions


#: (pages, their fingerprint, the split): a file's items each ask for the split of one document.
_last_split: tuple[Any, Any, list[dict[str, Any]]] | None = None


def _fingerprint(pages: list[Any]) -> list[int]:
    """Which page objects the document holds: a page replaced, added or removed splits it again.
    (A parsed document is data nobody edits in place; the events themselves are shared.)"""
    return list(map(id, pages))


def parse_timestamp(value: Any) -> datetime:
    """Epoch seconds (the API's wire format; milliseconds are recognised by size) or an ISO
    8601 string (AWS CLI v2, ``str(datetime)`` from the testing SDK) → aware UTC datetime."""
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_timestamp(float(text))
        except ValueError:
            pass
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"not a timestamp: {value!r}")


@dataclass
class AwsEvent:
    id: int
    type: str
    time: datetime
    op_id: str | None
    name: str | None
    parent_id: str | None
    sub_type: str | None
    details: dict[str, Any]

    def payload(self, key: str = "Result") -> tuple[Any, bool]:
        """(payload, truncated) of the event's ``Result``/``Input``/``Error`` field."""
        box = self.details.get(key) or {}
        return box.get("Payload"), bool(box.get("Truncated"))


@dataclass
class RecordedOp:
    """One operation as history left it: identity, status, timestamps, result or error."""

    id: str
    type: str
    sub_type: str | None
    name: str | None
    parent_id: str | None
    status: str
    events: list[AwsEvent] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    result: str | None = None
    error: dict[str, Any] | None = None
    attempt: int = 0
    retry_delay: float | None = None  # set while a failed step waits for its next attempt
    wait_seconds: float | None = None
    scheduled_end: datetime | None = None
    callback_id: str | None = None
    invoke_function: str | None = None
    truncated: bool = False  # the API cut this operation's recorded result or error

    @property
    def first_event(self) -> AwsEvent:
        return self.events[0]

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def label(self) -> str:
        """``step 'reserve'`` / ``wait 'cool-off'`` / ``child context 'sub'`` for reports."""
        return op_label(self.type, self.sub_type, self.name)


_KIND_WORDS = {
    "Step": "step",
    "Wait": "wait",
    "Callback": "callback",
    "RunInChildContext": "child context",
    "Map": "map",
    "MapIteration": "map iteration",
    "Parallel": "parallel",
    "ParallelBranch": "parallel branch",
    "WaitForCallback": "wait_for_callback",
    "WaitForCondition": "wait_for_condition",
    "ChainedInvoke": "invoke",
}


def op_label(op_type: str, sub_type: str | None, name: str | None) -> str:
    word = _KIND_WORDS.get(sub_type or "", (sub_type or op_type).lower())
    return f"{word} {name!r}" if name else f"{word} (unnamed)"


@dataclass
class AwsHistory:
    source: str
    events: list[AwsEvent]
    execution: RecordedOp
    ops: dict[str, RecordedOp]  # every operation but the execution, in first-event order
    status: str  # RUNNING or a FINISHED value
    arn: str | None = None
    function_name: str | None = None
    sdk_version: str | None = None

    @property
    def execution_name(self) -> str | None:
        return self.execution.name

    @property
    def input_payload(self) -> str | None:
        payload = self.execution.events[0].payload("Input")[0]
        return payload if isinstance(payload, str) else None

    def caveats(self, installed_sdk: str) -> list[str]:
        """What makes this replay less than exact, said once per replay as warnings."""
        notes = []
        cut = [op.label() for op in self.ops.values() if op.truncated and op.type != "CONTEXT"]
        if self.execution.truncated:
            cut.insert(0, "the execution's input")
        if cut:
            notes.append(
                f"the API truncated recorded payloads of {', '.join(cut[:3])}"
                f"{' and more' if len(cut) > 3 else ''}; replay hands the handler what the export holds"
            )
        if self.sdk_version and self.sdk_version.split(".")[0] != installed_sdk.split(".")[0]:
            notes.append(
                f"recorded with aws-durable-execution-sdk-python {self.sdk_version}, "
                f"replayed with {installed_sdk}: operation ids may differ between major versions"
            )
        return notes

    @property
    def finished(self) -> bool:
        return self.status != "RUNNING"

    def children(self, parent_id: str | None) -> list[RecordedOp]:
        return [op for op in self.ops.values() if op.parent_id == parent_id]


def function_from_arn(arn: str | None) -> str | None:
    """``arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION/durable-execution/...`` → NAME."""
    if not arn or ":function:" not in arn:
        return None
    return arn.split(":function:", 1)[1].split("/", 1)[0].split(":", 1)[0] or None


def load(doc: dict[str, Any], source: str) -> AwsHistory:
    """Check and fold one execution's document. Raises HistoryFormatError naming the file and
    the event for anything replay could not trust."""

    def bad(where: str, reason: str) -> HistoryFormatError:
        return HistoryFormatError(source, where, reason)

    raw = doc.get("Events")
    if not isinstance(raw, list):
        raise bad("", 'not an AWS durable execution history: no "Events" list')
    if not raw:
        raise bad("", "the export has no events (was it fetched with the right --durable-execution-arn?)")
    if doc.get("NextMarker") or doc.get("NextToken"):  # the API's / the AWS CLI's (--max-items)
        raise bad(
            "",
            "the export stops at a page boundary (it has a NextMarker/NextToken): fetch every page and "
            "join their Events, e.g. `aws lambda get-durable-execution-history --include-execution-data "
            "...` without --max-items, or a list of the pages in one file",
        )
    events: list[AwsEvent] = []
    for index, e in enumerate(raw):
        where = f"event {index + 1}"
        if not isinstance(e, dict):
            raise bad(where, f"expected an object, found {json_kind(e)}")
        etype = e.get("EventType")
        if not isinstance(etype, str) or etype not in EVENT_TYPES:
            shown = repr(short(etype, 80)) if isinstance(etype, str) else short(etype, 80)
            raise bad(where, f"unknown EventType {shown}" if etype else "missing EventType")
        if not isinstance(e.get("EventId"), int) or isinstance(e.get("EventId"), bool):
            raise bad(where, f"{etype}: missing or non-integer EventId")
        where = f"event {e['EventId']} ({etype})"
        _check_fields(e, etype, where, bad)
        try:
            when = parse_timestamp(e.get("EventTimestamp"))
        except (ValueError, OverflowError, OSError):
            raise bad(
                where, f"EventTimestamp {e.get('EventTimestamp')!r} is neither epoch seconds nor an ISO 8601 time"
            ) from None
        op_id = e.get("Id")
        if EVENT_TYPES[etype][0] is not None and not isinstance(op_id, str):
            raise bad(where, "missing the operation Id")
        details = e.get(f"{etype}Details") or {}
        if not isinstance(details, dict):
            raise bad(where, f"{etype}Details is not an object")
        events.append(
            AwsEvent(e["EventId"], etype, when, op_id, e.get("Name"), e.get("ParentId"), e.get("SubType"), details)
        )
    if len(events) > 1 and all(a.id > b.id for a, b in zip(events, events[1:])):
        events.reverse()  # exported with --reverse-order
    if events[0].type != "ExecutionStarted":
        raise bad(
            "event 1",
            f"a history starts with ExecutionStarted, this one with {events[0].type} (is the first page missing?)",
        )
    for prev, cur in zip(events, events[1:]):
        if cur.id <= prev.id:
            raise bad(f"event {cur.id} ({cur.type})", f"EventId goes back from {prev.id}: pages joined out of order?")
    execution, ops = _fold(events, bad)
    status = FINISHED.get(events[-1].type, "RUNNING")
    for e in events:
        if e.type in FINISHED and e is not events[-1]:
            raise bad(f"event {e.id} ({e.type})", "events after the execution finished")
    arn = doc.get("DurableExecutionArn") if isinstance(doc.get("DurableExecutionArn"), str) else None
    function = doc.get("FunctionName") if isinstance(doc.get("FunctionName"), str) else function_from_arn(arn)
    sdk = doc.get("SdkVersion") if isinstance(doc.get("SdkVersion"), str) else None
    return AwsHistory(source, events, execution, ops, status, arn, function, sdk)


#: the longest operation id, name, parent id or subtype read: far above what the SDK records
#: (hashes and user-chosen names), far below a value that would cost seconds to compare
MAX_FIELD = 1024
_TEXT_FIELDS = ("Id", "Name", "ParentId", "SubType")
_PAYLOAD_BOXES = ("Result", "Error", "Input")
_RETRY_NUMBERS = ("CurrentAttempt", "NextAttemptDelaySeconds")


def _check_fields(e: dict[str, Any], etype: str, where: str, bad: Any) -> None:
    """Every field load and replay read has the JSON kind it must have, and identity fields are
    of a sane length: a wrong one is one line naming the event and the field, checked before
    anything else looks at it (a 50 MB SubType is refused here, not compared for a minute)."""
    if surrogate := _lone_surrogate(e):
        raise bad(where, f"{surrogate} holds a lone surrogate, which no JSON writer produces")
    for key in _TEXT_FIELDS:
        value = e.get(key)
        if value is not None and not isinstance(value, str):
            raise bad(where, f"{key} is {json_kind(value)}; it must be a string")
        if isinstance(value, str) and len(value) > MAX_FIELD:
            raise bad(where, f"{key} is {len(value):,} characters long (at most {MAX_FIELD:,} are read)")
    details_key = f"{etype}Details"
    details = e.get(details_key)
    if details is None:
        details = {}
    if not isinstance(details, dict):
        raise bad(where, f"{details_key} is {json_kind(details)}; it must be an object")
    for key in _PAYLOAD_BOXES:
        box = details.get(key)
        if box is None:
            continue
        if not isinstance(box, dict):
            raise bad(where, f"{details_key}.{key} is {json_kind(box)}; it must be an object with a Payload")
        payload = box.get("Payload")
        if key == "Error":
            if payload is not None and not isinstance(payload, dict):
                raise bad(where, f"{details_key}.Error.Payload is {json_kind(payload)}; it must be an object")
        elif payload is not None:
            if not isinstance(payload, str):
                raise bad(where, f"{details_key}.{key}.Payload is {json_kind(payload)}; it must be JSON text")
            if not box.get("Truncated"):
                _check_json_text(payload, f"{details_key}.{key}.Payload", where, bad)
    retry = details.get("RetryDetails")
    if retry is not None and not isinstance(retry, dict):
        raise bad(where, f"{details_key}.RetryDetails is {json_kind(retry)}; it must be an object")
    numbers = [(f"{details_key}.RetryDetails.{k}", (retry or {}).get(k)) for k in _RETRY_NUMBERS]
    numbers.append((f"{details_key}.Duration", details.get("Duration")))
    for name, value in numbers:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise bad(where, f"{name} is {json_kind(value)}; it must be a number")
    for key in ("CallbackId", "FunctionName"):
        if details.get(key) is not None and not isinstance(details[key], str):
            raise bad(where, f"{details_key}.{key} is {json_kind(details[key])}; it must be a string")
    if etype == "ExecutionFailed" and not isinstance((details.get("Error") or {}).get("Payload"), dict):
        raise bad(where, f"{details_key}.Error.Payload is missing: a failed execution records its error")


def _lone_surrogate(event: dict[str, Any]) -> str | None:
    """The field of ``event`` (a key or a string anywhere in it, payload text included) holding a
    lone surrogate, which no encoder can write: the SDK fails on one with UnicodeEncodeError."""
    stack: list[tuple[Any, str]] = [(event, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if not key.isascii() and _unencodable(key):
                    return f"a key of {path or 'the event'}"
                stack.append((value, f"{path}.{key}" if path else key))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{i}]") for i, value in enumerate(node))
        elif isinstance(node, str) and not node.isascii() and _unencodable(node):
            return path
    return None


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


#: JSON nested deeper than this inside a payload is refused: the SDK reads payloads recursively
MAX_PAYLOAD_DEPTH = 200


def _check_json_text(text: str, field: str, where: str, bad: Any) -> None:
    """A recorded payload the SDK will parse: JSON, and not nested beyond what it can read."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise bad(where, f"{field} is nested too deeply to read") from None
    except ValueError as e:
        raise bad(where, f"{field} is not JSON ({str(e)[:80]})") from None
    if _depth_exceeds(value, MAX_PAYLOAD_DEPTH):
        raise bad(where, f"{field} nests lists and objects more than {MAX_PAYLOAD_DEPTH} levels deep")


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _fold(events: list[AwsEvent], bad: Any) -> tuple[RecordedOp, dict[str, RecordedOp]]:
    ops: dict[str, RecordedOp] = {}
    execution: RecordedOp | None = None
    for e in events:
        op_type, status = EVENT_TYPES[e.type]
        if op_type is None:
            continue
        assert e.op_id is not None and status is not None
        op = execution if op_type == "EXECUTION" else ops.get(e.op_id)
        if op is None:
            op = RecordedOp(e.op_id, op_type, e.sub_type or None, e.name, e.parent_id, status, start=e.time)
            if op_type == "EXECUTION":
                execution = op
            else:
                if e.parent_id and e.parent_id not in ops:
                    raise bad(f"event {e.id} ({e.type})", f"ParentId {e.parent_id} names no earlier operation")
                ops[e.op_id] = op
        elif op.type != op_type:
            raise bad(
                f"event {e.id} ({e.type})", f"operation {e.op_id} was a {op.type}, this event makes it a {op_type}"
            )
        op.events.append(e)
        op.status = status
        op.name = op.name or e.name
        op.sub_type = op.sub_type or e.sub_type or None
        if status in TERMINAL:
            op.end = e.time
        d = e.details
        if any((d.get(k) or {}).get("Truncated") for k in ("Result", "Error", "Input")):
            op.truncated = True
        if e.type.endswith("Succeeded"):
            op.result = e.payload("Result")[0]
        if e.type.endswith(("Failed", "TimedOut", "Stopped")) and isinstance(
            (d.get("Error") or {}).get("Payload"), dict
        ):
            op.error = d["Error"]["Payload"]
        if e.type == "StepStarted":
            op.retry_delay = None
        if e.type in ("StepSucceeded", "StepFailed") and isinstance(d.get("RetryDetails"), dict):
            retry = d["RetryDetails"]
            op.attempt = int(retry.get("CurrentAttempt") or 0)
            delay = retry.get("NextAttemptDelaySeconds")
            if isinstance(delay, (int, float)) and delay > 0:  # a retry, or wait_for_condition's next poll
                op.status, op.retry_delay, op.end = "PENDING", float(delay), None
        if e.type == "WaitStarted":
            op.wait_seconds = d.get("Duration")
            if d.get("ScheduledEndTimestamp") is not None:
                try:
                    op.scheduled_end = parse_timestamp(d["ScheduledEndTimestamp"])
                except (ValueError, OverflowError, OSError):
                    raise bad(f"event {e.id} ({e.type})", "ScheduledEndTimestamp is not a timestamp") from None
        if e.type == "CallbackStarted":
            op.callback_id = d.get("CallbackId")
        if e.type == "ChainedInvokeStarted":
            op.invoke_function = d.get("FunctionName")
    if execution is None:
        raise bad("", "no ExecutionStarted event")
    return execution, ops


def short(value: Any, limit: int = 60) -> str:
    """A string as it is, any other value as JSON (report.text.short_json), cut to ``limit``."""
    if not isinstance(value, str):
        return short_json(value, limit)
    return value if len(value) <= limit else value[: limit - 1] + "…"


_TAGS = frozenset("nsifbuldmtx") | {"by", "br"}


def _unwrap(value: Any) -> Any:
    """The SDK's typed envelope (``{"t": "m", "v": {...}}``) → the plain value, for reading."""
    if isinstance(value, dict) and set(value) == {"t", "v"} and value["t"] in _TAGS:
        inner = value["v"]
        if isinstance(inner, dict):
            return {k: _unwrap(v) for k, v in inner.items()}
        if isinstance(inner, list):
            return [_unwrap(v) for v in inner]
        return inner
    return value


def readable(payload: Any) -> Any:
    """A recorded payload as people read it: parsed JSON, the SDK's envelope unwrapped."""
    if isinstance(payload, str):
        try:
            return _unwrap(json.loads(payload))
        except ValueError:
            return payload
    return payload


def describe(e: AwsEvent) -> str:
    """One line per event for timelines: type, operation, and what it carried."""
    what = (
        op_label(EVENT_TYPES[e.type][0] or "", e.sub_type, e.name)
        if e.op_id and not e.type.startswith("Execution")
        else ""
    )
    text = f"{e.type} {what}".rstrip()
    d = e.details
    if e.type.endswith("Succeeded") and "Result" in d:
        payload, truncated = e.payload("Result")
        text += f" → {short_json(readable(payload))}" + (" (truncated)" if truncated else "")
    elif (err := (d.get("Error") or {}).get("Payload")) and isinstance(err, dict):
        text += f" {err.get('ErrorType')}: {short(err.get('ErrorMessage'), 80)}"
        retry = d.get("RetryDetails") or {}
        if retry.get("NextAttemptDelaySeconds"):
            text += f" (attempt {retry.get('CurrentAttempt')}, retry in {retry['NextAttemptDelaySeconds']}s)"
    elif e.type == "WaitStarted" and d.get("Duration") is not None:
        text += f" for {d['Duration']}s"
    elif e.type == "ExecutionStarted":
        text += f" {e.name or ''} input={short_json(readable(e.payload('Input')[0]))}"
    return text
