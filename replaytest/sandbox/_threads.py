"""Which threads run workflow code right now: the state every part of the sandbox consults.

A thread is *active* iff it has an entry in ``ACTIVE``; ``STACKS`` also keeps it while inside
``unrestricted()`` (None on the stack), because randomness stays deterministic there. Private
to the sandbox package: nothing outside it may read or change these.
"""

from __future__ import annotations

import datetime
import random
import threading
import types
from collections.abc import Callable
from typing import Any

get_ident = threading.get_ident


class Ctx:
    """One workflow_code() block: the logical time (naive UTC) and how to treat violations."""

    __slots__ = ("entry", "mode", "now", "on_violation", "rng")

    def __init__(
        self,
        now: datetime.datetime,
        rng: random.Random,
        mode: str,
        on_violation: Callable[[Any], None] | None,
        entry: types.FrameType,
    ) -> None:
        self.now: datetime.datetime = now
        self.rng, self.mode, self.on_violation = rng, mode, on_violation
        self.entry: types.FrameType | None = entry  # the frame that entered the block: stack walks stop there


ACTIVE: dict[int, Ctx] = {}
STACKS: dict[int, list[Ctx | None]] = {}


def reactivate(tid: int, stack: list[Ctx | None]) -> None:
    if stack and stack[-1] is not None:
        ACTIVE[tid] = stack[-1]
    else:
        ACTIVE.pop(tid, None)
