"""An AWS replay bounded in time (``--timeout`` / ``--replay-timeout``).

Handler code runs on the SDK's own threads (the invocation's worker, one per map item or
parallel branch), and the SDK joins them: SIGALRM in the main thread cannot stop an endless
loop there, and a stuck thread cannot be killed in CPython. So the invocation runs in a
daemon thread of ours while the caller waits for it with the limit. When the limit passes,
:class:`Timeout` is raised inside every thread that is running handler code at that moment
(``PyThreadState_SetAsyncExc``, as the engine's deadlock watchdog and temporalio do): a
BaseException, so neither the handler's ``except Exception`` nor the SDK keeps it, and the SDK
unwinds the invocation. The history fails with one line naming the file, the limit, the line
the code was running and the last operation it issued.

Code that never gets back to Python bytecode (one C call that does not return, a lock waited
on forever) or that catches BaseException in its loop cannot be interrupted: after a grace
period its replay is given up and left running. The SDK's thread pools are daemon pools
(:class:`DaemonPool`) during a bounded replay, so such a thread never keeps the process from
exiting. A pending interruption is never cleared (``SetAsyncExc(id, NULL)`` leaves CPython
3.11's eval breaker set for good): each thread is interrupted at most once, while it is inside
handler code.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ...report.divergence import ReplayTimeout
from .. import timeout_message
from .run import Run, _Stop

#: seconds an interrupted replay gets to unwind before it is given up
GRACE = 2.0


class Timeout(_Stop):
    """Raised in handler threads still running when the replay's limit passed."""


def call(invoke: Callable[[], Any], rt: Run, seconds: float, flag: str, display: str) -> Any:
    """``invoke()`` (the SDK's invocation), or a ReplayTimeout once it has run ``seconds``."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = invoke()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name="replaytest-aws-replay", daemon=True).start()
    try:
        finished = done.wait(seconds)
    except BaseException:  # a real Ctrl-C while the handler runs: stop its code too, then stop the run
        rt.interrupt(Timeout, set())
        raise
    if finished:
        if "error" in box:
            raise box.pop("error")
        return box["value"]
    stuck = rt.code_source()
    interrupted: set[int] = set()
    deadline = time.monotonic() + GRACE
    while True:
        rt.interrupt(Timeout, interrupted)  # threads that entered handler code since: once each
        if done.wait(0.05) or time.monotonic() > deadline:
            break
    box.clear()
    line = timeout_message(display, seconds, flag, stuck, rt.last_issued(), code="handler code")
    if not done.is_set():
        line += (
            "; its thread could not be stopped (inside a call that does not return, or catching BaseException) "
            "and is left running"
        )
    raise ReplayTimeout(line)


class DaemonPool(concurrent.futures.ThreadPoolExecutor):
    """The SDK's thread pools during a bounded replay: the same contract (submit, shutdown,
    ``with``), on daemon threads that are not joined when the interpreter exits, so a handler
    thread that could not be stopped never keeps the process alive."""

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        super().__init__(max_workers, thread_name_prefix, initializer, initargs)  # starts no thread
        self._jobs: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._own: list[threading.Thread] = []
        self._guard = threading.Lock()
        self._idle = threading.Semaphore(0)  # threads waiting for a job, as ThreadPoolExecutor counts them
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._guard:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._jobs.put((future, lambda: fn(*args, **kwargs)))
            if self._idle.acquire(blocking=False):
                return future  # a thread that finished its job takes this one
            if len(self._own) < self._max_workers:  # never fewer threads than a ThreadPoolExecutor
                name = f"{self._thread_name_prefix or 'replaytest-aws'}_{len(self._own)}"
                t = threading.Thread(target=self._serve, name=name, daemon=True)
                t.start()
                self._own.append(t)
        return future

    def _serve(self) -> None:
        if self._initializer is not None:
            self._initializer(*self._initargs)
        while (job := self._jobs.get()) is not None:
            future, work = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as e:
                    future.set_exception(e)
            del job, future, work
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._guard:
            self._closed = True
            threads = list(self._own)
        if cancel_futures:
            try:
                while (job := self._jobs.get_nowait()) is not None:
                    job[0].cancel()
            except queue.Empty:
                pass
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for t in threads:
                if t is not threading.current_thread():
                    t.join()
