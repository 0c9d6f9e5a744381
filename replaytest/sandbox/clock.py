"""Time in workflow code: the calling thread's logical time while it runs workflow code, the
real clock everywhere else (and always for the debugger). Monotonic clocks are never faked.

Nothing here holds a real time function or the real ``datetime`` class in a module global:
freezegun's scan would rewrite it. The reals are read from ``freezegun.api``, which it skips.
"""

from __future__ import annotations

import datetime
import sys
import types
from collections.abc import Callable
from typing import Any

from freezegun import api as _fg

from ._threads import ACTIVE, get_ident
from .audit import DEBUGGER_MODULES


def _is_debugger(frame: types.FrameType) -> bool:
    return (frame.f_globals.get("__name__") or "").startswith(DEBUGGER_MODULES)


#: freezegun's own predicate, for a freeze_time() the caller starts while the sandbox is installed.
_freezegun_predicate = _fg._should_use_real_time


def use_real_time() -> bool:
    """Replaces freezegun.api._should_use_real_time, which every time.* fake consults."""
    if get_ident() in ACTIVE:
        return _is_debugger(sys._getframe(2))
    return not _frozen_by_caller() or _freezegun_predicate()  # above ours: the caller's own freeze


def _frozen_by_caller() -> bool:
    """A freezegun.freeze_time() of the caller's own is running on top of the sandbox's."""
    return len(_fg.freeze_factories) > 1


def logical_utc() -> datetime.datetime:
    """Replaces freezegun's time factory: the calling thread's logical time (naive UTC)."""
    ctx = ACTIVE.get(get_ident())
    if ctx is None:
        return _fg.real_datetime.now(datetime.UTC).replace(tzinfo=None)
    now = ctx.now
    if now.tzinfo is not None:  # set by move_to(): converted here, on the rarer read
        now = ctx.now = now.astimezone(datetime.UTC).replace(tzinfo=None)
    return now


def gated(cls: type, name: str, real: Callable[..., Any]) -> classmethod[Any, ..., Any]:
    """FakeDatetime.now() & co. ignore freezegun's predicate: give them the real method outside."""
    fake = vars(cls)[name].__func__

    def method(klass: type, *args: Any, **kwargs: Any) -> Any:
        if get_ident() in ACTIVE:
            if not _is_debugger(sys._getframe(1)):
                return fake(klass, *args, **kwargs)
        elif _frozen_by_caller():
            return fake(klass, *args, **kwargs)
        return real(*args, **kwargs)

    return classmethod(method)
