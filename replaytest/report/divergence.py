"""Nondeterminism reports: what history recorded, what the code did, and where.

A report is built from structured fields (:class:`Divergence`) so that tools — the pytest
plugin, the debugger, a CI annotation — can use the pieces, and its message reads like a
person explaining the problem rather than a debug dump. Nothing here knows a history format:
a backend hands over events it has already described in one line each.
"""

from __future__ import annotations

import linecache
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..definitions import ReplaytestError
from .source import Source
from .text import raised, safe, safe_lines

#: kind → (short title, what to do about it)
KINDS: dict[str, tuple[str, str]] = {
    "activity_type": (
        "a different activity",
        'restore the recorded call, or guard the change with `if workflow.patched("my-change"):` so histories already in flight keep the old path',
    ),
    "activity_args": (
        "different activity arguments",
        'if the new arguments are an intended hotfix, accept them with `pytest --replay-args=warn`, `replaytest replay --args warn` or replay(args_mismatch="warn"); otherwise restore them or guard the change with workflow.patched()',
    ),
    "timer_duration": (
        "a different timer duration",
        "keep the recorded duration for workflows in flight, or guard the change with workflow.patched()",
    ),
    "order": (
        "commands in a different order",
        "keep the recorded order, or guard the reordering with workflow.patched()",
    ),
    "command": ("a different command", "restore the recorded step, or guard the change with workflow.patched()"),
    "extra": (
        "a command the history does not have",
        "the code now does something new where history continued differently; guard the new step with workflow.patched()",
    ),
    "missing": (
        "a recorded command the code no longer issues",
        "restore the step where history recorded it, or guard the removal or move with workflow.patched()",
    ),
    "signal_name": (
        "a different signal waited on",
        "the code waits for a signal name that history never delivered; restore the recorded name",
    ),
    "result": (
        "a different workflow result",
        "the code now returns something else than it did; if intended, guard the change with workflow.patched()",
    ),
    "patch": (
        "a patch marker mismatch",
        "history and code disagree about a workflow.patched() marker; keep every patched() call that histories in flight recorded (use workflow.deprecate_patch() to retire one)",
    ),
    "side_effect": (
        "a side effect the code no longer asks for",
        "history recorded a workflow.side_effect() value at this point; restore the side_effect call or guard the change with workflow.patched()",
    ),
}


@dataclass
class Divergence:
    kind: str
    workflow_id: str
    workflow_type: str
    event_id: int | None  # the history event where code and history part ways
    event_type: str | None
    recorded: str | None  # one line: what history recorded
    issued: str | None  # one line: what the code did instead
    source: Source | None = None  # workflow source line of the divergent await
    detail: str = ""
    matched: int = 0  # events before event_id that matched
    timeline: list[str] = field(default_factory=list)
    history_source: str = ""
    warnings: list[str] = field(default_factory=list)  # collected before the divergence (warn modes)
    notes: list[str] = field(default_factory=list)  # what else the reader should know (which module replayed)

    #: kind → (title, advice); a backend's subclass names its platform's kinds in its own words
    kinds: ClassVar[Mapping[str, tuple[str, str]]] = KINDS

    @property
    def title(self) -> str:
        return self.kinds.get(self.kind, (self.kind, ""))[0]

    @property
    def advice(self) -> str:
        return self.kinds.get(self.kind, ("", ""))[1]

    def message(self) -> str:
        at = f"at history event {self.event_id}" if self.event_id else "after the last history event"
        lines = [f"Nondeterminism in workflow {self.workflow_id} ({self.workflow_type}) {at}: {self.title}"]
        lines.append(f"  history recorded: {self.recorded or '(nothing more)'}")
        lines.append(f"  code issued:      {self.issued or '(nothing: the code is waiting)'}")
        if self.detail:
            lines.append(f"  {self.detail}")
        lines.extend(f"  note: {note}" for note in self.notes)
        if self.warnings:
            lines.append("  warnings before the divergence:")
            lines.extend(f"    {w}" for w in self.warnings)
        if self.history_source and not self.history_source.startswith("<"):
            lines.append(f"  history file: {self.history_source}")
        if self.source:
            lines.append(f"  at {self.source}")
            code = self.source.code or linecache.getline(self.source.path or self.source.file, self.source.line).strip()
            if code:
                lines.append(f"      {code}")
        if self.timeline:
            upto = f"events 1–{self.matched} matched; " if self.matched else ""
            lines.append(f"  {upto}timeline around the divergence:")
            lines.extend("    " + t for t in self.timeline)
        if self.advice:
            lines.append(f"  What to do: {self.advice}.")
        return safe_lines(lines)  # ids, payloads and notes come from the history: one line each

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "workflow_id": self.workflow_id,
            "workflow_type": self.workflow_type,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "recorded": self.recorded,
            "issued": self.issued,
            "source": self.source.to_dict() if self.source else None,
            "detail": self.detail,
            "history": self.history_source,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }


class Verdict(Exception):
    """What a replay found wrong with the history or the code, for the user to read as a report
    (never a traceback): every backend raises one of the subclasses below."""


class NondeterminismError(Verdict):
    """Workflow code no longer matches its history. Raised inside the workflow coroutine at
    the divergent ``await``, so tracebacks and debuggers land on the user's line. The report's
    fields are on :attr:`divergence` (and, read-only, on the error itself)."""

    def __init__(self, divergence: Divergence) -> None:
        self.divergence = divergence
        super().__init__(divergence.message())

    def __str__(self) -> str:  # the report as it is now: a backend may add notes after raising
        return self.divergence.message()

    @property
    def kind(self) -> str:
        return self.divergence.kind

    @property
    def workflow_id(self) -> str:
        return self.divergence.workflow_id

    @property
    def workflow_type(self) -> str:
        return self.divergence.workflow_type

    @property
    def event_id(self) -> int | None:
        return self.divergence.event_id

    @property
    def event_type(self) -> str | None:
        return self.divergence.event_type

    @property
    def recorded(self) -> str | None:
        return self.divergence.recorded

    @property
    def issued(self) -> str | None:
        return self.divergence.issued

    @property
    def source(self) -> Source | None:
        return self.divergence.source

    @property
    def detail(self) -> str:
        return self.divergence.detail

    @property
    def matched(self) -> int:
        return self.divergence.matched

    @property
    def timeline(self) -> list[str]:
        return self.divergence.timeline

    @property
    def history_source(self) -> str:
        return self.divergence.history_source

    @property
    def warnings(self) -> list[str]:
        return self.divergence.warnings

    @property
    def notes(self) -> list[str]:
        return self.divergence.notes

    def message(self) -> str:
        return self.divergence.message()

    def to_dict(self) -> dict[str, Any]:
        return self.divergence.to_dict()


class WorkflowTaskError(Verdict):
    """Workflow code raised (not an ApplicationError): the workflow *task* fails and is
    retried; the workflow itself goes on once the code is fixed.

    A backend tells the shared report (``report.render.workflow_task_report``) what it knows
    by setting the fields below; it never writes a report of its own."""

    def __init__(
        self,
        workflow_id: str,
        error: BaseException,
        source: Source | None,
        failure: dict[str, Any],
        frames: Sequence[traceback.FrameSummary] = (),
    ) -> None:
        self.workflow_id, self.error, self.source, self.failure = workflow_id, error, source, failure
        self.frames = list(frames)  # the user's frames of the traceback, outermost first
        self.event_id: int | None = None  # the WorkflowTaskStarted of the task that raised, when replaying
        self.workflow_type: str | None = None  # when the backend knows it (else the caller's)
        self.task_place = ""  # where in history the task is, e.g. " in the workflow task started at history event 5"
        self.hints: list[str] = []  # what the platform says about this kind of error, one line each
        self.history_note = ""  # what history recorded about this task, for the report
        self.notes: list[str] = []  # what else the reader should know (which module replayed)
        self.warnings: list[str] = []  # collected before it raised (warn modes)
        self.history_source = ""  # the history file, when the report should name it
        self.timeline: list[str] = []  # events around the task, one line each
        self.platform_message: tuple[str, str] | None = None  # (platform, its own message), shown last
        self.whole_report = False  # the CLI prints the whole report, not the one-line summary
        where = f" at {source}" if source else ""
        super().__init__(safe(f"workflow {workflow_id}: workflow code raised {raised(error)}{where}"))


class UnknownWorkflowError(ReplaytestError, Verdict):
    """The history's workflow type is not among the registered workflows."""


class UnsupportedOption(ReplaytestError):
    """An option that makes no sense for this history's backend: refused, never ignored."""


class ReplayTimeout(ReplaytestError):
    """A replay that did not finish within the run's limit (``--timeout`` / ``--replay-timeout``):
    that history fails, the run goes on with the next one."""


class InternalError(RuntimeError):
    """A bug in replaytest or a backend (not a verdict about the history or the code): reported
    as one line that asks for a bug report with the history file."""


def timeline(
    events: Sequence[tuple[int, str]], around: int | None, mark: str = "", before: int = 6, after: int = 3
) -> list[str]:
    """A few events around ``around`` (an event id), one line each, the divergent one marked.
    ``events`` are (event id, one-line description) pairs, ids 1..N in order."""
    if not events:
        return []
    center = around if around is not None else events[-1][0] + 1
    lo, hi = max(1, center - before), min(len(events), center + after)
    out = []
    for eid, text in events[lo - 1 : hi]:
        arrow = "→" if eid == around else " "
        note = f"   ← {mark}" if eid == around and mark else ""
        out.append(f"{arrow} {eid:>4}  {text}{note}")
    if around is None:
        out.append(f"→ {center:>4}  (end of history)   ← {mark}" if mark else f"  {center:>4}  (end of history)")
    return out
