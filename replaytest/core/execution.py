"""One workflow run, live in the engine and on replay: the deterministic core.

``Execution`` wakes the code with outcome events (an activity finished, a timer fired, a
signal came), runs the workflow loop until every coroutine is blocked again (one *workflow
task*), and collects the commands the code issued. On replay the :class:`Matcher` compares
each command with the recorded event the moment it is issued, and a mismatch is raised
*inside* the workflow coroutine at the divergent ``await``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import inspect
import random
import sys
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from ..definitions import ActivityError, ApplicationError, WorkflowDefinition, to_payload
from ..history import CLOSING_EVENTS, Event
from ..history.describe import describe, describe_event
from ..modes import ArgsMode, SandboxMode
from ..report import jsondiff
from ..report.divergence import Divergence, NondeterminismError, WorkflowTaskError, timeline
from ..report.source import Source
from . import commands as cmds
from .commands import Command
from .failures import failure_of
from .frames import (
    blocked_source,
    exception_source,
    exit_source,
    return_source,
    user_frame,
    user_source,
    user_tb_frames,
)
from .loop import WorkflowLoop
from .matcher import Matcher, Mismatch


class ReplayObserver(Protocol):
    """What a debugger (``replaytest.debug``) is told while workflow code runs."""

    def event_applied(self, execution: Execution, event: Event) -> None: ...
    def resumed(self, execution: Execution, event: Event, frame: types.FrameType | None) -> None: ...
    def divergence(self, execution: Execution, error: NondeterminismError) -> None: ...


_current: contextvars.ContextVar[Execution] = contextvars.ContextVar("replaytest_execution")


def current() -> Execution:
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError(
            "this workflow function can only be called from workflow code running under replaytest"
        ) from None


class Execution:
    """One workflow run's in-memory state, rebuilt from history after any crash."""

    def __init__(
        self,
        defn: WorkflowDefinition,
        *,
        workflow_id: str,
        run_id: str,
        args: list[Any],
        seed: int,
        history: Sequence[Event] = (),
        args_mismatch: ArgsMode | str = ArgsMode.ERROR,
        sandbox: SandboxMode | str | None = "strict",
        observer: ReplayObserver | None = None,
        history_source: str = "",
    ) -> None:
        self.history_source = history_source  # the file, for reports
        self.defn, self.workflow_id, self.run_id, self.args, self.seed = defn, workflow_id, run_id, args, seed
        self.history = history  # for reports: the events this execution is matched against
        self.matcher = Matcher(history, args_mismatch)
        self.sandbox_mode = sandbox  # None: no sandbox at all (time and `random` module untouched)
        self.observer = observer  # the debugger's hooks, when one is attached
        self.loop = WorkflowLoop()  # type: ignore[abstract]  # implements what asyncio tasks and futures use
        self.rng = random.Random(seed)
        self.rng_in_module = False  # True while the sandbox holds our state in `random`
        self.module_registered = False
        self.sandbox_held = False  # inside sandboxed(): one block for all tasks
        self.move_clock: Callable[[datetime], None] | None = None  # sandbox.clock_setter() while held
        self.now: datetime | None = None
        self.context = contextvars.copy_context()
        self.context.run(_current.set, self)
        self.main: asyncio.Task[Any] | None = None
        # The main coroutine's frame, held so a report can name the line it returned or raised
        # from: a finished coroutine's frame object keeps its last line (CPython 3.11+).
        self.main_frame: types.FrameType | None = None
        self.closed = False
        self.counters: collections.Counter[str] = collections.Counter()
        self.activities: dict[str, tuple[asyncio.Future[Any], str]] = {}
        self.timers: dict[str, asyncio.Future[Any]] = {}
        self.signal_buffer: dict[str, collections.deque[tuple[Any, int]]] = collections.defaultdict(collections.deque)
        self.signal_waiters: dict[str, collections.deque[asyncio.Future[Any]]] = collections.defaultdict(
            collections.deque
        )
        self.patches: dict[str, bool] = {}
        self.warnings: list[str] = []
        self.sandbox_flagged: set[Any] = set()  # violations already warned about
        self.divergence: NondeterminismError | None = None
        self.new_commands: list[Command] = []  # per workflow task

    # ---------------------------------------------------------------- running a task
    def activate(
        self,
        outcomes: Sequence[Event],
        now: datetime,
        expected: Sequence[Event] | None = None,
        next_recorded: Event | None = None,
    ) -> list[Command]:
        """Run one workflow task: feed ``outcomes``, run until blocked, return new commands.

        ``expected`` are the command events history recorded for this task (replay); the
        code's commands are matched against them in order. Without it (live), every command
        is new. A recorded task is complete, so a further command is a divergence, reported
        at ``next_recorded`` (the event history recorded after them; None at the end of an
        in-flight history). Raises NondeterminismError or WorkflowTaskError.
        """
        self.now, self.new_commands = now, []
        self.matcher.begin_task(expected, next_recorded)
        if self.main is None:
            coro = self.defn.fn(*self.args)
            self.main_frame = getattr(coro, "cr_frame", None)
            self.main = self.context.run(self.loop.create_task, coro)
        for event in outcomes:
            self._apply(event)
        self._run_loop()
        if self.divergence is not None:
            raise self.divergence
        if self.main.done() and not self.closed:
            self._close()
        if (unmatched := self.matcher.unmatched()) is not None:
            self._missing(unmatched)
        return self.new_commands

    def _run_loop(self) -> None:
        if self.sandbox_held:  # one block for the whole replay: only the clock moves per task
            assert self.now is not None and self.move_clock is not None
            self.move_clock(self.now)
            self.loop.run_until_idle()
            return
        if self.sandbox_mode is None:
            self.loop.run_until_idle()
            return
        from .. import sandbox

        assert self.now is not None
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
        from .. import sandbox

        self._register_module(sandbox)
        with sandbox.workflow_code(start, self.rng, mode=self.sandbox_mode, on_violation=self._sandbox_warning):
            self.sandbox_held = self.rng_in_module = True
            self.move_clock = sandbox.clock_setter()
            try:
                yield
            finally:
                self.sandbox_held = self.rng_in_module = False
                self.move_clock = None

    def _sandbox_warning(self, violation: Any) -> None:
        """Warn mode: one warning per place and call (see SandboxViolation.key)."""
        key = getattr(violation, "key", str(violation))
        if key not in self.sandbox_flagged:
            self.sandbox_flagged.add(key)
            self.warnings.append(f"sandbox: {violation}")

    def _apply(self, event: Event) -> None:
        a = event.attrs
        t = event.type
        if t == "ActivityTaskCompleted":
            fut, _ = self.activities.pop(a["activity_id"])
            fut.set_result((a["result"], event))
        elif t == "TimerFired":
            fut = self.timers.pop(a["timer_id"])
            if not fut.done():
                fut.set_result((None, event))
        elif t == "ActivityTaskFailed" or t == "ActivityTaskTimedOut":
            fut, name = self.activities.pop(a["activity_id"])
            fut.set_result((ActivityError(name, a["failure"], timed_out=t == "ActivityTaskTimedOut"), event))
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
            failure = failure_of(exc, src)
            if isinstance(exc, SystemExit):  # workflow code does not get to end the worker or the replay run
                failure["message"] = (
                    f"workflow code raised SystemExit({exc.code!r}) (sys.exit?); a workflow cannot "
                    "stop the worker — return or raise an exception instead"
                )
            raise WorkflowTaskError(self.workflow_id, exc, src, failure, user_tb_frames(exc))
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
        mismatch: Mismatch | None = None
        try:
            event, warning = self.matcher.match(command)
        except Mismatch as m:
            mismatch = m
        if mismatch is not None:  # raised outside the except block: the matcher is no part of its chain
            self._diverge(mismatch.kind, mismatch.event, command, detail=mismatch.detail)
        if warning is not None:
            self.warnings.append(f"{warning} (at {self._source_of(command)})")
        if event is None:
            self.new_commands.append(command)
        return event

    def replaying(self) -> bool:
        return self.matcher.replaying()

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
            detail = (
                f"history delivered signal {delivered}, but the code is waiting for {', '.join(map(repr, waiting))}"
            )
        self._diverge(kind, event, None, source, detail)

    def _source_of(self, command: Command) -> Source | None:
        """Where the code issued ``command``: found only when a report needs it, so replay
        does not walk the stack for every command. Called while the code that issued it is
        still on the stack (inside ``issue``)."""
        if command.source is None:
            if command.event_type in CLOSING_EVENTS:  # the `return` (or `raise`) that ran
                frame = self.main_frame
                finished = self.main is not None and self.main.done() and frame is not None and bool(frame.f_lineno)
                if finished and frame is not None:  # its last instruction: the `return` that ran,
                    # not a `with` or `finally` line that ran after it
                    command.source = exit_source(frame.f_code, frame.f_lasti, frame.f_lineno)[0]
                else:
                    command.source = return_source(self.defn.fn)
            else:
                # a task started by asyncio.gather has no workflow frame of its own on the
                # stack: its line is where the main coroutine waits (the gather call)
                command.source = user_source(sys._getframe(1)) or blocked_source(self.main)
        return command.source

    def _diverge(
        self, kind: str, event: Event | None, command: Command | None, source: Source | None = None, detail: str = ""
    ) -> typing.NoReturn:
        if source is None and command is not None:
            source = self._source_of(command)
        recorded = describe_event(event) if event else None
        issued = command.describe() if command else None
        if kind == "result" and event is not None and command is not None and "result" in event.attrs:
            recorded, issued, detail = _result_lines(event.attrs["result"], command.attrs["result"])
        err = NondeterminismError(
            Divergence(
                kind=kind,
                workflow_id=self.workflow_id,
                workflow_type=self.defn.name,
                event_id=event.id if event else None,
                event_type=event.type if event else None,
                recorded=recorded,
                issued=issued,
                source=source,
                detail=detail,
                matched=(event.id - 1) if event else len(self.history),
                timeline=timeline(
                    [(e.id, describe_event(e)) for e in self.history], event.id if event else None, mark="diverges here"
                ),
                history_source=self.history_source,
                warnings=list(self.warnings),
            )
        )
        self.divergence = err
        self.loop.stop_requested = True
        for task in asyncio.all_tasks(self.loop):  # tasks that never started: no "never awaited" noise
            coro = task.get_coro()
            if inspect.iscoroutine(coro) and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()
        if self.observer is not None:
            self.observer.divergence(self, err)
        raise err

    # ---------------------------------------------------------------- helpers for workflow.*
    def next_id(self, kind: str) -> str:
        n = self.counters[kind] + 1
        self.counters[kind] = n
        return str(n)

    def resumed(self, event: Event | None) -> None:
        """Called in workflow code right after an awaited outcome arrives (debugger hook).
        The observer gets the workflow frame that awaited it (the caller of the workflow.*
        awaitable, or a workflow frame further out), or None (see :func:`frames.user_frame`)."""
        if self.observer is not None and event is not None:
            self.observer.resumed(self, event, user_frame(sys._getframe(2)))


def _result_lines(recorded: Any, issued: Any) -> tuple[str, str, str]:
    """The two results with the keys that differ first (one line each would otherwise be cut
    at the same place and read the same), and a line naming where they differ."""

    def line(value: Any, other: Any) -> str:
        return describe("WorkflowExecutionCompleted", {"result": jsondiff.differing_first(value, other)})

    return line(recorded, issued), line(issued, recorded), jsondiff.summary(recorded, issued)
