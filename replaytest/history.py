"""Event histories: the append-only record that is the source of truth for a workflow.

A history is a list of events with ids 1..N. It is saved as JSON, one event per line, so
that a history committed to git reviews well in a diff. Loading validates against the
JSON Schema shipped in ``replaytest/schema`` and never executes anything from the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

from .definitions import ReplaytestError

FORMAT = "replaytest.history"
VERSION = 1

#: Events matched, in order, against the commands workflow code issues.
COMMAND_EVENTS = frozenset(
    {
        "ActivityTaskScheduled",
        "TimerStarted",
        "MarkerRecorded",
        "WorkflowExecutionCompleted",
        "WorkflowExecutionFailed",
    }
)
#: Events that replay feeds back into workflow code; each wakes the next workflow task.
OUTCOME_EVENTS = frozenset(
    {
        "ActivityTaskCompleted",
        "ActivityTaskFailed",
        "ActivityTaskTimedOut",
        "TimerFired",
        "WorkflowExecutionSignaled",
    }
)
CLOSING_EVENTS = frozenset({"WorkflowExecutionCompleted", "WorkflowExecutionFailed"})


class HistoryFormatError(ReplaytestError, ValueError):
    """A history file that cannot be used, with where and why in plain words."""

    def __init__(self, source: str, where: str, reason: str) -> None:
        self.source, self.where, self.reason = source, where, reason
        place = f"{source}: {where}" if where else source
        super().__init__(f"{place}: {reason}")


def format_time(t: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix: what the schema accepts."""
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@dataclass(slots=True)
class Event:
    id: int
    time: str
    type: str
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def timestamp(self) -> datetime:
        return parse_time(self.time)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time, "type": self.type, "attrs": self.attrs}


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
        return self.started["workflow_id"]

    @property
    def run_id(self) -> str:
        return self.started["run_id"]

    @property
    def workflow_type(self) -> str:
        return self.started["workflow_type"]

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
    def load(cls, path: str | Path) -> "History":
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise HistoryFormatError(str(path), "", f"cannot read the file ({e.strerror})") from None
        return cls.from_json(data, source=str(path))

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "<history>") -> "History":
        if isinstance(text, bytes):
            if b"\x00" in text[:4096]:
                raise HistoryFormatError(source, "", "this is a binary file, not a JSON history")
            try:
                text = text.decode("utf-8-sig")
            except UnicodeDecodeError as e:
                raise HistoryFormatError(source, f"byte {e.start}", "the file is not UTF-8 text") from None
        if not text.strip():
            raise HistoryFormatError(source, "", "the file is empty; export a history with `replaytest export ID -o DIR`")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            hint = " (the file looks truncated)" if e.pos >= len(text.rstrip()) else ""
            raise HistoryFormatError(source, f"line {e.lineno} column {e.colno}", f"invalid JSON: {e.msg}{hint}") from None
        return cls.from_dict(doc, source=source)

    @classmethod
    def from_dict(cls, doc: Any, source: str = "<history>") -> "History":
        validate(doc, source)
        events = [Event(e["id"], e["time"], e["type"], e["attrs"]) for e in doc["events"]]
        for index, event in enumerate(events):
            if event.id != index + 1:
                raise HistoryFormatError(source, f"/events/{index}/id", f"event ids must run 1, 2, 3, …; found {event.id} at position {index + 1}")
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
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)
        return path


def history_files(paths: Sequence[str | Path]) -> list[Path]:
    """The history files a user named: files as given, directories searched recursively for
    ``*.json``. A missing file is kept, so that loading it reports it beside the others."""
    files: list[Path] = []
    for given in map(Path, paths):
        if given.is_dir():
            found = sorted(p for p in given.rglob("*.json") if p.is_file())
            if not found:
                raise HistoryFormatError(str(given), "", "no .json histories in this directory")
            files += found
        else:
            files.append(given)
    return files


def schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of the history format."""
    return json.loads(schema_text())


def schema_text() -> str:
    return resources.files("replaytest").joinpath("schema/history-v1.json").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema  # imported on first use: sessions that load no history never pay for it

    return jsonschema.Draft202012Validator(schema())


@lru_cache(maxsize=1)
def _fast_validator() -> Any:
    """The schema compiled to plain Python checks, or None if it uses a keyword the compiler
    does not know (then jsonschema alone decides, so a schema change is never ignored)."""
    from ._fastschema import UnsupportedSchema, compile_schema

    try:
        return compile_schema(schema())
    except UnsupportedSchema:
        return None


def validate(doc: Any, source: str = "<history>") -> None:
    """Raise HistoryFormatError naming the JSON pointer and the reason of the first problem."""
    if isinstance(doc, dict) and doc.get("format") == FORMAT and doc.get("version") not in (None, VERSION):
        raise HistoryFormatError(
            source, "/version",
            f"format version {doc.get('version')!r} is not one this replaytest reads (it reads version {VERSION}); "
            "upgrade replaytest or re-export the history",
        )
    if isinstance(doc, dict) and "format" not in doc and isinstance(doc.get("events"), list):
        first = doc["events"][0] if doc["events"] else {}
        if isinstance(first, dict) and "eventType" in first:
            raise HistoryFormatError(source, "/events/0", "this is a Temporal history; replaytest reads its own format (see docs/history-format.md)")
    fast = _fast_validator()
    if fast is not None and fast(doc):
        return  # valid: the common case, 50–100× faster than jsonschema
    error = _first_error(doc)  # jsonschema decides and explains whatever the fast path rejects
    if error is not None:
        pointer = "/" + "/".join(str(p) for p in error.absolute_path)
        raise HistoryFormatError(source, pointer if pointer != "/" else "top level", _plain(error))


def _first_error(doc: Any) -> Any:
    import jsonschema

    errors = list(_validator().iter_errors(doc))
    if not errors:
        return None
    best = jsonschema.exceptions.best_match(errors)
    # best_match may pick a shallow `if/then` wrapper; descend to the innermost cause.
    while best.context:
        best = jsonschema.exceptions.best_match(best.context)
    return best


def _plain(error: Any) -> str:
    if error.validator == "required":
        return error.message.replace("is a required property", "is missing (required)")
    if error.validator == "const" and list(error.absolute_path) == ["format"]:
        return f'"format" must be "{FORMAT}"; is this a replaytest history?'
    return error.message
