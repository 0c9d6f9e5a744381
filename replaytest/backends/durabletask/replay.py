"""Replay a Durable Task history against the current orchestrator code, offline: the verdicts.

:mod:`.run` feeds the recorded events to the SDK's executor and checks every command; here the
end of the history is judged (what the SDK never compares: a finished history's end, its
status and result) and everything becomes a :class:`ReplayResult` or one of the shared
verdicts, with the orchestrator's line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...core.frames import exception_source, user_tb_frames
from ...report import NondeterminismError, ReplayResult, WorkflowTaskError
from ...report.divergence import timeline
from .. import ReplaySettings, progress
from . import _sdk
from .history import DtHistory, describe, failure_text, readable, short, status_name
from .run import Diverged, Run, issued_text

SDK_VERSION = _sdk.SDK_VERSION


def replay_history(
    history: DtHistory,
    fn: Callable[..., Any],
    *,
    args_mismatch: str | None = "warn",
    sandbox: str = "strict",
    observer: Any = None,
) -> ReplayResult:
    """Replay ``history`` with orchestrator function ``fn``. Returns a ReplayResult or raises
    NondeterminismError / WorkflowTaskError."""
    run = Run(history, fn, args_mismatch or "warn", sandbox, observer)
    try:
        with progress(lambda: _applied(run)):
            ctx = run.execute()
            return _judge(run, ctx)
    except Diverged as d:
        d.divergence.warnings = list(run.warnings)
        raise NondeterminismError(d.divergence) from None
    except WorkflowTaskError as e:
        e.warnings = list(run.warnings)
        raise


def _applied(run: Run) -> str | None:
    """The event being fed to the SDK, for a timeout's message."""
    e = run.current
    return None if e is None else f"history event {e.pos} ({describe(e)[:120]})"


def _task_error(run: Run, exc: BaseException, note: str, event: Any = None) -> WorkflowTaskError:
    h = run.history
    failed = WorkflowTaskError(
        h.instance_id or "orchestration",
        exc,
        exception_source(exc),
        {"type": type(exc).__name__, "message": str(exc)},
        frames=user_tb_frames(exc),
    )
    failed.history_note = note
    _place(failed, run, event)
    return failed


def _place(failed: WorkflowTaskError, run: Run, event: Any) -> None:
    """Where in the history the orchestrator raised, for the shared task report."""
    h = run.history
    failed.workflow_type = h.orchestrator
    failed.history_source = h.source
    if event is not None:
        failed.event_id = event.pos
        failed.task_place = f" while history event {event.pos} ({describe(event)}) was replayed"
        failed.timeline = timeline([(e.pos, describe(e)) for e in h.events], event.pos, "the orchestrator raised here")


def _judge(run: Run, ctx: Any) -> ReplayResult:
    h = run.history
    if run.violation_error is not None:
        failed = WorkflowTaskError(
            h.instance_id or "orchestration",
            run.violation_error,
            run.violation_at,
            {"type": type(run.violation_error).__name__, "message": str(run.violation_error)},
            frames=run.violation_frames,
        )
        failed.history_note = (
            "orchestrator code is replayed: do I/O in an activity (ctx.call_activity), never in the "
            "orchestrator (--replay-sandbox=warn reports this instead of failing)"
        )
        _place(failed, run, run.current)
        raise failed
    status, end = h.status, h.completed
    if run.code_error is not None:
        return _judge_error(run, run.code_error, status, end)
    new = [(seq, a) for seq, a in ctx.pending().items() if _sdk.action_kind(a) != "completeOrchestration"]
    name, otype = h.instance_id or "orchestration", h.orchestrator or "?"
    if status == "RUNNING":
        waiting, commands = None, [issued_text(a) for _, a in new]
        if ctx.complete:
            commands.append(_code_end(ctx))
        else:
            at = run.waiting_at()
            waiting = str(at) if at else None
        return ReplayResult(name, otype, "running", None, len(h.events), run.warnings, waiting, commands)
    if status == "TERMINATED":
        out = readable(end.data.get("input")) if end is not None else None
        run.warnings.append("history recorded the orchestration terminated: replayed up to the termination")
        return ReplayResult(name, otype, "failed", out, len(h.events), run.warnings)
    if new:
        seq, action = new[0]
        run.diverge(
            "extra",
            end,
            f"nothing more: {describe(end)}" if end else "nothing more",
            run.issued(seq, action),
            run.source_of(seq),
            f"sequence number {seq} is new where the recorded orchestration had ended; the SDK alone "
            "ignores the end of a finished history",
        )
    if not ctx.complete:
        run.diverge(
            "waiting",
            end,
            describe(end) if end else None,
            "(nothing: the code is waiting)",
            run.waiting_at(),
            "the recorded orchestration ended, but the code is still waiting at this line",
        )
    code_status = status_name(ctx.status)
    if code_status != status:
        run.diverge(
            "end",
            end,
            describe(end) if end else status,
            _code_end(ctx),
            run.end_source(),
            f"history recorded the orchestration {status}; the code now {_code_end(ctx)}",
        )
    assert end is not None
    if code_status in ("COMPLETED", "CONTINUED_AS_NEW"):  # the end record's "result" holds the new input
        continued = code_status == "CONTINUED_AS_NEW"
        verb, what = ("continues as new with", "the new input") if continued else ("returns", "the returned value")
        recorded, now = readable(end.data.get("result")), _jsonable(ctx.new_input if continued else ctx.result)
        if recorded != now:
            run.diverge(
                "result",
                end,
                f"{verb} {short(recorded, 100)}",
                f"{verb} {short(now, 100)}",
                run.end_source(),
                f"every command matched; only {what} differs",
            )
        return ReplayResult(name, otype, "completed", recorded, len(h.events), run.warnings)
    return ReplayResult(name, otype, "failed", _failure(end.data.get("failureDetails")), len(h.events), run.warnings)


def _judge_error(run: Run, e: BaseException, status: str, end: Any) -> ReplayResult:
    h = run.history
    went_on = next((ev for ev in h.events if run.error_event and ev.pos > run.error_event.pos and ev.is_command), None)
    if went_on is not None:
        raise _task_error(
            run,
            e,
            f"history recorded the orchestration going on: history event {went_on.pos} {describe(went_on)}",
            run.error_event,
        )
    if status != "FAILED":
        raise _task_error(
            run, e, f"history recorded the orchestration {status.lower().replace('_', ' ')}", run.error_event
        )
    details = end.data.get("failureDetails") if end is not None else None
    recorded_type = str((details or {}).get("errorType") or "").rsplit(".", 1)[-1]
    if recorded_type and recorded_type != type(e).__name__:
        raise _task_error(
            run,
            e,
            f"history recorded the orchestration failing with {failure_text(details)}; the code now fails with "
            f"{type(e).__name__}",
            run.error_event,
        )
    if isinstance(details, dict) and details.get("errorMessage") not in (None, str(e)):
        run.warnings.append(
            f"history recorded the failure message {details.get('errorMessage')!r}; the code now fails with {str(e)!r}"
        )
    return ReplayResult(
        h.instance_id or "orchestration",
        h.orchestrator or "?",
        "failed",
        _failure(details),
        len(h.events),
        run.warnings,
    )


def _failure(details: Any) -> dict[str, Any]:
    """A recorded failure in the type/message shape every backend's result has (plus the SDK's
    details as recorded)."""
    details = details if isinstance(details, dict) else {}
    etype = str(details.get("errorType") or "Error")
    return {"type": etype.rsplit(".", 1)[-1], "message": details.get("errorMessage", ""), "details": details}


def _code_end(ctx: Any) -> str:
    status = status_name(ctx.status)
    if status == "CONTINUED_AS_NEW":
        return f"continues as new with {short(_jsonable(ctx.new_input), 80)}"
    if status == "FAILED":
        return "fails"
    return f"completes with {short(_jsonable(ctx.result), 80)}"


def _jsonable(value: Any) -> Any:
    """A value as its JSON round trip (what the SDK would record)."""
    import json

    try:
        return json.loads(json.dumps(value, default=lambda o: getattr(o, "__dict__", str(o))))
    except (TypeError, ValueError):
        return repr(value)


def replay_document(
    doc: Any, settings: ReplaySettings, *, source: str, fallback_name: str | None = None
) -> ReplayResult:
    """The seam's ``replay``: load the history in ``doc``, find its orchestrator, replay it."""
    from .history import load
    from .orchestrators import resolve

    history = load(doc, source)
    if not history.instance_id and fallback_name:
        history.instance_id = fallback_name
    fn = resolve(
        history.orchestrator or "",
        settings.option("durabletask", "handlers"),
        [*settings.modules, *settings.extra_workflows],
        source,
        settings.describe_search(),
        settings,
    )
    return replay_history(
        history,
        fn,
        args_mismatch=settings.args_mismatch.value if settings.args_mismatch else "warn",
        sandbox=settings.sandbox.value,
        observer=settings.observer(),
    )


__all__ = ["SDK_VERSION", "replay_document", "replay_history"]
