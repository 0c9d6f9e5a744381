"""Bodies of the plugin's ``engine`` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Where the ``engine`` fixture's virtual clock starts: fixed, so histories a test exports
#: are the same on every run.
ENGINE_START = datetime(2026, 1, 1, tzinfo=UTC)


def make_engine(tmp_path: Path) -> Iterator[Any]:
    """Body of the ``engine`` fixture: a fresh embedded engine on its own SQLite file, with a
    virtual clock (a 30-day timer fires at once), closed after the test."""
    from ..engine import Engine, VirtualClock

    engine = Engine(tmp_path / "engine.db", clock=VirtualClock(start=ENGINE_START))
    try:
        yield engine
    finally:
        engine.close()
