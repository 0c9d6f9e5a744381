"""Executing activity attempts in threads, so the worker loop stays free and a timed-out
attempt can be abandoned.

Each attempt runs in a daemon thread of the runner's pool with ``activity.info()`` set; an
``async def`` activity runs in that thread on the thread's own event loop (an
``asyncio.Runner`` kept for the thread's life: what ``asyncio.run`` does, without creating
and closing a loop per attempt; tasks an attempt leaves behind are cancelled when it
returns, as ``asyncio.run`` would). Pool threads are reused
(starting a thread per attempt cost more than a short activity) and exit after
``_IDLE_SECONDS`` without work; an attempt that finds no idle thread starts a new one, so an
abandoned (timed-out) attempt that is still running never takes a slot from the next one. When an attempt outlives its
``start_to_close_timeout`` the worker records it as timed out and stops waiting for it —
Python cannot kill a thread, so the function keeps running until it returns, and whatever
it returns then is dropped. Activities that must stop promptly should check for
cancellation themselves (or run their real work in a subprocess).
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import activity
from ..core.failures import failure_of
from ..definitions import ActivityDefinition, PayloadError, to_payload
from .hooks import FaultHooks
from .transitions import ActivityClaim


@dataclass
class AttemptOutcome:
    claim: ActivityClaim
    result: Any = None
    failure: dict[str, Any] | None = None
    timed_out: bool = False


_IDLE_SECONDS = 30.0
_local = threading.local()


def _run_async(coro: Any) -> Any:
    """``asyncio.run(coro)`` on this thread's persistent loop, in a copy of the current context."""
    runner: asyncio.Runner | None = getattr(_local, "runner", None)
    if runner is None:
        runner = _local.runner = asyncio.Runner()
    try:
        return runner.run(coro, context=contextvars.copy_context())
    finally:
        try:
            loop = runner.get_loop()
            leftovers = asyncio.all_tasks(loop)
            if leftovers:  # what asyncio.run does on exit: cancel them and let them finish
                for task in leftovers:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        except Exception:
            _close_runner()


def _close_runner() -> None:
    runner = getattr(_local, "runner", None)
    _local.runner = None
    if runner is not None:
        try:
            runner.close()
        except Exception:
            pass


class _PoolThread:
    """A daemon thread that runs attempts handed to it, then waits for the next."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        threading.Thread(target=self._main, daemon=True, name="replaytest activity").start()

    def _main(self) -> None:
        while True:
            try:
                job = self.jobs.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                with self.pool.lock:
                    exiting = self in self.pool.idle  # nobody picked this thread meanwhile: exit
                    if exiting:
                        self.pool.idle.remove(self)
                if exiting:
                    _close_runner()
                    return
                job = self.jobs.get()  # picked just now: its job is on the way
            try:
                job()
            finally:
                with self.pool.lock:
                    self.pool.idle.append(self)


class _Pool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_PoolThread] = []

    def submit(self, job: Callable[[], None]) -> None:
        with self.lock:
            thread = self.idle.pop() if self.idle else None
        if thread is None:
            thread = _PoolThread(self)
        thread.jobs.put(job)


@dataclass
class _Running:
    claim: ActivityClaim
    deadline: float | None  # time.monotonic() after which the attempt has timed out


class ActivityRunner:
    def __init__(self, max_concurrent: int = 8) -> None:
        self.max_concurrent = max_concurrent
        self.running: dict[tuple[int, int], _Running] = {}
        self._done: queue.Queue[tuple[tuple[int, int], AttemptOutcome]] = queue.Queue()
        self._pool = _Pool()
        self.faults: FaultHooks | None = None  # sees (and may fail) each attempt before it runs

    @property
    def has_capacity(self) -> bool:
        return len(self.running) < self.max_concurrent

    def task_ids(self) -> list[int]:
        return [key[0] for key in self.running]

    def start(self, claim: ActivityClaim, defn: ActivityDefinition) -> None:
        a = claim.scheduled.attrs
        info = activity.ActivityInfo(
            claim.run.workflow_id, claim.run.run_id, a["activity_id"], a["activity_type"], claim.attempt
        )
        key = (claim.task_id, claim.attempt)
        timeout = a.get("start_to_close_timeout")
        self.running[key] = _Running(claim, time.monotonic() + timeout if timeout else None)
        args = list(a["input"])
        self._pool.submit(lambda: self._execute(key, claim, defn, args, info))

    def _execute(
        self,
        key: tuple[int, int],
        claim: ActivityClaim,
        defn: ActivityDefinition,
        args: list[Any],
        info: activity.ActivityInfo,
    ) -> None:
        activity._info.set(info)  # this attempt's, in the pool thread's context
        try:
            if self.faults is not None:
                self.faults.before_activity(info)  # may raise an injected failure or let virtual time pass
            value = _run_async(defn.fn(*args)) if defn.is_async else defn.fn(*args)
            outcome = AttemptOutcome(claim, result=to_payload(value, f"the result of activity {defn.name}"))
        except PayloadError as e:  # retrying cannot make a value JSON
            outcome = AttemptOutcome(claim, failure={"type": "PayloadError", "message": str(e), "non_retryable": True})
        except BaseException as e:
            timed_out = bool(getattr(e, "injected_timeout", False))  # a fault plan's pretend timeout
            try:
                failure = failure_of(e)
            except Exception as err:
                failure = {"type": type(e).__name__, "message": f"<could not describe it: {type(err).__name__}>"}
            outcome = AttemptOutcome(claim, failure=failure, timed_out=timed_out)
        if outcome.failure is not None:
            outcome.failure.setdefault("attempt", claim.attempt)
        self._done.put((key, outcome))

    def collect(self, wait: float = 0.0) -> list[AttemptOutcome]:
        """Finished and timed-out attempts; waits up to ``wait`` seconds when there are none."""
        out: list[AttemptOutcome] = []
        if wait > 0 and self._done.empty():
            until = min(time.monotonic() + wait, self._next_deadline())
            try:
                self._accept(self._done.get(timeout=max(0.0, until - time.monotonic())), out)
            except queue.Empty:
                pass
        while not self._done.empty():
            self._accept(self._done.get_nowait(), out)
        now = time.monotonic()
        for key, r in list(self.running.items()):
            if r.deadline is not None and now >= r.deadline:
                del self.running[key]
                a = r.claim.scheduled.attrs
                out.append(
                    AttemptOutcome(
                        r.claim,
                        timed_out=True,
                        failure={
                            "type": "StartToCloseTimeout",
                            "attempt": r.claim.attempt,
                            "message": f"activity {a['activity_type']} attempt {r.claim.attempt} did not finish within its "
                            f"start_to_close_timeout of {a['start_to_close_timeout']:g}s; the attempt was abandoned",
                        },
                    )
                )
        return out

    def _accept(self, item: tuple[tuple[int, int], AttemptOutcome], out: list[AttemptOutcome]) -> None:
        key, outcome = item
        if self.running.pop(key, None) is not None:  # else: an abandoned attempt's late result
            out.append(outcome)

    def _next_deadline(self) -> float:
        return min((r.deadline for r in self.running.values() if r.deadline is not None), default=float("inf"))
