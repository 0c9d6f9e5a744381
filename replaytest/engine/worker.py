"""The worker loop: fire due timers, run workflow tasks, execute activities, skip time.

One loop per worker, in the calling thread; activities run in threads beside it. Each turn
takes the most urgent kind of work: due timers first (cheap, and they unblock workflows),
then a workflow task (it decides what happens next), then an activity if a slot is free.
When nothing is runnable the worker waits for its own activities, for other workers' leased
tasks, or for the next due time — which a virtual clock jumps to at once.

Eager dispatch: the transaction that records an activity's outcome also claims the workflow
task it schedules, and the worker runs it at once; the activities a completed workflow task
scheduled (that this worker runs, up to its free slots) are leased by id in the next
transaction and started — no polling reads in between. A sequential workflow step is three
durable commits instead of four (see ``transitions.Eager``).

A worker may be limited to some runs (``runs``: ``handle.result()`` and ``replaytest run``
work their own workflow only): it then claims, fires and skips time for nothing else, and a
virtual clock first catches up with where those runs' own timelines have got to.

A workflow task that failed during this call is not a reason to wait or skip ahead: the code
would most likely raise again, so ``until_idle`` returns and reports the run as stuck. A
worker started later (with fixed code) retries it; a worker running until stopped retries it
on its backoff schedule — a virtual clock jumps to each retry, after a real-time pause of
``poll_interval`` so that a workflow whose code keeps raising cannot spin at CPU speed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from ..core.failures import storable_text
from ..history import format_time, parse_time
from ..history.describe import describe
from . import transitions as tx
from .activity_task import ActivityRunner, AttemptOutcome
from .clock import Clock, from_ms, to_ms
from .errors import DatabaseError, DatabaseLockedError, EngineError, describe_failure
from .registry import Registry
from .store import Store, Task
from .watchdog import DEFAULT_DEADLOCK_TIMEOUT
from .workflow_task import WorkflowTaskResult, WorkflowTaskRunner

log = logging.getLogger("replaytest.engine")
_LOCKED_MAX_PAUSE = 30.0  # seconds between tries while another process holds the write lock
_FILE_CHECK_SECONDS = 1.0  # how often a working worker checks that its database file is still there


@dataclass
class WorkStats:
    workflow_tasks: int = 0
    workflow_task_failures: int = 0
    activity_attempts: int = 0
    timers_fired: int = 0
    events_replayed: int = 0  # rebuilding Executions this worker had not cached

    def __str__(self) -> str:
        failed = f" ({self.workflow_task_failures} failed)" if self.workflow_task_failures else ""
        return (
            f"{self.workflow_tasks} workflow tasks{failed}, {self.activity_attempts} activity attempts, "
            f"{self.timers_fired} timers fired"
        )


class Worker:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        registry: Registry,
        *,
        sandbox: str | None = "strict",
        lease_seconds: float = 30.0,
        poll_interval: float = 0.1,
        max_concurrent_activities: int = 8,
        identity: str | None = None,
        deadlock_timeout: float | None = DEFAULT_DEADLOCK_TIMEOUT,
    ) -> None:
        self.store, self.clock, self.registry = store, clock, registry
        self.sandbox = sandbox
        self.lease_seconds, self.poll_interval = lease_seconds, poll_interval
        self.identity = identity or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.workflows = WorkflowTaskRunner(store, registry, sandbox, deadlock_timeout=deadlock_timeout)
        self.activities = ActivityRunner(max_concurrent_activities)
        self._stop = False
        self._outcomes: list[AttemptOutcome] = []  # finished attempts not recorded yet
        self._renewed = 0.0
        self._running = threading.Lock()
        self._types_key: tuple[int, int] | None = None
        self._types_cache: tuple[list[str], list[str]] = ([], [])
        self._runs: Collection[str] | None = None
        self._told: tuple[int, int] | None = None  # the task (id, due) last logged as waited for
        self.waiting_hint = ""  # appended to that log line (the CLI says what --until-idle does)

    def stop(self) -> None:
        """Finish the activities in flight, claim nothing new, and return (signal-safe). Requested
        before ``run`` begins (a SIGTERM as the worker starts), it stops that run at once."""
        self._stop = True

    def interrupt(self, signum: int = 0, frame: Any = None) -> None:
        """A SIGINT handler that stops the worker now: raises KeyboardInterrupt, which the worker
        lets through even from inside workflow code (where a KeyboardInterrupt the code raises
        itself only fails its workflow task). A worker running in the main thread installs it
        while it runs if SIGINT has Python's default handler."""
        self.workflows.interrupted = True
        raise KeyboardInterrupt

    def run(
        self,
        *,
        until_idle: bool = False,
        stop_when: Callable[[], bool] | None = None,
        skip_until_ms: int | None = None,
        runs: Collection[str] | None = None,
    ) -> WorkStats:
        """Work until stopped; with ``until_idle``, until nothing is runnable or due (but
        failing workflow tasks); with ``skip_until_ms`` (virtual clock), not past that time;
        with ``runs`` (run ids), on those runs only."""
        if not self._running.acquire(blocking=False):
            raise EngineError(
                "this engine's worker is already running (in another thread); "
                "use a second Engine on the same database for a second worker"
            )
        self._runs, self._told = (None if runs is None else frozenset(runs)), None
        self.workflows.interrupted = False
        try:
            with self._own_interrupts():
                return self._loop(until_idle, stop_when, skip_until_ms)
        finally:
            self._runs = None
            self._stop = False  # spent here: a stop requested before the loop began stops this run, not the next
            self._running.release()

    @contextlib.contextmanager
    def _own_interrupts(self) -> Iterator[None]:
        """Ctrl-C through ``interrupt`` while working (main thread, default handler only), so a
        real Ctrl-C is told apart from workflow code raising KeyboardInterrupt."""
        if (
            threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        ):
            yield
            return
        signal.signal(signal.SIGINT, self.interrupt)
        try:
            yield
        finally:
            if signal.getsignal(signal.SIGINT) == self.interrupt:
                signal.signal(signal.SIGINT, signal.default_int_handler)

    @property
    def busy(self) -> bool:
        return self._running.locked()

    def _loop(self, until_idle: bool, stop_when: Callable[[], bool] | None, skip_until_ms: int | None) -> WorkStats:
        stats, failed_here = WorkStats(), set[int]()
        waits, last_locked = 0, 0.0
        with self._sandbox_session():
            while True:
                try:
                    self._turns(stats, failed_here, until_idle, stop_when, skip_until_ms)
                    return stats
                except DatabaseLockedError as e:
                    # another process holds the write lock for longer than the lock timeout (a long
                    # backup, a `sqlite3` shell left in a transaction): wait and try again, and say so
                    if self._stop:
                        log.warning(
                            "%s; stopping without recording %d activity outcome(s): their attempts run "
                            "again once their leases expire",
                            e,
                            len(self._outcomes),
                        )
                        self._outcomes.clear()
                        return stats
                    if time.monotonic() - last_locked > self.store.lock_timeout + 2 * _LOCKED_MAX_PAUSE:
                        waits = 0  # a new spell of locking: start the backoff again
                    last_locked = time.monotonic()
                    pause = min(_LOCKED_MAX_PAUSE, self.poll_interval * 2 ** min(waits, 16))
                    waits += 1
                    log.warning(
                        "the engine database %s is locked by another process (waited %g s for its write "
                        "lock); retrying in %gs (attempt %d)",
                        e.path,
                        e.waited,
                        pause,
                        waits,
                    )
                    until = time.monotonic() + pause
                    while not self._stop and time.monotonic() < until:
                        time.sleep(min(self.poll_interval, max(0.0, until - time.monotonic())))

    def _turns(
        self,
        stats: WorkStats,
        failed_here: set[int],
        until_idle: bool,
        stop_when: Callable[[], bool] | None,
        skip_until_ms: int | None,
    ) -> None:
        """The worker loop proper; returns when done (see ``run``)."""
        self._catch_up_clock()
        next_file_check = 0.0
        while True:
            if (now := time.monotonic()) >= next_file_check:  # deleted under us? (a stat, once a second)
                self.store.check_file()
                next_file_check = now + _FILE_CHECK_SECONDS
            self._record(self.activities.collect(), stats, failed_here)
            self._renew_leases()
            if self._stop or (stop_when is not None and stop_when()):
                if not self.activities.running:
                    break
                self._record(self.activities.collect(wait=self.poll_interval), stats, failed_here, eager_dispatch=False)
                continue
            if self._step(stats, failed_here):
                continue
            if self.activities.running:
                self._record(self.activities.collect(wait=self.poll_interval), stats, failed_here)
                continue
            if (held := self.store.leased_elsewhere(self.identity, time.time(), self._runs)) is not None:
                self._tell_waiting(held, f"running on {held.lease_owner}")
                time.sleep(self.poll_interval)  # another worker's task may produce work for us
                self._catch_up_clock()
                continue
            # Retries of workflow tasks that failed during this call: a call that returns when
            # idle (until_idle, engine.sleep) does not wait or skip ahead for them — the code
            # would most likely raise again. A worker running until stopped retries them on
            # their backoff schedule, on a virtual clock too (it jumps to the retry).
            skip_failed = until_idle or skip_until_ms is not None
            next_task = self.store.next_due_task(
                self.registry.workflows, self.registry.activities, failed_here if skip_failed else (), self._runs
            )
            due = next_task.due_ms if next_task else None
            if skip_until_ms is not None and (due is None or due > skip_until_ms):
                self.clock.advance_to(skip_until_ms)
                break
            if due is None and until_idle:
                break
            if due is not None and self.clock.virtual:
                if not skip_failed and failed_here and self._only_failed_due(due, failed_here):
                    # pace a workflow task that keeps failing in real time, so a poisoned
                    # workflow cannot spin at CPU speed, and stop() / other workers get a turn
                    time.sleep(self.poll_interval)
                    if self._stop or (stop_when is not None and stop_when()):
                        continue
                self.clock.advance_to(due)
                continue
            if next_task is not None:
                self._tell_waiting(next_task, f"due {format_time(from_ms(next_task.due_ms))}")
            wait = self.poll_interval if due is None else (due - self.clock.now_ms()) / 1000
            time.sleep(max(0.0, min(self.poll_interval, wait)))
            self._catch_up_clock()  # others may have moved our runs on meanwhile

    def _catch_up_clock(self) -> None:
        """A virtual clock working some runs only starts where their timelines have got to."""
        if self.clock.virtual and self._runs:
            last = self.store.last_event_time(self._runs)
            if last is not None:
                self.clock.advance_to(to_ms(parse_time(last)))

    def _tell_waiting(self, task: Task, when: str) -> None:
        """Log, once per task, what this worker waits for (a real-clock worker may wait days)."""
        if self._told == (task.task_id, task.due_ms):
            return
        self._told = (task.task_id, task.due_ms)
        run = self.store.run(task.run_id)
        what = {
            "timer": f"timer {task.name}",
            "activity": f"activity {task.name} (attempt {task.attempt})",
            "workflow": f"workflow task (attempt {task.attempt})",
        }[task.kind]
        wid = f"{run.workflow_id} ({run.workflow_type})" if run else task.run_id
        ahead = (task.due_ms - self.clock.now_ms()) / 1000
        in_ = f" (in {_human(ahead)})" if ahead > 0 and not task.lease_owner else ""
        log.info(
            "%s: waiting for %s, %s%s%s", wid, what, when, in_, f"; {self.waiting_hint}" if self.waiting_hint else ""
        )

    def _types(self) -> tuple[list[str], list[str]]:
        """The registered workflow and activity types (re-listed when something is registered)."""
        key = (len(self.registry.workflows), len(self.registry.activities))
        if self._types_key != key:
            self._types_cache = (list(self.registry.workflows), list(self.registry.activities))
            self._types_key = key
        return self._types_cache

    def _only_failed_due(self, due: int, failed_here: set[int]) -> bool:
        """Is the earliest due task (at ``due``) only the retry of a workflow task that failed here?"""
        other = self.store.next_due_task(self.registry.workflows, self.registry.activities, failed_here, self._runs)
        return other is None or other.due_ms > due

    def _step(self, stats: WorkStats, failed_here: set[int]) -> bool:
        """Do one piece of runnable work; False when there was none."""
        now, real = self.clock.now_ms(), time.time()
        workflow_types, activity_types = self._types()
        if not self.activities.has_capacity:
            activity_types = []
        if not self.store.any_runnable(workflow_types, activity_types, now, real, self._runs):
            return False
        fired = tx.fire_due_timers(self.store, now, self._runs)
        if fired:
            stats.timers_fired += fired
            return True
        claim = tx.claim_workflow_task(
            self.store, workflow_types, now, real, self.identity, self.lease_seconds, self._runs
        )
        if claim is not None:
            self._run_workflow_task(claim, stats, failed_here)
            return True
        if activity_types:
            act = tx.claim_activity(
                self.store, activity_types, now, real, self.identity, self.lease_seconds, self._runs
            )
            if act is not None:
                self.activities.start(act, self.registry.activities[act.scheduled.attrs["activity_type"]])
                return True
        return False

    def _eager(self) -> tx.Eager | None:
        """What this worker may claim in the transaction that creates it (nothing once stopping)."""
        if self._stop:
            return None
        return tx.Eager(
            self.identity,
            time.time(),
            self.lease_seconds,
            self.registry.workflows,
            self.registry.activities,
            self.activities.max_concurrent - len(self.activities.running),
        )

    def _run_workflow_task(self, claim: tx.WorkflowClaim, stats: WorkStats, failed_here: set[int]) -> None:
        """Run a claimed workflow task, then start the activities it scheduled and claimed eagerly."""
        result = self.workflows.run(claim, self.clock.now_ms, self._eager())
        self._report(result, stats, failed_here)
        for act in tx.claim_scheduled_activities(self.store, result.activities, time.time(), self.lease_seconds):
            self.activities.start(act, self.registry.activities[act.scheduled.attrs["activity_type"]])

    def _report(self, result: WorkflowTaskResult, stats: WorkStats, failed_here: set[int]) -> None:
        wid = result.claim.run.workflow_id
        stats.workflow_tasks += 1
        stats.events_replayed += result.replayed
        if result.status == "failed":
            assert result.failure is not None
            stats.workflow_task_failures += 1
            failed_here.add(result.claim.task_id)
            log.warning(
                "%s: workflow task failed (attempt %d): %s; retrying in %gs — fix the code and restart the worker",
                wid,
                result.claim.attempt,
                describe_failure(result.failure),
                result.retry_in,
            )
        elif result.status == "lost":
            log.warning(
                "%s: lost the lease on a workflow task (it ran longer than %gs); another worker took it over",
                wid,
                self.lease_seconds,
            )
        elif result.closed:
            last = result.commands[-1]
            log.info("%s: workflow %s — %s", wid, result.closed, describe(last.event_type, last.attrs))
        else:
            log.debug(
                "%s: workflow task done: %s", wid, ", ".join(c.describe() for c in result.commands) or "no new commands"
            )

    def _record(
        self, outcomes: list[AttemptOutcome], stats: WorkStats, failed_here: set[int], *, eager_dispatch: bool = True
    ) -> None:
        self._outcomes.extend(outcomes)  # recorded one by one: those a locked database refuses wait here
        while self._outcomes:
            o = self._outcomes[0]
            eager = self._eager() if eager_dispatch else None
            a, wid, n = o.claim.scheduled.attrs, o.claim.run.workflow_id, o.claim.attempt
            try:
                status = tx.finish_activity(
                    self.store,
                    o.claim,
                    self.clock.now_ms(),
                    result=o.result,
                    failure=o.failure,
                    timed_out=o.timed_out,
                    eager=eager,
                )
            except DatabaseError:
                raise
            except Exception as err:
                o = AttemptOutcome(
                    o.claim,
                    failure={
                        "type": type(err).__name__,
                        "non_retryable": True,
                        "attempt": n,
                        "message": storable_text(
                            f"the engine could not record attempt {n} of activity {a['activity_type']}: {err}"
                        ),
                    },
                )
                eager = self._eager() if eager_dispatch else None
                status = tx.finish_activity(self.store, o.claim, self.clock.now_ms(), failure=o.failure, eager=eager)
            if status == "retry" and o.failure is not None:
                log.info(
                    "%s: activity %s attempt %d failed: %s; will retry",
                    wid,
                    a["activity_type"],
                    n,
                    describe_failure(o.failure),
                )
            elif status in ("failed", "timed_out") and o.failure is not None:
                log.warning(
                    "%s: activity %s %s for good on attempt %d: %s",
                    wid,
                    a["activity_type"],
                    status.replace("_", " "),
                    n,
                    describe_failure(o.failure),
                )
            elif status == "dropped":
                log.info(
                    "%s: dropped a late result of activity %s attempt %d (no longer current)",
                    wid,
                    a["activity_type"],
                    n,
                )
            self._outcomes.pop(0)
            stats.activity_attempts += 1
            if eager is not None and eager.workflow is not None:  # the workflow task it scheduled, claimed with it
                self._run_workflow_task(eager.workflow, stats, failed_here)

    def _renew_leases(self) -> None:
        real = time.time()
        if self.activities.running and real - self._renewed > self.lease_seconds / 3:
            self.store.renew_leases(self.identity, self.activities.task_ids(), real + self.lease_seconds)
            self._renewed = real

    @contextlib.contextmanager
    def _sandbox_session(self) -> Iterator[None]:
        """One sandbox session for the whole loop: its setup is too costly per task."""
        if self.sandbox is None:
            yield
            return
        from .. import sandbox

        for module in self.registry.modules.values():
            sandbox.register_module(module)
        with sandbox.session():
            yield


def _human(seconds: float) -> str:
    """``1.5s``, ``18m``, ``2d 3h``: how long a wait is, at a glance."""
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, hours, days = seconds / 60, seconds / 3600, int(seconds // 86400)
    if minutes < 60:
        return f"{minutes:.0f}m"
    if hours < 24:
        return f"{hours:.1f}h"
    return f"{days}d {int(seconds % 86400 // 3600)}h"
