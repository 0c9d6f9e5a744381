"""Temporal history JSON read as data: event types in either spelling, int64 ids given as
strings, base64 JSON payloads decoded for people, one line per event.

Works on the parsed JSON of an export (``temporal workflow show -o json`` or
``WorkflowHistory.to_json()``) and imports nothing of temporalio, so collection, reports and
timelines stay cheap and never run anything a history names.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...report.text import json_kind, short_duration, short_json

_ENUM_PREFIX = "EVENT_TYPE_"


def event_type(raw: Any) -> str:
    """``EVENT_TYPE_ACTIVITY_TASK_SCHEDULED`` or ``ActivityTaskScheduled`` → ``ActivityTaskScheduled``."""
    if not isinstance(raw, str):
        return ""
    if raw.startswith(_ENUM_PREFIX):
        return "".join(part.capitalize() for part in raw[len(_ENUM_PREFIX) :].split("_"))
    return raw


def attributes_key(pascal: str) -> str:
    """``ActivityTaskScheduled`` → ``activityTaskScheduledEventAttributes``."""
    return pascal[:1].lower() + pascal[1:] + "EventAttributes"


def as_int(value: Any) -> int | None:
    """int64 fields arrive as strings in proto JSON."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class TEvent:
    """One history event: id, type (PascalCase) and its attributes object."""

    id: int
    type: str
    attrs: dict[str, Any]


def events_of(doc: dict[str, Any]) -> list[TEvent]:
    out: list[TEvent] = []
    for raw in doc.get("events") or []:
        if not isinstance(raw, dict):
            continue
        etype = event_type(raw.get("eventType"))
        attrs = raw.get(attributes_key(etype)) if etype else None
        if not isinstance(attrs, dict):  # find it by suffix (an unknown or missing eventType)
            attrs = next((v for k, v in raw.items() if k.endswith("EventAttributes") and isinstance(v, dict)), {})
        out.append(TEvent(as_int(raw.get("eventId")) or len(out) + 1, etype, attrs))
    return out


# ---------------------------------------------------------------- values temporalio can read
#: deeper than this, temporalio's deepcopy of a history (and protobuf) run out of stack
MAX_DEPTH = 200
_INT64 = 2**63


def _unprintable_text(text: str) -> bool:
    """A lone surrogate (no encoder writes it; protobuf fails with a SystemError on one in a key)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def bad_value(doc: Any) -> tuple[str, str] | None:
    """(where, why) for the first value of a Temporal export that temporalio cannot be handed
    safely, else None: an event that is not an object, a payload's metadata that is not an
    object, nesting deeper than :data:`MAX_DEPTH`, a lone surrogate in a key or string, a
    number beyond int64. Iterative, so the check itself never runs out of stack."""
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        return None
    for index, event in enumerate(events):
        where = f"event {index + 1}"
        if not isinstance(event, dict):
            return where, f"is {json_kind(event)}; every event of a history is an object"
        stack: list[tuple[Any, str, int]] = [(event, "", 1)]
        while stack:
            node, path, depth = stack.pop()
            if depth > MAX_DEPTH:
                shown = path if len(path) <= 80 else path[:80] + "…"
                return where, f"{shown or 'the event'} nests lists and objects more than {MAX_DEPTH} levels deep"
            if isinstance(node, dict):
                if "metadata" in node and "data" in node and not isinstance(node["metadata"], dict):
                    return where, f"{path}.metadata is {json_kind(node['metadata'])}; a payload's metadata is an object"
                for key, value in node.items():
                    if _unprintable_text(key):
                        return where, f"{path or 'the event'} has a key with a lone surrogate ({key[:40]!r})"
                    stack.append((value, f"{path}.{key}" if path else key, depth + 1))
            elif isinstance(node, list):
                stack.extend((value, f"{path}[{i}]", depth + 1) for i, value in enumerate(node))
            elif isinstance(node, str):
                if _unprintable_text(node):
                    return where, f"{path} holds a lone surrogate, which no JSON writer produces"
            elif isinstance(node, int) and not isinstance(node, bool) and not -_INT64 <= node < 2 * _INT64:
                return where, f"{path} is a number of {len(str(abs(node))):,} digits, beyond any Temporal field"
    return None


# ---------------------------------------------------------------- payloads
class Undecodable(str):
    """A payload we cannot show as JSON (binary, protobuf, encrypted by a codec)."""


def _b64(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def decode_payload(payload: Any) -> Any:
    """A JSON value, or an :class:`Undecodable` naming the encoding."""
    if not isinstance(payload, dict):
        return Undecodable("<not a payload>")
    meta = payload.get("metadata") or {}
    encoding = (_b64(meta.get("encoding")) or b"").decode("utf-8", "replace")
    data = _b64(payload.get("data", "")) if payload.get("data") is not None else b""
    if encoding == "binary/null":
        return None
    if encoding == "json/plain" and data is not None:
        try:
            return json.loads(data)
        except ValueError:
            pass
    return Undecodable(f"<{encoding or 'unknown'} payload>")


def decode_payloads(container: Any) -> list[Any]:
    """``{"payloads": [...]}`` → decoded values (an empty list when absent)."""
    if not isinstance(container, dict):
        return []
    return [decode_payload(p) for p in container.get("payloads") or []]


def is_decoded_payload(payload: Any) -> bool:
    """True for a payload a Web UI "decoded" download wrote out: a bare value, or one whose
    ``data``/``metadata.encoding`` are not base64."""
    if not isinstance(payload, dict) or not {"metadata", "data"} >= set(payload):
        return True
    enc = (payload.get("metadata") or {}).get("encoding")
    if enc is not None and _b64(enc) is None:
        return True
    return payload.get("data") is not None and _b64(payload.get("data")) is None


def show(value: Any, limit: int = 60) -> str:
    return str(value) if isinstance(value, Undecodable) else short_json(value, limit)


def args_text(values: Sequence[Any]) -> str:
    return ", ".join(show(v) for v in values)


# ---------------------------------------------------------------- durations
_DURATION = re.compile(r"^(-?\d+(?:\.\d+)?)s$")


def seconds(text: Any) -> float | None:
    """Proto JSON duration ``"1.500s"`` → 1.5."""
    m = _DURATION.match(text) if isinstance(text, str) else None
    return float(m.group(1)) if m else None


def show_duration(s: float | None) -> str:
    return "?" if s is None else short_duration(s)


# ---------------------------------------------------------------- one line per event
def patch_of(e: TEvent) -> tuple[str, bool] | None:
    """(patch id, deprecated) for a ``core_patch`` marker."""
    if e.type != "MarkerRecorded" or e.attrs.get("markerName") != "core_patch":
        return None
    details = e.attrs.get("details") or {}
    data = details.get("patch-data") or details.get("patch_data") or {}
    values = decode_payloads(data)
    if values and isinstance(values[0], dict):
        return str(values[0].get("id")), bool(values[0].get("deprecated"))
    return "?", False


def local_activity_of(e: TEvent) -> str | None:
    """The activity type a ``core_local_activity`` marker recorded (a local activity that ran);
    "?" when its data cannot be read; None for any other event."""
    if e.type != "MarkerRecorded" or e.attrs.get("markerName") != "core_local_activity":
        return None
    values = decode_payloads((e.attrs.get("details") or {}).get("data"))
    name = values[0].get("activity_type") if values and isinstance(values[0], dict) else None
    return name if isinstance(name, str) else "?"


def describe(e: TEvent) -> str:
    """One readable line: the type and what matters, payloads decoded."""
    a, t = e.attrs, e.type
    if t == "WorkflowExecutionStarted":
        return f"{t} {(a.get('workflowType') or {}).get('name')}({args_text(decode_payloads(a.get('input')))})"
    if t == "ActivityTaskScheduled":
        return f"{t} {(a.get('activityType') or {}).get('name')}({args_text(decode_payloads(a.get('input')))})"
    if t == "ActivityTaskCompleted":
        return f"{t} → {args_text(decode_payloads(a.get('result')))}"
    if t in ("ActivityTaskFailed", "WorkflowExecutionFailed", "ChildWorkflowExecutionFailed"):
        f = a.get("failure") or {}
        return f"{t} {f.get('message', '')}"
    if t == "WorkflowTaskFailed":
        f = a.get("failure") or {}
        kind = (f.get("applicationFailureInfo") or {}).get("type") or a.get("cause", "")
        return f"{t} {kind}: {f.get('message', '')}".rstrip(": ")
    if t == "TimerStarted":
        return f"{t} timer {a.get('timerId')} for {show_duration(seconds(a.get('startToFireTimeout')))}"
    if t in ("TimerFired", "TimerCanceled"):
        return f"{t} timer {a.get('timerId')}"
    if t == "StartChildWorkflowExecutionInitiated":
        return (
            f"{t} {(a.get('workflowType') or {}).get('name')}({args_text(decode_payloads(a.get('input')))}) "
            f"id={a.get('workflowId')}"
        )
    if t in ("ChildWorkflowExecutionStarted", "ChildWorkflowExecutionCompleted"):
        wid = (a.get("workflowExecution") or {}).get("workflowId")
        res = f" → {args_text(decode_payloads(a.get('result')))}" if "result" in a else ""
        return f"{t} id={wid}{res}"
    if t == "MarkerRecorded":
        p = patch_of(e)
        if p:
            return f"{t} patch {p[0]!r}" + (" (deprecated)" if p[1] else "")
        local = local_activity_of(e)
        if local is not None:
            return f"{t} local activity {local}"
        return f"{t} {a.get('markerName')}"
    if t == "WorkflowExecutionSignaled":
        values = decode_payloads(a.get("input"))
        return f"{t} {a.get('signalName')!r}" + (f" {args_text(values)}" if values else "")
    if t == "WorkflowExecutionCompleted":
        return f"{t} → {args_text(decode_payloads(a.get('result')))}"
    if t == "SignalExternalWorkflowExecutionInitiated":
        wid = (a.get("workflowExecution") or {}).get("workflowId")
        return f"{t} {a.get('signalName')!r} to {wid}"
    if t == "WorkflowTaskScheduled" and (as_int(a.get("attempt")) or 1) > 1:
        return f"{t} attempt {a.get('attempt')}"
    return t or "(unknown event)"
