"""Temporal verdicts in replaytest's report shapes: a :class:`TemporalDivergence` (the
native Divergence plus temporalio's own message, shown last, and earlier warnings) and a
:class:`TemporalTaskError` for workflow code that raised."""

from __future__ import annotations

import linecache
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from ...core.frames import source_at, user_tb_frames
from ...core.tasks import trailing_task_failures
from ...report.divergence import KINDS, Divergence, WorkflowTaskError, timeline
from ...report.render import workflow_task_report
from ...report.source import Source
from ...report.text import safe
from .events import TEvent, describe

Frame = tuple[str, int, str]

#: Temporal-only kinds, on top of the native ones
TEMPORAL_KINDS: dict[str, tuple[str, str]] = {
    "child_workflow": (
        "a different child workflow id",
        "keep the recorded child workflow id for workflows in "
        "flight (ids often derive from workflow input or workflow.info()), or guard the change with "
        "workflow.patched()",
    ),
    "patch": (
        "a patch marker mismatch",
        "history and code disagree about a workflow.patched() call: keep every "
        "patched() call that histories in flight recorded, and retire one with workflow.deprecate_patch() "
        "once no such history is running",
    ),
    "local_activity": (
        "an activity switched between local and scheduled",
        "workflows in flight recorded this step the other way (workflow.execute_activity records "
        "ActivityTaskScheduled, workflow.execute_local_activity a MarkerRecorded); keep the recorded call for "
        "them, or guard the change with workflow.patched() so that only new workflows take it",
    ),
    "activity_args": (
        "different activity arguments",
        "Temporal does not check activity inputs, so workflows in "
        "flight would take the new values; if that is intended run with --replay-args=warn, "
        "otherwise restore them or guard the change with workflow.patched()",
    ),
    "timer_duration": (
        "a different timer duration",
        "Temporal keeps the recorded duration for timers already "
        "started; if that is intended run with --replay-args=warn, otherwise guard the change with "
        "workflow.patched()",
    ),
}

_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


def temporal_message(error: BaseException | None) -> str:
    """The readable part of temporalio's failure text (Core wraps it in a Rust debug dump)."""
    text = str(error or "")
    m = _CORE_MESSAGE.search(text)
    return m.group(1).replace('\\"', '"') if m else text.strip()


def source_of(frame: Frame | None) -> Source | None:
    if frame is None:
        return None
    src = source_at(*frame)
    return Source(src.file, src.line, src.function, linecache.getline(frame[0], frame[1]).strip(), src.path)


def with_code(src: Source | None) -> Source | None:
    """``src`` with its line of code (for a place found by parsing, not from a frame)."""
    if src is None or not src.path or src.code:
        return src
    return Source(src.file, src.line, src.function, linecache.getline(src.path, src.line).strip(), src.path)


def event_timeline(events: Sequence[TEvent], around: int | None, mark: str) -> list[str]:
    return timeline([(e.id, describe(e)) for e in events], around, mark)


@dataclass
class TemporalDivergence(Divergence):
    original: str = ""  # temporalio's message, shown last

    kinds: ClassVar[Mapping[str, tuple[str, str]]] = {**KINDS, **TEMPORAL_KINDS}

    def message(self) -> str:
        base = super().message()  # already escaped, one line per field
        return base + (f"\n{safe(f'  temporalio: {self.original}')}" if self.original else "")


class TemporalTaskError(WorkflowTaskError):
    """Workflow code raised while replaying a Temporal history: the workflow task fails (and
    Temporal would retry it forever). The shared workflow-task report with Temporal's notes;
    ``str()`` is the whole report."""

    def __init__(
        self,
        workflow_id: str,
        workflow_type: str,
        error: BaseException,
        task: int | None,
        events: Sequence[TEvent],
        history_source: str,
        original: str = "",
        warnings: Sequence[str] = (),
    ) -> None:
        frames = user_tb_frames(error)
        last = frames[-1] if frames else None
        source = source_of((last.filename, last.lineno or 0, last.name)) if last else None
        super().__init__(workflow_id, error, source, {"type": type(error).__name__, "message": str(error)}, frames)
        self.event_id = task
        self.workflow_type = workflow_type
        self.warnings = list(warnings)
        self.history_source = history_source
        self.whole_report = True
        if task:
            kind = next((e.type for e in events if e.id == task), None)
            self.task_place = (
                f" in the workflow task started at history event {task}"
                if kind == "WorkflowTaskStarted"
                else f" in the workflow task retried after history event {task}"
            )
            self.timeline = event_timeline(events, task, "raised in this workflow task")
        if type(error).__name__ == "RestrictedWorkflowAccessError":
            self.hints.append(
                "Temporal's workflow sandbox forbids this call in workflow code: use workflow.now(), "
                "workflow.random() or workflow.uuid4(), or move the work into an activity."
            )
        self.history_note = _history_note(events, task)
        if original:
            self.platform_message = ("temporalio", original)

    def __str__(self) -> str:
        return workflow_task_report(self)


def _history_note(events: Sequence[TEvent], task: int | None) -> str:
    """What history recorded about the task that now raises."""
    failed = trailing_task_failures(events)
    last_task = max((e.id for e in events if e.type == "WorkflowTaskStarted"), default=0)
    if failed and (task is None or task >= failed[-1].id - 1 or task == last_task):
        f = failed[-1].attrs.get("failure") or {}
        ftype = (f.get("applicationFailureInfo") or {}).get("type", "")
        return (
            f"history ends in {len(failed)} failed workflow task(s), last recorded as "
            f"{ftype + ': ' if ftype else ''}{f.get('message', '')}; the current code still raises. "
            "Temporal retries this task until the code is fixed: fix it and replay again, a fixed "
            "version lets the workflow go on."
        )
    return "history recorded this workflow task as completed: the current code raises where the recorded code did not."
