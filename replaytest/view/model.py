"""What a backend hands the page: a history as timeline rows, in plain data.

A backend turns its own format into a :class:`Timeline` (see :mod:`replaytest.view.hook`);
the page draws every format from this one shape. Nothing here knows a history format, and
this module imports nothing of replaytest, so any backend package can build one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: the kinds of lanes, in the order the page stacks them (Temporal's Web UI order)
LANE_KINDS = ("workflow", "workflow_task", "activity", "timer", "child", "signal", "marker", "other")
#: how a bar ended
BAR_STATUSES = ("completed", "failed", "timed_out", "canceled", "running", "retrying", "point")


@dataclass
class TimelineEvent:
    """One row of the event list."""

    id: int  # the history's own event id (AWS ids need not be 1..N)
    time: float | None  # epoch seconds; None when the history does not say
    type: str
    text: str  # the backend's one-line description, payloads decoded
    kind: str = "other"  # one of LANE_KINDS: the colour and the type filter
    detail: Any = None  # the event's attributes as JSON data, payloads decoded, for the detail pane


@dataclass
class Bar:
    """One span on a lane (an activity attempt, a timer, a child run) or a point (start == end)."""

    start: int  # event id where it begins
    end: int | None  # event id where it ends; None: still open when the history ends
    status: str = "completed"  # one of BAR_STATUSES
    label: str = ""  # e.g. "attempt 2"


@dataclass
class Lane:
    """One row of the timeline: one activity, timer, child workflow, signal name..."""

    kind: str  # one of LANE_KINDS
    label: str
    bars: list[Bar] = field(default_factory=list)


@dataclass
class Timeline:
    """A history as the page draws it: the header, the lanes and the event list."""

    backend: str
    workflow_id: str
    workflow_type: str
    status: str  # completed | failed | running | ... in the platform's words
    events: list[TimelineEvent]
    lanes: list[Lane]
    run_id: str = ""
    facts: list[tuple[str, str]] = field(default_factory=list)  # extra header lines: ("task queue", "q1")

    def to_data(self) -> dict[str, Any]:
        """Compact JSON data: one array per event, lanes as arrays (no keys repeated per event)."""
        return {
            "backend": self.backend,
            "workflow_id": self.workflow_id,
            "workflow_type": self.workflow_type,
            "status": self.status,
            "run_id": self.run_id,
            "facts": [list(f) for f in self.facts],
            "events": [[e.id, e.time, e.type, e.text, e.kind, e.detail] for e in self.events],
            "lanes": [
                [lane.kind, lane.label, [[b.start, b.end, b.status, b.label] for b in lane.bars]] for lane in self.lanes
            ],
        }


class LaneBuilder:
    """Lanes built while walking a history in order: ``begin`` opens a bar on the lane named by
    ``key`` (creating the lane), ``end`` closes that lane's open bar, ``point`` adds a point to a
    lane shared by ``key`` (all signals of one name on one lane)."""

    def __init__(self) -> None:
        self.lanes: list[Lane] = []
        self._by_key: dict[Any, Lane] = {}

    def lane(self, key: Any, kind: str, label: str) -> Lane:
        lane = self._by_key.get(key)
        if lane is None:
            lane = self._by_key[key] = Lane(kind, label)
            self.lanes.append(lane)
        return lane

    def begin(self, key: Any, kind: str, label: str, event_id: int, bar_label: str = "") -> None:
        self.lane(key, kind, label).bars.append(Bar(event_id, None, "running", bar_label))

    def end(self, key: Any, event_id: int, status: str, bar_label: str | None = None) -> bool:
        """Close the lane's open bar; False when ``key`` has no open bar (an unmatched event)."""
        lane = self._by_key.get(key)
        if lane is None or not lane.bars or lane.bars[-1].end is not None:
            return False
        bar = lane.bars[-1]
        bar.end, bar.status = event_id, status
        if bar_label is not None:
            bar.label = bar_label
        return True

    def started(self, key: Any, attempt: Any) -> None:
        """An attempt started: an open bar is labelled with it, and a retried lane says so."""
        lane = self._by_key.get(key)
        if lane is None:
            return
        if lane.bars and lane.bars[-1].end is None:
            lane.bars[-1].label = f"attempt {attempt}"
        if isinstance(attempt, int) and attempt > 1:
            lane.label = f"{lane.label.split(' ↻')[0]} ↻ {attempt - 1} {'retry' if attempt == 2 else 'retries'}"

    def point(self, key: Any, kind: str, label: str, event_id: int, status: str = "point", bar_label: str = "") -> None:
        self.lane(key, kind, label).bars.append(Bar(event_id, event_id, status, bar_label))

    def ordered(self) -> list[Lane]:
        """Lanes in first-appearance order, the workflow's own lane first."""
        return sorted(self.lanes, key=lambda lane: lane.kind != "workflow")
