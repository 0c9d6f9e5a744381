"""The Durable Task backend: orchestration histories of Azure Durable Functions (Python v2),
the Durable Task Scheduler and Dapr Workflow, replayed offline through the ``durabletask``
SDK's own executor with the checks it lacks.

This module only sniffs and names histories (:mod:`.history` reads them as data); it never
imports the SDK, so a session without Durable Task histories pays nothing. ``replay`` imports
it when a history is actually replayed.
"""

from __future__ import annotations

from contextlib import AbstractContextManager as ContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import Backend, Document, Entry, MissingSDK, ReplaySettings, sandbox_session
from . import history as _history

if TYPE_CHECKING:
    from ...view.model import Timeline

__all__ = ["BACKEND", "DurableTaskBackend"]

NAME = "durabletask"


class DurableTaskBackend:
    name = NAME

    def claims(self, doc: Any) -> bool:
        return _history.form_of(doc) is not None

    def decode(self, data: bytes, source: str) -> Document | None:
        """A ``.jsonl.gz`` export (gzipped JSON Lines) as one JSON document; None for other
        bytes (plain JSON is read by the shared reader)."""
        doc: Document | None = _history.decode_export(data, source)
        return doc

    def entries(self, path: Path, doc: Any) -> list[Entry]:
        """One entry per file: named after the instance id, typed by the orchestrator name."""
        iid, name = _peek(doc)
        return [Entry(path, 0, iid or _stem(path), name, self.name)]

    def validate(self, doc: Any, display: str) -> None:
        _history.load(doc, display)

    def timeline(self, entry: Entry, doc: Any, *, display: str) -> Timeline:
        """The page's timeline hook (replaytest.view.hook)."""
        from .timeline import timeline

        return timeline(doc, display, entry.workflow_id)

    def session(self, settings: ReplaySettings) -> ContextManager[None]:
        return sandbox_session(settings)

    def replay(self, entry: Entry, doc: Any, settings: ReplaySettings, *, display: str) -> Any:
        try:
            from .replay import replay_document  # imports the SDK
        except ImportError as e:
            if "durabletask" not in str(e) and "google" not in str(e):
                raise
            raise MissingSDK(
                f"{display}: replaying a Durable Task orchestration needs the SDK it runs on: "
                "pip install '/path/to/replaytest[durabletask]'"
            ) from None
        return replay_document(doc, settings, source=display, fallback_name=entry.workflow_id)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".jsonl.gz", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _peek(doc: Any) -> tuple[str | None, str | None]:
    """(instance id, orchestrator name) without validating the whole document."""
    if isinstance(doc, dict) and isinstance(doc.get("instance_id"), str):
        iid: str | None = doc["instance_id"]
    else:
        iid = None
    events = doc.get("events") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        return iid, None
    for item in events[:8]:
        if not isinstance(item, dict):
            continue
        body = item if item.get("event_type") == "ExecutionStartedEvent" else None
        body = body or item.get("executionStarted") or item.get("execution_started")
        if isinstance(body, dict):
            name = body.get("name")
            inst = body.get("orchestrationInstance") or body.get("orchestration_instance") or {}
            if iid is None and isinstance(inst, dict):
                found = inst.get("instanceId") or inst.get("instance_id")
                iid = found if isinstance(found, str) else None
            return iid, name if isinstance(name, str) else None
    return iid, None


BACKEND: Backend = DurableTaskBackend()
