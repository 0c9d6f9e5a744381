"""The replay observer that stops in workflow code: after history event N is applied, and at
the line where replay diverged. Every backend stops through it (the seam's
``replaytest.backends.ReplayDebugger``: ``take_due``, ``stop``, ``diverged``, ``announce``);
the native core also calls its ``ReplayObserver`` hooks. How a stop lands in workflow code (and
why not ``debugpy.breakpoint()``) is explained in ``_pydevd.py``."""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

from ..core.frames import blocked_frame, user_frame
from .options import DebugOptions
from .server import print_line, start


class DebugObserver:
    """The replay observer that stops in workflow code. One can serve many replays in turn.

    * ``break_at``: after history event N is applied, stop where workflow code receives it —
      on the ``await`` that gets the activity result / timer / signal (step once and the result
      is in its variable; it is also shown right away as the local ``replaytest_event``). For an
      event that is not an outcome (a command, a workflow task event), stop where workflow
      code next resumes after it.
    * ``break_on_divergence``: stop as on an exception, at the workflow line that issued the
      divergent command (or where the code waits, for a step it no longer takes), with the
      report in the local ``replaytest_divergence`` and as the exception text.

    Without an attached IDE every hook is a no-op."""

    def __init__(
        self,
        break_at: Iterable[int] = (),
        break_on_divergence: bool = False,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self.break_at = sorted(set(int(n) for n in break_at))
        self.break_on_divergence = break_on_divergence
        self.announce = announce or print_line
        self._execution: object = None
        self._pending: list[tuple[int, Any]] = []  # (requested id, the event that applied it)
        self._reached: set[int] = set()
        # Resolved now, outside any workflow sandbox: inside temporalio's, sys.modules is the
        # sandbox's own and would say debugpy is not loaded. Never started: no IDE, no stop.
        self._suspend: Callable[..., bool] | None = None
        if "debugpy" in sys.modules:
            from . import _pydevd

            self._suspend = _pydevd.suspend

    # -- the core's ReplayObserver hooks (replaytest.core.execution.Execution calls these)
    def event_applied(self, execution: Any, event: Any) -> None:
        self._track(execution)
        for n in self.break_at:
            if n <= event.id and n not in self._reached:
                self._reached.add(n)
                self._pending.append((n, event))

    def resumed(self, execution: Any, event: Any, frame: types.FrameType | None) -> None:
        self._track(execution)
        due = [(n, applied) for n, applied in self._pending if event.id >= applied.id]
        if not due:
            return
        self._pending = [p for p in self._pending if p not in due]
        target = user_frame(frame, require_loop=True) or user_frame(sys._getframe(1), require_loop=True)
        where = "receives it here"
        if target is None:  # a task of asyncio.gather got it; the workflow code waits on the gather
            target, where = blocked_frame(execution.main), "waits here for it (and the rest of what this line awaits)"
        asked = ", ".join(str(n) for n, _ in due)
        if target is None:
            self.announce(
                f"replaytest: --break-at {asked}: event {event.id} was applied, but no workflow code "
                "is there to stop in"
            )
            return
        note = f"--break-at {asked}: event {event.id} ({event.type}) was applied; the workflow code {where}" + (
            ""
            if any(n == event.id for n, _ in due)
            else f". Event {asked} itself is not one workflow code receives; {event.id} is the next one"
        )
        self.stop(
            target, f"break-at {asked}", event.id, {"replaytest_event": _event_view(event), "replaytest_break": note}
        )

    def divergence(self, execution: Any, error: BaseException) -> None:
        target = user_frame(sys._getframe(1), require_loop=True) or blocked_frame(execution.main)
        self.diverged(error, target, getattr(execution.defn.fn, "__module__", "workflow"))

    # -- after a replay
    def unreached(self) -> list[int]:
        """break_at ids of the last replay that were never applied (the history is shorter)
        or applied but never received by workflow code."""
        waiting = {n for n, _ in self._pending}
        return [n for n in self.break_at if n not in self._reached or n in waiting]

    # -- the seam's ReplayDebugger: what every backend stops through
    def track(self, replay: object) -> None:
        """``replay`` is the replay now observed: a new one starts fresh bookkeeping."""
        self._track(replay)

    def take_due(self, up_to: int) -> list[int]:
        """The break_at ids up to event ``up_to`` not reached yet, now marked reached."""
        due = [n for n in self.break_at if n <= up_to and n not in self._reached]
        self._reached.update(due)
        return due

    def stop(
        self,
        frame: types.FrameType,
        why: str,
        event_id: int | None,
        extra: dict[str, Any],
        *,
        error: BaseException | None = None,
    ) -> None:
        """Suspend in ``frame`` as a break-at stop does (a no-op without an IDE)."""
        if self._suspend is not None:
            self._suspend(frame, exception=error, extra_locals=extra)

    def diverged(self, error: BaseException, frame: types.FrameType | None, module: str) -> None:
        """``--break-on divergence``: stop in ``frame`` as on ``error``; with no frame of the
        user's code left (it returned a different result), in a stand-in frame that the IDE
        shows at the report's source line in ``module``'s file."""
        if not self.break_on_divergence:
            return
        divergence = getattr(error, "divergence", None)
        event_id = getattr(divergence, "event_id", None)
        extra = {"replaytest_divergence": divergence}
        if frame is not None:
            self.stop(frame, "divergence", event_id, extra, error=error)
            return
        source = getattr(divergence, "source", None)
        if source is not None:
            _stop_at_source(source, module, lambda f: self.stop(f, "divergence", event_id, extra, error=error))

    # -- internals
    def _track(self, execution: object) -> None:
        if execution is not self._execution:
            self._execution, self._pending, self._reached = execution, [], set()


class ReplayDebugging:
    """What ``replaytest replay --debug`` and ``pytest --replay-debug`` share once the server
    runs: a fresh observer for each replay (the seam's debugger factory), the newest kept so
    that afterwards each can say which ``--break-at`` ids a replay never stopped at."""

    def __init__(self, options: DebugOptions, announce: Callable[[str], None]) -> None:
        self.options, self.announce = options, announce
        self.latest: DebugObserver | None = None

    def observer(self) -> DebugObserver:
        self.latest = make_observer(self.options, announce=self.announce)
        return self.latest

    def missed(self, events: int) -> tuple[list[int], list[int]]:
        """The last replay's unreached ``--break-at`` ids: (those within its ``events``, which no
        workflow code received; those beyond them, which the history does not have)."""
        unreached = self.latest.unreached() if self.latest is not None else []
        return [n for n in unreached if n <= events], [n for n in unreached if n > events]


def make_observer(options: DebugOptions, *, announce: Callable[[str], None] | None = None) -> DebugObserver:
    """The observer for ``replay(..., observer=...)`` under these options."""
    return DebugObserver(options.break_at, options.break_on_divergence, announce)


def start_debugging(options: DebugOptions, *, announce: Callable[[str], None] | None = None) -> DebugObserver:
    """Start the server, announce how to attach, wait for the IDE, and return the observer to
    pass to every replay afterwards (``replaytest replay --debug``, ``pytest --replay-debug``).
    The announcement goes to ``announce``, by default straight to the terminal
    (``sys.__stderr__``), past pytest's output capturing. Raises DebugError / DebugTimeout."""
    announce = announce or (lambda line: print(line, file=sys.__stderr__, flush=True))
    start(options, announce=announce)
    return make_observer(options, announce=announce)


def _event_view(event: Any) -> dict[str, Any]:
    return {"id": event.id, "type": event.type, "time": event.time, **event.attrs}


def _stop_at_source(source: Any, module: str, stop: Callable[[types.FrameType], None]) -> None:
    """Call ``stop(frame)`` with a stand-in frame whose code claims ``source``'s file, line and
    function name, so the IDE opens the workflow file at that line."""
    filename = os.path.abspath(source.file)
    name = source.function if str(source.function).isidentifier() else "workflow"
    line = max(int(source.line), 1)
    if line >= 2:
        text = "\n" * (line - 2) + f"def {name}():\n    _replaytest_stop_here()\n"
    else:
        text = "_replaytest_stop_here()\n"
    namespace: dict[str, Any] = {"__name__": module, "_replaytest_stop_here": lambda: stop(sys._getframe(1))}
    exec(compile(text, filename, "exec"), namespace)
    if line >= 2:
        namespace[name]()
