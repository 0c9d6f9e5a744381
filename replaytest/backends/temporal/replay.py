"""Replay one Temporal history with the user's temporalio workflows and turn temporalio's
verdict into replaytest's: a ReplayResult, or a NondeterminismError / TemporalTaskError /
UnknownWorkflowError / HistoryFormatError with the full report.

Imports temporalio: only loaded once a Temporal history is replayed.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Sequence

import temporalio.converter
import temporalio.workflow
from temporalio.api.enums.v1 import EventType
from google.protobuf import json_format
from temporalio.client import WorkflowHistory

from replaytest.divergence import NondeterminismError
from replaytest.history import HistoryFormatError
from replaytest.replay import ReplayResult, UnknownWorkflowError
from replaytest.sources import display_path

from . import EXPORTS, Entry, history_at, problem, workflow_id_of, workflow_type_of
from .capture import Capture, take
from .compare import Finding, compare
from .events import TEvent, Undecodable, decode_payloads, events_of, timeline
from .report import TemporalDivergence, TemporalTaskError, source_of, temporal_message
from .runner import close_all, worker_for
from .settings import ReplaySettings

_ARG_KINDS = ("activity_args", "timer_duration")
_KNOWN_TYPES = {"".join(p.capitalize() for p in k[len("EVENT_TYPE_"):].split("_")) for k in EventType.keys()} - {""}


@contextlib.contextmanager
def session(settings: ReplaySettings) -> Iterator[None]:
    """Nothing to start up front (the worker starts with the first history); stop the
    replay workers at the end. Never our freezegun sandbox: temporalio has its own."""
    try:
        yield
    finally:
        close_all()


def workflow_classes(modules: Sequence[ModuleType]) -> dict[str, type]:
    """``@workflow.defn`` classes of ``modules`` by workflow type name (first one wins)."""
    found: dict[str, type] = {}
    for module in modules:
        for value in list(vars(module).values()):
            if isinstance(value, type):
                defn = temporalio.workflow._Definition.from_class(value)
                if defn is not None and defn.name is not None:
                    found.setdefault(defn.name, value)
    return found


_converter = temporalio.converter.DataConverter.default.payload_converter


def to_json(args: Sequence[Any]) -> list[Any]:
    """Python values as the default converter writes them, read back as JSON."""
    out: list[Any] = []
    try:
        payloads = _converter.to_payloads(list(args))
    except Exception:
        return [Undecodable("<unconvertible>") for _ in args]
    for p in payloads:
        if p.metadata.get("encoding") == b"json/plain":
            out.append(json.loads(p.data))
        elif p.metadata.get("encoding") == b"binary/null":
            out.append(None)
        else:
            out.append(Undecodable(f"<{p.metadata.get('encoding', b'').decode(errors='replace')} payload>"))
    return out


def _source_name(entry: Entry, count: int) -> str:
    name = display_path(str(entry.path))
    return f"{name}[{entry.index}]" if count > 1 else name


_STATUS = {"WorkflowExecutionCompleted": "completed", "WorkflowExecutionFailed": "failed",
           "WorkflowExecutionContinuedAsNew": "continued_as_new", "WorkflowExecutionTerminated": "terminated",
           "WorkflowExecutionTimedOut": "timed_out", "WorkflowExecutionCanceled": "canceled"}


def replay(entry: Entry, doc: Any, settings: ReplaySettings) -> ReplayResult:
    history_doc = history_at(doc, entry.index)
    count = len(doc) if isinstance(doc, list) else 1
    source = _source_name(entry, count)
    why = problem(history_doc)
    if why:
        raise HistoryFormatError(source, "", why)
    workflow_id = workflow_id_of(history_doc, Path(entry.path), entry.index, count)
    workflow_type = workflow_type_of(history_doc) or "?"
    workflows = workflow_classes(settings.modules)
    if workflow_type not in workflows:
        known = ", ".join(sorted(workflows)) or "none"
        searched = ", ".join(settings.module_names) or "no modules given"
        raise UnknownWorkflowError(
            f"{source}: Temporal workflow type {workflow_type!r} is not registered (registered @workflow.defn "
            f"classes: {known}; searched: {searched}); pass the module that defines it with --replay-module")
    events = events_of(history_doc)
    for e in events:
        if e.type not in _KNOWN_TYPES:
            raise HistoryFormatError(source, f"event {e.id}", f"unknown event type {e.type or '(none)'!r}; {EXPORTS}")
    try:
        history = WorkflowHistory.from_json(workflow_id, json.dumps(history_doc))
    except (ValueError, json_format.ParseError) as e:
        raise HistoryFormatError(source, "", f"temporalio cannot read this history ({e}); {EXPORTS}") from None
    worker = worker_for(list(workflows.values()), sandboxed=settings.sandbox != "off")
    outcome = worker.replay(history)
    capture = take(workflow_id) or Capture(workflow_id)
    return _verdict(outcome.replay_failure, capture, events, settings, workflow_id, workflow_type, source)


def _verdict(failure: BaseException | None, capture: Capture, events: list[TEvent], settings: ReplaySettings,
             workflow_id: str, workflow_type: str, source: str) -> ReplayResult:
    check_args = settings.args_mismatch == "error"
    finding, arg_findings = compare(events, capture.issued, to_json, check_args)
    warnings = [] if settings.args_mismatch == "ignore" else [_warning(f) for f in arg_findings]
    original = temporal_message(failure) if failure is not None else ""
    if isinstance(failure, temporalio.workflow.NondeterminismError):
        raise NondeterminismError(_divergence(finding, failure, events, workflow_id, workflow_type, source, warnings))
    if failure is not None and capture.error is None and original.startswith("Fatal error"):
        raise HistoryFormatError(source, "", f"temporalio cannot replay this history: {_short(original)}")
    if failure is not None or capture.error is not None:
        error = capture.error or RuntimeError(original)
        if failure is None:
            original = "replay reported success: temporalio only logs a failure in a history's last workflow task"
        raise TemporalTaskError(workflow_id, workflow_type, error, capture.error_task, events, source, original)
    if finding is not None and finding.kind in _ARG_KINDS:  # --replay-args=error
        raise NondeterminismError(_divergence(finding, None, events, workflow_id, workflow_type, source, warnings))
    last = events[-1] if events else None
    status = _STATUS.get(last.type, "running") if last else "running"
    output: Any = None
    if last is not None and status == "completed":
        values = decode_payloads(last.attrs.get("result"))
        output = values[0] if len(values) == 1 else values or None
    elif last is not None and status == "failed":
        output = last.attrs.get("failure")
    return ReplayResult(workflow_id, workflow_type, status, output, len(events), warnings)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _warning(f: Finding) -> str:
    what = "activity arguments differ" if f.kind == "activity_args" else "timer duration differs"
    where = f" at {source_of(f.issued_cmd.frame)}" if f.issued_cmd is not None and f.issued_cmd.frame else ""
    event = f"history event {f.event.id}" if f.event else "history"
    return f"{what} from {event}: recorded {f.recorded}, code issued {f.issued}{where}"


def _divergence(f: Finding | None, failure: BaseException | None, events: list[TEvent], workflow_id: str,
                workflow_type: str, source: str, warnings: list[str]) -> TemporalDivergence:
    original = temporal_message(failure) if failure is not None else ""
    if f is None:  # temporalio saw something our comparison did not: say what it said, where
        event_id = _event_id_in(original)
        event = next((e for e in events if e.id == event_id), None)
        return TemporalDivergence(
            "command", workflow_id, workflow_type, event_id, event.type if event else None, None, None, None,
            detail="see temporalio's message below", matched=max(0, (event_id or 1) - 1),
            timeline=_timeline(events, event_id), history_source=source, original=original, warnings=warnings)
    event_id = f.event.id if f.event else None
    frame = f.issued_cmd.frame if f.issued_cmd is not None else None
    return TemporalDivergence(
        f.kind, workflow_id, workflow_type, event_id, f.event.type if f.event else None, f.recorded, f.issued,
        source_of(frame), detail=f.detail, matched=f.matched, timeline=_timeline(events, event_id),
        history_source=source, original=original, warnings=warnings)


def _event_id_in(message: str) -> int | None:
    m = re.search(r"HistoryEvent\(id: (\d+)", message)
    return int(m.group(1)) if m else None


def _timeline(events: list[TEvent], event_id: int | None) -> list[str]:
    return timeline(events, event_id, "diverges here")
