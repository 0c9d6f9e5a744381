"""Replay one Temporal history with the user's temporalio workflows and turn temporalio's
verdict into replaytest's: a ReplayResult, or a NondeterminismError / TemporalTaskError /
UnknownWorkflowError / HistoryFormatError with the full report.

Imports temporalio: only loaded once a Temporal history is replayed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import temporalio.converter
import temporalio.workflow
from google.protobuf import json_format
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from ...core.frames import RAN_OFF_END, RETURNED, exit_source
from ...history import HistoryFormatError
from ...modes import ArgsMode, SandboxMode
from ...report.divergence import NondeterminismError, ReplayTimeout, UnsupportedOption
from ...report.result import ReplayResult
from ...report.source import Source
from .. import Document, Entry, ReplaySettings
from . import DECODED, EXPORTS, decoded_payload_event, history_at, problem, workflow_id_of, workflow_type_of
from .capture import Capture, Frame, Issued, arm, disarm, take
from .compare import Finding, compare
from .events import TEvent, Undecodable, bad_value, decode_payloads, event_type, events_of
from .registry import resolve
from .report import TemporalDivergence, TemporalTaskError, event_timeline, source_of, temporal_message, with_code
from .runner import Pending, Stuck, worker_for

_ARG_KINDS = ("activity_args", "timer_duration")
_KNOWN_TYPES = {event_type(k) for k in EventType.keys()} - {""}


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


_STATUS = {
    "WorkflowExecutionCompleted": "completed",
    "WorkflowExecutionFailed": "failed",
    "WorkflowExecutionContinuedAsNew": "continued_as_new",
    "WorkflowExecutionTerminated": "terminated",
    "WorkflowExecutionTimedOut": "timed_out",
    "WorkflowExecutionCanceled": "canceled",
}


def args_mode(settings: ReplaySettings) -> ArgsMode:
    """Temporal tolerates changed activity inputs and timer durations: warn unless told."""
    return settings.args_mismatch or ArgsMode.WARN


@dataclass
class _Started:
    """A history handed to the replay worker: what its verdict needs, and its future."""

    source: str
    workflow_id: str
    workflow_type: str
    events: list[TEvent]
    future: Pending
    plan: Any = None


def check(history_doc: Any, source: str, workflow_id: str = "") -> tuple[list[TEvent], WorkflowHistory]:
    """The events and temporalio's parse of one history, or a one-line HistoryFormatError."""
    if stop := bad_value(history_doc):
        raise HistoryFormatError(source, stop[0], f"{stop[1]}; {EXPORTS}")
    why = problem(history_doc)
    if why:
        raise HistoryFormatError(source, "", why)
    events = events_of(history_doc)
    for e in events:
        if e.type not in _KNOWN_TYPES:
            raise HistoryFormatError(source, f"event {e.id}", f"unknown event type {e.type or '(none)'!r}; {EXPORTS}")
    if stop := unfinishable(events):
        raise HistoryFormatError(source, stop[0], f"{stop[1]}; {EXPORTS}")
    if workflow_type_of(history_doc) is None:
        raise HistoryFormatError(
            source, "event 1", f"the WorkflowExecutionStarted event names no workflow type; {EXPORTS}"
        )
    try:  # the parsed document as it is: no second round of JSON text
        return events, WorkflowHistory.from_json(workflow_id, history_doc)
    except (ValueError, json_format.ParseError, RecursionError, SystemError) as e:
        decoded = decoded_payload_event(history_doc)
        if decoded is not None:  # that is why temporalio cannot read it
            raise HistoryFormatError(source, f"event {decoded}", DECODED) from None
        why = _short(str(e), 300)
        raise HistoryFormatError(source, "", f"temporalio cannot read this history ({why}); {EXPORTS}") from None


#: what may follow a WorkflowTaskStarted (Core's HistoryInfo rule; it panics on anything else)
_AFTER_TASK_STARTED = {
    "WorkflowTaskCompleted",
    "WorkflowTaskFailed",
    "WorkflowTaskTimedOut",
    "WorkflowExecutionTerminated",
    "WorkflowExecutionTimedOut",
}


def unfinishable(events: Sequence[TEvent]) -> tuple[str, str] | None:
    """(where, why) for a history temporalio's Core cannot finish replaying, else None.

    Core checks a history's workflow tasks on a thread of its own before replaying it, and on a
    failed check that thread panics and the replay waits forever (temporalio 1.x). The same
    rules, checked here first, make such a history one clear line instead: a WorkflowTaskStarted
    is followed by the end of the history or by that task's completion, failure or timeout (or
    the workflow's termination or timeout), and no two completed tasks share a started event id.
    A history of its start event alone never wakes the workflow and waits forever too."""
    if len(events) == 1:
        return "event 1", "the history holds only its WorkflowExecutionStarted event: no workflow task ever ran"
    previous = None
    for event, after in zip(events, [*events[1:], None]):
        if event.type != "WorkflowTaskStarted":
            continue
        if after is None or after.type == "WorkflowTaskCompleted":
            if event.id == previous:
                return f"event {event.id}", "two workflow tasks have the same WorkflowTaskStarted event id"
            previous = event.id
        elif after.type not in _AFTER_TASK_STARTED:
            return (
                f"event {after.id} ({after.type or 'no type'})",
                f"follows WorkflowTaskStarted event {event.id}, where only that task's WorkflowTaskCompleted, "
                "WorkflowTaskFailed or WorkflowTaskTimedOut can come: events are missing, duplicated or out of order",
            )
    return None


def validate(doc: Document, display: str) -> None:
    """Every history in ``doc`` can be handed to temporalio (for ``replay --debug``, before it waits)."""
    histories = doc if isinstance(doc, list) else [doc]
    for i, history_doc in enumerate(histories):
        check(history_doc, f"{display}[{i}]" if len(histories) > 1 else display)


def _start(entry: Entry, doc: Document, settings: ReplaySettings, display: str) -> _Started:
    """Check the history and queue it on the replay worker (raising a verdict for a bad one)."""
    history_doc = history_at(doc, entry.index)
    count = len(doc) if isinstance(doc, list) else 1
    source = f"{display}[{entry.index}]" if count > 1 else display
    if settings.sandbox is SandboxMode.WARN:
        raise UnsupportedOption(
            f"{source}: --replay-sandbox=warn does not apply to Temporal histories: temporalio's "
            "sandbox either forbids a call or is off; use --replay-sandbox=strict (the default, "
            "temporalio's sandboxed runner) or off (its unsandboxed runner)"
        )
    workflow_id = workflow_id_of(history_doc, Path(entry.path), entry.index, count)
    events, history = check(history_doc, source, workflow_id)
    workflow_type = workflow_type_of(history_doc) or "?"
    workflows = resolve(history_doc, workflow_type, settings, source)
    plan = None
    observer = settings.observer()
    if observer is not None:  # a debugger is attached: see debugging.py
        from .debugging import DebugPlan

        plan = DebugPlan(observer, events, workflow_id, workflow_type, source, to_json)
        arm(workflow_id, plan)
    worker = worker_for(
        list(workflows.values()), sandboxed=settings.sandbox is not SandboxMode.OFF, debug_mode=plan is not None
    )
    return _Started(source, workflow_id, workflow_type, events, worker.submit(history), plan)


def replay(entry: Entry, doc: Document, settings: ReplaySettings, *, display: str) -> ReplayResult:
    started = _start(entry, doc, settings, display)
    limit = settings.timeout if started.plan is None else None  # no limit while someone debugs
    try:
        outcome, capture = started.future.result(limit)
    except Stuck:
        raise ReplayTimeout(_stuck(started, take(started.workflow_id), limit or 0, settings.timeout_flag)) from None
    finally:
        if started.plan is not None:
            disarm(started.workflow_id)
    try:
        return _verdict(
            outcome.replay_failure,
            capture,
            started.events,
            settings,
            started.workflow_id,
            started.workflow_type,
            started.source,
        )
    except (NondeterminismError, TemporalTaskError, HistoryFormatError) as e:
        decoded = decoded_payload_event(history_at(doc, entry.index))
        if decoded is None:
            raise
        note = f"event {decoded} holds a decoded payload: if that is why, {DECODED}"
        if isinstance(e, HistoryFormatError):
            raise HistoryFormatError(started.source, f"event {decoded}", f"{e.reason}; {DECODED}") from None
        (e.divergence.notes if isinstance(e, NondeterminismError) else e.notes).append(note)
        raise


def _stuck(started: _Started, capture: Capture | None, limit: float, flag: str) -> str:
    """The one line of a replay temporalio did not finish: the file, how far it got, what to do."""
    if capture is not None and capture.last_task:
        event = next((e for e in started.events if e.id == capture.last_task), None)
        where = f"the workflow code last ran in the workflow task at event {capture.last_task}" + (
            f" ({event.type})" if event else ""
        )
    else:
        where = "temporalio never started the workflow code"
    return (
        f"{started.source}: replay did not finish within {limit:g} s ({flag}; {len(started.events)} events in "
        f"the file): {where}; the code is still running (blocked?) or temporalio waits for events the history "
        f"does not have (incomplete, reordered or duplicated events: {EXPORTS})"
    )


def _verdict(
    failure: BaseException | None,
    capture: Capture,
    events: list[TEvent],
    settings: ReplaySettings,
    workflow_id: str,
    workflow_type: str,
    source: str,
) -> ReplayResult:
    mode = args_mode(settings)
    finding, arg_findings = compare(events, capture.issued, to_json, mode is ArgsMode.ERROR)
    warnings = [] if mode is ArgsMode.IGNORE else [_warning(f) for f in arg_findings]
    original = temporal_message(failure) if failure is not None else ""
    if isinstance(failure, temporalio.workflow.NondeterminismError):
        raise NondeterminismError(
            _divergence(finding, original, events, workflow_id, workflow_type, source, warnings, capture.waiting_at)
        )
    if failure is not None and capture.error is None and original.startswith("Fatal error"):
        raise HistoryFormatError(source, "", f"temporalio cannot replay this history: {_short(original)}")
    if failure is not None or capture.error is not None:
        error = capture.error or RuntimeError(original)
        if failure is None:
            original = "replay reported success: temporalio only logs a failure in a history's last workflow task"
        raise TemporalTaskError(
            workflow_id, workflow_type, error, capture.error_task, events, source, original, warnings
        )
    if finding is not None and finding.kind in _ARG_KINDS:  # --replay-args=error
        raise NondeterminismError(
            _divergence(finding, "", events, workflow_id, workflow_type, source, warnings, capture.waiting_at)
        )
    last = events[-1] if events else None
    status = _STATUS.get(last.type, "running") if last else "running"
    output: Any = None
    if last is not None and status == "completed":
        values = decode_payloads(last.attrs.get("result"))
        output = values[0] if len(values) == 1 else values or None
    elif last is not None and status == "failed":  # the shape replaytest's reports print
        f = last.attrs.get("failure") or {}
        output = {
            "type": (f.get("applicationFailureInfo") or {}).get("type") or "Failure",
            "message": f.get("message", ""),
        }
    return ReplayResult(workflow_id, workflow_type, status, output, len(events), warnings)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _warning(f: Finding) -> str:
    what = "activity arguments differ" if f.kind == "activity_args" else "timer duration differs"
    where = f" at {source_of(f.issued_cmd.frame)}" if f.issued_cmd is not None and f.issued_cmd.frame else ""
    event = f"history event {f.event.id}" if f.event else "history"
    return f"{what} from {event}: recorded {f.recorded}, code issued {f.issued}{where}"


def _divergence(
    f: Finding | None,
    original: str,
    events: list[TEvent],
    workflow_id: str,
    workflow_type: str,
    source: str,
    warnings: list[str],
    waiting_at: Frame | None = None,
) -> TemporalDivergence:
    """``original``: temporalio's message ("" when only our comparison found the divergence);
    ``waiting_at``: where the code waited when the replay ended (named when it issued nothing)."""
    if f is None:  # temporalio saw something our comparison did not: say what it said, where
        event_id = _event_id_in(original)
        event = next((e for e in events if e.id == event_id), None)
        where = source_of(waiting_at)
        return TemporalDivergence(
            "command",
            workflow_id,
            workflow_type,
            event_id,
            event.type if event else None,
            None,
            None,
            where,
            detail="see temporalio's message below",
            notes=["the code was waiting at the line below when temporalio stopped it"] if where else [],
            matched=max(0, (event_id or 1) - 1),
            timeline=_timeline(events, event_id),
            history_source=source,
            original=original,
            warnings=warnings,
        )
    event_id = f.event.id if f.event else None
    issued = f.issued_cmd
    where, detail, notes = source_of(issued.frame if issued is not None else None), f.detail, []
    if where is None and issued is not None and issued.kind == "complete":
        where, note = _ended_at(issued)
        if note:
            detail = detail.replace("the code returns here,", "the code returns,")
            notes.append(note)
    elif where is None and issued is None and waiting_at is not None:
        where = source_of(waiting_at)
        notes.append("the code is waiting at the line below")
    return TemporalDivergence(
        f.kind,
        workflow_id,
        workflow_type,
        event_id,
        f.event.type if f.event else None,
        f.recorded,
        f.issued,
        where,
        detail=detail,
        notes=notes,
        matched=f.matched,
        timeline=_timeline(events, event_id),
        history_source=source,
        original=original,
        warnings=warnings,
    )


def _ended_at(issued: Issued) -> tuple[Source | None, str]:
    """Where run() ended, for a completion: (the `return` that ran, ""), else (the last line
    known to have run, a note saying what that line is): never a line that did not run."""
    if issued.ended is not None:
        source, how = exit_source(*issued.ended)
        if how == RETURNED:
            return with_code(source), ""
        if how == RAN_OFF_END:
            return with_code(
                source
            ), "no `return` statement ran: run() ended after the line below, the last line it ran"
        return with_code(source), (
            "the line below is the last line run() ran before it ended; which `return` ended it is not known"
        )
    if issued.after is not None:
        return source_of(issued.after), (
            "the code returned after the line below, the last line known to have run; which `return` ran is not known"
        )
    return None, ""


def _event_id_in(message: str) -> int | None:
    m = re.search(r"HistoryEvent\(id: (\d+)", message)
    return int(m.group(1)) if m else None


def _timeline(events: list[TEvent], event_id: int | None) -> list[str]:
    return event_timeline(events, event_id, "diverges here")
