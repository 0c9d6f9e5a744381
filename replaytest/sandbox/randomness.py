"""Randomness in workflow code: the ``random`` module's generator holds the workflow's
seeded state during a block, and ``os.urandom`` (so uuid4, secrets, SystemRandom) draws from it.
"""

from __future__ import annotations

import _random
import os
import random
import sys
from collections.abc import Callable

from ._threads import STACKS, get_ident

REAL_URANDOM = os.urandom


def urandom(size: int) -> bytes:
    """os.urandom (and so uuid4, secrets, SystemRandom): the workflow's generator in workflow code."""
    if get_ident() in STACKS:
        return random._inst.randbytes(size)
    return REAL_URANDOM(size)


def slow_copy(src: random.Random, dst: random.Random) -> None:
    dst.setstate(src.getstate())


def _make_state_copier() -> Callable[[random.Random, random.Random], None]:
    """A step moves Mersenne Twister state four times, and getstate()/setstate() box and unbox
    625 ints (~15 µs a move). In CPython the state is `int index; uint32_t state[624]` right after
    the object header, so plain `random.Random` objects get a byte copy (~1 µs) instead — used
    only if it reproduces getstate() exactly on a trial pair."""
    offset, size = object.__basicsize__, 4 + 624 * 4
    if sys.implementation.name != "cpython" or offset + size > _random.Random.__basicsize__:
        return slow_copy
    import ctypes

    def copy(src: random.Random, dst: random.Random) -> None:
        if type(src) is not random.Random or type(dst) is not random.Random:
            return slow_copy(src, dst)
        ctypes.memmove(id(dst) + offset, id(src) + offset, size)
        dst.gauss_next = src.gauss_next  # type: ignore[attr-defined]

    a, b = random.Random(1), random.Random(2)
    a.gauss(0, 1)
    copy(a, b)
    return copy if b.getstate() == a.getstate() and b.random() == a.random() else slow_copy


copy_state = _make_state_copier()
spares: list[random.Random] = []  # generators that hold the outside stream during a block
