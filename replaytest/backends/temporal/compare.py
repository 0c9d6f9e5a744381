"""Explain a replay: line up the commands history recorded, workflow task by workflow task,
with the commands the code issued (see ``capture``), and find the first place they part.

temporalio gives the verdict; this gives the *where* and *what*: the history event, both
sides decoded, and the user's source line. It also checks what Temporal does not: activity
inputs and timer durations (reported as warnings or, with ``--replay-args=error``, as a
divergence).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .events import (
    TEvent,
    Undecodable,
    args_text,
    decode_payloads,
    describe,
    local_activity_of,
    patch_of,
    seconds,
    show_duration,
)

if TYPE_CHECKING:
    from .capture import Issued

#: history command event → the capture kind it records
_COMMAND_KINDS = {
    "ActivityTaskScheduled": "activity",
    "TimerStarted": "timer",
    "StartChildWorkflowExecutionInitiated": "child",
    "SignalExternalWorkflowExecutionInitiated": "signal",
    "WorkflowExecutionCompleted": "complete",
    "WorkflowExecutionFailed": "fail",
    "WorkflowExecutionContinuedAsNew": "continue_as_new",
}
#: kinds not compared (temporalio checks them; we do not capture them precisely)
_UNCOMPARED = {"local_activity"}


@dataclass
class Recorded:
    event: TEvent
    kind: str
    name: str | None = None
    args: list[Any] = field(default_factory=list)
    seconds: float | None = None
    target: str | None = None
    deprecated: bool = False


def recorded_command(e: TEvent) -> Recorded | None:
    a = e.attrs
    if e.type == "MarkerRecorded":
        p = patch_of(e)
        return Recorded(e, "patch", p[0], deprecated=p[1]) if p else None
    kind = _COMMAND_KINDS.get(e.type)
    if kind == "activity":
        return Recorded(e, kind, (a.get("activityType") or {}).get("name"), decode_payloads(a.get("input")))
    if kind == "timer":
        return Recorded(e, kind, seconds=seconds(a.get("startToFireTimeout")))
    if kind == "child":
        return Recorded(
            e,
            kind,
            (a.get("workflowType") or {}).get("name"),
            decode_payloads(a.get("input")),
            target=a.get("workflowId"),
        )
    if kind == "signal":
        target = (a.get("workflowExecution") or {}).get("workflowId")
        return Recorded(e, kind, a.get("signalName"), decode_payloads(a.get("input")), target=target)
    return Recorded(e, kind) if kind else None


@dataclass
class Task:
    """A completed workflow task: its WorkflowTaskStarted id and the commands it recorded."""

    started: int
    completed: TEvent
    commands: list[Recorded]
    next_event: TEvent | None  # what history recorded after its commands


def recorded_tasks(events: Sequence[TEvent]) -> list[Task]:
    tasks: list[Task] = []
    by_completed: dict[int, Task] = {}
    for _i, e in enumerate(events):
        if e.type == "WorkflowTaskCompleted":
            started = int(e.attrs.get("startedEventId") or e.id - 1)
            task = Task(started, e, [], None)
            tasks.append(task)
            by_completed[e.id] = task
            continue
        owner = by_completed.get(int(e.attrs.get("workflowTaskCompletedEventId") or 0))
        if owner is not None:
            cmd = recorded_command(e)
            if cmd is not None:
                owner.commands.append(cmd)
        elif (
            tasks
            and tasks[-1].next_event is None
            and e.id > tasks[-1].completed.id
            and e.type not in ("WorkflowTaskScheduled",)
        ):
            tasks[-1].next_event = e
    return tasks


@dataclass
class Finding:
    kind: str  # a KINDS key of the report
    event: TEvent | None
    recorded: str | None
    issued: str | None
    issued_cmd: Issued | None = None
    detail: str = ""
    matched: int = 0  # events before the finding that matched


def same(r: Recorded, i: Issued) -> bool:
    if r.kind != i.kind:
        return False
    if r.kind == "activity":
        return r.name == i.name
    if r.kind in ("child", "signal"):
        return r.target == i.target and r.name == i.name
    if r.kind == "patch":
        return r.name == i.name
    return True


def describe_issued(i: Issued, to_json: Callable[[Sequence[Any]], list[Any]]) -> str:
    if i.kind == "activity":
        return f"ActivityTaskScheduled {i.name}({args_text(to_json(i.args))})"
    if i.kind == "local_activity":  # history records it as a MarkerRecorded, once it has run
        return f"a local activity {i.name}({args_text(to_json(i.args))})"
    if i.kind == "timer":
        return f"TimerStarted for {show_duration(i.seconds)}"
    if i.kind == "child":
        return f"StartChildWorkflowExecutionInitiated {i.name}({args_text(to_json(i.args))}) id={i.target}"
    if i.kind == "patch":
        return f"MarkerRecorded patch {i.name!r}"
    if i.kind == "signal":
        return f"SignalExternalWorkflowExecutionInitiated {i.name!r} to {i.target}"
    if i.kind == "complete":
        return f"WorkflowExecutionCompleted → {args_text(to_json(i.args))}"
    if i.kind == "fail":
        return f"WorkflowExecutionFailed {i.args[0] if i.args else ''}"
    if i.kind == "continue_as_new":
        return "WorkflowExecutionContinuedAsNew"
    return i.kind


def compare(
    events: Sequence[TEvent], issued: Sequence[Issued], to_json: Callable[[Sequence[Any]], list[Any]], check_args: bool
) -> tuple[Finding | None, list[Finding]]:
    """(first divergence or None, argument/duration differences seen before it).

    With ``check_args`` an argument difference is itself the divergence; otherwise each is
    returned as a warning and the comparison goes on."""
    tasks = recorded_tasks(events)
    by_task: dict[int, list[Issued]] = {}
    local_by_task: dict[int, list[Issued]] = {}
    for i in issued:
        (local_by_task if i.kind in _UNCOMPARED else by_task).setdefault(i.task, []).append(i)
    warnings: list[Finding] = []
    for t in tasks:
        recorded = list(t.commands)
        code = by_task.get(t.started, [])
        ri = ci = 0
        while ri < len(recorded) or ci < len(code):
            r = recorded[ri] if ri < len(recorded) else None
            c = code[ci] if ci < len(code) else None
            if r is not None and r.kind == "patch" and r.deprecated and (c is None or not same(r, c)):
                ri += 1  # a deprecated patch may be dropped from the code
                continue
            matched = (r.event.id - 1) if r else t.completed.id
            if r is None:
                assert c is not None  # the loop runs while either is left
                nxt = t.next_event
                detail = ""
                recorded_text = "no further command in this workflow task: the workflow waited"
                if nxt is not None:
                    recorded_text += f"; next came {describe(nxt)} (event {nxt.id})"
                    if nxt.type == "WorkflowExecutionSignaled":
                        detail = (
                            f"history shows the workflow waiting here until the signal "
                            f"{nxt.attrs.get('signalName')!r} arrived; the code no longer waits for it"
                        )
                kind, was_local = "extra", _was_local(c, _names(tasks, events))
                if was_local:
                    kind, detail = "local_activity", was_local
                return Finding(
                    kind, nxt or t.completed, recorded_text, describe_issued(c, to_json), c, detail, matched
                ), warnings
            if c is None:
                local = _local_instead(r, local_by_task.get(t.started, []))
                if local is not None:
                    return Finding(
                        "local_activity",
                        r.event,
                        describe(r.event),
                        describe_issued(local, to_json),
                        local,
                        "a local activity records a MarkerRecorded event, not an ActivityTaskScheduled: "
                        "history scheduled this activity on a task queue",
                        matched,
                    ), warnings
                kind = "patch" if r.kind == "patch" else "missing"
                return Finding(
                    kind,
                    r.event,
                    describe(r.event),
                    None,
                    code[-1] if code else None,
                    "the code no longer issues this command here",
                    matched,
                ), warnings
            if not same(r, c):
                kind, detail = mismatch_kind(r, c, _names(tasks, events))
                return Finding(
                    kind, r.event, describe(r.event), describe_issued(c, to_json), c, detail, matched
                ), warnings
            diff = _args_difference(r, c, to_json)
            if diff is not None:
                f = Finding(diff, r.event, describe(r.event), describe_issued(c, to_json), c, "", matched)
                if check_args:
                    return f, warnings
                warnings.append(f)
            ri += 1
            ci += 1
    return None, warnings


def _was_local(c: Issued, names: dict[tuple[Any, ...], int]) -> str:
    """Why an activity the code schedules breaks history when history ran it as a local activity
    (a step made a scheduled activity), else ""."""
    event = names.get(("local_activity", c.name, None)) if c.kind == "activity" else None
    if event is None or ("activity", c.name, None) in names:
        return ""
    return (
        f"history ran {c.name} as a local activity (MarkerRecorded at event {event}); the code now schedules it "
        "on a task queue, which records an ActivityTaskScheduled"
    )


def _local_instead(r: Recorded, local: Sequence[Issued]) -> Issued | None:
    """The local activity of the same name the code started in the workflow task where history
    recorded ``r``, an activity the code no longer schedules: the step made local."""
    if r.kind != "activity":
        return None
    return next((i for i in local if i.name == r.name), None)


def _names(tasks: Sequence[Task], events: Sequence[TEvent]) -> dict[tuple[Any, ...], int]:
    """:func:`recorded_names` and the local activities that ran (markers, not commands of a
    task): built only when a finding is worded, never on a replay that matches."""
    names = recorded_names(tasks)
    for e in events:
        if (name := local_activity_of(e)) is not None:
            names.setdefault(("local_activity", name, None), e.id)
    return names


def recorded_names(tasks: Sequence[Task]) -> dict[tuple[Any, ...], int]:
    """(kind, name, target) → the first event recording it, for :func:`mismatch_kind`."""
    names: dict[tuple[Any, ...], int] = {}
    for t in tasks:
        for rec in t.commands:
            if rec.name and rec.kind in ("activity", "child", "patch"):
                names.setdefault((rec.kind, rec.name, rec.target), rec.event.id)
    return names


_ENDS = {"complete": "returns", "fail": "fails", "continue_as_new": "continues as new"}


def mismatch_kind(r: Recorded, c: Any, later: dict[tuple[Any, ...], int]) -> tuple[str, str]:
    if c.kind in _ENDS and r.kind not in _ENDS:
        return "command", f"the code {_ENDS[c.kind]} here, where history went on: it recorded more after this point"
    if r.kind == "patch" or c.kind == "patch":
        return "patch", ""
    if r.kind == "child" and c.kind == "child":
        if r.name == c.name:
            return "child_workflow", f"child workflow id {r.target!r} recorded, {c.target!r} issued"
        return "command", ""
    where = later.get((c.kind, c.name, c.target if c.kind == "child" else None))
    if where is not None and where > r.event.id:
        return "order", f"history records {c.name} later, at event {where}"
    if where is None and (was_local := _was_local(c, later)):
        return "local_activity", was_local
    if r.kind == "activity" and c.kind == "activity":
        hint = "" if where else f"{c.name} appears nowhere in this history: a new or renamed activity"
        return "activity_type", hint
    return "command", ""


def _args_difference(r: Recorded, c: Any, to_json: Callable[[Sequence[Any]], list[Any]]) -> str | None:
    if r.kind == "activity":
        issued = to_json(c.args)
        if any(isinstance(v, Undecodable) for v in r.args):
            return None  # cannot compare what we cannot decode
        return "activity_args" if issued != r.args else None
    if r.kind == "timer" and r.seconds is not None and c.seconds is not None:
        return "timer_duration" if abs(r.seconds - c.seconds) > 1e-6 else None
    return None
