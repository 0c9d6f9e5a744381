"""Deadlock detection: a workflow activation that does not yield within a limit is interrupted.

Workflow code runs in the worker's own thread, between two awaits, until every coroutine
waits again. A busy loop (``while True: pass``) or a call that never returns would hold that
thread forever: the worker runs nothing else, ignores ``stop()`` (SIGTERM), and other workers
that take the task over after its lease expires hang the same way. Like Temporal's deadlock
detection ("workflow didn't yield within 2 seconds"), the worker fails such a workflow task
with a clear ``PotentialDeadlock`` at the line the code was stuck on, and goes on.

How. One daemon thread for the process looks every ``limit / 4`` seconds at the activations
being watched (``watching``; it sleeps while there are none). When the same run of the workflow loop has gone on for ``limit``, it
notes the stuck thread's innermost user line (``sys._current_frames``) and raises
:class:`Interrupted` in that thread with ``PyThreadState_SetAsyncExc`` -- what the Temporal
Python SDK does too. The exception derives from ``BaseException`` so the workflow's own
``except Exception`` cannot swallow it, and it is raised again every ``limit`` while the code
still does not yield. The runner then fails the task as a potential deadlock whatever the
code did with it.

Why this design: the simplest that keeps the worker one thread and the sandbox per thread.
``sys.settrace`` would slow every line of workflow code and fight a debugger for the trace
hook; running each workflow task in a child process would copy the whole cached ``Execution``
across a process boundary per task; a thread per task would leave a stuck thread holding the
sandbox's swapped ``random`` state. The limit: Python delivers an asynchronous exception only
between bytecodes, so code stuck *inside* one C call (a huge ``re`` match, a lock wait)
is interrupted only when that call returns; the worker logs the line it is stuck on.

Only the thread that enters ``watching`` is ever interrupted, only while the block is open;
on leaving, a still-pending interruption is raised and dropped there (``_absorb``), and one
delivered while leaving surfaces from the ``with`` statement, where the runner catches it. So
no interruption outlives its block, and none is left pending for a thread that ends. Under a debugger (a trace function
set) nothing is interrupted: a breakpoint is not a deadlock.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from ..core.frames import is_user_file, user_frame, user_source
from ..core.interrupts import raise_in
from ..report.source import Source
from .errors import EngineError

log = logging.getLogger("replaytest.engine")

DEFAULT_DEADLOCK_TIMEOUT = 2.0  # seconds, Temporal's default


class Interrupted(BaseException):
    """Raised inside workflow code that did not yield within the deadlock timeout."""


class _Loop(Protocol):
    turns: int

    def is_running(self) -> bool: ...


@dataclass
class Deadlock:
    """What the watchdog saw: how long, and where the code was stuck."""

    seconds: float
    source: Source | None = None
    stack: str = ""

    def failure(self) -> dict[str, Any]:
        f: dict[str, Any] = {
            "type": "PotentialDeadlock",
            "message": (
                f"potential deadlock: workflow code ran for {self.seconds:g} s without yielding (a busy loop, "
                "or a blocking call?); do slow or blocking work in an activity"
            ),
            "stack": self.stack,
        }
        if self.source is not None:
            f["source"] = {"file": self.source.file, "line": self.source.line, "function": self.source.function}
        return f


@dataclass(eq=False)
class _Watch:
    thread_id: int
    loop: _Loop
    what: str
    limit: float
    seen: tuple[int, bool] = (-1, False)
    since: float = 0.0
    deadlock: Deadlock | None = None
    fired: float = 0.0  # when it was first interrupted
    told: bool = False  # that it still does not yield


# One daemon thread serves every worker in the process; it sleeps on an Event while nothing is watched.
_lock = threading.Lock()
_watches: set[_Watch] = set()
_wake = threading.Event()
_thread: threading.Thread | None = None


class Watchdog:
    """Interrupts an activation of a watched loop that runs longer than ``limit`` seconds
    (None: never)."""

    def __init__(self, limit: float | None = DEFAULT_DEADLOCK_TIMEOUT) -> None:
        if limit is not None and not (isinstance(limit, (int, float)) and 0 < limit < float("inf")):
            raise EngineError(f"deadlock_timeout must be a positive number of seconds or None, not {limit!r}")
        self.limit = limit

    @contextmanager
    def watching(self, loop: _Loop, what: str, found: list[Deadlock]) -> Iterator[None]:
        """Watch ``loop``'s activations in this thread for the block; a deadlock it finds is
        appended to ``found`` when the block is left (also when it raised)."""
        if self.limit is None or sys.gettrace() is not None:
            yield
            return
        watch = _Watch(threading.get_ident(), loop, what, self.limit, _progress(loop), time.monotonic())
        with _lock:
            _watches.add(watch)
            _start()
        _wake.set()
        try:
            yield
        finally:
            with _lock:
                _watches.discard(watch)  # no interruption for this thread after this
                if watch.deadlock is not None:
                    found.append(watch.deadlock)
            if watch.deadlock is not None:
                _absorb()


def _start() -> None:
    """Under the lock: the watchdog thread, if it is not running."""
    global _thread
    if _thread is None or not _thread.is_alive():
        _thread = threading.Thread(target=_run, name="replaytest deadlock watchdog", daemon=True)
        _thread.start()


def _run() -> None:
    while True:
        with _lock:
            period = min((w.limit for w in _watches), default=None)
            if period is None:
                _wake.clear()
        if period is None:
            _wake.wait()  # nothing watched: no CPU until a workflow task starts
            continue
        time.sleep(period / 4)
        with _lock:
            for watch in _watches:
                _check(watch)


def _check(watch: _Watch) -> None:
    """Under the lock: interrupt ``watch``'s thread if one activation has run ``limit`` seconds."""
    now, limit = time.monotonic(), watch.limit
    seen = _progress(watch.loop)
    if seen != watch.seen:  # the code yielded (a new activation), or the loop stopped or started
        watch.seen, watch.since = seen, now
        return
    if not seen[1] or now - watch.since < limit:
        return
    first = watch.deadlock is None
    if first:
        frame = sys._current_frames().get(watch.thread_id)
        deadlock = Deadlock(limit, user_source(frame), _stack(frame))
    if _progress(watch.loop) != seen:
        return  # it yielded while we looked: nothing to interrupt
    raise_in(watch.thread_id, Interrupted)  # before logging: writing a log line lets the thread run on
    if first:
        watch.deadlock, watch.fired = deadlock, now
        where = deadlock.source
        log.warning(
            "%s: potential deadlock: workflow code did not yield within %g s%s; interrupting it",
            watch.what,
            limit,
            f" (at {where.file}:{where.line})" if where else "",
        )
    elif now - watch.fired >= 4 * limit and not watch.told:
        watch.told = True
        log.warning(
            "%s: workflow code still does not yield after being interrupted (stuck inside a call that does "
            "not return, or it catches BaseException?); this worker can do nothing else until it does",
            watch.what,
        )
    watch.since = now  # again after another limit, while it is still stuck


def _progress(loop: _Loop) -> tuple[int, bool]:
    """What changes when the code yields (a new run of the loop) or the loop stops or starts."""
    return loop.turns, loop.is_running()


def _absorb() -> None:
    """Let an interruption still pending for this thread be raised here, and drop it (a loop's
    backward jump is where CPython raises it). Not ``PyThreadState_SetAsyncExc(id, NULL)``: on
    CPython 3.11 clearing one that way leaves the interpreter's eval breaker set for good, and a
    traced generator then spins forever at its first line."""
    try:
        for _ in range(8):
            pass
    except Interrupted:
        pass


def _stack(frame: types.FrameType | None) -> str:
    """The user's frames of the stuck stack, innermost last, as a traceback prints them."""
    inner = user_frame(frame)
    if inner is None:
        return ""
    lines = [s for s in traceback.extract_stack(inner, limit=16) if is_user_file(s.filename)]
    return "".join(traceback.format_list(lines[-8:])).replace(os.getcwd() + os.sep, "")
