"""A long-lived temporalio replay worker, fed one history at a time.

``Replayer.replay_workflow`` builds and tears down a Core replay worker per call (~16 ms for a
small history); ``workflow_replay_iterator`` keeps one worker for a stream of histories
(~10 ms each). pytest hands us histories one item at a time, so the stream is an async
generator fed from a queue: each item queues its history and runs the worker's private event
loop until its result comes back. One worker per (workflow classes, sandbox) per process,
stopped when the session ends.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import logging
import queue
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowReplayResult
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from ...report.text import raised
from ._sdk import REPLAY_LOGGERS
from .capture import ORIGIN_DEPTH, Capture, CaptureInterceptor, take

THREAD_PREFIX = "replaytest-temporal"

_runtime: Runtime | None = None


def _quiet_runtime() -> Runtime:
    """Core's own log lines repeat what our report says better: errors only. One per process
    while workers use it; :func:`close_all` lets it go."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
            )
        )
    return _runtime


#: what one replay gives back: temporalio's result and what the code did (capture.py)
Outcome = tuple[WorkflowReplayResult, Capture]


def _track_origins() -> None:
    sys.set_coroutine_origin_tracking_depth(ORIGIN_DEPTH)


_inside = threading.local()  # set while this thread runs a replay worker's loop


class _OurReplays(logging.Filter):
    """Drop temporalio's "Failed activation" log records emitted while *we* replay (our
    report has them); the user's own workers keep logging as configured."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not ((record.threadName or "").startswith(THREAD_PREFIX) or getattr(_inside, "on", False))


_FILTER = _OurReplays()
for _name in REPLAY_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)


class CodeRaised(Exception):
    """Workflow code raised KeyboardInterrupt or SystemExit in an activation. Handed to
    temporalio as an Exception (with the code's traceback), so it fails that workflow task like
    any error; as it was, it would stop the replay worker's event loop and the whole run."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"workflow code raised {raised(error)} (a BaseException)")
        self.__cause__ = error
        self.__traceback__ = error.__traceback__


class _DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """temporalio's workflow task executor: one daemon thread. A ThreadPoolExecutor's threads
    are joined when the interpreter exits, so workflow code blocked forever (a lock acquired
    twice with the sandbox off) would stop the process from ever exiting after its replay was
    given up; a daemon thread does not."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix=THREAD_PREFIX)
        self._jobs: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Any, tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._serve, name=f"{THREAD_PREFIX}-workflow", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        _track_origins()  # workflow code runs in this thread: keep coroutine origins (capture.origin_frame)
        while (job := self._jobs.get()) is not None:
            future, fn, args = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except (KeyboardInterrupt, SystemExit) as e:  # from workflow code: fail its task, not our loop
                    future.set_exception(CodeRaised(e))
                except BaseException as e:
                    future.set_exception(e)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((future, functools.partial(fn, **kwargs) if kwargs else fn, args))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._jobs.put(None)


@dataclass
class _Job:
    history: WorkflowHistory
    future: asyncio.Future[Outcome]


class Pending:
    """A queued history; :meth:`result` runs the worker until its replay is done."""

    def __init__(self, worker: ReplayWorker, future: asyncio.Future[Outcome]) -> None:
        self._worker, self._future = worker, future

    def result(self, timeout: float | None = None) -> Outcome:
        """The replay's outcome; :class:`Stuck` when it has not finished within ``timeout``
        seconds (the worker is then abandoned: the next history gets a fresh one)."""
        return self._worker._wait(self._future, timeout)


class Stuck(Exception):
    """temporalio has not finished a history within the limit; the worker replaying it is
    abandoned (Core waits for events that will never come, and cannot be told to stop)."""


class ReplayWorker:
    """One Replayer over ``workflows``, replaying the histories queued with :meth:`submit`.

    Its event loop runs in the caller's thread, and only while a caller waits for a result:
    no second thread competes for the GIL between replays, and nothing runs when no test is
    replaying. (From inside a running event loop, a helper thread runs it instead.) Workflow
    activations run on temporalio's task executor, so its deadlock detector still works."""

    def __init__(self, workflows: Sequence[type], sandboxed: bool = True, debug_mode: bool = False) -> None:
        self.workflows = list(workflows)
        self.sandboxed = sandboxed
        self._executor = _DaemonExecutor()
        # replaytest's own modules (the capture hooks, the debugger) run inside the sandbox
        # but are not workflow code: they pass through, so nothing of them is re-imported there
        runner = (
            SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("replaytest"))
            if sandboxed
            else UnsandboxedWorkflowRunner()
        )
        self._replayer = Replayer(
            workflows=self.workflows,
            workflow_runner=runner,
            interceptors=[CaptureInterceptor()],
            runtime=_quiet_runtime(),
            debug_mode=debug_mode,
            workflow_task_executor=self._executor,
        )
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[_Job | None] | None = None
        self._current: _Job | None = None
        self._task: asyncio.Task[None] | None = None
        self._abandoned = False
        self._run(self._begin())

    async def _begin(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._main())

    def _run(self, awaitable: Any) -> Any:
        """Run our loop until ``awaitable`` is done."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            _inside.on = True
            depth = sys.get_coroutine_origin_tracking_depth()  # debug mode runs workflow code here
            sys.set_coroutine_origin_tracking_depth(ORIGIN_DEPTH)
            try:
                return self._loop.run_until_complete(awaitable)
            finally:
                _inside.on = False
                sys.set_coroutine_origin_tracking_depth(depth)
        with concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix=THREAD_PREFIX, initializer=_track_origins
        ) as helper:
            return helper.submit(self._loop.run_until_complete, awaitable).result()

    async def _main(self) -> None:
        async def feed() -> AsyncIterator[WorkflowHistory]:
            assert self._queue is not None
            while True:
                job = await self._queue.get()
                if job is None:
                    return
                self._current = job
                yield job.history

        try:
            async with self._replayer.workflow_replay_iterator(feed()) as results:
                async for result in results:
                    job, self._current = self._current, None
                    if job is not None:  # runs are replayed one at a time: its capture is complete now
                        capture = take(job.history.workflow_id) or Capture(job.history.workflow_id)
                        job.future.set_result((result, capture))
        except BaseException as e:  # the worker died: fail whoever waits
            waiting: list[_Job | None] = [self._current]
            while self._queue is not None and not self._queue.empty():
                waiting.append(self._queue.get_nowait())
            for job in waiting:
                if job is not None and not job.future.done():
                    job.future.set_exception(RuntimeError(f"the Temporal replay worker stopped: {e!r}"))
            raise

    @property
    def alive(self) -> bool:
        return not self._abandoned and self._task is not None and not self._task.done() and not self._loop.is_closed()

    def submit(self, history: WorkflowHistory) -> Pending:
        """Queue one history; queued histories replay in order."""
        if not self.alive:
            raise RuntimeError("the Temporal replay worker stopped")
        assert self._queue is not None
        job = _Job(history, self._loop.create_future())
        self._queue.put_nowait(job)
        return Pending(self, job.future)

    def _wait(self, future: asyncio.Future[Outcome], timeout: float | None = None) -> Outcome:
        if not future.done():
            assert self._task is not None
            self._run(asyncio.wait([future, self._task], timeout=timeout, return_when=asyncio.FIRST_COMPLETED))
        if not future.done():
            if self._task is not None and not self._task.done():
                self._abandon()
                raise Stuck()
            raise RuntimeError("the Temporal replay worker stopped before replaying this history")
        return future.result()

    def _abandon(self) -> None:
        """Give up on this worker without waiting for it: its loop never runs again, and it is
        kept referenced (never collected half-way) until the process ends."""
        self._abandoned = True
        _abandoned.append(self)
        with _workers_lock:
            for key, w in list(_workers.items()):
                if w is self:
                    del _workers[key]

    def close(self) -> None:
        if self._loop.is_closed() or self._abandoned:
            return
        try:
            if self.alive and self._queue is not None:
                self._queue.put_nowait(None)
                self._run(asyncio.wait_for(asyncio.shield(self._task), 30))  # type: ignore[arg-type]
        except BaseException:
            pass
        finally:
            self._loop.close()
            self._executor.shutdown(wait=False)
            del self._replayer  # with it goes this worker's hold on the Core runtime


_workers: dict[tuple[Any, ...], ReplayWorker] = {}
_abandoned: list[ReplayWorker] = []
_workers_lock = threading.Lock()


def worker_for(workflows: Sequence[type], sandboxed: bool, debug_mode: bool = False) -> ReplayWorker:
    key = (tuple(id(w) for w in workflows), sandboxed, debug_mode)
    with _workers_lock:
        w = _workers.get(key)
        if w is None or not w.alive:
            w = _workers[key] = ReplayWorker(workflows, sandboxed, debug_mode)
        return w


@atexit.register
def close_all() -> None:
    """Stop every worker, then let the Core runtime go while the interpreter is still whole.

    Dropping the last reference to a temporalio ``Runtime`` stops its Tokio threads (Core
    releases the GIL and joins them). Left running until the interpreter finalizes, one of
    them can call into Python as it goes away, which aborts the process -- SIGABRT,
    "PyGILState_Release: thread state ... must be current when releasing" -- after a run whose
    every test passed. A worker given up as stuck keeps its hold (its loop is never collected
    half-way), so then the runtime stays."""
    global _runtime
    with _workers_lock:
        workers = list(_workers.values())
        _workers.clear()
    while workers:
        workers.pop().close()
    if not _abandoned:
        _runtime = None
