"""Durable Task histories read as data, whatever form the user has, without the SDK.

Three forms hold the same events:

- the SDK's history export JSON (``durabletask.extensions.history_export``): an object with
  ``schema_version``, ``instance_id`` and ``events``, each event ``{"event_type":
  "TaskScheduledEvent", "event_id": 1, "timestamp": ..., <fields in snake_case>}``;
- the same export as gzipped JSON Lines (the export job's default): a header line, then one
  event per line (:func:`decode_bytes` turns it into the JSON form);
- the gRPC ``HistoryEvent`` protobufs as JSON, as ``MessageToDict`` writes them: a list of
  ``{"eventId": 1, "timestamp": ..., "taskScheduled": {...}}`` (snake_case names too).

Each is read into :class:`DtEvent`\\ s: the event's kind (the protobuf ``oneof`` name,
``taskScheduled``), the SDK's sequence number (``event_id``, -1 except on command events) and
its fields in protobuf JSON names, which :mod:`._sdk` parses into ``pb.HistoryEvent``. Events
are numbered 1..N by position: Durable Task reuses sequence numbers (a retried activity is
scheduled again under its first number), so reports name the position, and the number.

The Durable Functions HTTP status API's ``historyEvents`` (``showHistory=true``) is a condensed,
lossy view: it is recognised here only to be refused in one line.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ...history.errors import HistoryFormatError
from ...history.io import parse_json
from ...report.text import short_json

#: The protobuf ``HistoryEvent`` oneof names this reader knows (the SDK's 1.12 protocol).
KINDS = (
    "executionStarted executionCompleted executionTerminated taskScheduled taskCompleted taskFailed "
    "subOrchestrationInstanceCreated subOrchestrationInstanceCompleted subOrchestrationInstanceFailed "
    "timerCreated timerFired orchestratorStarted orchestratorCompleted eventSent eventRaised genericEvent "
    "historyState continueAsNew executionSuspended executionResumed entityOperationSignaled "
    "entityOperationCalled entityOperationCompleted entityOperationFailed entityLockRequested "
    "entityLockGranted entityUnlockSent executionRewound"
).split()
_SNAKE_KINDS = {re.sub(r"([A-Z])", r"_\1", k).lower(): k for k in KINDS}
#: export ``event_type`` (the SDK's dataclass name) → oneof name
_EXPORT_TYPES = {("GenericEvent" if k == "genericEvent" else k[0].upper() + k[1:] + "Event"): k for k in KINDS}
#: events that record a command the orchestrator issued, matched by sequence number on replay
COMMANDS = ("taskScheduled", "timerCreated", "subOrchestrationInstanceCreated", "eventSent")
#: orchestration status numbers (protobuf enum) → name
STATUSES = {
    0: "RUNNING",
    1: "COMPLETED",
    2: "CONTINUED_AS_NEW",
    3: "FAILED",
    4: "CANCELED",
    5: "TERMINATED",
    6: "PENDING",
    7: "SUSPENDED",
}

#: What a user should export instead of a form that cannot be replayed.
EXPORTS = (
    "export the full history with durabletask.extensions.history_export, "
    "`client.get_orchestration_history(ID)`, or `replaytest pull --durabletask`"
)


@dataclass
class DtEvent:
    pos: int  # 1..N, what reports call "history event N"
    kind: str  # the protobuf oneof name: taskScheduled, timerFired, ...
    seq: int  # the SDK's eventId: the command's sequence number, -1 on other events
    time: datetime | None  # None when the backend left it 0 (the epoch)
    data: dict[str, Any]  # the oneof's fields, protobuf JSON names (camelCase)

    @property
    def is_command(self) -> bool:
        return self.kind in COMMANDS

    def text(self, name: str) -> str | None:
        value = self.data.get(name)
        return value if isinstance(value, str) else None


@dataclass
class DtHistory:
    instance_id: str
    events: list[DtEvent]
    source: str
    form: str  # export | jsonl | protobuf
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def started(self) -> DtEvent | None:
        return next((e for e in self.events if e.kind == "executionStarted"), None)

    @property
    def orchestrator(self) -> str | None:
        s = self.started
        return s.text("name") if s else None

    @property
    def completed(self) -> DtEvent | None:
        last = next((e for e in reversed(self.events) if e.kind not in ("orchestratorCompleted", "genericEvent")), None)
        return last if last is not None and last.kind in ("executionCompleted", "executionTerminated") else None

    @property
    def status(self) -> str:
        """RUNNING while the history has no end; else the recorded end's status name."""
        end = self.completed
        if end is None:
            return "RUNNING"
        if end.kind == "executionTerminated":
            return "TERMINATED"
        return status_name(end.data.get("orchestrationStatus"))


def status_name(value: Any) -> str:
    if isinstance(value, int):
        return STATUSES.get(value, str(value))
    return str(value or "").removeprefix("ORCHESTRATION_STATUS_") or "COMPLETED"


# ---- sniffing -----------------------------------------------------------------------------------
def form_of(doc: Any) -> str | None:
    """Which Durable Task form ``doc`` is (export | protobuf | http-status), or None."""
    if isinstance(doc, dict):
        if isinstance(doc.get("events"), list) and "schema_version" in doc and "instance_id" in doc:
            return "export"
        if "historyEvents" in doc and ("runtimeStatus" in doc or "instanceId" in doc):
            return "http-status"
        if isinstance(doc.get("events"), list) and doc["events"] and _proto_event(doc["events"][0]):
            return "protobuf"  # a HistoryChunk as MessageToDict writes it
        return None
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        first = doc[0]
        if _proto_event(first):
            return "protobuf"
        if isinstance(first.get("event_type"), str) and first["event_type"] in _EXPORT_TYPES:
            return "protobuf"  # export-shaped events in a bare list (event_to_dict of each)
    return None


def _proto_event(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    keys = set(item)
    return bool(keys & ({"eventId", "event_id"})) and any(k in _SNAKE_KINDS or k in KINDS for k in keys)


def decode_bytes(data: bytes, source: str) -> Any:
    """A ``.jsonl.gz`` export (or plain JSON Lines) as the export JSON document; other bytes as JSON."""
    doc = decode_export(data, source)
    return parse_json(data, source=source) if doc is None else doc


def decode_export(data: bytes, source: str) -> Any:
    """A ``.jsonl.gz`` export (or plain JSON Lines) as the export JSON document; None for other
    bytes (JSON text is left to the shared reader)."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise HistoryFormatError(
                source, "", f"the gzip stream is damaged or truncated ({e}); export the history again"
            ) from None
        return _jsonl(data, source)
    first = data.split(b"\n", 1)[0].strip()
    if first.startswith(b"{") and first.endswith(b"}") and b'"schema_version"' in first and b'"events"' not in first:
        return _jsonl(data, source)  # an export header line, then one event per line
    return None


def _jsonl(data: bytes, source: str) -> Any:
    lines = [line for line in data.split(b"\n") if line.strip()]
    if not lines:
        raise HistoryFormatError(source, "", "the JSON Lines export is empty")
    header = parse_json(lines[0], source=f"{source}: line 1")
    if not isinstance(header, dict) or "instance_id" not in header:
        raise HistoryFormatError(
            source, "line 1", "not a Durable Task history export header (no instance_id); " + EXPORTS
        )
    events = []
    for n, line in enumerate(lines[1:], start=2):
        try:
            events.append(parse_json(line, source=source))
        except HistoryFormatError as e:
            raise HistoryFormatError(source, f"line {n} (history event {n - 1})", e.reason) from None
    doc = {k: v for k, v in header.items() if k != "kind"}
    doc["events"] = events
    doc["_jsonl"] = True
    return doc


# ---- loading ------------------------------------------------------------------------------------
def load(doc: Any, source: str) -> DtHistory:
    """The history in ``doc`` (any of the three forms), or HistoryFormatError naming the event."""
    form = form_of(doc)
    if form == "http-status":
        raise HistoryFormatError(
            source,
            "historyEvents",
            "this is the Durable Functions HTTP status API's condensed history (showHistory=true): it "
            "has no event ids, folds each schedule into its completion and strips inputs, so it "
            "cannot be replayed; " + EXPORTS,
        )
    if form is None:
        raise HistoryFormatError(source, "", "not a Durable Task history; " + EXPORTS)
    if form == "export":
        raw, iid, meta = doc["events"], doc.get("instance_id"), doc.get("metadata")
        form = "jsonl" if doc.get("_jsonl") else "export"
    else:
        raw = doc["events"] if isinstance(doc, dict) else doc
        iid, meta = None, None
    events = [_event(item, pos, source) for pos, item in enumerate(raw, start=1)]
    if not events:
        raise HistoryFormatError(source, "events", "the history has no events; " + EXPORTS)
    started = next((e for e in events if e.kind == "executionStarted"), None)
    if started is None:
        raise HistoryFormatError(
            source, "", "the history has no ExecutionStarted event (a partial history cannot be replayed); " + EXPORTS
        )
    name = started.data.get("name")
    if not isinstance(name, str) or not name:
        raise HistoryFormatError(source, f"history event {started.pos}", "ExecutionStarted names no orchestrator")
    inst = started.data.get("orchestrationInstance")
    if not iid and isinstance(inst, dict):
        iid = inst.get("instanceId")
    if not isinstance(iid, str) or not iid:
        iid = ""
    _check_references(events, source)
    return DtHistory(iid, events, source, form, meta if isinstance(meta, dict) else {})


def _event(item: Any, pos: int, source: str) -> DtEvent:
    where = f"history event {pos}"
    if not isinstance(item, dict):
        raise HistoryFormatError(source, where, f"an event must be a JSON object, not {short_json(item, 40)}")
    if "event_type" in item:
        etype = item["event_type"]
        kind = _EXPORT_TYPES.get(etype) if isinstance(etype, str) else None
        if kind is None:
            raise HistoryFormatError(source, where, f"unknown event_type {short_json(etype, 40)}")
        data = _camel({k: v for k, v in item.items() if k not in ("event_type", "event_id", "timestamp")})
        seq, stamp = item.get("event_id"), item.get("timestamp")
    else:
        kinds = [k for k in item if k in KINDS or k in _SNAKE_KINDS]
        if len(kinds) != 1:
            got = ", ".join(sorted(item)) or "nothing"
            raise HistoryFormatError(
                source, where, f"expected one event kind (taskScheduled, timerFired, …), got {got}"
            )
        kind = _SNAKE_KINDS.get(kinds[0], kinds[0])
        body = item[kinds[0]]
        if not isinstance(body, dict):
            raise HistoryFormatError(source, where, f"{kind} must be an object")
        data = _camel(body)
        seq, stamp = item.get("eventId", item.get("event_id", -1)), item.get("timestamp")
    if seq is None:
        seq = -1
    if not isinstance(seq, int) or isinstance(seq, bool):
        if isinstance(seq, str) and re.fullmatch(r"-?\d+", seq):
            seq = int(seq)
        else:
            raise HistoryFormatError(source, where, f"event id {short_json(seq, 30)} is not an integer")
    return DtEvent(pos, kind, seq, _time(stamp, source, where), data)


def _time(value: Any, source: str, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise HistoryFormatError(source, where, f"timestamp {short_json(value, 40)} is not an ISO 8601 string")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HistoryFormatError(source, where, f"timestamp {short_json(value, 40)} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return None if t.timestamp() == 0 else t


_RENAME = {"message": "errorMessage", "spanId": "spanID", "orchestrationSpanId": "orchestrationSpanID"}


def _camel(value: Any) -> Any:
    """snake_case keys (the export's) → protobuf JSON names; None fields dropped."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            key = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k) if isinstance(k, str) else k
            key = _RENAME.get(key, key)
            out[key] = v if key in ("tags", "properties") else _camel(v)
        return out
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _check_references(events: list[DtEvent], source: str) -> None:
    """A completion refers to a command recorded before it; a history is in order."""
    scheduled: set[tuple[str, int]] = set()
    refs = {
        "taskCompleted": "taskScheduled",
        "taskFailed": "taskScheduled",
        "subOrchestrationInstanceCompleted": "subOrchestrationInstanceCreated",
        "subOrchestrationInstanceFailed": "subOrchestrationInstanceCreated",
        "timerFired": "timerCreated",
    }
    for e in events:
        if e.is_command:
            scheduled.add((e.kind, e.seq))
        ref_kind = refs.get(e.kind)
        if ref_kind is None:
            continue
        key = "timerId" if e.kind == "timerFired" else "taskScheduledId"
        ref = e.data.get(key)
        if not isinstance(ref, int) or (ref_kind, ref) not in scheduled:
            raise HistoryFormatError(
                source,
                f"history event {e.pos}",
                f"{label(e)} refers to {ref_kind} #{ref}, which no earlier event records "
                "(the history is truncated or out of order)",
            )


# ---- describing ---------------------------------------------------------------------------------
def readable(payload: Any) -> Any:
    """A serialized payload (JSON text) as its value, else as is."""
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except ValueError:
            return payload
    return payload


def short(value: Any, limit: int = 60) -> str:
    return short_json(readable(value), limit)


def label(e: DtEvent) -> str:
    """The event's type as users read it (TaskScheduled, not taskScheduled)."""
    return e.kind[0].upper() + e.kind[1:]


def describe(e: DtEvent) -> str:
    """One line per event, for timelines."""
    d, name = e.data, e.text("name")
    seq = f" #{e.seq}" if e.seq >= 0 else ""
    if e.kind == "executionStarted":
        return f"ExecutionStarted {name}({short(d.get('input'), 50) if 'input' in d else ''})"
    if e.kind == "taskScheduled":
        return f"TaskScheduled{seq} {name}({short(d.get('input'), 50) if 'input' in d else ''})"
    if e.kind == "timerCreated":
        return f"TimerCreated{seq} fires {d.get('fireAt', '?')}"
    if e.kind == "subOrchestrationInstanceCreated":
        return f"SubOrchestrationInstanceCreated{seq} {name} instance {d.get('instanceId')!r}"
    if e.kind == "eventSent":
        return f"EventSent{seq} {name!r} to {d.get('instanceId')!r}"
    if e.kind in ("taskCompleted", "subOrchestrationInstanceCompleted"):
        return f"{label(e)} #{d.get('taskScheduledId')} → {short(d.get('result'), 60)}"
    if e.kind in ("taskFailed", "subOrchestrationInstanceFailed"):
        return f"{label(e)} #{d.get('taskScheduledId')}: {failure_text(d.get('failureDetails'))}"
    if e.kind == "timerFired":
        return f"TimerFired #{d.get('timerId')}"
    if e.kind == "eventRaised":
        return f"EventRaised {name!r} {short(d.get('input'), 50)}"
    if e.kind == "executionCompleted":
        status = status_name(d.get("orchestrationStatus"))
        if status == "FAILED":
            return f"ExecutionCompleted FAILED: {failure_text(d.get('failureDetails'))}"
        return f"ExecutionCompleted {status} → {short(d.get('result'), 60)}"
    if e.kind == "orchestratorStarted" and e.time is not None:
        return f"OrchestratorStarted at {e.time.isoformat()}"
    return label(e)


def failure_text(details: Any) -> str:
    if not isinstance(details, dict):
        return "(no details)"
    etype = str(details.get("errorType") or "Error").rsplit(".", 1)[-1]
    return f"{etype}: {details.get('errorMessage', '')}"


__all__ = ["COMMANDS", "DtEvent", "DtHistory", "decode_bytes", "describe", "form_of", "label", "load"]
