"""The verdict of one AWS replay, once the handler is done: ordered rules, each asking one
question of what the replay learned (:class:`~.run.Run`) and raising its verdict, then the
ReplayResult when none applies. The order is the order of precedence: why the replay stopped
early first, then what the SDK saw, then what only the end of the handler shows.
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_durable_execution_sdk_python.exceptions import NonDeterministicExecutionError

from ...core.frames import exception_source, return_source, user_tb_frames
from ...report.divergence import InternalError, NondeterminismError, WorkflowTaskError
from ...report.result import ReplayResult
from ...report.source import Source
from . import history as _history
from .run import Run
from .verdicts import AwsDivergence, divergence


@dataclass
class Outcome:
    """What one replay ended with: what the replay learned, and the SDK's invocation output."""

    rt: Run
    output: dict[str, Any] | None

    @property
    def name(self) -> str:
        return self.rt.history.execution_name or "execution"

    @property
    def status(self) -> str | None:
        """The SDK's status of the replayed invocation (SUCCEEDED, FAILED, PENDING)."""
        return self.output.get("Status") if self.output else None


def stopped_by_the_sandbox(o: Outcome) -> None:
    """I/O in handler code outside a step, in strict mode."""
    if isinstance(o.rt.stop, Exception) and not isinstance(o.rt.stop, InternalError):
        raise task_error(
            o.name,
            o.rt.stop,
            "in a Lambda durable handler, do I/O inside a context.step: handler code "
            "outside steps is replayed (--replay-sandbox=warn reports this instead of failing)",
            o.rt.violation_at,
            o.rt.violation_frames,
        )


def stopped_at_a_divergence(o: Outcome) -> None:
    """Our operation hook saw an operation history does not have (or not here)."""
    if isinstance(o.rt.stop, AwsDivergence):
        raise NondeterminismError(o.rt.stop)


def stopped_by_a_bug(o: Outcome) -> None:
    """The SDK did something replay must never let it do: a bug, not a verdict."""
    if isinstance(o.rt.stop, InternalError):
        raise o.rt.stop


def the_sdk_saw_nondeterminism(o: Outcome) -> None:
    """The SDK's own check saw what our hook did not."""
    err, h = o.rt.handler_error, o.rt.history
    if not isinstance(err, NonDeterministicExecutionError):
        return
    rec = h.ops.get(err.step_id or "")
    issued = None
    if rec is not None and (m := re.search(r"name checkpoint=.*? current=('.*?'|None)", str(err))):
        issued = _history.op_label(rec.type, rec.sub_type, m.group(1).strip("'") if m.group(1) != "None" else None)
    raise NondeterminismError(
        divergence(
            "command",
            h,
            o.rt.workflow_type,
            rec.first_event if rec else None,
            rec.label() if rec else None,
            issued,
            exception_source(err),
            f"the SDK: {err}",
        )
    )


def a_retried_step_still_fails(o: Outcome) -> None:
    """History recorded a step failing with a retry pending; re-run here, it fails again."""
    if not o.rt.step_failures:
        return
    rec, exc = o.rt.step_failures[-1]
    failed = task_error(
        o.name,
        exc,
        f"history recorded {rec.label()} failing with a retry pending (event "
        f"{rec.events[-1].id}); re-run on replay, it still fails",
    )
    failed.event_id = rec.events[-1].id
    raise failed


def the_code_now_fails(o: Outcome) -> None:
    """The handler raises where history recorded the execution going on."""
    h, err = o.rt.history, o.rt.handler_error
    if o.status == "FAILED" and h.status != "FAILED" and err is not None:
        raise task_error(o.name, err, f"history recorded the execution {h.status.lower()}")


def a_recorded_operation_is_no_longer_reached(o: Outcome) -> None:
    if o.rt.frontier is None and (missing := o.rt.missing()) is not None:
        o.rt.diverged_after_return(missing)
        raise NondeterminismError(missing)


def the_result_differs(o: Outcome) -> None:
    rt, h = o.rt, o.rt.history
    if not (o.status == "SUCCEEDED" and h.status == "SUCCEEDED" and not rt.frontier) or o.output is None:
        return
    payload, truncated = h.events[-1].payload("Result")
    if truncated or payload is None:
        return
    recorded, now = loads(payload), loads(o.output.get("Result"))
    if recorded != now:
        d = divergence(
            "result",
            h,
            rt.workflow_type,
            h.events[-1],
            _history.short(recorded, 120),
            _history.short(now, 120),
            return_source(rt.user_fn),
            "every operation matched; only the returned value differs",
        )
        rt.diverged_after_return(d)
        raise NondeterminismError(d)


#: the verdict rules, in order of precedence
RULES: tuple[Callable[[Outcome], None], ...] = (
    stopped_by_the_sandbox,
    stopped_at_a_divergence,
    stopped_by_a_bug,
    the_sdk_saw_nondeterminism,
    a_retried_step_still_fails,
    the_code_now_fails,
    a_recorded_operation_is_no_longer_reached,
    the_result_differs,
)


def judge(rt: Run, output: dict[str, Any] | None) -> ReplayResult:
    """The ReplayResult, or the first rule's verdict, with the warnings collected before it."""
    o = Outcome(rt, output)
    try:
        for rule in RULES:
            rule(o)
    except NondeterminismError as e:
        e.divergence.warnings = list(rt.warnings)
        raise NondeterminismError(e.divergence) from None  # the message includes the warnings
    except WorkflowTaskError as e:
        e.warnings = list(rt.warnings)
        raise
    return result(o)


def result(o: Outcome) -> ReplayResult:
    """Replay agrees with history: where it stands, and what the code would do next."""
    rt, h, output, status = o.rt, o.rt.history, o.output, o.status
    # a timed-out or stopped execution is over without completing: "failed" for the summary
    result_status = {"SUCCEEDED": "completed", "RUNNING": "running"}.get(h.status, "failed")
    out: Any = None
    if h.status == "SUCCEEDED":
        out = loads(h.events[-1].payload("Result")[0])
    elif h.status != "RUNNING":
        out = (h.events[-1].details.get("Error") or {}).get("Payload")
    waiting = None
    if status == "PENDING" and rt.frontier is None:
        at = rt.suspended_at or rt.last_source
        waiting = str(at) if at else None
    elif rt.waiting_at is not None:
        waiting = str(rt.waiting_at)
    new = [rt.frontier] if rt.frontier and rt.waiting_at is None else []
    if status == "SUCCEEDED" and h.status == "RUNNING" and not new and output is not None:
        new = [f"the execution completes with {_history.short(loads(output.get('Result')), 80)}"]
    if status == "FAILED" and h.status == "FAILED" and output is not None and isinstance(out, dict):
        now_type = (output.get("Error") or {}).get("ErrorType")
        if now_type and out.get("ErrorType") and now_type != out["ErrorType"]:
            rt.warnings.append(
                f"history recorded the execution failing with {out['ErrorType']}; the code now fails with {now_type}"
            )
    return ReplayResult(o.name, rt.workflow_type, result_status, out, len(h.events), rt.warnings, waiting, new)


def task_error(
    name: str,
    exc: BaseException,
    note: str,
    source: Source | None = None,
    frames: list[traceback.FrameSummary] | None = None,
) -> WorkflowTaskError:
    """Handler code raised ``exc``: at ``source`` through ``frames``, by default its traceback's."""
    if frames is None:
        source, frames = exception_source(exc), user_tb_frames(exc)
    failed = WorkflowTaskError(name, exc, source, {"type": type(exc).__name__, "message": str(exc)}, frames=frames)
    failed.history_note = note
    return failed


def loads(payload: Any) -> Any:
    try:
        return json.loads(payload) if isinstance(payload, str) else payload
    except ValueError:
        return payload
