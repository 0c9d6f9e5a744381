"""Engine clocks: what "now" means for timers, retries and workflow.now().

Engine-clock times are whole milliseconds since the Unix epoch (UTC). History timestamps have
millisecond precision, so a timer due at ``started + 30 days`` fires at exactly that
recorded time — no float rounding between the due time and the event.

Two clocks:

* :class:`RealClock` — wall-clock time; for ``replaytest worker`` in production.
* :class:`VirtualClock` — stands still while work is runnable and *jumps* to the next due
  timer or retry when nothing else can run (like trio's ``MockClock(autojump_threshold=0)``
  or Temporal's time-skipping test server). A 30-day sleep completes in milliseconds. Its
  time is kept in the database, so a restarted ``replaytest run`` (or a second process on
  the same file) continues from where the last one stopped instead of going back in time.

Leases are never measured on these clocks: they are about whether a *process* is alive, so
they use real time (``time.time()``) whichever engine clock is in use.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Protocol

from ..definitions import ReplaytestError
from ..history import format_time

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_META_KEY = "virtual_now_ms"


def to_ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise ReplaytestError(f"engine times must be timezone-aware (UTC), not {t!r}")
    return (t - _EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


class MetaStore(Protocol):
    """The part of the store a virtual clock persists its time in."""

    def get_meta(self, key: str) -> str | None: ...
    def raise_meta_int(self, key: str, value: int) -> int: ...


class Clock:
    """Base class; ``now_ms()`` is the engine time in whole milliseconds."""

    virtual = False

    def attach(self, store: MetaStore) -> None:
        """Called once by the engine with its store."""

    def sync(self) -> None:
        """Pick up a time another process may have advanced to."""

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
    """A clock that moves only when told to (``advance_to``), persisted in the database.

    ``start`` is used for a database that has no virtual time yet (default: the real time
    when the engine first opened it); a fixed ``start`` makes exported histories stable.
    """

    virtual = True

    def __init__(self, start: datetime | None = None) -> None:
        self._start = to_ms(start) if start is not None else None
        self._now: int | None = None
        self._store: MetaStore | None = None

    def attach(self, store: MetaStore) -> None:
        self._store = store
        stored = store.get_meta(_META_KEY)
        if stored is not None and self._start is None:
            self._now = int(stored)  # continue where the last run on this database stopped
        else:
            self._now = store.raise_meta_int(_META_KEY, self._start if self._start is not None else int(time.time() * 1000))

    def sync(self) -> None:
        if self._store is not None:
            value = self._store.get_meta(_META_KEY)
            if value is not None and self._now is not None:
                self._now = max(self._now, int(value))

    def now_ms(self) -> int:
        if self._now is None:
            raise ReplaytestError("the virtual clock is not attached to an engine yet")
        return self._now

    def advance_to(self, ms: int) -> None:
        """Jump forward to ``ms`` (never back); persisted at once."""
        if self._now is None or self._store is None:
            raise ReplaytestError("the virtual clock is not attached to an engine yet")
        if ms > self._now:
            self._now = self._store.raise_meta_int(_META_KEY, ms)


def make_clock(clock: Clock | str | None) -> Clock:
    """``None`` or ``"real"`` → RealClock, ``"virtual"`` → VirtualClock, or a Clock as is."""
    if clock is None or clock == "real":
        return RealClock()
    if clock == "virtual":
        return VirtualClock()
    if isinstance(clock, Clock):
        return clock
    raise ReplaytestError(f"clock must be 'real', 'virtual' or a Clock instance, not {clock!r}")
