"""A long-lived temporalio replay worker, fed one history at a time.

``Replayer.replay_workflow`` builds and tears down a Core replay worker per call (~16 ms for a
small history); ``workflow_replay_iterator`` keeps one worker for a stream of histories
(~10 ms each). pytest hands us histories one item at a time, so the stream is an async
generator fed from a queue by a background thread with its own event loop: each item pushes
its history and blocks until its result comes back. One worker per (workflow classes,
sandbox) per process, stopped when the session ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from dataclasses import dataclass
from typing import Any, AsyncIterator, Sequence

from temporalio.client import WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowReplayResult
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from .capture import Capture, CaptureInterceptor, take

THREAD_PREFIX = "replaytest-temporal"

_runtime: Runtime | None = None


def _quiet_runtime() -> Runtime:
    """Core's own log lines repeat what our report says better: errors only."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(
            filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))))
    return _runtime


class _OurThreads(logging.Filter):
    """Drop temporalio's "Failed activation" log records emitted while *we* replay (our
    report has them); the user's own workers keep logging as configured."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.threadName.startswith(THREAD_PREFIX)


_FILTER = _OurThreads()
for _name in ("temporalio.worker._workflow_instance", "temporalio.worker._workflow", "temporalio.workflow",
              "temporalio.worker.workflow_sandbox._restrictions"):
    logging.getLogger(_name).addFilter(_FILTER)


Outcome = tuple[WorkflowReplayResult, Capture]


@dataclass
class _Job:
    history: WorkflowHistory
    future: concurrent.futures.Future[Outcome]


class ReplayWorker:
    """One Replayer over ``workflows``, replaying histories pushed with :meth:`replay`."""

    def __init__(self, workflows: Sequence[type], sandboxed: bool = True, debug_mode: bool = False) -> None:
        self.workflows = list(workflows)
        self.sandboxed = sandboxed
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[_Job | None] | None = None
        self._current: _Job | None = None
        self._broken: BaseException | None = None
        self._ready = threading.Event()
        runner = SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner()
        self._replayer = Replayer(
            workflows=self.workflows, workflow_runner=runner, interceptors=[CaptureInterceptor()], runtime=_quiet_runtime(),
            debug_mode=debug_mode,
            workflow_task_executor=concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                                         thread_name_prefix=THREAD_PREFIX))
        self._thread = threading.Thread(target=self._run, name=f"{THREAD_PREFIX}-loop", daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as e:  # the worker died: fail whoever waits, refuse new work
            self._broken = e
            waiting = [self._current] if self._current is not None else []
            while self._queue is not None and not self._queue.empty():
                waiting.append(self._queue.get_nowait())
            for job in waiting:
                if job is not None and not job.future.done():
                    job.future.set_exception(e)
        finally:
            self._ready.set()
            self._loop.close()

    async def _main(self) -> None:
        self._queue = asyncio.Queue()
        self._ready.set()

        async def feed() -> AsyncIterator[WorkflowHistory]:
            assert self._queue is not None
            while True:
                job = await self._queue.get()
                if job is None:
                    return
                self._current = job
                yield job.history

        async with self._replayer.workflow_replay_iterator(feed()) as results:
            async for result in results:
                job, self._current = self._current, None
                if job is not None:  # runs are replayed one at a time: its capture is complete now
                    capture = take(job.history.workflow_id) or Capture(job.history.workflow_id)
                    job.future.set_result((result, capture))

    @property
    def alive(self) -> bool:
        return self._broken is None and self._thread.is_alive()

    def submit(self, history: WorkflowHistory) -> concurrent.futures.Future[Outcome]:
        """Queue one history; the worker replays queued histories in order."""
        if not self.alive:
            raise RuntimeError(f"the Temporal replay worker stopped: {self._broken!r}")
        job = _Job(history, concurrent.futures.Future())
        assert self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, job)
        return job.future

    def replay(self, history: WorkflowHistory) -> Outcome:
        """Replay one history on the worker thread; block until its result and capture."""
        return self.submit(history).result()

    def close(self) -> None:
        if self._thread.is_alive() and self._queue is not None:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
            self._thread.join(timeout=30)


_workers: dict[tuple[Any, ...], ReplayWorker] = {}
_workers_lock = threading.Lock()


def worker_for(workflows: Sequence[type], sandboxed: bool, debug_mode: bool = False) -> ReplayWorker:
    key = (tuple(id(w) for w in workflows), sandboxed, debug_mode)
    with _workers_lock:
        w = _workers.get(key)
        if w is None or not w.alive:
            w = _workers[key] = ReplayWorker(workflows, sandboxed, debug_mode)
        return w


def close_all() -> None:
    with _workers_lock:
        workers = list(_workers.values())
        _workers.clear()
    for w in workers:
        w.close()
