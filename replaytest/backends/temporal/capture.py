"""What the workflow code did during a replay, and where: every command it issued (with the
user's source line, taken when the command was made) and any exception that failed a
workflow task.

Activities and child workflows are seen through temporalio's public outbound interceptor.
Timers (``workflow.sleep``, ``asyncio.sleep``, timeouts) and ``workflow.patched()`` have no
interceptor hook: the capture wraps the workflow instance's timer and patch entry points, the
narrowest places every such call passes through. Those names are private to temporalio and,
like every such name, reached through ``_sdk.py`` only.

Code here runs inside temporalio's workflow sandbox: it only touches objects created
outside it (no imports, no file access at call time).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import temporalio.exceptions
import temporalio.workflow
from temporalio import workflow
from temporalio.worker import (
    ExecuteWorkflowInput,
    HandleSignalInput,
    Interceptor,
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from ...core.frames import is_user_file
from ...core.frames import user_frame as innermost_user_frame
from . import _sdk

Frame = tuple[str, int, str]  # (filename, line, function)


def user_frame_object(depth: int = 2) -> Any:
    """The innermost frame of workflow code on the current stack, or None."""
    return innermost_user_frame(sys._getframe(depth))


def user_frame(depth: int = 2) -> Frame | None:
    """(file, line, function) of the innermost frame of workflow code on the current stack;
    else, inside ``asyncio.gather`` or a task, where the running coroutine was created."""
    f = user_frame_object(depth + 1)
    return (f.f_code.co_filename, f.f_lineno, f.f_code.co_name) if f is not None else origin_frame()


#: frames kept per coroutine while workflow code runs (see runner.ReplayWorker)
ORIGIN_DEPTH = 8


def origin_frame() -> Frame | None:
    """Where the user's code created the coroutine the current task runs. A command issued in
    ``asyncio.gather(*[workflow.execute_activity(...) ...])`` runs in a task of its own, with no
    frame of the user's on the stack; the replay threads keep each coroutine's origin
    (``sys.set_coroutine_origin_tracking_depth``), which still names the user's line."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return None
    origin = getattr(task.get_coro(), "cr_origin", None) if task is not None else None
    for filename, line, function in origin or ():
        if is_user_file(filename):
            return (filename, line, function)
    return None


def raised_at(e: BaseException) -> Frame | None:
    """The innermost line of workflow code in ``e``'s traceback: the ``raise`` (or the
    ``workflow.continue_as_new(...)`` call) that ended the run."""
    found = None
    tb = e.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if is_user_file(code.co_filename):
            found = (code.co_filename, tb.tb_lineno, code.co_name)
        tb = tb.tb_next
    return found


@dataclass
class Issued:
    """One command the code issued. ``task`` is the history length when it was issued: the
    event id of the WorkflowTaskStarted whose task it belongs to."""

    kind: str  # activity | local_activity | timer | child | patch | signal | complete | fail | continue_as_new
    task: int
    name: str | None = None  # activity type, child type, patch id, signal name
    args: tuple[Any, ...] = ()
    seconds: float | None = None  # timers
    target: str | None = None  # child workflow id, signalled workflow id
    deprecated: bool = False  # patches
    frame: Frame | None = None
    #: complete: (code, last instruction, last line) of run() as it ended (core.frames.exit_source)
    ended: tuple[Any, int, int] | None = None
    after: Frame | None = None  # complete: the last line of run() known to have run, if ``ended`` is not known


@dataclass
class Capture:
    """Everything one workflow run did during its replay."""

    workflow_id: str
    issued: list[Issued] = field(default_factory=list)
    error: BaseException | None = None
    error_task: int | None = None
    patches_seen: set[str] = field(default_factory=set)
    debug: Any = None  # a debugging.DebugPlan while a debugger is attached
    last_task: int = 0  # the history length the code last ran at (says where a stuck replay was)
    waiting_at: Frame | None = None  # where the code waited when temporalio tore the run down

    def add(self, issued: Issued) -> None:
        self.issued.append(issued)
        self.last_task = max(self.last_task, issued.task)
        if self.debug is not None:
            self.debug.at(issued, issued.task, user_frame_object(3))


_lock = threading.Lock()
_captures: dict[str, Capture] = {}
_plans: dict[str, Any] = {}  # workflow id → DebugPlan, set before its replay (see debugging.py)


def arm(workflow_id: str, plan: Any) -> None:
    with _lock:
        _plans[workflow_id] = plan


def disarm(workflow_id: str) -> None:
    with _lock:
        _plans.pop(workflow_id, None)


def take(workflow_id: str) -> Capture | None:
    """The capture of the run just replayed for ``workflow_id`` (removed from the registry)."""
    with _lock:
        return _captures.pop(workflow_id, None)


def _task() -> int:
    try:
        return workflow.info().get_current_history_length()
    except Exception:
        return 0


def _runtime_instance() -> Any:
    return _sdk.current_instance()


class _Outbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, capture: Capture) -> None:
        super().__init__(next)
        self._capture = capture

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        self._capture.add(Issued("activity", _task(), input.activity, tuple(input.args), frame=user_frame()))
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        self._capture.add(Issued("local_activity", _task(), input.activity, tuple(input.args), frame=user_frame()))
        return super().start_local_activity(input)

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        self._capture.add(
            Issued(
                "signal", _task(), input.signal, tuple(input.args), target=input.child_workflow_id, frame=user_frame()
            )
        )
        return await super().signal_child_workflow(input)

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        self._capture.add(
            Issued("signal", _task(), input.signal, tuple(input.args), target=input.workflow_id, frame=user_frame())
        )
        return await super().signal_external_workflow(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput) -> workflow.ChildWorkflowHandle[Any, Any]:
        self._capture.add(
            Issued("child", _task(), input.workflow, tuple(input.args), target=input.id, frame=user_frame())
        )
        return await super().start_child_workflow(input)


_CANCELLED = (asyncio.CancelledError, temporalio.exceptions.CancelledError)


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        # workflow.info() is not available yet during init: register on first entry
        capture = Capture("")
        self._capture = capture
        _hook_instance(_runtime_instance(), capture)
        super().init(_Outbound(outbound, capture))

    def _register(self) -> None:
        self._capture.last_task = max(self._capture.last_task, _task())
        if not self._capture.workflow_id:
            self._capture.workflow_id = workflow.info().workflow_id
            with _lock:
                _captures[self._capture.workflow_id] = self._capture
                self._capture.debug = _plans.get(self._capture.workflow_id)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self._register()
        frames: list[Any] = []
        run_fn = input.run_fn

        def run(*args: Any) -> Any:  # keeps the run coroutine's frame: it says where run() ended
            coro = run_fn(*args)
            frames.append(getattr(coro, "cr_frame", None))
            return coro

        try:
            result = await super().execute_workflow(dataclasses.replace(input, run_fn=run))
        except BaseException as e:
            if _sdk.is_eviction(e) or isinstance(e, _CANCELLED):  # raised into run() where the code waits
                self._capture.waiting_at = raised_at(e)  # (temporalio cancels it after a nondeterminism error)
            self._record_exit(e)
            raise
        frame = frames[0] if frames else None
        ended = None
        if frame is not None and is_user_file(frame.f_code.co_filename) and frame.f_lineno:
            ended = (frame.f_code, frame.f_lasti, frame.f_lineno)
        frames.clear()  # the finished frame itself is not kept (nor what it held)
        after = None
        if ended is None:  # only then is the last line known to have run the report's answer
            code = getattr(getattr(run_fn, "__func__", run_fn), "__code__", None)
            after = next(
                (
                    i.frame
                    for i in reversed(self._capture.issued)
                    if code and i.frame and i.frame[0] == code.co_filename
                ),
                None,
            )
        self._capture.issued.append(Issued("complete", _task(), args=(result,), ended=ended, after=after))
        return result

    async def handle_signal(self, input: HandleSignalInput) -> None:
        self._register()
        try:
            await super().handle_signal(input)
        except BaseException as e:
            self._record_exit(e)
            raise

    def _record_exit(self, e: BaseException) -> None:
        if isinstance(e, _CANCELLED):
            return
        if isinstance(e, workflow.ContinueAsNewError):
            self._capture.issued.append(Issued("continue_as_new", _task(), frame=raised_at(e)))
        elif isinstance(e, (temporalio.exceptions.FailureError, asyncio.TimeoutError)):
            self._capture.issued.append(Issued("fail", _task(), args=(str(e),), frame=raised_at(e)))
        elif _sdk.is_eviction(e):  # temporalio tearing the run down
            return
        elif self._capture.error is None:
            self._capture.error, self._capture.error_task = e, _task()


def _hook_instance(instance: Any, capture: Capture) -> None:
    """Wrap this workflow instance's timer and patch entry points (see the module doc)."""

    def on_timer(timer_impl: Callable[..., Any]) -> Callable[..., Any]:
        def timer(delay: float, *args: Any, **kwargs: Any) -> Any:
            capture.add(Issued("timer", _task(), seconds=float(delay), frame=user_frame()))
            return timer_impl(delay, *args, **kwargs)

        return timer

    def on_patch(patch: Callable[..., bool]) -> Callable[..., bool]:
        def workflow_patch(id: str, *, deprecated: bool, **kwargs: Any) -> bool:
            used = patch(id, deprecated=deprecated, **kwargs)
            if id not in capture.patches_seen:  # only the first call per id issues a marker
                capture.patches_seen.add(id)
                if used:
                    capture.add(Issued("patch", _task(), id, deprecated=deprecated, frame=user_frame()))
            return used

        return workflow_patch

    _sdk.wrap_timer_and_patch(instance, on_timer, on_patch)


class CaptureInterceptor(Interceptor):
    """Passed to the Replayer: records each replayed run into the registry above."""

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _Inbound
