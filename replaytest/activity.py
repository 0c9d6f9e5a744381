"""The API activity code uses: ``from replaytest import activity``.

Activities are ordinary (sync or async) functions that may do I/O. They run in a worker,
at least once; ``activity.info().idempotency_key`` is stable across retries and worker
crashes, so an activity that charges a card can tell a payment provider "this is the same
charge as before".
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from .definitions import activity_defn

defn = activity_defn


@dataclass(frozen=True)
class ActivityInfo:
    workflow_id: str
    run_id: str
    activity_id: str
    activity_type: str
    attempt: int

    @property
    def idempotency_key(self) -> str:
        """Same for every attempt of this activity in this workflow run."""
        return f"{self.workflow_id}/{self.run_id}/{self.activity_id}"


_info: contextvars.ContextVar[ActivityInfo] = contextvars.ContextVar("replaytest_activity_info")


def info() -> ActivityInfo:
    try:
        return _info.get()
    except LookupError:
        raise RuntimeError("activity.info() can only be called from an activity run by a replaytest worker") from None
