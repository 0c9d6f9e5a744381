"""The workflow event loop: a FIFO of ready callbacks and nothing else.

No clock, no I/O, no threads — so ``asyncio.gather``, tasks and futures work inside workflow
code and always run in the same order, live and on replay. Durable waiting goes through
workflow commands (``workflow.sleep``), never through the loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from collections.abc import Callable
from typing import Any

#: Bound once (run_until_idle runs once per workflow task).
_get_running_loop, _set_running_loop = asyncio.events._get_running_loop, asyncio.events._set_running_loop


#: An empty asyncio.Handle, its slots filled by call_soon (Handle.__init__ less its frame and debug
#: check) -- when they are the slots this Python's Handle has; else Handle() itself.
_new_handle = asyncio.Handle.__new__
_SLOTS_KNOWN = set(asyncio.Handle.__slots__) - {"__weakref__"} == {
    "_callback",
    "_args",
    "_cancelled",
    "_loop",
    "_source_traceback",
    "_repr",
    "_context",
}


class WorkflowLoop(asyncio.AbstractEventLoop):
    """Runs ready callbacks in FIFO order until none is left. Timers and I/O do not exist
    here: durable waiting goes through workflow commands (``workflow.sleep``)."""

    def __init__(self) -> None:
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._running = False
        self.stop_requested = False
        self.turns = 0  # runs of run_until_idle so far: how a watchdog sees the code yield

    # The signatures below are looser than typeshed's generic ones (mypy: override).
    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., Any],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        if not _SLOTS_KNOWN:
            handle = asyncio.Handle(callback, args, self, context)
        else:  # once per wake-up of workflow code
            handle = _new_handle(asyncio.Handle)
            handle._context = contextvars.copy_context() if context is None else context  # type: ignore[attr-defined]
            handle._loop, handle._callback, handle._args = self, callback, args  # type: ignore[attr-defined]
            handle._cancelled, handle._repr, handle._source_traceback = False, None, None  # type: ignore[attr-defined]
        self._ready.append(handle)
        return handle

    call_soon_threadsafe = call_soon  # type: ignore[assignment]

    def call_later(  # type: ignore[override]
        self,
        delay: float,
        callback: Callable[..., Any],
        *args: Any,
        context: Any = None,
    ) -> asyncio.TimerHandle:
        raise RuntimeError(
            "asyncio.sleep(), asyncio.wait_for() and other asyncio timeouts are not durable inside a workflow; "
            "use `await workflow.sleep(...)` or `workflow.wait_for_signal(..., timeout=...)`"
        )

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., Any],
        *args: Any,
        context: Any = None,
    ) -> asyncio.TimerHandle:
        return self.call_later(0, callback)

    def time(self) -> float:
        return 0.0

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(
        self, coro: Any, *, name: str | None = None, context: contextvars.Context | None = None
    ) -> asyncio.Task[Any]:
        return asyncio.Task(coro, loop=self, name=name, context=context)

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return False

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        pass  # an un-awaited background task that failed: asyncio would only log it

    def run_until_idle(self) -> None:
        previous = _get_running_loop()
        _set_running_loop(self)
        self._running = True
        self.turns += 1
        ready = self._ready
        try:
            while ready and not self.stop_requested:
                handle: Any = ready.popleft()  # its slots are read directly (Handle._run less its frame)
                if handle._cancelled:
                    continue
                try:  # Handle._run, less the frame: this is the inner loop of every replay
                    handle._context.run(handle._callback, *handle._args)
                except KeyboardInterrupt:
                    raise
                except BaseException:
                    # Handle._run hands an exception to call_exception_handler (which ignores it here);
                    # SystemExit: sys.exit() in workflow code, set on its task, which fails like any other bug
                    pass
        finally:
            self._running = False
            _set_running_loop(previous)


#: The loop's frame marks the outer edge of workflow code on a stack (see ``frames``).
RUN_UNTIL_IDLE = WorkflowLoop.run_until_idle.__code__
