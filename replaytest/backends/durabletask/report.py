"""How a Durable Task divergence reads: the shared report, in the platform's words (commands
are activities, timers and sub-orchestrations matched by sequence number; the way out of a
breaking change is orchestration versioning or a new orchestrator name)."""

from __future__ import annotations

from typing import Any

from ...report import Divergence
from ...report.divergence import timeline
from .history import DtEvent, DtHistory, describe

_VERSION = (
    "orchestrations already in flight replay the new code, so guard the change with "
    "`if ctx.version ...` (orchestration versioning) or ship it under a new orchestrator name"
)

DT_KINDS: dict[str, tuple[str, str]] = {
    "command": ("a different command", "restore the recorded call at this point, or " + _VERSION),
    "order": ("commands in a different order", "keep the recorded order, or " + _VERSION),
    "extra": (
        "a command the history does not have",
        "the code now does something where the recorded orchestration had ended; the SDK alone "
        "replays this silently; remove it, or " + _VERSION,
    ),
    "missing": (
        "a recorded command the code no longer issues",
        "restore the call where history recorded it, or " + _VERSION,
    ),
    "args": (
        "different command arguments",
        "the SDK never compares arguments (activity input, timer fire time, sub-orchestration "
        "instance id); if the change is intended accept it with `--replay-args=warn`, otherwise "
        "restore the recorded value",
    ),
    "end": (
        "a different end",
        "history recorded the orchestration ending another way; the SDK alone does not compare "
        "the end of a finished history; restore the recorded behaviour, or " + _VERSION,
    ),
    "result": (
        "a different orchestration result",
        "every command matched; only the returned value differs; if intended, " + _VERSION,
    ),
    "waiting": (
        "the code waits where history ended",
        "history recorded the orchestration ending here, but the code now waits for something "
        "the history never delivers; restore the recorded path, or " + _VERSION,
    ),
}


class DurableTaskDivergence(Divergence):
    """A Divergence whose titles and advice speak of Durable Task orchestrations."""

    kinds = DT_KINDS


def divergence(
    kind: str,
    history: DtHistory,
    event: DtEvent | None,
    recorded: str | None,
    issued: str | None,
    source: Any,
    detail: str = "",
) -> DurableTaskDivergence:
    marks = {"missing": "no longer issued", "extra": "the code issues a new command here"}
    at = event.pos if event is not None else None
    lines = [(e.pos, describe(e)) for e in history.events]
    return DurableTaskDivergence(
        kind=kind,
        workflow_id=history.instance_id or "orchestration",
        workflow_type=history.orchestrator or "?",
        event_id=at,
        event_type=event.kind if event else None,
        recorded=recorded,
        issued=issued,
        source=source,
        detail=detail,
        matched=(at - 1) if at else len(history.events),
        timeline=timeline(lines, at, marks.get(kind, "diverges here")),
        history_source=history.source,
    )


__all__ = ["DT_KINDS", "DurableTaskDivergence", "divergence"]
