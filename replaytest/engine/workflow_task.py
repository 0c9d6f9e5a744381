"""Running one workflow task: bring an Execution up to date, activate it, record the result.

Crash recovery *is* replay: on a worker that has not seen the run (a new process, a cache
eviction, another worker ran the previous task) the Execution is rebuilt from history with
``replay.catch_up`` — the very code ``replaytest.replay`` uses — and only then activated
live. A worker keeps the Executions it ran last in a small *sticky cache*, so a long
workflow is not replayed from its first event on every task.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.commands import Command
from ..core.execution import Execution
from ..core.failures import failure_of, storable_text
from ..core.tasks import catch_up, pending_outcomes
from ..history import OUTCOME_EVENTS, Event, parse_time
from ..report.divergence import NondeterminismError, WorkflowTaskError
from . import transitions as tx
from .errors import DatabaseError
from .registry import Registry
from .store import Store
from .watchdog import DEFAULT_DEADLOCK_TIMEOUT, Deadlock, Interrupted, Watchdog

_CLOSED = {"WorkflowExecutionCompleted": "completed", "WorkflowExecutionFailed": "failed"}


@dataclass
class _Sticky:
    ex: Execution
    started_id: int  # WorkflowTaskStarted of the last task this Execution completed
    events: list[Event]  # the history up to this worker's last claim (``ex.history``, for reports)


@dataclass
class WorkflowTaskResult:
    status: str  # completed | failed | lost
    claim: tx.WorkflowClaim
    commands: list[Command] = field(default_factory=list)
    closed: str | None = None  # completed | failed, when the run closed
    failure: dict[str, Any] | None = None
    retry_in: float | None = None  # seconds until a failed task runs again
    replayed: int = 0  # history events replayed to rebuild the Execution
    activities: list[tx.ActivityClaim] = field(default_factory=list)  # scheduled for this worker: lease, start


class WorkflowTaskRunner:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        sandbox: str | None,
        cache_size: int = 256,
        deadlock_timeout: float | None = DEFAULT_DEADLOCK_TIMEOUT,
    ) -> None:
        self.store, self.registry, self.sandbox = store, registry, sandbox
        self.cache: collections.OrderedDict[str, _Sticky] = collections.OrderedDict()
        self.cache_size = cache_size
        self.watchdog = Watchdog(deadlock_timeout)
        self.interrupted = False  # a real Ctrl-C (Worker.interrupt): its KeyboardInterrupt stops the worker

    def run(
        self, claim: tx.WorkflowClaim, now_ms: Callable[[], int], eager: tx.Eager | None = None
    ) -> WorkflowTaskResult:
        run_id = claim.run.run_id
        replayed = 0
        deadlocks: list[Deadlock] = []
        try:
            sticky, outcomes, replayed = self._prepare(claim, deadlocks)
            with self.watchdog.watching(sticky.ex.loop, claim.run.workflow_id, deadlocks):
                commands = sticky.ex.activate(outcomes, parse_time(claim.started.time))
            if deadlocks:  # the code caught the interruption and finished: still too slow
                raise Interrupted
        except DatabaseError:
            self.cache.pop(run_id, None)
            raise  # the database, not this workflow
        except BaseException as err:  # NondeterminismError, WorkflowTaskError (sys.exit() too), a bug, a
            # KeyboardInterrupt or other BaseException the code raised, or a deadlock interrupted
            self.cache.pop(run_id, None)  # the code raised part-way: its state cannot be trusted
            if isinstance(err, KeyboardInterrupt) and self.interrupted:
                raise  # Ctrl-C: stop the worker; the claim's lease expires and the task runs again
            if deadlocks or isinstance(err, Interrupted):  # (Interrupted alone: it landed as the block closed)
                failure = (deadlocks[0] if deadlocks else Deadlock(self.watchdog.limit or 0)).failure()
            elif isinstance(err, WorkflowTaskError):
                failure = err.failure
            else:
                failure = failure_of(err, err.divergence.source if isinstance(err, NondeterminismError) else None)
            try:
                delay = tx.fail_workflow_task(self.store, claim, failure, now_ms())
            except tx.LeaseLost:
                return WorkflowTaskResult("lost", claim, failure=failure, replayed=replayed)
            return WorkflowTaskResult("failed", claim, failure=failure, retry_in=delay, replayed=replayed)
        try:
            written = tx.complete_workflow_task(self.store, claim, commands, now_ms(), eager)
        except tx.LeaseLost:
            self.cache.pop(run_id, None)
            return WorkflowTaskResult("lost", claim, commands, replayed=replayed)
        except DatabaseError:
            raise  # the database, not this workflow: the worker waits and retries
        except Exception as err:
            if eager is not None:
                eager.activities.clear()
            what = "; ".join(c.describe() for c in commands)
            failure = {
                "type": type(err).__name__,
                "message": f"the engine could not record this workflow task's commands ({what}): {err}",
            }
            failure = {k: storable_text(v) for k, v in failure.items()}
            try:
                delay = tx.fail_workflow_task(self.store, claim, failure, now_ms())
            except tx.LeaseLost:
                return WorkflowTaskResult("lost", claim, failure=failure, replayed=replayed)
            return WorkflowTaskResult("failed", claim, failure=failure, retry_in=delay, replayed=replayed)
        closed = _CLOSED.get(written[-1].type)
        if closed:
            self.cache.pop(run_id, None)
        else:
            sticky.started_id = claim.started.id
            self.cache[run_id] = sticky
            self.cache.move_to_end(run_id)
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return WorkflowTaskResult(
            "completed",
            claim,
            commands,
            closed=closed,
            replayed=replayed,
            activities=list(eager.activities) if eager is not None else [],
        )

    def _prepare(self, claim: tx.WorkflowClaim, deadlocks: list[Deadlock]) -> tuple[_Sticky, list[Event], int]:
        """The Execution, up to date with every completed task, and the outcomes for this one."""
        run_id, started = claim.run.run_id, claim.started
        sticky = self.cache.pop(run_id, None)
        if sticky is not None:
            # everything since our last task started: our own commands, and outcomes others appended
            since = self.store.events(run_id, after=sticky.started_id, upto=started.id)
            if not any(
                e.type == "WorkflowTaskCompleted" and e.attrs["started_event_id"] != sticky.started_id for e in since
            ):
                del sticky.events[sticky.started_id :]  # ids are 1..N, so this keeps events 1..started_id
                sticky.events.extend(since)
                return sticky, [e for e in since if e.type in OUTCOME_EVENTS and e.id < started.id], 0
            # another worker completed a task of this run meanwhile: our state is stale
        events = self.store.events(run_id, upto=started.id)
        defn = self.registry.workflows[claim.run.workflow_type]
        first = events[0].attrs
        ex = Execution(
            defn,
            workflow_id=first["workflow_id"],
            run_id=first["run_id"],
            args=first["input"],
            seed=first["seed"],
            history=events,
            sandbox=self.sandbox,
        )
        with self.watchdog.watching(ex.loop, claim.run.workflow_id, deadlocks):
            catch_up(ex, events)
        replayed = len(events) if any(e.type == "WorkflowTaskCompleted" for e in events) else 0
        return _Sticky(ex, 0, events), pending_outcomes(events), replayed
