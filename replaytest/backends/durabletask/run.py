"""One replay of a Durable Task history through the SDK's own executor, with the checks it lacks.

The SDK's ``_OrchestrationExecutor.process_event`` is fed the recorded events one by one (what
its ``execute`` does, without the ``except Exception`` that turns every error into a FAILED
action and drops it once the code has ended). Before each recorded command event, replaytest
compares it with the action the code issued under the same sequence number — type, name and
arguments — and names the orchestrator line that issued it (the context reports each sequence
number it allocates, with the orchestrator's frame on the stack). After the last event it
compares the end: a dropped trailing step, an added one, a different status or result.

Orchestrator code runs under replaytest's sandbox, one step of the generator at a time:
``datetime.now()`` is the replayed episode's ``OrchestratorStarted`` time, ``random`` is
seeded from the instance id, I/O is flagged at its line. The SDK's own code runs outside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import sys
import traceback
import types
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime
from typing import Any

from ...core.frames import exception_source, is_user_file, source_at
from ...history import HistoryFormatError
from ...report import NondeterminismError, Source
from ...report.jsondiff import ABSENT, differences
from ...report.text import short_json
from . import _sdk
from .history import DtEvent, DtHistory, describe, label, readable, short
from .report import divergence

_EXPECTED_ACTION = {
    "taskScheduled": ("scheduleTask",),
    "timerCreated": ("createTimer",),
    "subOrchestrationInstanceCreated": ("createSubOrchestration",),
    "eventSent": ("sendEvent", "sendEntityMessage"),
}
_ACTION_WORDS = {
    "scheduleTask": "call_activity",
    "createTimer": "create_timer",
    "createSubOrchestration": "call_sub_orchestrator",
    "sendEvent": "send_event",
    "sendEntityMessage": "an entity operation",
    "completeOrchestration": "the end of the orchestration",
}


class Stop(BaseException):
    """Ends the replay now (a sandbox violation in strict mode). A BaseException: orchestrator
    code that catches ``Exception`` does not swallow it."""


class Run:
    """Everything one replay learns: the commands the code issued and where, and the verdict."""

    def __init__(
        self,
        history: DtHistory,
        fn: Callable[..., Any],
        args_mode: str = "warn",
        sandbox_mode: str = "strict",
        observer: Any = None,
    ) -> None:
        self.history, self.fn = history, fn
        self.args_mode, self.sandbox_mode = args_mode, sandbox_mode
        self.sources: dict[int, Source | None] = {}
        self.warnings: list[str] = []
        self.divergence: Any = None
        self.violation_error: Exception | None = None
        self.violation_at: Source | None = None
        self.violation_frames: list[traceback.FrameSummary] = []
        self.code_error: BaseException | None = None
        self.error_event: DtEvent | None = None
        self.continued_at: Source | None = None
        self.inner: Generator[Any, Any, Any] | None = None  # the user's generator
        self.trace_returns = False  # the locate pass: where did the code return?
        self.returned_at: Source | None = None
        self.observer = observer
        self.now = _first_time(history)
        seed = int.from_bytes(hashlib.sha256(history.instance_id.encode()).digest()[:8], "big")
        self.rng = random.Random(seed)
        self._sb = _sandbox() if sandbox_mode != "off" else None
        self.current: DtEvent | None = None  # the event being fed to the executor
        if observer is not None:
            observer.track(self)  # a fresh replay for the debugger's bookkeeping

    # ---- the orchestrator, wrapped ---------------------------------------------------------------
    def orchestrator(self, ctx: Any, data: Any) -> Any:
        """What the SDK's registry calls: the user's function under the sandbox; its generator
        driven one sandboxed step at a time."""
        with self.sandboxed():
            result = self.fn(ctx, data)
        if isinstance(result, types.GeneratorType):
            return self.drive(result)
        return result

    def drive(self, gen: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
        self.inner = gen
        value: Any = None
        throw = False
        while True:
            try:
                with self.sandboxed(), self._tracing_returns():
                    item = gen.throw(value) if throw else gen.send(value)
            except StopIteration as done:
                return done.value
            try:
                value, throw = (yield item), False
            except GeneratorExit:
                gen.close()
                raise
            except Exception as e:  # a failed task: thrown into the user's generator
                value, throw = e, True

    @contextlib.contextmanager
    def sandboxed(self) -> Iterator[None]:
        if self._sb is None:
            yield
            return
        with self._sb.workflow_code(self.now, self.rng, mode="warn", on_violation=self.violation):
            yield

    def violation(self, v: Exception) -> None:
        if self.sandbox_mode == "strict":
            if self.violation_error is None:
                self.violation_error = v
                frame = sys._getframe(1)
                self.violation_at = self.orchestrator_source(frame)
                self.violation_frames = [fs for fs in traceback.extract_stack(frame) if is_user_file(fs.filename)]
            raise Stop
        at = self.orchestrator_source(sys._getframe(1))
        self.warnings.append(f"sandbox: {v}" + (f" at {at}" if at else ""))

    @contextlib.contextmanager
    def _tracing_returns(self) -> Iterator[None]:
        """Only in the locate pass: the line of the user's generator's last ``return`` event.

        A profile function, not a trace function: it sees each frame's ``return`` (a yield or
        the final return) without line tracing, which the first send of a generator under
        ``sys.settrace`` was seen to spin on forever in a long test session (CPython 3.11)."""
        if not self.trace_returns or self.inner is None:
            yield
            return
        code = getattr(self.inner, "gi_code")  # noqa: B009 (typed as a plain Generator)

        def profile(frame: types.FrameType, event: str, arg: Any) -> None:
            if event == "return" and frame.f_code is code:
                self.returned_at = source_at(code.co_filename, frame.f_lineno, code.co_name)

        old = sys.getprofile()
        sys.setprofile(profile)
        try:
            yield
        finally:
            sys.setprofile(old)

    def orchestrator_source(self, start: types.FrameType | None) -> Source | None:
        """The innermost user frame between ``start`` and the generator driver: the
        orchestrator's line (None when no orchestrator code is on the stack)."""
        found = None
        f = start
        drive = Run.drive.__code__
        while f is not None:
            if f.f_code is drive or f.f_code is Run.orchestrator.__code__:
                return found
            if found is None and is_user_file(f.f_code.co_filename):
                found = source_at(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)
            f = f.f_back
        return None

    def orchestrator_frame(self, start: types.FrameType | None) -> types.FrameType | None:
        """The innermost frame of the user's code above the generator driver, or None."""
        f = start
        while f is not None:
            if f.f_code is Run.drive.__code__ or f.f_code is Run.orchestrator.__code__:
                return None
            if is_user_file(f.f_code.co_filename):
                return f
            f = f.f_back
        return None

    def on_sequence(self, seq: int) -> None:
        self.sources[seq] = self.orchestrator_source(sys._getframe(2))
        if self.observer is not None and self.observer.break_at and self.current is not None:
            self.break_at(self.orchestrator_frame(sys._getframe(2)))

    def break_at(self, frame: types.FrameType | None) -> None:
        """--break-at N: stop in the orchestrator's live frame, the first time its code runs
        after history event N was applied (it issues its next command)."""
        event = self.current
        if frame is None or event is None:
            return
        due = self.observer.take_due(event.pos)
        if not due:
            return
        asked = ", ".join(map(str, due))
        hit = event.pos in due
        note = (
            f"--break-at {asked}: history event {event.pos} ({describe(event)}) was applied; the orchestrator "
            "received it and runs on here"
            if hit
            else f"--break-at {asked}: no orchestrator code ran at that event; event {event.pos} "
            f"({describe(event)}) is the next one it receives"
        )
        view = {"id": event.pos, "type": label(event), "sequence_number": event.seq, "data": event.data}
        self.observer.stop(frame, f"break-at {asked}", event.pos, {"replaytest_event": view, "replaytest_break": note})

    def on_continue(self) -> None:
        self.continued_at = self.orchestrator_source(sys._getframe(2))

    def waiting_at(self) -> Source | None:
        """Where the user's generator (or the generator it delegates to) is suspended."""
        gen: Any = self.inner
        best = None
        while gen is not None and getattr(gen, "gi_frame", None) is not None:
            frame = gen.gi_frame
            if is_user_file(frame.f_code.co_filename):
                best = source_at(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
            gen = getattr(gen, "gi_yieldfrom", None)
        return best

    # ---- the replay ------------------------------------------------------------------------------
    def execute(self) -> Any:
        """Feed every recorded event to the SDK's executor; returns the context at the end."""
        h = self.history
        executor, ctx = _sdk.new_run(h.instance_id, h.orchestrator or "", self.orchestrator)
        ctx.on_sequence = self.on_sequence
        ctx.on_continue = self.on_continue
        self.ctx = ctx
        for event in h.events:
            self.current = event
            if event.kind == "orchestratorStarted" and event.time is not None:
                self.now = event.time
            if self.ended(ctx):
                if event.is_command:
                    self.after_end(event)
                continue
            if event.is_command:
                self.check_command(event, ctx)
            try:
                proto = _sdk.to_pb(event)
            except Exception as e:  # a field the protobuf message cannot hold: the file, not the code
                raise HistoryFormatError(
                    h.source, f"history event {event.pos} ({label(event)})", f"the SDK cannot take it: {str(e)[:300]}"
                ) from None
            try:
                executor.process_event(ctx, proto)
            except Stop:
                return ctx
            except _sdk.NonDeterminismError as e:  # the SDK saw what the checks above did not
                self.diverge(
                    "command", event, label(event), None, self.waiting_at(), f"the SDK: {e}".split(" This ")[0]
                )
            except Exception as e:
                if isinstance(e, json.JSONDecodeError) and not self.is_code_error(e):  # the SDK decodes a payload
                    raise HistoryFormatError(
                        h.source,
                        f"history event {event.pos} ({label(event)})",
                        f"a payload the SDK decodes here (an input or a result) is not JSON text: {str(e)[:200]}",
                    ) from None
                if not self.is_code_error(e):
                    raise RuntimeError(
                        f"replaying history event {event.pos} ({label(event)}) of {h.source}: the SDK raised "
                        f"{type(e).__name__}: {e}"
                    ) from e
                self.code_error, self.error_event = e, event
        return ctx

    def ended(self, ctx: Any) -> bool:
        return self.code_error is not None or ctx.complete

    def is_code_error(self, e: Exception) -> bool:
        if exception_source(e) is not None:
            return True
        return isinstance(e, TypeError) and "yielded a non-Task" in str(e)

    # ---- checks ----------------------------------------------------------------------------------
    def check_command(self, event: DtEvent, ctx: Any) -> None:
        action = ctx.pending().get(event.seq)
        if action is None or _sdk.action_kind(action) == "completeOrchestration":
            self.diverge(
                "missing",
                event,
                recorded_text(event),
                "(nothing: the code waits here)",
                self.waiting_at(),
                f"the code no longer issues {label(event)} #{event.seq}; it waits at this line instead",
            )
        kind = _sdk.action_kind(action)
        issued = issued_text(action)
        name = action_name(action)
        if kind not in _EXPECTED_ACTION[event.kind] or (name or None) != (event.text("name") or None):
            later = next(
                (
                    seq
                    for seq, a in ctx.pending().items()
                    if seq != event.seq
                    and _sdk.action_kind(a) in _EXPECTED_ACTION[event.kind]
                    and action_name(a) == event.text("name")
                ),
                None,
            )
            detail = f"sequence number {event.seq} (the SDK matches commands by it)"
            if later is not None:
                detail += f"; the code issues the recorded call later (sequence number {later})"
            self.diverge(
                "order" if later is not None else "command",
                event,
                recorded_text(event),
                issued,
                self.source_of(event.seq),
                detail,
            )
        self.compare_args(event, action)

    def compare_args(self, event: DtEvent, action: Any) -> None:
        diffs = arg_differences(event, action)
        if not diffs or self.args_mode == "ignore":
            return
        what = "; ".join(f"{field} {rec} → {now}" for field, rec, now in diffs)
        where = self.source_of(event.seq)
        if self.args_mode == "warn":
            self.warnings.append(
                f"history event {event.pos} ({describe(event)}): {what}" + (f" at {where}" if where else "")
            )
            return
        self.diverge(
            "args",
            event,
            f"{recorded_text(event)}",
            f"{issued_text(self.ctx.pending()[event.seq])}",
            where,
            f"{what} (the SDK alone replays this silently)",
        )

    def after_end(self, event: DtEvent) -> None:
        """A recorded command after the code had ended (returned, continued as new, or raised)."""
        if self.code_error is not None:
            return  # the code now fails where history went on: the verdict says so at the raising line
        how = "continues as new" if self.continued_at else "returns"
        self.diverge(
            "missing",
            event,
            recorded_text(event),
            f"(nothing: the orchestration {how} first)",
            self.end_source(),
            f"the orchestrator {how} before reaching {label(event)} #{event.seq}; the SDK alone drops this "
            "(it ignores errors once the code has ended)",
        )

    def issued(self, seq: int, action: Any) -> str:
        """The action issued under ``seq`` in words; a retry timer names the call it retries."""
        task = self.ctx.pending_task(seq)
        parent = _sdk.retry_parent_seq(task) if task is not None and self.sources.get(seq) is None else None
        if parent is not None:
            return f"a retry of sequence number {parent} ({issued_text(action)}, from its RetryPolicy)"
        return issued_text(action)

    def source_of(self, seq: int) -> Source | None:
        src = self.sources.get(seq)
        if src is None:  # a retry timer the SDK created: the call it retries
            task = self.ctx.pending_task(seq)
            parent = _sdk.retry_parent_seq(task) if task is not None else None
            src = self.sources.get(parent) if parent is not None else None
        return src

    def end_source(self) -> Source | None:
        if self.continued_at is not None:
            return self.continued_at
        # only when no tracer (a debugger, coverage) is installed: swapping one out hung a run once
        if self.returned_at is None and not self.trace_returns and sys.gettrace() is None:
            self.returned_at = self.locate_return()
        if self.returned_at is not None:
            return self.returned_at
        from ...core.frames import return_source

        return return_source(self.fn)

    def locate_return(self) -> Source | None:
        """Replay once more, tracing only the orchestrator's generator, to learn the line of the
        ``return`` that ended it (only for a report: the first pass runs untraced)."""
        probe = Run(self.history, self.fn, self.args_mode, self.sandbox_mode)
        probe.trace_returns = True
        with contextlib.suppress(Exception, Stop):
            probe.execute()
        return probe.returned_at

    def diverge(
        self,
        kind: str,
        event: DtEvent | None,
        recorded: str | None,
        issued: str | None,
        source: Source | None,
        detail: str = "",
    ) -> None:
        d = divergence(kind, self.history, event, recorded, issued, source, detail)
        self.divergence = d
        if self.observer is not None:  # --break-on divergence: the orchestrator is suspended (or
            # done), so the debugger stops at the report's line through a stand-in frame
            self.observer.diverged(NondeterminismError(d), None, getattr(self.fn, "__module__", "orchestrator"))
        raise Diverged(d)


class Diverged(Exception):
    """Raised out of the replay loop with the divergence (caught by :mod:`.replay`)."""

    def __init__(self, d: Any) -> None:
        self.divergence = d
        super().__init__(d.message())


# ---- reading actions --------------------------------------------------------------------------------
def action_name(action: Any) -> str | None:
    kind = _sdk.action_kind(action)
    if kind == "scheduleTask":
        return str(action.scheduleTask.name)
    if kind == "createSubOrchestration":
        return str(action.createSubOrchestration.name)
    if kind == "sendEvent":
        return str(action.sendEvent.name)
    return None


def issued_text(action: Any) -> str:
    kind = _sdk.action_kind(action)
    if kind == "scheduleTask":
        a = action.scheduleTask
        return f"call_activity {a.name}({short(a.input.value, 50) if a.HasField('input') else ''})"
    if kind == "createTimer":
        return f"create_timer firing {_ts(action.createTimer.fireAt)}"
    if kind == "createSubOrchestration":
        a = action.createSubOrchestration
        return f"call_sub_orchestrator {a.name} instance {a.instanceId!r}"
    if kind == "sendEvent":
        return f"send_event {action.sendEvent.name!r} to {action.sendEvent.instance.instanceId!r}"
    return _ACTION_WORDS.get(kind, kind)


def recorded_text(event: DtEvent) -> str:
    d = event.data
    if event.kind == "taskScheduled":
        return f"call_activity {event.text('name')}({short(d.get('input'), 50) if 'input' in d else ''})"
    if event.kind == "timerCreated":
        return f"create_timer firing {d.get('fireAt')}"
    if event.kind == "subOrchestrationInstanceCreated":
        return f"call_sub_orchestrator {event.text('name')} instance {d.get('instanceId')!r}"
    if event.kind == "eventSent":
        return f"send_event {event.text('name')!r} to {d.get('instanceId')!r}"
    return label(event)


def _ts(stamp: Any) -> str:
    text: str = stamp.ToDatetime(UTC).isoformat()
    return text.replace("+00:00", "Z")


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def arg_differences(event: DtEvent, action: Any) -> list[tuple[str, str, str]]:
    """(field, recorded, issued) for every argument the code now passes differently."""
    kind, d, out = _sdk.action_kind(action), event.data, []

    def payload(field: str, recorded: Any, now: Any) -> None:
        a, b = readable(recorded), readable(now)
        for path, was, isnow in differences(a, b)[:3]:
            shown = [("(absent)" if v is ABSENT else short_json(v, 50)) for v in (was, isnow)]
            out.append((f"{field} {path}".rstrip() if path else field, shown[0], shown[1]))

    if kind == "scheduleTask":
        a = action.scheduleTask
        payload("input", d.get("input"), a.input.value if a.HasField("input") else None)
    elif kind == "createTimer":
        recorded, now = _parse_time(d.get("fireAt")), action.createTimer.fireAt.ToDatetime(UTC)
        if recorded is not None and abs((recorded - now).total_seconds()) > 0.001:
            out.append(("fire time", recorded.isoformat(), now.isoformat()))
    elif kind == "createSubOrchestration":
        a = action.createSubOrchestration
        if d.get("instanceId") != a.instanceId:
            out.append(("instance id", repr(d.get("instanceId")), repr(a.instanceId)))
        payload("input", d.get("input"), a.input.value if a.HasField("input") else None)
    elif kind == "sendEvent":
        a = action.sendEvent
        payload("data", d.get("input"), a.data.value if a.HasField("data") else None)
    return out


def _first_time(history: DtHistory) -> datetime:
    for e in history.events:
        if e.time is not None:
            return e.time
    created = history.metadata.get("created_at")
    t = _parse_time(created)
    return t or datetime(2000, 1, 1, tzinfo=UTC)


def _sandbox() -> Any:
    from ... import sandbox

    return sandbox


__all__ = ["Diverged", "NondeterminismError", "Run", "Stop"]
