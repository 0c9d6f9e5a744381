"""Engine clocks: what "now" means for timers, retries and workflow.now().

Engine-clock times are whole milliseconds since the Unix epoch (UTC). History timestamps have
millisecond precision, so a timer due at ``started + 30 days`` fires at exactly that
recorded time — no float rounding between the due time and the event.

Two clocks:

* :class:`RealClock` — wall-clock time; for ``replaytest worker`` in production.
* :class:`VirtualClock` — stands still while work is runnable and *jumps* to the next due
  timer or retry when nothing else can run (like trio's ``MockClock(autojump_threshold=0)``
  or Temporal's time-skipping test server). A 30-day sleep completes in milliseconds. Its
  time belongs to the engine that holds it (one ``replaytest run``, one test), never to the
  database: it starts where the *running* workflows have got to (so a restarted worker
  continues their timelines) or at the real time; closed workflows never move it. A workflow
  a virtual clock moved ahead keeps its own timeline: the store never records an event
  earlier than the run's last one, and a worker working only that run catches up with it.

Leases are never measured on these clocks: they are about whether a *process* is alive, so
they use real time (``time.time()``) whichever engine clock is in use.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from ..definitions import LAST_DUE, ReplaytestError
from ..history import format_time, parse_time

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: the latest due time the engine schedules (``definitions.LAST_DUE``, in ms)
LAST_DUE_MS = (LAST_DUE - _EPOCH) // timedelta(milliseconds=1)


def to_ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise ReplaytestError(f"engine times must be timezone-aware (UTC), not {t!r}")
    return (t - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


@runtime_checkable
class TimelineStore(Protocol):
    """What a virtual clock asks the store when it starts: where the running workflows are."""

    def last_event_time(self) -> str | None: ...


class Clock:
    """Base class; ``now_ms()`` is the engine time in whole milliseconds."""

    virtual = False

    def attach(self, store: object) -> None:
        """Called once by the engine with its store."""

    def now_ms(self) -> int:
        raise NotImplementedError

    def now(self) -> datetime:
        return from_ms(self.now_ms())

    def advance_to(self, ms: int) -> None:
        raise ReplaytestError("only a virtual clock can skip ahead")

    def describe(self) -> str:
        return f"{type(self).__name__} at {format_time(self.now())}"


class RealClock(Clock):
    def now_ms(self) -> int:
        return int(time.time() * 1000)


class VirtualClock(Clock):
    """A clock that moves only when told to (``advance_to``), held in memory by one engine.

    It starts at ``start``, or else where the database's *running* workflows have got to (a
    restarted worker continues their timelines), or else at the real time; a fixed ``start``
    makes exported histories stable. Closed workflows never move it.
    """

    virtual = True

    def __init__(self, start: datetime | None = None) -> None:
        self._start = to_ms(start) if start is not None else None
        self._now: int | None = None

    def attach(self, store: object) -> None:
        if self._start is not None:
            self._now = self._start
            return
        # where the running workflows' timelines have got to, so a restarted worker continues them
        last = store.last_event_time() if isinstance(store, TimelineStore) else None
        self._now = to_ms(parse_time(last)) if last else int(time.time() * 1000)

    def now_ms(self) -> int:
        if self._now is None:
            raise ReplaytestError("the virtual clock is not attached to an engine yet")
        return self._now

    def advance_to(self, ms: int) -> None:
        """Jump forward to ``ms`` (never back)."""
        if self._now is None:
            raise ReplaytestError("the virtual clock is not attached to an engine yet")
        self._now = max(self._now, ms)


def make_clock(clock: Clock | str | None) -> Clock:
    """``None`` or ``"real"`` → RealClock, ``"virtual"`` → VirtualClock, or a Clock as is."""
    if clock is None or clock == "real":
        return RealClock()
    if clock == "virtual":
        return VirtualClock()
    if isinstance(clock, Clock):
        return clock
    raise ReplaytestError(f"clock must be 'real', 'virtual' or a Clock instance, not {clock!r}")
