"""How a divergence of a Lambda durable handler reads: the same structured report as every
backend, with titles and advice in the platform's words (operations, not commands; no
``workflow.patched()`` in Lambda — versions and aliases are the way out)."""

from __future__ import annotations

from typing import Any

from ...report.divergence import Divergence
from .history import AwsEvent, AwsHistory, describe

_SHIP_NEW_VERSION = (
    "publish the change as a new function version and keep executions already in flight "
    "on the version (alias) they started on"
)

AWS_KINDS: dict[str, tuple[str, str]] = {
    "command": (
        "a different operation",
        "restore the recorded operation (its type and name) at this point, or " + _SHIP_NEW_VERSION,
    ),
    "order": ("operations in a different order", "keep the recorded order, or " + _SHIP_NEW_VERSION),
    "extra": (
        "an operation the history does not have",
        "the SDK would run it for real on replay, where history recorded nothing; remove it, or " + _SHIP_NEW_VERSION,
    ),
    "missing": (
        "a recorded operation the code no longer reaches",
        "the SDK reports success here and drops the recorded operation; restore it, or " + _SHIP_NEW_VERSION,
    ),
    "args": (
        "different operation arguments",
        "arguments are not part of an operation's identity, so the SDK "
        "replays them silently; if the change is intended accept it with `--replay-args=warn`, otherwise "
        "restore the recorded value",
    ),
    "result": (
        "a different execution result",
        "the handler now returns something else than it did; if intended, " + _SHIP_NEW_VERSION,
    ),
}


class AwsDivergence(Divergence):
    """A Divergence whose title and advice speak of Lambda operations."""

    kinds = AWS_KINDS


def timeline(events: list[AwsEvent], around: int | None, mark: str = "", before: int = 6, after: int = 3) -> list[str]:
    """A few events around EventId ``around`` (None: the end), one line each, that one marked."""
    if not events:
        return []
    index = next((i for i, e in enumerate(events) if e.id == around), None) if around is not None else None
    center = index if index is not None else len(events)
    lines = []
    for e in events[max(0, center - before) : center + after + (1 if index is not None else 0)]:
        hit = index is not None and e.id == around
        note = f"   ← {mark}" if hit and mark else ""
        lines.append(f"{'→' if hit else ' '} {e.id:>4}  {describe(e)}{note}")
    if index is None:
        lines.append(f"→ {'':>4}  (end of history)" + (f"   ← {mark}" if mark else ""))
    return lines


def divergence(
    kind: str,
    history: AwsHistory,
    workflow_type: str,
    event: AwsEvent | None,
    recorded: str | None,
    issued: str | None,
    source: Any,
    detail: str = "",
) -> AwsDivergence:
    marks = {"missing": "no longer reached", "extra": "the code issues a new operation here"}
    at = event.id if event is not None else None
    matched = sum(1 for e in history.events if at is not None and e.id < at)
    return AwsDivergence(
        kind=kind,
        workflow_id=history.execution_name or "execution",
        workflow_type=workflow_type,
        event_id=at,
        event_type=event.type if event else None,
        recorded=recorded,
        issued=issued,
        source=source,
        detail=detail,
        matched=matched,
        timeline=timeline(history.events, at, marks.get(kind, "diverges here")),
        history_source=history.source,
    )
