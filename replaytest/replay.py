"""Replaying a history: feed its workflow tasks to an Execution and match every command.

The same :func:`catch_up` rebuilds a workflow's state in the engine after a crash or on a
new worker, so the engine and the replayer can never disagree about a history.
"""

from __future__ import annotations

import importlib
import json
import linecache
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

from .commands import Command
from .definitions import ReplaytestError, WorkflowDefinition, collect
from .divergence import NondeterminismError, WorkflowTaskError
from .history import COMMAND_EVENTS, OUTCOME_EVENTS, Event, History
from .runtime import Execution
from .sources import blocked_source


class UnknownWorkflowError(ReplaytestError):
    """The history's workflow type is not among the registered workflows."""


@dataclass
class WorkflowTask:
    """One recorded workflow task: the outcomes that woke it and the commands it issued."""

    started: Event
    outcomes: list[Event]
    failed: bool
    commands: list[Event]
    next_event: Event | None   # what history recorded after the commands, if anything


def workflow_tasks(events: Sequence[Event]) -> Iterator[WorkflowTask]:
    """Split a history into workflow tasks. Outcomes that arrived while a task ran belong to
    the next task; a failed task's outcomes are handed to its retry."""
    pending: list[Event] = []
    i, n = 1, len(events)
    while i < n:
        e = events[i]
        if e.type in OUTCOME_EVENTS:
            pending.append(e)
            i += 1
            continue
        if e.type != "WorkflowTaskStarted":
            i += 1
            continue
        j, deferred = i + 1, []
        while j < n and events[j].type not in ("WorkflowTaskCompleted", "WorkflowTaskFailed"):
            if events[j].type in OUTCOME_EVENTS:
                deferred.append(events[j])
            j += 1
        if j == n:  # the worker died while running this task: nothing of it was recorded
            return
        if events[j].type == "WorkflowTaskFailed":
            yield WorkflowTask(e, list(pending), True, [], events[j + 1] if j + 1 < n else None)
            pending.extend(deferred)
            i = j + 1
            continue
        k = j + 1
        while k < n and events[k].type in COMMAND_EVENTS:
            k += 1
        yield WorkflowTask(e, pending, False, list(events[j + 1 : k]), events[k] if k < n else None)
        pending, i = deferred, k


def pending_outcomes(events: Sequence[Event]) -> list[Event]:
    """Outcomes recorded after the last completed workflow task: what the next task gets."""
    last_completed = 0
    for e in events:
        if e.type == "WorkflowTaskCompleted":
            last_completed = e.attrs["started_event_id"]
    return [e for e in events[last_completed:] if e.type in OUTCOME_EVENTS]


def catch_up(ex: Execution, events: Sequence[Event]) -> WorkflowTask | None:
    """Replay every completed workflow task of ``events`` into ``ex``. Returns the trailing
    failed task, if the history ends in one (a workflow whose code keeps raising)."""
    trailing: WorkflowTask | None = None
    for task in workflow_tasks(events):
        if task.failed:
            trailing = task
            continue
        trailing = None
        _activate(ex, task, task.commands, task.next_event)
    return trailing


def _activate(ex: Execution, task: WorkflowTask, expected: list[Event], next_recorded: Event | None) -> list[Command]:
    try:
        return ex.activate(task.outcomes, task.started.timestamp, expected=expected, next_recorded=next_recorded)
    except WorkflowTaskError as e:
        e.event_id = task.started.id  # the task whose code raised: events before it replayed
        raise


@dataclass
class ReplayResult:
    workflow_id: str
    workflow_type: str
    status: str                  # completed | failed | running
    output: Any                  # the workflow's result, its failure, or None while running
    events_replayed: int
    warnings: list[str] = field(default_factory=list)
    waiting: str | None = None   # where an unfinished workflow's code is waiting
    new_commands: list[Command] = field(default_factory=list)  # what the code would do next

    def summary(self) -> str:
        s = f"{self.workflow_id} ({self.workflow_type}): {self.events_replayed} events replayed, {self.status}"
        if self.status == "running":
            s += "; history ends while the workflow runs" + (f", waiting at {self.waiting}" if self.waiting else "")
        if self.new_commands:
            s += "; next the code would issue " + ", ".join(c.describe() for c in self.new_commands[:3])
        if self.warnings:
            s += f"; {len(self.warnings)} warning(s)"
        return s


def registry(workflows: Iterable[Any]) -> dict[str, WorkflowDefinition]:
    found, _ = collect(workflows)
    return found


def resolve(history: History, workflows: dict[str, WorkflowDefinition], import_recorded: bool = False) -> WorkflowDefinition:
    """The definition to replay ``history`` with; optionally import the module the history
    names (``module:function``) when the type is not registered and the module is importable."""
    defn = workflows.get(history.workflow_type)
    if defn is None and import_recorded and (where := history.started.get("workflow_module")):
        module_name = where.split(":", 1)[0]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            module = None
        if module is not None:
            defn = registry([module]).get(history.workflow_type)
    if defn is None:
        known = ", ".join(sorted(workflows)) or "none"
        raise UnknownWorkflowError(
            f"{history.source}: workflow type {history.workflow_type!r} is not registered (registered: {known}); "
            "pass its module with --replay-module / workflows=[...]")
    return defn


def replay(history: History | str, workflows: Iterable[Any] = (), *, args_mismatch: str = "error",
           sandbox: str | None = "strict", observer: Any = None, import_recorded: bool = False) -> ReplayResult:
    """Replay ``history`` against the current workflow code.

    Raises NondeterminismError at the first divergence, WorkflowTaskError when the code
    raises where history recorded it working (or, for a workflow whose task kept failing,
    when the code still raises), UnknownWorkflowError when the type is not registered.
    """
    if isinstance(history, str):
        history = History.load(history)
    if args_mismatch not in ("error", "warn", "ignore"):
        raise ReplaytestError(f"args_mismatch must be error, warn or ignore, not {args_mismatch!r}")
    defn = resolve(history, registry(workflows), import_recorded)
    started = history.started
    ex = Execution(defn, workflow_id=started["workflow_id"], run_id=started["run_id"], args=started["input"],
                   seed=started["seed"], history=history.events, args_mismatch=args_mismatch, sandbox=sandbox,
                   observer=observer, history_source=history.source)
    if sandbox is not None:
        from . import sandbox as sb

        with sb.session(), ex.sandboxed(history.events[0].timestamp):
            trailing = catch_up(ex, history.events)
            new = _retry_failed_task(ex, trailing)
    else:
        trailing = catch_up(ex, history.events)
        new = _retry_failed_task(ex, trailing)
    last = history.events[-1]
    status = history.status
    output: Any = None
    if status == "completed":
        output = last.attrs["result"]
    elif status == "failed":
        output = last.attrs["failure"]
    waiting = blocked_source(ex.main)
    return ReplayResult(history.workflow_id, history.workflow_type, status, output, len(history.events),
                        ex.warnings, str(waiting) if waiting else None, new)


def _retry_failed_task(ex: Execution, task: WorkflowTask | None) -> list[Command]:
    """A history that ends in a failed workflow task: run that task again with the current
    code. Still raising reproduces the failure (WorkflowTaskError); a fixed code goes on."""
    if task is None:
        return []
    return _activate(ex, task, [], None)


def source_line(failure: dict[str, Any]) -> str:
    """The recorded failure's line of workflow code, read back from the file."""
    src = failure.get("source")
    return linecache.getline(src["file"], src["line"]).strip() if src else ""


def report_lines(path: Any, result: ReplayResult | BaseException) -> tuple[bool, list[str]]:
    """(ok, lines) for one replayed history, as ``replaytest replay`` prints it (with or
    without a debugger): a summary and the workflow's result, or the whole failure."""
    if isinstance(result, ReplayResult):
        lines = [f"ok    {path}: {result.summary()}"]
        if result.status == "completed":
            lines.append(f"      result: {_short(result.output)}")
        elif result.status == "failed":
            lines.append(f"      failure: {result.output.get('type')}: {result.output.get('message')}")
        return True, lines + [f"      warning: {w}" for w in result.warnings]
    if isinstance(result, NondeterminismError):
        return False, [f"FAIL  {path}:"] + [f"      {line}" for line in str(result).splitlines()]
    if isinstance(result, WorkflowTaskError):
        code = source_line(result.failure)
        return False, [f"FAIL  {path}: {result}"] + ([f"          {code}"] if code else [])
    text = str(result) if str(path) in str(result) else f"{path}: {type(result).__name__}: {result}"
    return False, [f"FAIL  {text}"]


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["replay", "ReplayResult", "UnknownWorkflowError", "WorkflowTaskError", "catch_up", "workflow_tasks", "pending_outcomes"]
