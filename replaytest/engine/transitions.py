"""Every state change of a workflow run: the events it appends and the task rows it derives.

Each function is one transaction. The rules in one place:

* a run has at most one workflow task row; an outcome (activity result, timer, signal)
  schedules one if there is none, and one that arrives while a task runs makes the
  completing worker schedule the next (``replay.workflow_tasks`` gives such outcomes to the
  next task too);
* a claim is a lease: ``WorkflowTaskStarted`` is written when a workflow task is claimed,
  and whoever finishes a task must still hold its lease (and, for an activity, its attempt)
  or its result is dropped — a worker paused past its lease is a zombie, not an author;
* a claim whose holder died (lease expired) is taken over: a workflow task records
  ``WorkflowTaskFailed`` (``WorkflowTaskTimedOut``) and runs again; an activity's lost
  attempt counts as a timed-out attempt;
* closing a run drops its pending timers and activities.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.commands import Command
from ..definitions import ReplaytestError, RetryPolicy
from ..history import CLOSING_EVENTS, Event, format_time, parse_time
from .clock import LAST_DUE_MS, from_ms, to_ms
from .errors import EngineError, WorkflowIdReuseError, WorkflowNotFoundError
from .store import Run, Store, Task

#: backoff of a failing workflow task: 1 s, 2 s, 4 s, … capped at 100 s
WORKFLOW_TASK_RETRY = RetryPolicy(initial_interval=1.0, backoff_coefficient=2.0, maximum_interval=100.0)

#: what starting a workflow id that already has a closed run does (Temporal's WorkflowIdReusePolicy)
ID_REUSE_POLICIES = ("reject_duplicate", "allow_duplicate", "allow_duplicate_failed_only")


class LeaseLost(Exception):
    """This worker no longer holds the task (its lease expired and another took it)."""


@dataclass
class WorkflowClaim:
    task_id: int
    run: Run
    started: Event  # the WorkflowTaskStarted written by this claim
    attempt: int
    owner: str
    prelude: list[Event] = field(default_factory=list)  # events the claim wrote before Started


@dataclass
class ActivityClaim:
    task_id: int
    run: Run
    scheduled: Event  # the ActivityTaskScheduled
    attempt: int
    owner: str
    started_ms: int


@dataclass
class Eager:
    """Eager dispatch: a worker that will run next the tasks a state change creates claims them
    in the same transaction that creates them (as Temporal's eager activity / workflow task
    dispatch does), instead of committing them unclaimed and searching for them in a
    transaction of their own. The workflow task is claimed that way (``workflow``); activities
    a completed workflow task scheduled are only noted (``activities``, not yet leased) and
    leased next by ``claim_scheduled_activities``."""

    owner: str
    real_now: float
    lease_seconds: float
    workflow_types: Container[str] = ()
    activity_types: Container[str] = ()
    activity_slots: int = 0
    workflow: WorkflowClaim | None = None
    activities: list[ActivityClaim] = field(default_factory=list)


def _due(now_ms: int, seconds: float, what: str) -> int:
    """``now_ms + seconds`` as a due time, refused past ``LAST_DUE_MS`` (``workflow.sleep``
    checks the same where it is called; this keeps any other path from scheduling it)."""
    due = now_ms + round(seconds * 1000)
    if due > LAST_DUE_MS:
        raise EngineError(f"a {what} of {seconds:g} s from {_t(now_ms)} would be due after the year 9999")
    return due


def _t(ms: int) -> str:
    return format_time(from_ms(ms))


# ---------------------------------------------------------------------------- runs and signals
def start_run(
    store: Store,
    *,
    workflow_id: str,
    run_id: str,
    workflow_type: str,
    module: str,
    args: list[Any],
    seed: int,
    now_ms: int,
    id_reuse_policy: str = "reject_duplicate",
) -> Run:
    with store.transaction():
        previous = store.latest_run(workflow_id)
        if (
            previous is not None
            and previous.status != "running"
            and not (
                id_reuse_policy == "allow_duplicate"
                or (id_reuse_policy == "allow_duplicate_failed_only" and previous.status == "failed")
            )
        ):
            raise WorkflowIdReuseError(
                workflow_id, previous.status, previous.workflow_type, previous.run_id, id_reuse_policy
            )
        run = Run(run_id, workflow_id, workflow_type, "running", _t(now_ms), None, 0)
        store.insert_run(run)
        store.append(
            run_id,
            _t(now_ms),
            [
                (
                    "WorkflowExecutionStarted",
                    {
                        "workflow_type": workflow_type,
                        "workflow_module": module,
                        "workflow_id": workflow_id,
                        "run_id": run_id,
                        "input": args,
                        "seed": seed,
                    },
                )
            ],
        )
        ensure_workflow_task(store, run, now_ms)
        return run


def signal(store: Store, workflow_id: str, name: str, payload: Any, now_ms: int) -> Event:
    with store.transaction():
        run = store.latest_run(workflow_id)
        if run is None:
            raise WorkflowNotFoundError(workflow_id, store.path)
        if run.status != "running":
            raise EngineError(f"workflow {workflow_id} has already {run.status}; signals reach running workflows only")
        (event,) = store.append(
            run.run_id, _t(now_ms), [("WorkflowExecutionSignaled", {"signal_name": name, "payload": payload})]
        )
        ensure_workflow_task(store, run, now_ms)
        return event


def ensure_workflow_task(store: Store, run: Run, now_ms: int, eager: Eager | None = None) -> None:
    """Schedule a workflow task for ``run`` unless one is already scheduled or running; with
    ``eager`` (a worker of its type that will run it next), claim it in this transaction."""
    with store.transaction():
        if store.has_workflow_task(run.run_id):
            return
        time = _t(now_ms)
        if eager is None or eager.workflow is not None or run.workflow_type not in eager.workflow_types:
            (event,) = store.append(run.run_id, time, [("WorkflowTaskScheduled", {"attempt": 1})])
            store.add_task("workflow", run.run_id, run.workflow_type, event.id, now_ms)
            return
        (scheduled,) = store.append(run.run_id, time, [("WorkflowTaskScheduled", {"attempt": 1})])
        (started,) = store.append(
            run.run_id, time, [("WorkflowTaskStarted", {"scheduled_event_id": scheduled.id, "worker": eager.owner})]
        )
        task_id = store.add_task(
            "workflow",
            run.run_id,
            run.workflow_type,
            scheduled.id,
            now_ms,
            started_event_id=started.id,
            lease_owner=eager.owner,
            lease_expires=eager.real_now + eager.lease_seconds,
        )
        eager.workflow = WorkflowClaim(task_id, run, started, 1, eager.owner)


def _held(store: Store, task_id: int, owner: str) -> Task:
    task = store.task(task_id)
    if task is None or task.lease_owner != owner:
        raise LeaseLost(task_id)
    return task


# ---------------------------------------------------------------------------- workflow tasks
def claim_workflow_task(
    store: Store,
    types: Sequence[str],
    now_ms: int,
    real_now: float,
    owner: str,
    lease_seconds: float,
    runs: Collection[str] | None = None,
) -> WorkflowClaim | None:
    if store.find_runnable("workflow", types, now_ms, real_now, runs) is None:
        return None  # the common idle case, answered without taking the write lock
    with store.transaction():
        task = store.find_runnable("workflow", types, now_ms, real_now, runs)
        if task is None:
            return None
        run = store.run(task.run_id)
        assert run is not None
        prelude: list[Event] = []
        event_id, attempt = task.event_id, task.attempt
        if task.started_event_id is not None:  # its worker died mid-task: record that, run it again
            failure = {
                "type": "WorkflowTaskTimedOut",
                "message": f"worker {task.lease_owner} stopped before finishing this workflow task "
                "(its lease expired); the task was run again",
            }
            prelude = store.append(
                run.run_id,
                _t(now_ms),
                [
                    ("WorkflowTaskFailed", {"started_event_id": task.started_event_id, "failure": failure}),
                    ("WorkflowTaskScheduled", {"attempt": attempt + 1}),
                ],
            )
            event_id, attempt = prelude[-1].id, attempt + 1
        (started,) = store.append(
            run.run_id, _t(now_ms), [("WorkflowTaskStarted", {"scheduled_event_id": event_id, "worker": owner})]
        )
        store.update_task(
            task.task_id,
            event_id=event_id,
            attempt=attempt,
            started_event_id=started.id,
            lease_owner=owner,
            lease_expires=real_now + lease_seconds,
        )
        return WorkflowClaim(task.task_id, run, started, attempt, owner, prelude)


def complete_workflow_task(
    store: Store, claim: WorkflowClaim, commands: Sequence[Command], now_ms: int, eager: Eager | None = None
) -> list[Event]:
    """Record the task's commands and derive their tasks (with ``eager``, noting in
    ``eager.activities`` the activity tasks it may run, up to its free slots, for
    ``claim_scheduled_activities``). Returns the events written."""
    with store.transaction():
        task = _held(store, claim.task_id, claim.owner)
        if task.started_event_id != claim.started.id:
            raise LeaseLost(claim.task_id)
        run_id, time = claim.run.run_id, _t(now_ms)
        written = store.append(
            run_id,
            time,
            [("WorkflowTaskCompleted", {"started_event_id": claim.started.id})]
            + [(c.event_type, c.attrs) for c in commands],
        )
        closing = any(e.type in CLOSING_EVENTS for e in written)
        for e in written:
            if e.type == "ActivityTaskScheduled":
                name = e.attrs["activity_type"]
                task_id = store.add_task("activity", run_id, name, e.id, now_ms)
                if (
                    eager is not None
                    and not closing
                    and len(eager.activities) < eager.activity_slots
                    and name in eager.activity_types
                ):
                    eager.activities.append(ActivityClaim(task_id, claim.run, e, 1, eager.owner, now_ms))
            elif (
                e.type == "TimerStarted"
            ):  # due after the recorded start (later than now_ms if the run's time is ahead)
                started = max(now_ms, to_ms(parse_time(e.time)))
                store.add_task("timer", run_id, e.attrs["timer_id"], e.id, _due(started, e.attrs["duration"], "timer"))
            elif e.type in CLOSING_EVENTS:
                store.close_run(run_id, "completed" if e.type == "WorkflowExecutionCompleted" else "failed", time)
                if eager is not None:
                    eager.activities.clear()  # dropped with the run
                return written
        if store.has_outcome_after(run_id, claim.started.id):  # arrived while the task ran: next task
            written += store.append(run_id, time, [("WorkflowTaskScheduled", {"attempt": 1})])
            store.update_task(
                task.task_id,
                event_id=written[-1].id,
                attempt=1,
                started_event_id=None,
                due_ms=now_ms,
                lease_owner=None,
                lease_expires=None,
                last_failure=None,
            )
        else:
            store.delete_task(task.task_id)
        return written


def fail_workflow_task(store: Store, claim: WorkflowClaim, failure: dict[str, Any], now_ms: int) -> float:
    """Record WorkflowTaskFailed and schedule the retry with backoff. Returns the delay (s)."""
    with store.transaction():
        _held(store, claim.task_id, claim.owner)
        delay = WORKFLOW_TASK_RETRY.delay(claim.attempt)
        (_, scheduled) = store.append(
            claim.run.run_id,
            _t(now_ms),
            [
                ("WorkflowTaskFailed", {"started_event_id": claim.started.id, "failure": failure}),
                ("WorkflowTaskScheduled", {"attempt": claim.attempt + 1}),
            ],
        )
        store.update_task(
            claim.task_id,
            event_id=scheduled.id,
            attempt=claim.attempt + 1,
            started_event_id=None,
            due_ms=now_ms + round(delay * 1000),
            lease_owner=None,
            lease_expires=None,
            last_failure=failure,
        )
        return delay


# ---------------------------------------------------------------------------- activities
def claim_scheduled_activities(
    store: Store, scheduled: Sequence[ActivityClaim], real_now: float, lease_seconds: float
) -> list[ActivityClaim]:
    """Lease activity tasks this worker has just scheduled (known ids, attempt 1), in one
    transaction and without searching for them; those another worker took meanwhile are skipped.

    Not folded into the transaction that scheduled them on purpose: a worker that dies after
    that commit but before this one leaves them unleased, so the next worker runs attempt 1 —
    no attempt is counted as lost for an activity that never started."""
    if not scheduled:
        return []
    leased = store.lease_first_attempts([a.task_id for a in scheduled], scheduled[0].owner, real_now, lease_seconds)
    return [a for a in scheduled if a.task_id in leased]


def retry_delay(policy: dict[str, Any], attempt: int, failure: dict[str, Any]) -> float | None:
    """Seconds until the next attempt, or None when this failure is final."""
    if failure.get("non_retryable") or failure.get("type") in policy["non_retryable_error_types"]:
        return None
    if policy["maximum_attempts"] and attempt >= policy["maximum_attempts"]:
        return None
    try:
        return RetryPolicy.from_dict(policy).delay(attempt)
    except (ReplaytestError, TypeError, ValueError):
        return None  # a policy this version refuses (stored by an older one, e.g. a coefficient < 1): no retry


def claim_activity(
    store: Store,
    types: Sequence[str],
    now_ms: int,
    real_now: float,
    owner: str,
    lease_seconds: float,
    runs: Collection[str] | None = None,
) -> ActivityClaim | None:
    if store.find_runnable("activity", types, now_ms, real_now, runs) is None:
        return None
    with store.transaction():
        while (task := store.find_runnable("activity", types, now_ms, real_now, runs)) is not None:
            run = store.run(task.run_id)
            assert run is not None
            scheduled = store.event(run.run_id, task.event_id)
            attempt = task.attempt
            if task.lease_owner is not None:  # the worker running it died: that attempt is lost
                failure = {
                    "type": "ActivityWorkerLost",
                    "attempt": attempt,
                    "message": f"worker {task.lease_owner} stopped during attempt {attempt} (its lease expired)",
                }
                if retry_delay(scheduled.attrs["retry_policy"], attempt, failure) is None:
                    _final(store, run, task, scheduled, "ActivityTaskTimedOut", failure, now_ms, now_ms)
                    continue
                attempt += 1
            store.update_task(task.task_id, attempt=attempt, lease_owner=owner, lease_expires=real_now + lease_seconds)
            return ActivityClaim(task.task_id, run, scheduled, attempt, owner, now_ms)
        return None


def finish_activity(
    store: Store,
    claim: ActivityClaim,
    now_ms: int,
    *,
    result: Any = None,
    failure: dict[str, Any] | None = None,
    timed_out: bool = False,
    eager: Eager | None = None,
) -> str:
    """Record an attempt's outcome (with ``eager``, claiming the workflow task it schedules).
    Returns completed, failed, timed_out, retry or dropped."""
    with store.transaction():
        task = store.task(claim.task_id)
        if task is None or task.lease_owner != claim.owner or task.attempt != claim.attempt:
            return "dropped"  # a zombie's late result, or the workflow closed meanwhile
        if failure is None:
            _final(
                store,
                claim.run,
                task,
                claim.scheduled,
                "ActivityTaskCompleted",
                None,
                claim.started_ms,
                now_ms,
                result,
                eager=eager,
            )
            return "completed"
        delay = retry_delay(claim.scheduled.attrs["retry_policy"], claim.attempt, failure)
        if delay is not None and now_ms + delay * 1000 > LAST_DUE_MS:
            delay = None  # the next attempt would fall after the year 9999: this failure is final
            failure = {
                **failure,
                "message": f"{failure.get('message', '')} (not retried: the next attempt would be "
                f"due after the year 9999)",
            }
        if delay is None:
            kind = "ActivityTaskTimedOut" if timed_out else "ActivityTaskFailed"
            _final(store, claim.run, task, claim.scheduled, kind, failure, claim.started_ms, now_ms, eager=eager)
            return "timed_out" if timed_out else "failed"
        store.update_task(
            task.task_id,
            attempt=claim.attempt + 1,
            due_ms=now_ms + round(delay * 1000),
            lease_owner=None,
            lease_expires=None,
            last_failure=failure,
        )
        return "retry"


def _final(
    store: Store,
    run: Run,
    task: Task,
    scheduled: Event,
    outcome: str,
    failure: dict[str, Any] | None,
    started_ms: int,
    now_ms: int,
    result: Any = None,
    eager: Eager | None = None,
) -> None:
    ids = {"activity_id": scheduled.attrs["activity_id"], "scheduled_event_id": scheduled.id}
    attrs = {**ids, "result": result} if failure is None else {**ids, "failure": failure}
    store.append(run.run_id, _t(started_ms), [("ActivityTaskStarted", {**ids, "attempt": task.attempt})])
    store.append(run.run_id, _t(now_ms), [(outcome, attrs)])
    store.delete_task(task.task_id)
    ensure_workflow_task(store, run, now_ms, eager)


# ---------------------------------------------------------------------------- timers
def fire_due_timers(store: Store, now_ms: int, runs: Collection[str] | None = None) -> int:
    """Fire every timer due by ``now_ms`` (of ``runs``, when given); returns how many fired."""
    if store.find_runnable("timer", None, now_ms, 0.0, runs) is None:
        return 0
    with store.transaction():
        rows = store.due_timers(now_ms, runs)
        for task_id, run_id, timer_id, event_id in rows:
            run = store.run(run_id)
            assert run is not None
            store.append(run_id, _t(now_ms), [("TimerFired", {"timer_id": timer_id, "started_event_id": event_id})])
            store.delete_task(task_id)
            ensure_workflow_task(store, run, now_ms)
        return len(rows)
