"""Splitting a history into workflow tasks, and catching an execution up with them.

One rule, used by replay and by the engine's recovery: the engine rebuilds a workflow after a
crash by running the same :func:`catch_up`, so the engine and the replayer cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from ..history import COMMAND_EVENTS, OUTCOME_EVENTS, Event, parse_time
from ..report.divergence import WorkflowTaskError
from .commands import Command
from .execution import Execution


@dataclass(slots=True)
class WorkflowTask:
    """One recorded workflow task: the outcomes that woke it and the commands it issued."""

    started: Event
    outcomes: list[Event]
    failed: bool
    commands: list[Event]
    next_event: Event | None  # what history recorded after the commands, if anything


#: The events that end a workflow task.
_TASK_ENDS = frozenset({"WorkflowTaskCompleted", "WorkflowTaskFailed"})


def workflow_tasks(events: Sequence[Event]) -> Iterator[WorkflowTask]:
    """Split a history into workflow tasks. Outcomes that arrived while a task ran belong to
    the next task; a failed task's outcomes are handed to its retry."""
    for task in _split(events):
        yield WorkflowTask(*task)


#: A workflow task as :func:`_split` yields it: WorkflowTask's fields, in order.
_Task = tuple[Event, list[Event], bool, list[Event], Event | None]


def _split(events: Sequence[Event]) -> Iterator[_Task]:
    """:func:`workflow_tasks` as tuples (catch_up reads a task once: no object for it)."""
    outcome_types, command_types = OUTCOME_EVENTS, COMMAND_EVENTS  # locals: this runs once per event
    pending: list[Event] = []
    i, n = 1, len(events)
    while i < n:
        e = events[i]
        etype = e.type
        if etype != "WorkflowTaskStarted":
            if etype in outcome_types:
                pending.append(e)
            i += 1
            continue
        j, deferred = i + 1, []
        while j < n:
            later = events[j]
            ltype = later.type
            if ltype in _TASK_ENDS:
                break
            if ltype in outcome_types:
                deferred.append(later)
            j += 1
        else:  # the worker died while running this task: nothing of it was recorded
            return
        if ltype == "WorkflowTaskFailed":
            yield e, list(pending), True, [], events[j + 1] if j + 1 < n else None
            pending.extend(deferred)
            i = j + 1
            continue
        k = j + 1
        while k < n and events[k].type in command_types:
            k += 1
        yield e, pending, False, list(events[j + 1 : k]), events[k] if k < n else None
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
    trailing: _Task | None = None
    time, now = "", None  # tasks in a row often start at the same time: parsed once
    for task in _split(events):
        started, outcomes, failed, commands, next_event = task
        if failed:
            trailing = task
            continue
        trailing = None
        if started.time != time:
            time = started.time
            now = parse_time(time)
        _activate(ex, started, outcomes, now, commands, next_event)  # type: ignore[arg-type]
    return None if trailing is None else WorkflowTask(*trailing)


def _activate(
    ex: Execution,
    started: Event,
    outcomes: list[Event],
    now: datetime,
    expected: list[Event] | None,
    next_recorded: Event | None,
) -> list[Command]:
    try:
        return ex.activate(outcomes, now, expected=expected, next_recorded=next_recorded)
    except WorkflowTaskError as e:
        e.event_id = started.id  # the task whose code raised: events before it replayed
        raise


def retry_failed_task(ex: Execution, task: WorkflowTask | None) -> list[Command]:
    """A history that ends in a failed workflow task: run that task again with the current
    code. Still raising reproduces the failure (WorkflowTaskError); a fixed code goes on."""
    if task is None:
        return []
    return _activate(ex, task.started, task.outcomes, task.started.timestamp, None, None)  # its commands are new


class _Typed(Protocol):
    @property
    def type(self) -> str: ...


E = TypeVar("E", bound=_Typed)


def trailing_task_failures(events: Sequence[E]) -> list[E]:
    """The WorkflowTaskFailed events after the last completed workflow task: a workflow whose
    code keeps raising (any history format whose events name their type the same way)."""
    failed: list[E] = []
    for e in events:
        if e.type == "WorkflowTaskCompleted":
            failed = []
        elif e.type == "WorkflowTaskFailed":
            failed.append(e)
    return failed
