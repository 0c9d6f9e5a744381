"""The deterministic core that runs workflow code, live in the engine and on replay.

``WorkflowLoop`` is a tiny asyncio-compatible event loop: a FIFO of ready callbacks and
nothing else — no clock, no I/O, no threads — so ``asyncio.gather``, tasks and futures work
and always run in the same order. ``Execution`` is one workflow run: it wakes the code with
outcome events (an activity finished, a timer fired, a signal came), runs the loop until
every coroutine is blocked again (one *workflow task*), and collects the commands the code
issued. On replay each command is matched against the recorded event the moment it is
issued, and a mismatch is raised *inside* the workflow coroutine at the divergent ``await``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import inspect
import random
import sys
from datetime import datetime
from typing import Any, Callable, Iterator, Sequence

from . import commands as cmds
from .commands import Command, Source
from .definitions import ActivityError, ApplicationError, WorkflowDefinition, to_payload
from .divergence import Divergence, NondeterminismError, WorkflowTaskError, timeline
from .sources import LIBRARY_DIRS as _LIBRARY_DIRS
from .sources import blocked_source, exception_source, failure_of, return_source, source_at
from .history import Event



class WorkflowLoop(asyncio.AbstractEventLoop):
    """Runs ready callbacks in FIFO order until none is left. Timers and I/O do not exist
    here: durable waiting goes through workflow commands (``workflow.sleep``)."""

    def __init__(self) -> None:
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._running = False
        self.stop_requested = False

    def call_soon(self, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    call_soon_threadsafe = call_soon

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any, context: Any = None) -> asyncio.TimerHandle:
        raise RuntimeError(
            "asyncio.sleep(), asyncio.wait_for() and other asyncio timeouts are not durable inside a workflow; "
            "use `await workflow.sleep(...)` or `workflow.wait_for_signal(..., timeout=...)`"
        )

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any, context: Any = None) -> asyncio.TimerHandle:
        return self.call_later(0, callback)

    def time(self) -> float:
        return 0.0

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(self, coro: Any, *, name: str | None = None, context: contextvars.Context | None = None) -> asyncio.Task[Any]:
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
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        self._running = True
        try:
            while self._ready and not self.stop_requested:
                self._ready.popleft()._run()
        finally:
            self._running = False
            asyncio.events._set_running_loop(previous)


def user_source(frame: Any = None) -> Source | None:
    """The innermost frame that is workflow code (not replaytest's, not asyncio's), looking
    no further out than the workflow loop."""
    f = frame or sys._getframe(1)
    while f is not None:
        if f.f_code is _RUN_UNTIL_IDLE:
            return None
        filename = f.f_code.co_filename
        if not filename.startswith(_LIBRARY_DIRS) and not filename.startswith("<"):
            return source_at(filename, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return None


_RUN_UNTIL_IDLE = WorkflowLoop.run_until_idle.__code__


def awaiting_frame(frame: Any) -> Any:
    """The innermost workflow-code frame from ``frame`` outwards, within the workflow loop; None
    when there is none: a ``workflow.*`` awaitable run as a task of its own (``asyncio.gather``)
    is called from asyncio, and the workflow code that waits for it is suspended, not on the stack."""
    f = frame
    while f is not None and f.f_code is not _RUN_UNTIL_IDLE:
        filename = f.f_code.co_filename
        if not filename.startswith(_LIBRARY_DIRS) and not filename.startswith("<"):
            return f
        f = f.f_back
    return None


_current: contextvars.ContextVar["Execution"] = contextvars.ContextVar("replaytest_execution")


def current() -> "Execution":
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("this workflow function can only be called from workflow code running under replaytest") from None


class Execution:
    """One workflow run's in-memory state, rebuilt from history after any crash."""

    def __init__(self, defn: WorkflowDefinition, *, workflow_id: str, run_id: str, args: list[Any], seed: int,
                 history: Sequence[Event] = (), args_mismatch: str = "error", sandbox: str | None = "strict",
                 observer: Any = None, history_source: str = "") -> None:
        self.history_source = history_source  # the file, for reports
        self.defn, self.workflow_id, self.run_id, self.args, self.seed = defn, workflow_id, run_id, args, seed
        self.history = history            # for reports: the events this execution is matched against
        self.args_mismatch = args_mismatch
        self.sandbox_mode = sandbox       # None: no sandbox at all (time and `random` module untouched)
        self.observer = observer          # the debugger's hooks, when one is attached
        self.loop = WorkflowLoop()
        self.rng = random.Random(seed)
        self.rng_in_module = False        # True while the sandbox holds our state in `random`
        self.module_registered = False
        self.sandbox_held = False         # inside sandboxed(): one block for all tasks
        self.now: datetime | None = None
        self.context = contextvars.copy_context()
        self.context.run(_current.set, self)
        self.main: asyncio.Task[Any] | None = None
        self.closed = False
        self.counters: collections.Counter[str] = collections.Counter()
        self.activities: dict[str, tuple[asyncio.Future[Any], str]] = {}
        self.timers: dict[str, asyncio.Future[Any]] = {}
        self.signal_buffer: dict[str, collections.deque[tuple[Any, int]]] = collections.defaultdict(collections.deque)
        self.signal_waiters: dict[str, collections.deque[asyncio.Future[Any]]] = collections.defaultdict(collections.deque)
        self.patches: dict[str, bool] = {}
        self.warnings: list[str] = []
        self.divergence: NondeterminismError | None = None
        # per workflow task
        self.expected: Sequence[Event] | None = None
        self.pos = 0
        self.next_recorded: Event | None = None
        self.new_commands: list[Command] = []

    # ---------------------------------------------------------------- running a task
    def activate(self, outcomes: Sequence[Event], now: datetime, expected: Sequence[Event] | None = None,
                 next_recorded: Event | None = None) -> list[Command]:
        """Run one workflow task: feed ``outcomes``, run until blocked, return new commands.

        ``expected`` are the command events history recorded for this task (replay); the
        code's commands are matched against them in order. Without it (live), every command
        is new. ``next_recorded`` is the event history recorded after them, if any: then a
        further command is a divergence, not a new step. Raises NondeterminismError or
        WorkflowTaskError.
        """
        self.now, self.expected, self.pos = now, expected, 0
        self.next_recorded, self.new_commands = next_recorded, []
        if self.main is None:
            self.main = self.context.run(self.loop.create_task, self.defn.fn(*self.args))
        for event in outcomes:
            self._apply(event)
        self._run_loop()
        if self.divergence is not None:
            raise self.divergence
        if self.main.done() and not self.closed:
            self._close()
        if expected is not None and self.pos < len(expected):
            self._missing(expected[self.pos])
        return self.new_commands

    def _run_loop(self) -> None:
        if self.sandbox_mode is None:
            self.loop.run_until_idle()
            return
        from . import sandbox

        assert self.now is not None
        if self.sandbox_held:  # one block for the whole replay: only the clock moves per task
            sandbox.move_to(self.now)
            self.loop.run_until_idle()
            return
        self._register_module(sandbox)
        self.rng_in_module = True
        try:
            with sandbox.workflow_code(self.now, self.rng, mode=self.sandbox_mode, on_violation=self._sandbox_warning):
                self.loop.run_until_idle()
        finally:
            self.rng_in_module = False

    def _register_module(self, sandbox: Any) -> None:
        if not self.module_registered:  # covers `from time import sleep` in the workflow's module
            self.module_registered = True
            if (module := sys.modules.get(self.defn.fn.__module__)) is not None:
                sandbox.register_module(module)

    @contextlib.contextmanager
    def sandboxed(self, start: datetime) -> Iterator[None]:
        """Hold one sandbox block across many workflow tasks — for replay, where only
        replaytest's own code runs between tasks — instead of entering one per task
        (which costs ~15–30 µs: the lock and four copies of the generator state)."""
        if self.sandbox_mode is None:
            yield
            return
        from . import sandbox

        self._register_module(sandbox)
        with sandbox.workflow_code(start, self.rng, mode=self.sandbox_mode, on_violation=self._sandbox_warning):
            self.sandbox_held = self.rng_in_module = True
            try:
                yield
            finally:
                self.sandbox_held = self.rng_in_module = False

    def _sandbox_warning(self, violation: Exception) -> None:
        self.warnings.append(f"sandbox: {violation}")

    def _apply(self, event: Event) -> None:
        a = event.attrs
        t = event.type
        if t == "ActivityTaskCompleted":
            fut, _ = self.activities.pop(a["activity_id"])
            fut.set_result((a["result"], event))
        elif t in ("ActivityTaskFailed", "ActivityTaskTimedOut"):
            fut, name = self.activities.pop(a["activity_id"])
            fut.set_result((ActivityError(name, a["failure"], timed_out=t == "ActivityTaskTimedOut"), event))
        elif t == "TimerFired":
            fut = self.timers.pop(a["timer_id"])
            if not fut.done():
                fut.set_result((None, event))
        elif t == "WorkflowExecutionSignaled":
            name = a["signal_name"]
            waiters = self.signal_waiters[name]
            while waiters and waiters[0].done():  # a waiter that timed out
                waiters.popleft()
            if waiters:
                waiters.popleft().set_result((a["payload"], event))
            else:
                self.signal_buffer[name].append((a["payload"], event.id))
        if self.observer is not None:
            self.observer.event_applied(self, event)

    def _close(self) -> None:
        assert self.main is not None
        exc = self.main.exception()
        if exc is None:
            result = to_payload(self.main.result(), f"the return value of workflow {self.defn.name}")
            command = cmds.complete_workflow(result)
        elif isinstance(exc, (ApplicationError, ActivityError)):
            command = cmds.fail_workflow(failure_of(exc))
        else:
            src = exception_source(exc)
            raise WorkflowTaskError(self.workflow_id, exc, src, failure_of(exc, src))
        self.closed = True
        self.issue(command)

    # ---------------------------------------------------------------- the command door
    def issue(self, command: Command) -> Event | None:
        """Match ``command`` with history (replay) or keep it as new (live).

        Returns the recorded event it matched, or None for a new command. Called from
        inside workflow code, so a divergence is raised at the user's ``await``.
        """
        if self.divergence is not None:
            raise self.divergence
        expected = self.expected
        if expected is not None and self.pos < len(expected):
            event = expected[self.pos]
            self._compare(command, event)
            self.pos += 1
            return event
        if self.next_recorded is not None:
            self._diverge("extra", self.next_recorded, command)
        self.new_commands.append(command)
        return None

    def replaying(self) -> bool:
        return self.expected is not None and (self.pos < len(self.expected) or self.next_recorded is not None)

    def next_expected(self) -> Event | None:
        if self.expected is not None and self.pos < len(self.expected):
            return self.expected[self.pos]
        return None

    def _compare(self, command: Command, event: Event) -> None:
        c, e = command.attrs, event.attrs
        same_kind = command.event_type == event.type
        if same_kind and event.type == "ActivityTaskScheduled" and c["activity_type"] == e["activity_type"]:
            if c["input"] != e["input"]:
                if self.args_mismatch == "error":
                    self._diverge("activity_args", event, command)
                if self.args_mismatch == "warn":
                    self.warnings.append(
                        f"event {event.id}: activity {c['activity_type']} arguments differ: history {e['input']!r}, code {c['input']!r} (at {self._source_of(command)})")
            return
        if same_kind and event.type == "TimerStarted":
            if c["duration"] != e["duration"]:
                self._diverge("timer_duration", event, command)
            return
        if same_kind and event.type == "MarkerRecorded" and (c["marker_name"], c["marker_id"]) == (e["marker_name"], e["marker_id"]):
            return
        if same_kind and event.type == "WorkflowExecutionCompleted":
            if c["result"] != e["result"]:
                self._diverge("result", event, command)
            return
        if same_kind and event.type == "WorkflowExecutionFailed":
            cf, ef = c["failure"], e["failure"]
            if (cf["type"], cf["message"]) != (ef["type"], ef["message"]):
                self._diverge("result", event, command)
            return
        kind, detail = self._mismatch_kind(command, event)
        self._diverge(kind, event, command, detail=detail)

    def _mismatch_kind(self, command: Command, event: Event) -> tuple[str, str]:
        """Name the mismatch the way a person would, with a detail line where it helps."""
        if "patch" in (event.attrs.get("marker_name"), command.attrs.get("marker_name")):
            return "patch", ""
        if event.attrs.get("marker_name") == "side_effect":
            return "side_effect", ""
        if any(_same_identity(command, later) for later in (self.expected or [])[self.pos + 1:]):
            return "order", ""
        if command.event_type in _CLOSING:
            return "missing", "the code finished where history recorded more steps"
        if event.type in _CLOSING:
            return "extra", ""
        later = next((e for e in self.history[event.id : event.id + 500] if _same_identity(command, e)), None)
        if later is not None:
            return "missing", (f"history recorded the code's command later, at event {later.id}: "
                               f"this step was removed, or moved after it")
        if command.event_type == event.type == "ActivityTaskScheduled":
            return "activity_type", ""
        return "command", ""

    def _missing(self, event: Event) -> None:
        source = blocked_source(self.main)
        kind, detail = "missing", ""
        if event.attrs.get("marker_name") == "side_effect":
            kind = "side_effect"
        elif event.attrs.get("marker_name") == "patch":
            kind = "patch"
        unconsumed = [(name, eid) for name, q in self.signal_buffer.items() for _, eid in q]
        waiting = [name for name, q in self.signal_waiters.items() if any(not f.done() for f in q)]
        if unconsumed and waiting:
            kind = "signal_name"
            delivered = ", ".join(f"{n!r} (event {eid})" for n, eid in unconsumed)
            detail = f"history delivered signal {delivered}, but the code is waiting for {', '.join(map(repr, waiting))}"
        self._diverge(kind, event, None, source, detail)

    def _source_of(self, command: Command) -> Source | None:
        """Where the code issued ``command``: found only when a report needs it, so replay
        does not walk the stack for every command. Called while the code that issued it is
        still on the stack (inside ``issue``)."""
        if command.source is None:
            if command.event_type in _CLOSING:
                command.source = return_source(self.defn.fn)
            else:
                # a task started by asyncio.gather has no workflow frame of its own on the
                # stack: its line is where the main coroutine waits (the gather call)
                command.source = user_source(sys._getframe(1)) or blocked_source(self.main)
        return command.source

    def _diverge(self, kind: str, event: Event | None, command: Command | None, source: Source | None = None,
                 detail: str = "") -> None:
        if source is None and command is not None:
            source = self._source_of(command)
        err = NondeterminismError(Divergence(
            kind=kind, workflow_id=self.workflow_id, workflow_type=self.defn.name,
            event_id=event.id if event else None, event_type=event.type if event else None,
            recorded=cmds.describe_event(event) if event else None,
            issued=command.describe() if command else None, source=source, detail=detail,
            matched=(event.id - 1) if event else len(self.history),
            timeline=timeline(self.history, event.id if event else None, mark="diverges here"),
            history_source=self.history_source,
        ))
        self.divergence = err
        self.loop.stop_requested = True
        for task in asyncio.all_tasks(self.loop):  # tasks that never started: no "never awaited" noise
            coro = task.get_coro()
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()
        if self.observer is not None:
            self.observer.divergence(self, err)
        raise err

    # ---------------------------------------------------------------- helpers for workflow.*
    def next_id(self, kind: str) -> str:
        self.counters[kind] += 1
        return str(self.counters[kind])

    def resumed(self, event: Event | None) -> None:
        """Called in workflow code right after an awaited outcome arrives (debugger hook).
        The observer gets the workflow frame that awaited it (the caller of the workflow.*
        awaitable, or a workflow frame further out), or None (see :func:`awaiting_frame`)."""
        if self.observer is not None and event is not None:
            self.observer.resumed(self, event, awaiting_frame(sys._getframe(2)))


_CLOSING = ("WorkflowExecutionCompleted", "WorkflowExecutionFailed")


def _same_identity(command: Command, event: Event) -> bool:
    if command.event_type != event.type:
        return False
    if event.type == "ActivityTaskScheduled":
        return command.attrs["activity_type"] == event.attrs["activity_type"]
    if event.type == "MarkerRecorded":
        return (command.attrs["marker_name"], command.attrs["marker_id"]) == (event.attrs["marker_name"], event.attrs["marker_id"])
    return event.type == "TimerStarted"
