"""The per-backend hook that turns a history into timeline rows.

A backend that wants its histories drawn gives its backend object one more method,
``timeline(entry, doc, *, display) -> Timeline`` (see :class:`TimelineSource`), usually a
lazy import of a ``timeline`` module in its own package that builds a
:class:`~replaytest.view.model.Timeline` with :class:`~replaytest.view.model.LaneBuilder`.
Nothing else changes: a backend without the method still gets its verdict on the page, with
a line saying it draws no timeline.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..backends import Entry
from .model import Timeline


@runtime_checkable
class TimelineSource(Protocol):
    def timeline(self, entry: Entry, doc: Any, *, display: str) -> Timeline:
        """The history of ``entry`` in the parsed document ``doc`` as lanes and event rows.
        Reads data only (never imports or runs what the history names); raises
        HistoryFormatError, naming ``display``, for a history it cannot read."""
        ...


class NoTimeline(Exception):
    """The backend has no timeline hook."""


def timeline_of(backend: Any, entry: Entry, doc: Any, display: str) -> Timeline:
    if not isinstance(backend, TimelineSource):
        raise NoTimeline(
            f"the {getattr(backend, 'name', '?')} backend draws no timeline (it has no `timeline` hook); "
            "the verdict is shown without one"
        )
    return backend.timeline(entry, doc, display=display)
