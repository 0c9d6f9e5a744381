"""The Temporal backend: histories exported from a Temporal server, replayed with the user's
temporalio workflows through temporalio's own Replayer.

This module only sniffs and peeks (``claims``, ``entries``, ``problem``) and imports nothing of
temporalio, so collecting files costs nothing for projects that do not use Temporal. The
replay itself lives in ``.replay`` and loads temporalio on first use.
"""

from __future__ import annotations

import contextlib
import sys
import types
import urllib.parse
from collections.abc import Iterator
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import Backend, Document, Entry, MissingSDK, ReplaySettings
from .events import event_type, is_decoded_payload

if TYPE_CHECKING:
    from ...report.result import ReplayResult
    from ...view.model import Timeline

NAME = "temporal"

#: What a user should export: said whenever a file is not a usable Temporal history.
EXPORTS = (
    "export it with `temporal workflow show --workflow-id ID -o json > ID.json`, "
    "`replaytest pull`, or `(await handle.fetch_history()).to_json()`"
)

_STARTED = "workflowExecutionStartedEventAttributes"


def _first_event(history: Any) -> dict[str, Any] | None:
    if not isinstance(history, dict):
        return None
    events = history.get("events")
    if not isinstance(events, list) or not events or not isinstance(events[0], dict):
        return None
    return events[0]


def _is_history(history: Any) -> bool:
    first = _first_event(history)
    if first is None:
        return False
    return _STARTED in first or event_type(first.get("eventType")) == "WorkflowExecutionStarted"


def _temporal_looking(history: Any) -> bool:
    """Events in Temporal's JSON shape, whatever comes first (a partial or reversed export)."""
    first = _first_event(history)
    return first is not None and ("eventType" in first or any(k.endswith("EventAttributes") for k in first))


def _histories(doc: Any) -> list[Any] | None:
    """The histories in ``doc``: one for an export, several for a JSON list of exports."""
    if isinstance(doc, dict):
        return [doc] if _temporal_looking(doc) else None
    if isinstance(doc, list) and doc and all(_temporal_looking(h) for h in doc):
        return doc
    return None


def claims(doc: Any) -> bool:
    """A Temporal export: ``{"events": [...]}`` of Temporal-shaped events (either event-type
    spelling), or a JSON list of such histories. One that does not start with
    WorkflowExecutionStarted is still claimed, so that replaying it says what is wrong."""
    return _histories(doc) is not None


def started_attributes(history: Any) -> dict[str, Any]:
    first = _first_event(history) or {}
    attrs = first.get(_STARTED)
    return attrs if isinstance(attrs, dict) else {}


def workflow_id_of(history: Any, path: Path, index: int, count: int) -> str:
    """The started event's ``workflowId`` (recent servers record it), else the file name."""
    wid = started_attributes(history).get("workflowId")
    if isinstance(wid, str) and wid:
        return wid
    stem = urllib.parse.unquote(path.stem)  # file names percent-encode ids (history.io.file_name_for)
    return stem if count == 1 else f"{stem}[{index}]"


def workflow_type_of(history: Any) -> str | None:
    wtype = started_attributes(history).get("workflowType")
    name = wtype.get("name") if isinstance(wtype, dict) else None
    return name if isinstance(name, str) and name else None


def entries(path: Path, doc: Any) -> list[Entry]:
    histories = _histories(doc) or []
    return [
        Entry(path, i, workflow_id_of(h, path, i, len(histories)), workflow_type_of(h), NAME)
        for i, h in enumerate(histories)
    ]


def history_at(doc: Any, index: int) -> dict[str, Any]:
    """The history of entry ``index`` (``doc`` is one this backend claimed)."""
    history: dict[str, Any] = doc[index] if isinstance(doc, list) else doc
    return history


#: Said when a history holds payloads a Web UI "decoded" download wrote out, and only once they
#: are what keeps it from replaying: temporalio replays many such files (a decoded result, say).
DECODED = (
    "payloads in this history are decoded (a Temporal Web UI download with decoded payloads?), and temporalio "
    "cannot use them; download the history with encoded payloads (the Web UI's raw/encoded JSON) or " + EXPORTS
)


def problem(history: Any) -> str | None:
    """Why this Temporal-looking history cannot be replayed at all, in one line, or None: a
    partial or reversed event list. (Decoded payloads are judged by replaying: see ``DECODED``.)"""
    if not _is_history(history):
        first = _first_event(history) or {}
        return (
            f"a Temporal event list that does not start with WorkflowExecutionStarted (its first event is "
            f"{event_type(first.get('eventType')) or 'unnamed'}): not a whole history in order; " + EXPORTS
        )
    return None


def decoded_payload_event(history: Any) -> int | None:
    """The position (1-based) of the first event holding a decoded payload, or None."""
    for n, raw in enumerate(history.get("events") or [] if isinstance(history, dict) else [], 1):
        for key, attrs in raw.items() if isinstance(raw, dict) else ():
            if not key.endswith("EventAttributes") or not isinstance(attrs, dict):
                continue
            for field in ("input", "result", "details"):
                container = attrs.get(field)
                payloads = container.get("payloads") if isinstance(container, dict) else None
                if isinstance(payloads, list) and any(is_decoded_payload(p) for p in payloads):
                    return n
    return None


class TemporalBackend:
    """The seam's Backend for Temporal histories (see ``replaytest.backends``)."""

    name = NAME
    alarm_bound = False  # its replay worker waits with --timeout itself (replay.py)

    def claims(self, doc: Document) -> bool:
        return claims(doc)

    def entries(self, path: Path, doc: Document) -> list[Entry]:
        return entries(path, doc)

    def validate(self, doc: Document, display: str) -> None:
        _replay_module(display).validate(doc, display)

    def timeline(self, entry: Entry, doc: Any, *, display: str) -> Timeline:
        """The page's timeline hook (replaytest.view.hook)."""
        from .timeline import timeline

        return timeline(history_at(doc, entry.index), entry.workflow_id or "?", entry.workflow_type)

    def session(self, settings: ReplaySettings) -> ContextManager[None]:
        """Held for a whole run: the long-lived replay workers stop when it ends. Never our
        freezegun sandbox: temporalio has its own. Imports nothing of temporalio: without it
        installed, each history says so itself (``replay``), and the others still replay."""
        return _session()

    def replay(self, entry: Entry, doc: Document, settings: ReplaySettings, *, display: str) -> ReplayResult:
        result: ReplayResult = _replay_module(display).replay(entry, doc, settings, display=display)
        return result


@contextlib.contextmanager
def _session() -> Iterator[None]:
    """Nothing to start up front (a replay worker starts with the first history); at the end,
    stop the replay workers if any history started one."""
    try:
        yield
    finally:
        runner = sys.modules.get(f"{__name__}.runner")
        if runner is not None:
            runner.close_all()


def _replay_module(display: str) -> types.ModuleType:
    """``.replay`` (which imports temporalio), or a MissingSDK naming ``display`` and what to install."""
    try:
        from . import replay
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("temporalio"):
            raise
        raise MissingSDK(
            f"{display}: replaying a Temporal history needs the SDK it runs on: "
            "pip install '/path/to/replaytest[temporal]' (temporalio; see docs/temporal.md)"
        ) from None
    return replay


BACKEND: Backend = TemporalBackend()
