"""The engine's fault hooks: where a test harness (``replaytest.testing.faults``) may watch and
break the engine — after events are appended, after a commit, before an activity attempt.

A typed seam, so the engine never imports the testing package and the hooks cannot drift
from what the engine calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..activity import ActivityInfo
    from ..history import Event


class FaultHooks(Protocol):
    def attach(self, engine: Any) -> None:
        """Called once when installed on an engine."""

    def appended(self, run_id: str, events: Sequence[Event]) -> None:
        """Events were appended (inside the transaction): raising rolls the transaction back."""

    def committed(self) -> None:
        """A transaction committed: raising simulates a worker dying right after it."""

    def before_activity(self, info: ActivityInfo) -> None:
        """An activity attempt is about to run: may raise an injected failure."""
