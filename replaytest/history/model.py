"""The native event history: events with ids 1..N, the source of truth for a workflow.

A history is data. Building one from JSON validates it (``schema.py``) and checks that it is
consistent (``consistency.py``); nothing in a history is ever executed or imported here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import io
from .consistency import check_consistency
from .errors import HistoryFormatError
from .events import Event, format_time, parse_time
from .schema import FORMAT, VERSION, checked_events

__all__ = ["Event", "History", "format_time", "parse_time"]


class History:
    """An event history; ``History.load(path)`` or ``History.from_json(text)``."""

    def __init__(self, events: Iterable[Event], source: str = "<history>") -> None:
        self.events: list[Event] = list(events)
        self.source = source
        if not self.events or self.events[0].type != "WorkflowExecutionStarted":
            raise HistoryFormatError(source, "/events/0", "a history must start with WorkflowExecutionStarted")

    # -- identity, read from the started event (the history is the one source of truth)
    @property
    def started(self) -> dict[str, Any]:
        return self.events[0].attrs

    @property
    def workflow_id(self) -> str:
        value: str = self.started["workflow_id"]
        return value

    @property
    def run_id(self) -> str:
        value: str = self.started["run_id"]
        return value

    @property
    def workflow_type(self) -> str:
        value: str = self.started["workflow_type"]
        return value

    @property
    def status(self) -> str:
        """completed, failed, or running (which includes a workflow whose task keeps failing)."""
        last = self.events[-1].type
        if last == "WorkflowExecutionCompleted":
            return "completed"
        if last == "WorkflowExecutionFailed":
            return "failed"
        return "running"

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        return f"<History {self.workflow_id} ({self.workflow_type}) {len(self.events)} events>"

    # -- reading
    @classmethod
    def load(cls, path: str | Path) -> History:
        return cls.from_json(io.read_bytes(path), source=str(path))

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "<history>") -> History:
        """Decode and validate in one pass (``typed``); a file that pass does not accept is read
        and judged the long way, by the JSON Schema, which names the problem."""
        from . import typed

        decoded = typed.decode(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        if decoded is None:
            return cls.from_dict(io.parse_json(text, source), source=source)
        events, good_times = decoded
        check_consistency(events, source, good_times)
        return cls(events, source=source)

    @classmethod
    def from_dict(cls, doc: Any, source: str = "<history>") -> History:
        """Validate ``doc`` against the schema and for consistency, then build the history."""
        events, good_times = checked_events(doc, source)
        check_consistency(events, source, good_times)
        return cls(events, source=source)

    # -- writing
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "events": [e.to_dict() for e in self.events]}

    def to_json(self) -> str:
        lines = ",\n".join("  " + json.dumps(e.to_dict(), ensure_ascii=False, sort_keys=False) for e in self.events)
        return f'{{"format": "{FORMAT}", "version": {VERSION}, "events": [\n{lines}\n]}}\n'

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return io.write_atomically(path, self.to_json())
