"""Replay an AWS Lambda durable execution history against the current handler code, offline.

The handler runs through the SDK's own ``@durable_execution`` invocation path, fed the
history's operations (see :mod:`.operations`) and a checkpoint client that records instead of
calling AWS. Its context is a :class:`ReplayContext`: the SDK's ``DurableContext`` with one
hook where every operation is allocated, which

- compares the operation with the one history recorded at its id, BEFORE the SDK runs
  anything, and names the handler line that issued it;
- stops the replay (:class:`_Stop`, a BaseException the SDK lets through) before an
  operation the history does not have can run its body for real;
- remembers which recorded operations the code reached, so those it no longer reaches are
  reported when the handler returns (the SDK reports success there).

Handler code runs in replaytest's sandbox (recorded time, seeded randomness, I/O flagged);
step bodies, and the SDK's own machinery, run unrestricted.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import sys
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator

from aws_durable_execution_sdk_python import __about__ as sdk_about
from aws_durable_execution_sdk_python.config import ParallelBranch
from aws_durable_execution_sdk_python.context import DurableContext
from aws_durable_execution_sdk_python.exceptions import NonDeterministicExecutionError, SuspendExecution
from aws_durable_execution_sdk_python.execution import (DurableExecutionInvocationInputWithClient,
                                                        InitialExecutionState, durable_execution)
from aws_durable_execution_sdk_python.lambda_service import OperationAction, OperationType

from . import handlers as _handlers
from . import history as _history
from ._compat import (NondeterminismError, ReplayResult, Source, WorkflowTaskError, exception_source, is_user_file,
                      return_source, sandbox_module, source_at)
from .history import AwsHistory, RecordedOp, op_label
from .operations import RecordingClient, initial_operations
from .verdicts import divergence

SDK_VERSION = sdk_about.__version__


class _Stop(BaseException):
    """Ends the replay now. A BaseException: the SDK turns every Exception from handler code
    into a FAILED execution, but lets this through to us."""


@dataclass
class _LambdaContext:
    """What handler code may read from the Lambda context while replaying."""

    function_name: str = "replay"
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    memory_limit_in_mb: int = 128
    aws_request_id: str = "replaytest"
    log_group_name: str = ""
    log_stream_name: str = ""
    tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _innermost_user_source(exc: BaseException) -> Source | None:
    best = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        if is_user_file(frame.f_code.co_filename):
            best = source_at(frame.f_code.co_filename, line, frame.f_code.co_name)
    return best


def _user_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return [f for f in traceback.extract_tb(exc.__traceback__) if is_user_file(f.filename)]


def _user_frame(start: Any) -> Any:
    f = start
    while f is not None and not is_user_file(f.f_code.co_filename):
        f = f.f_back
    return f


def _user_source(start: Any) -> Source | None:
    """The innermost frame of the user's code from ``start`` outwards: the handler line that
    called ``context.step``/``wait``/… (the SDK's and replaytest's own frames are skipped)."""
    f = start
    while f is not None:
        if is_user_file(f.f_code.co_filename):
            return source_at(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return None


class Run:
    """Everything one replay learns: what the code issued, where, and the verdict."""

    def __init__(self, history: AwsHistory, user_fn: Callable[..., Any], workflow_type: str, args_mode: str,
                 sandbox_mode: str, observer: Any = None) -> None:
        self.history, self.user_fn, self.workflow_type = history, user_fn, workflow_type
        self.args_mode, self.sandbox_mode = args_mode, sandbox_mode
        self.visited: dict[str, Source | None] = {}
        self.entered: set[str | None] = {None}          # contexts whose code ran (None: the handler)
        self.last_source: Source | None = None
        self.stop: Any = None                           # AwsDivergence | SandboxViolation | frontier str
        self.frontier: str | None = None
        self.waiting_at: Source | None = None
        self.step_failures: list[tuple[RecordedOp, BaseException]] = []
        self.handler_error: BaseException | None = None
        self.suspended_at: Source | None = None
        self.warnings: list[str] = []
        self.now: datetime = history.execution.start or history.events[0].time
        seed = int.from_bytes(hashlib.sha256(history.execution.id.encode()).digest()[:8], "big")
        self.rng = random.Random(seed)
        self.pending_args: threading.local = threading.local()
        self._sb = sandbox_module() if sandbox_mode != "off" else None
        self.returned_op: str | None = None
        self.observer = observer
        if observer is not None:
            observer._track(self)  # a fresh replay for the debugger's bookkeeping

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
        branch) run under the sandbox, at the current recorded time."""
        if self._sb is None:
            return fn
        sb = self._sb

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with sb.workflow_code(self.now, self.rng, mode="warn", on_violation=self.violation):
                return fn(*args, **kwargs)
        return run

    def violation(self, v: Exception) -> None:
        if self.sandbox_mode == "strict":
            self.stop = self.stop or v
            raise _Stop
        self.warnings.append(f"sandbox: {v}")

    # ---- the operation hook --------------------------------------------------------------------
    def before(self, op_id: str, op_type: str, sub_type: str | None, name: str | None, parent_id: str | None,
               source: Source | None) -> None:
        """Check the operation the code is about to issue against history; raise _Stop when the
        replay must end before the SDK runs it."""
        if self.stop is not None:
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
        if parent_status not in _history.TERMINAL or (parent_status == "FAILED" and all_reached):
            # where history stands: the next invocation would do this (a running execution), or
            # the code now gets past the point where the recorded execution failed
            self.frontier = f"{issued} at {source}" if source else issued
            self.stop = self.frontier
            raise _Stop
        last = siblings[-1] if siblings else parent
        where = f"inside {parent.label()}" if parent is not None else "in the handler"
        recorded = (f"nothing more {where} after {last.label()}" if last is not None and last is not parent
                    else f"nothing {where}")
        event = None
        if parent is not None and parent.events[-1].type.endswith(("Succeeded", "Failed")):
            event = parent.events[-1]
        elif parent is None and h.finished:
            event = h.events[-1]
        self._fail(divergence("extra", h, self.workflow_type, event, recorded, issued, source,
                              "the SDK would run this operation's body for real on replay; replaytest stopped before it"))

    def _mismatch(self, rec: RecordedOp, op_type: str, sub_type: str | None, name: str | None,
                  parent_id: str | None, issued: str, source: Source | None) -> None:
        diffs = []
        if rec.type != op_type:
            diffs.append(f"type {rec.type} → {op_type}")
        if rec.sub_type != sub_type:
            diffs.append(f"subtype {rec.sub_type} → {sub_type}")
        if (rec.name or None) != (name or None):
            diffs.append(f"name {rec.name!r} → {name!r}")
        if (rec.parent_id or None) != (parent_id or None):
            diffs.append("parent context differs")
        later = next((op for op in self.history.children(rec.parent_id)
                      if op.id not in self.visited and op.id != rec.id
                      and (op.type, op.sub_type, op.name or None) == (op_type, sub_type, name or None)), None)
        kind = "order" if later is not None else "command"
        detail = f"operation {rec.id[:12]}… differs: {', '.join(diffs)} (the SDK: NonDeterministicExecutionError)"
        if later is not None:
            detail += f"; history recorded {issued} later, at event {later.first_event.id}"
        self._fail(divergence(kind, self.history, self.workflow_type, rec.first_event, rec.label(), issued, source,
                              detail))

    def _compare_args(self, rec: RecordedOp, args: tuple[str, Any], issued: str, source: Source | None) -> None:
        what, value = args
        recorded: Any = None
        if what == "wait":
            recorded = rec.wait_seconds
        elif what == "invoke":
            recorded = rec.invoke_function
        if recorded is None or recorded == value or self.args_mode == "ignore":
            return
        text = {"wait": "seconds", "invoke": "function"}[what]
        line = f"{issued}: recorded {text} {recorded!r}, the code now passes {value!r}"
        if self.args_mode == "warn":
            self.warnings.append(f"{self.history.execution_name}: event {rec.first_event.id}: {line}"
                                 + (f" at {source}" if source else ""))
            return
        self._fail(divergence("args", self.history, self.workflow_type, rec.first_event,
                              f"{rec.label()} with {text} {recorded!r}", f"{issued} with {text} {value!r}", source,
                              "arguments are not part of an operation's identity: the SDK alone replays this silently"))

    def _fail(self, d: Any) -> None:
        if self.stop is None and self.observer is not None and self.observer.break_on_divergence:
            frame = _user_frame(sys._getframe(1))
            if frame is not None:
                self.observer._stop(frame, "divergence", d.event_id, error=NondeterminismError(d),
                                    extra={"replaytest_divergence": d})
        self.stop = self.stop or d
        raise _Stop

    # ---- the debugger: --break-at N stops where handler code receives operation N's outcome ------
    def returned(self, start: Any) -> None:
        obs, rec = self.observer, self.history.ops.get(self.returned_op or "")
        if obs is None or rec is None or self.stop is not None or not obs.break_at:
            return
        self.returned_op = None
        last = rec.events[-1].id
        due = [n for n in obs.break_at if n <= last and n not in obs._reached]
        frame = _user_frame(start)
        if not due or frame is None:
            return
        obs._reached.update(due)
        event = next((e for e in rec.events if e.id == max(due)), rec.events[-1])
        asked = ", ".join(map(str, due))
        note = (f"--break-at {asked}: event {event.id} ({event.type}) was applied; the handler code receives "
                f"{rec.label()} here")
        view = {"id": event.id, "type": event.type, "time": event.time.isoformat(), "operation": rec.label(),
                "status": rec.status, "result": _history.readable(rec.result), "error": rec.error}
        obs._stop(frame, f"break-at {asked}", event.id, extra={"replaytest_event": view, "replaytest_break": note})

    def diverged_after_return(self, d: Any) -> None:
        """--break-on divergence for a divergence found after the handler returned (a dropped
        operation, another result): stop in a stand-in frame at the reported line."""
        if self.observer is None or not self.observer.break_on_divergence or d.source is None:
            return
        from ...debug.observer import _stop_at_source

        obs = self.observer
        _stop_at_source(d.source, getattr(self.user_fn, "__module__", "handler"),
                        lambda frame: obs._stop(frame, "divergence", d.event_id, error=NondeterminismError(d),
                                                extra={"replaytest_divergence": d}))

    # ---- after the handler ---------------------------------------------------------------------
    def missing(self) -> Any:
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
            return divergence("missing", self.history, self.workflow_type, op.first_event, op.label(),
                              f"(nothing: {after} first)", source, f"{after} without reaching it; the SDK alone reports success")
        return None


class ReplayContext(DurableContext):
    """The SDK's context with replaytest's hook on every operation (see the module docstring)."""

    _rt: Run

    @contextmanager
    def _operation_replay_aware(self, sub_type: str, name: str | None = None, *, operation_type: OperationType,
                                is_virtual: bool = False) -> Iterator[Any]:
        rt = self._rt
        op_id = self._peek_next_operation_id()
        rt.before(op_id, operation_type.value, sub_type, name, self._parent_id, _user_source(sys._getframe(1)))
        try:
            with super()._operation_replay_aware(sub_type, name, operation_type=operation_type,
                                                 is_virtual=is_virtual) as ident:
                yield ident
        finally:
            rt.after(op_id)

    def create_child_context(self, operation_id: str, *, is_virtual: bool = False) -> DurableContext:
        child = super().create_child_context(operation_id, is_virtual=is_virtual)
        child.__class__ = ReplayContext
        child._rt = self._rt  # type: ignore[attr-defined]
        self._rt.entered.add(operation_id)
        self._rt.visited.setdefault(operation_id, self._rt.last_source)
        return child

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        rt = self._rt
        try:
            with rt.unrestricted():
                return fn(*args, **kwargs)
        finally:
            rt.sync_clock()
            if rt.observer is not None:
                rt.returned(sys._getframe(1))

    def step(self, func: Callable[..., Any], name: str | None = None, config: Any = None) -> Any:
        rt, step_name = self._rt, self._resolve_step_name(name, func)
        op_id = self._peek_next_operation_id()

        def body(step_context: Any) -> Any:
            rec = rt.history.ops.get(op_id)
            if rec is None or rec.status not in ("PENDING", "READY"):  # never a recorded step's body
                rt.stop = rt.stop or f"internal: the SDK started the body of {op_label('STEP', 'Step', step_name)}"
                raise _Stop
            try:
                return func(step_context)
            except Exception as e:
                rt.step_failures.append((rec, e))
                raise
        return self._call(super().step, body, step_name, config)

    def wait(self, duration: Any, name: str | None = None) -> None:
        self._rt.pending_args.value = ("wait", duration.to_seconds())
        return self._call(super().wait, duration, name)  # type: ignore[no-any-return]

    def invoke(self, function_name: str, payload: Any, name: str | None = None, config: Any = None) -> Any:
        self._rt.pending_args.value = ("invoke", function_name)
        return self._call(super().invoke, function_name, payload, name, config)

    def create_callback(self, name: str | None = None, config: Any = None) -> Any:
        return self._call(super().create_callback, name, config)

    def wait_for_callback(self, submitter: Callable[..., Any], name: str | None = None, config: Any = None) -> Any:
        return self._call(super().wait_for_callback, submitter, self._resolve_step_name(name, submitter), config)

    def wait_for_condition(self, check: Callable[..., Any], config: Any, name: str | None = None) -> Any:
        return self._call(super().wait_for_condition, check, config, name)

    def run_in_child_context(self, func: Callable[..., Any], name: str | None = None, config: Any = None) -> Any:
        return self._call(super().run_in_child_context, self._rt.sandboxed(func),
                          self._resolve_step_name(name, func), config)

    def map(self, inputs: Any, func: Callable[..., Any], name: str | None = None, config: Any = None) -> Any:
        return self._call(super().map, inputs, self._rt.sandboxed(func), self._resolve_step_name(name, func), config)

    def parallel(self, functions: Any, name: str | None = None, config: Any = None) -> Any:
        wrapped = [ParallelBranch(func=self._rt.sandboxed(f.func), name=f.name) if isinstance(f, ParallelBranch)
                   else self._rt.sandboxed(f) for f in functions]
        return self._call(super().parallel, wrapped, name, config)


def replay_history(history: AwsHistory, handler: Callable[..., Any], *, args_mismatch: str | None = "warn",
                   sandbox: str = "strict", workflow_type: str | None = None, observer: Any = None) -> ReplayResult:
    """Replay ``history`` with ``handler`` (a ``@durable_execution`` function). Returns a
    ReplayResult or raises NondeterminismError / WorkflowTaskError / SandboxViolation."""
    user_fn = handler.__wrapped__
    wtype = workflow_type or history.function_name or getattr(user_fn, "__name__", "handler")
    rt = Run(history, user_fn, wtype, _mode(args_mismatch or "warn"), _mode(sandbox), observer)

    def entry(event: Any, context: DurableContext) -> Any:
        context.__class__ = ReplayContext
        context._rt = rt  # type: ignore[attr-defined]
        try:
            return rt.sandboxed(user_fn)(event, context)
        except SuspendExecution as e:
            rt.suspended_at = _innermost_user_source(e)
            raise
        except Exception as e:
            rt.handler_error = e
            raise

    ops = initial_operations(history)
    client = RecordingClient({op.operation_id: op for op in ops})
    exec_id = history.execution.id
    arn = history.arn if history.arn and history.arn.endswith("/" + exec_id) else f"replaytest/{exec_id}"
    invocation = DurableExecutionInvocationInputWithClient(
        durable_execution_arn=arn, checkpoint_token="replay-0",
        initial_execution_state=InitialExecutionState(operations=ops, next_marker=""), service_client=client)
    output: dict[str, Any] | None = None
    sdk_log = logging.getLogger("aws_durable_execution_sdk_python")
    level, sdk_log.level = sdk_log.level, logging.CRITICAL  # its "Execution failed" tracebacks are history here
    try:
        output = dict(durable_execution(entry)(invocation, _LambdaContext(function_name=history.function_name or "replay")))
    except _Stop:
        pass
    finally:
        sdk_log.setLevel(level)
    return _verdict(rt, output, client)


def _verdict(rt: Run, output: dict[str, Any] | None, client: RecordingClient) -> ReplayResult:
    h = rt.history
    name = h.execution_name or "execution"
    if isinstance(rt.stop, Exception):                       # a sandbox violation in strict mode
        raise rt.stop
    if rt.stop is not None and not isinstance(rt.stop, str):  # a divergence
        rt.stop.detail = "; ".join(filter(None, [rt.stop.detail, *rt.warnings]))
        raise NondeterminismError(rt.stop)
    if isinstance(rt.stop, str) and rt.stop.startswith("internal:"):
        raise RuntimeError(rt.stop)
    err = rt.handler_error
    if isinstance(err, NonDeterministicExecutionError):      # the SDK saw what our hook did not
        rec = h.ops.get(err.step_id or "")
        raise NondeterminismError(divergence("command", h, rt.workflow_type, rec.first_event if rec else None,
                                             rec.label() if rec else None, None, exception_source(err), str(err)))
    if rt.step_failures:
        rec, exc = rt.step_failures[-1]
        failed = WorkflowTaskError(name, exc, exception_source(exc), {"type": type(exc).__name__, "message": str(exc)},
                                   frames=_user_frames(exc))
        failed.event_id = rec.events[-1].id
        failed.history_note = (f"history recorded {rec.label()} failing with a retry pending (event "
                               f"{rec.events[-1].id}); re-run on replay, it still fails")
        raise failed
    status = output.get("Status") if output else None
    if status == "FAILED" and h.status != "FAILED" and err is not None:
        # the code now fails where history recorded it going on
        failed = WorkflowTaskError(name, err, exception_source(err), {"type": type(err).__name__, "message": str(err)},
                                   frames=_user_frames(err))
        failed.history_note = f"history recorded the execution {h.status.lower()}"
        raise failed
    if rt.frontier is None and (missing := rt.missing()) is not None:
        rt.diverged_after_return(missing)
        raise NondeterminismError(missing)
    if status == "SUCCEEDED" and h.status == "SUCCEEDED" and not rt.frontier:
        _compare_result(rt, output)
    result_status = {"SUCCEEDED": "completed", "FAILED": "failed"}.get(h.status, "running")
    out: Any = None
    if h.status == "SUCCEEDED":
        payload = h.events[-1].payload("Result")[0]
        out = _loads(payload)
    elif h.status != "RUNNING":
        out = (h.events[-1].details.get("Error") or {}).get("Payload")
    waiting = None
    if status == "PENDING" and rt.frontier is None:
        at = rt.suspended_at or rt.last_source
        waiting = str(at) if at else None
    elif rt.waiting_at is not None:
        waiting = str(rt.waiting_at)
    new = [rt.frontier] if rt.frontier and rt.waiting_at is None else []
    return ReplayResult(name, rt.workflow_type, result_status, out, len(h.events), rt.warnings, waiting, new)  # type: ignore[arg-type]


def _mode(value: Any) -> str:
    """An option's value whether given as a string or as replaytest's str-valued enums."""
    return str(getattr(value, "value", value))


def _loads(payload: Any) -> Any:
    try:
        return json.loads(payload) if isinstance(payload, str) else payload
    except ValueError:
        return payload


def _compare_result(rt: Run, output: dict[str, Any] | None) -> None:
    h = rt.history
    payload, truncated = h.events[-1].payload("Result")
    if truncated or payload is None or output is None:
        return
    recorded, now = _loads(payload), _loads(output.get("Result"))
    if recorded != now:
        d = divergence("result", h, rt.workflow_type, h.events[-1], _history.short(recorded, 120),
                       _history.short(now, 120), return_source(rt.user_fn),
                       "every operation matched; only the returned value differs")
        rt.diverged_after_return(d)
        raise NondeterminismError(d)


def replay_document(doc: Any, index: int, settings: Any, *, source: str, fallback_name: str | None = None) -> ReplayResult:
    """The seam's ``replay``: load entry ``index`` of ``doc``, find its handler, replay it."""
    execution = _history.split_executions(doc)[index]
    history = _history.load(execution, source)
    if history.execution.name is None and fallback_name:
        history.execution.name = fallback_name
    handler = _handlers.resolve(history.function_name, getattr(settings, "handlers", None) or [],
                                getattr(settings, "modules", None) or [], source)
    sandbox = _mode(getattr(settings, "sandbox", "strict") or "strict")
    sandbox = {"on": "strict"}.get(sandbox, sandbox)
    factory = getattr(settings, "observer_factory", None)
    return replay_history(history, handler, args_mismatch=getattr(settings, "args_mismatch", None), sandbox=sandbox,
                          observer=factory() if factory else None)


__all__ = ["replay_history", "replay_document", "ReplayContext", "SDK_VERSION"]
