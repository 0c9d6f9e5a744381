"""What one replay of an AWS history learns while the handler runs: every operation the code
issues is checked here against the operation history recorded at its id, BEFORE the SDK runs
it; the verdict (a divergence, where the history stands, a sandbox violation) is kept here
until the handler is done. Also the debugger's stops in handler code.

Nothing here imports the SDK: :mod:`.context` calls :meth:`Run.before` / :meth:`Run.after`
from the SDK's operation hook.
"""

from __future__ import annotations

import functools
import hashlib
import random
import sys
import threading
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ...core.frames import is_user_file, return_source, user_frame, user_source
from ...core.interrupts import raise_in
from ...modes import ArgsMode, SandboxMode
from ...report.divergence import NondeterminismError
from ...report.source import Source
from .. import ReplayDebugger
from . import history as _history
from .history import AwsHistory, RecordedOp, op_label
from .verdicts import AwsDivergence, divergence


def _order(d: AwsDivergence) -> int:
    """Where a divergence is in recorded order (one at no recorded event sorts last)."""
    return d.event_id if d.event_id is not None else sys.maxsize


def _sandbox() -> types.ModuleType:
    """replaytest's sandbox (imports freezegun: only when a replay runs)."""
    from ... import sandbox

    return sandbox


class _Stop(BaseException):
    """Ends the replay now. A BaseException: the SDK turns every Exception from handler code
    into a FAILED execution, but lets this through to us."""


class Run:
    """Everything one replay learns: what the code issued, where, and the verdict."""

    def __init__(
        self,
        history: AwsHistory,
        user_fn: Callable[..., Any],
        workflow_type: str,
        args_mode: ArgsMode,
        sandbox_mode: SandboxMode,
        observer: ReplayDebugger | None = None,
    ) -> None:
        self.history, self.user_fn, self.workflow_type = history, user_fn, workflow_type
        self.args_mode, self.sandbox_mode = args_mode, sandbox_mode
        self.visited: dict[str, Source | None] = {}
        self.entered: set[str | None] = {None}  # contexts whose code ran (None: the handler)
        self.last_source: Source | None = None
        # why the replay stopped early: a divergence, a sandbox violation, a bug, or (text) the
        # frontier where history stands
        self.stop: AwsDivergence | Exception | str | None = None
        self.frontier: str | None = None
        self.waiting_at: Source | None = None
        self.step_failures: list[tuple[RecordedOp, BaseException]] = []
        self.handler_error: BaseException | None = None
        self.suspended_at: Source | None = None
        self.violation_at: Source | None = None
        self.violation_frames: list[traceback.FrameSummary] = []
        self.warnings: list[str] = []
        self.now: datetime = history.execution.start or history.events[0].time
        seed = int.from_bytes(hashlib.sha256(history.execution.id.encode()).digest()[:8], "big")
        self.rng = random.Random(seed)
        self.pending_args: threading.local = threading.local()
        self._verdict_lock = threading.Lock()
        self._sb = _sandbox() if sandbox_mode is not SandboxMode.OFF else None
        self.returned_op: str | None = None
        self.observer = observer
        if observer is not None:
            observer.track(self)  # a fresh replay for the debugger's bookkeeping
        # threads running handler code now (thread id → depth), for a bounded replay's interruption
        self.code_threads: dict[int, int] = {}
        self._threads_lock = threading.Lock()

    # ---- the sandbox around handler code ------------------------------------------------------
    @contextmanager
    def unrestricted(self) -> Iterator[None]:
        if self._sb is None:
            yield
            return
        with self._sb.unrestricted():
            yield

    def sync_clock(self) -> None:
        if self._sb is not None and self._sb.active():
            self._sb.move_to(self.now)

    def sandboxed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` (handler code the SDK calls: a child context's body, a map function, a parallel
        branch) run under the sandbox, at the current recorded time; its thread is known to be
        running handler code meanwhile (see :meth:`interrupt`)."""
        sb = self._sb

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._in_code():
                if sb is None:
                    return fn(*args, **kwargs)
                with sb.workflow_code(self.now, self.rng, mode="warn", on_violation=self.violation):
                    return fn(*args, **kwargs)

        return run

    @contextmanager
    def _in_code(self) -> Iterator[None]:
        ident = threading.get_ident()
        with self._threads_lock:
            self.code_threads[ident] = self.code_threads.get(ident, 0) + 1
        try:
            yield
        finally:
            with self._threads_lock:
                depth = self.code_threads.pop(ident, 1) - 1
                if depth:
                    self.code_threads[ident] = depth

    def interrupt(self, exc: type[BaseException], done: set[int]) -> None:
        """Raise ``exc`` in every thread running handler code now that is not in ``done`` (then
        added): each thread once, and only while it is inside handler code."""
        with self._threads_lock:
            for ident in self.code_threads:
                if ident not in done:
                    done.add(ident)
                    raise_in(ident, exc)

    def code_source(self) -> Source | None:
        """The line of handler code a thread is running now (the first thread that has one)."""
        frames = sys._current_frames()
        with self._threads_lock:
            idents = list(self.code_threads)
        return next((s for ident in idents if (s := user_source(frames.get(ident))) is not None), None)

    def last_issued(self) -> str | None:
        """The last operation the handler issued (checked against history), for a timeout."""
        op_id = next(reversed(self.visited), None) if self.visited else None
        rec = self.history.ops.get(op_id) if op_id else None
        if rec is None:
            return None
        where = self.visited.get(op_id or "")
        return f"{rec.label()} (history event {rec.first_event.id})" + (f", issued at {where}" if where else "")

    def violation(self, v: Exception) -> None:
        if self.sandbox_mode is SandboxMode.STRICT:
            if self.stop is None:
                self.stop = v
                self.violation_at = user_source(sys._getframe(1))
                self.violation_frames = [
                    fs for fs in traceback.extract_stack(sys._getframe(1)) if is_user_file(fs.filename)
                ]
            raise _Stop
        self.warnings.append(f"sandbox: {v}")

    # ---- the operation hook --------------------------------------------------------------------
    def before(
        self,
        op_id: str,
        op_type: str,
        sub_type: str | None,
        name: str | None,
        parent_id: str | None,
        source: Source | None,
    ) -> None:
        """Check the operation the code is about to issue against history; raise _Stop when the
        replay must end before the SDK runs it."""
        if self.stop is not None and not self._before_the_stop(op_id):
            raise _Stop
        self.last_source = source
        issued = op_label(op_type, sub_type, name)
        rec = self.history.ops.get(op_id)
        args = getattr(self.pending_args, "value", None)
        self.pending_args.value = None
        if rec is None:
            self._new_operation(issued, parent_id, source)
        assert rec is not None
        same = (rec.type, rec.sub_type, rec.name or None) == (op_type, sub_type, name or None)
        if not same or (rec.parent_id or None) != (parent_id or None):
            self._mismatch(rec, op_type, sub_type, name, parent_id, issued, source)
        self.visited[op_id] = source
        if rec.type == "STEP" and rec.status == "STARTED":
            # the step was running when history was exported: its body would run now
            self.frontier = f"{issued} (running when the history was exported) at {source}"
            self.waiting_at = source
            raise _Stop
        if args is not None:
            self._compare_args(rec, args, issued, source)

    def after(self, op_id: str) -> None:
        self.returned_op = op_id
        rec = self.history.ops.get(op_id)
        if rec is not None and (rec.end or rec.start):
            self.now = rec.end or rec.start  # type: ignore[assignment]

    def _new_operation(self, issued: str, parent_id: str | None, source: Source | None) -> None:
        h = self.history
        parent = h.ops.get(parent_id) if parent_id else None
        parent_status = parent.status if parent is not None else ("STARTED" if not h.finished else h.status)
        siblings = h.children(parent_id)
        all_reached = all(op.id in self.visited for op in siblings)
        ended_short = parent_status == "FAILED" or (parent is None and parent_status in ("TIMED_OUT", "STOPPED"))
        if parent_status not in _history.TERMINAL or (ended_short and all_reached):
            # where history stands: the next invocation would do this (a running execution), or
            # the code now gets past the point where the recorded execution failed
            self.frontier = f"{issued} at {source}" if source else issued
            self.stop = self.frontier
            raise _Stop
        last = siblings[-1] if siblings else parent
        where = f"inside {parent.label()}" if parent is not None else "in the handler"
        recorded = (
            f"nothing more {where} after {last.label()}"
            if last is not None and last is not parent
            else f"nothing {where}"
        )
        event = None
        if parent is not None and parent.events[-1].type.endswith(("Succeeded", "Failed")):
            event = parent.events[-1]
        elif parent is None and h.finished:
            event = h.events[-1]
        self._fail(
            divergence(
                "extra",
                h,
                self.workflow_type,
                event,
                recorded,
                issued,
                source,
                "the SDK would run this operation's body for real on replay; replaytest stopped before it",
            )
        )

    def _mismatch(
        self,
        rec: RecordedOp,
        op_type: str,
        sub_type: str | None,
        name: str | None,
        parent_id: str | None,
        issued: str,
        source: Source | None,
    ) -> None:
        diffs = []
        if rec.type != op_type:
            diffs.append(f"type {rec.type} → {op_type}")
        if rec.sub_type != sub_type:
            diffs.append(f"subtype {rec.sub_type} → {sub_type}")
        if (rec.name or None) != (name or None):
            diffs.append(f"name {rec.name!r} → {name!r}")
        if (rec.parent_id or None) != (parent_id or None):
            diffs.append("parent context differs")
        later = next(
            (
                op
                for op in self.history.children(rec.parent_id)
                if op.id not in self.visited
                and op.id != rec.id
                and (op.type, op.sub_type, op.name or None) == (op_type, sub_type, name or None)
            ),
            None,
        )
        kind = "order" if later is not None else "command"
        detail = f"operation {rec.id[:12]}… differs: {', '.join(diffs)} (the SDK: NonDeterministicExecutionError)"
        if later is not None:
            detail += f"; history recorded {issued} later, at event {later.first_event.id}"
        self._fail(
            divergence(kind, self.history, self.workflow_type, rec.first_event, rec.label(), issued, source, detail)
        )

    def _compare_args(self, rec: RecordedOp, args: tuple[str, Any], issued: str, source: Source | None) -> None:
        what, value = args
        recorded: Any = None
        if what == "wait":
            recorded = rec.wait_seconds
        elif what == "invoke":
            recorded = rec.invoke_function
        if recorded is None or recorded == value or self.args_mode is ArgsMode.IGNORE:
            return
        text = {"wait": "seconds", "invoke": "function"}[what]
        line = f"{issued}: recorded {text} {recorded!r}, the code now passes {value!r}"
        if self.args_mode is ArgsMode.WARN:
            self.warnings.append(f"event {rec.first_event.id}: {line}" + (f" at {source}" if source else ""))
            return
        self._fail(
            divergence(
                "args",
                self.history,
                self.workflow_type,
                rec.first_event,
                f"{rec.label()} with {text} {recorded!r}",
                f"{issued} with {text} {value!r}",
                source,
                "arguments are not part of an operation's identity: the SDK alone replays this silently",
            )
        )

    def _before_the_stop(self, op_id: str) -> bool:
        """Map items and parallel branches run in threads: another thread may have diverged
        first in time at an operation recorded *after* this one. A recorded operation before
        that divergence is still checked (the SDK replays it from history, running nothing),
        so the report names the first divergence in recorded order whatever the threads did."""
        rec = self.history.ops.get(op_id)
        stop = self.stop
        return rec is not None and isinstance(stop, AwsDivergence) and rec.first_event.id < _order(stop)

    def _fail(self, d: AwsDivergence) -> None:
        with self._verdict_lock:
            first = self.stop is None
            if first or (isinstance(self.stop, AwsDivergence) and _order(d) < _order(self.stop)):
                self.stop = d
        if first and self.observer is not None:
            frame = user_frame(sys._getframe(1))
            if frame is not None:
                self.observer.diverged(NondeterminismError(d), frame, self.user_fn.__module__)
        raise _Stop

    # ---- the debugger: --break-at N stops where handler code receives operation N's outcome ------
    def returned(self, start: Any) -> None:
        obs, rec = self.observer, self.history.ops.get(self.returned_op or "")
        if obs is None or rec is None or self.stop is not None or not obs.break_at:
            return
        self.returned_op = None
        frame = user_frame(start)
        due = obs.take_due(rec.events[-1].id) if frame is not None else []
        if not due or frame is None:
            return
        event = next((e for e in rec.events if e.id == max(due)), rec.events[-1])
        asked = ", ".join(map(str, due))
        note = (
            f"--break-at {asked}: event {event.id} ({event.type}) was applied; the handler code receives "
            f"{rec.label()} here"
        )
        view = {
            "id": event.id,
            "type": event.type,
            "time": event.time.isoformat(),
            "operation": rec.label(),
            "status": rec.status,
            "result": _history.readable(rec.result),
            "error": rec.error,
        }
        obs.stop(frame, f"break-at {asked}", event.id, extra={"replaytest_event": view, "replaytest_break": note})

    def diverged_after_return(self, d: AwsDivergence) -> None:
        """--break-on divergence for a divergence found after the handler returned (a dropped
        operation, another result): stop in a stand-in frame at the reported line."""
        if self.observer is not None:
            self.observer.diverged(NondeterminismError(d), None, getattr(self.user_fn, "__module__", "handler"))

    # ---- after the handler ---------------------------------------------------------------------
    def missing(self) -> AwsDivergence | None:
        """The first recorded operation the code no longer reached, as a divergence."""
        for op in self.history.ops.values():
            if op.id in self.visited or op.parent_id not in self.entered:
                continue
            if op.parent_id is None:
                source = return_source(self.user_fn)
                after = "the handler returns"
            else:
                source = self.visited.get(op.parent_id) or self.last_source
                after = f"{self.history.ops[op.parent_id].label()} ends"
            return divergence(
                "missing",
                self.history,
                self.workflow_type,
                op.first_event,
                op.label(),
                f"(nothing: {after} first)",
                source,
                f"{after} without reaching it; the SDK alone reports success",
            )
        return None
