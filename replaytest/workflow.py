"""The API workflow code uses: ``from replaytest import workflow``.

Each awaitable here is one narrow door out of workflow code: it issues exactly one command
(schedule an activity, start a timer, record a marker) through the running ``Execution``,
then waits for the outcome event. Nothing else in workflow code talks to the outside world.
"""

from __future__ import annotations

import asyncio
import random as _random
import uuid as _uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from .core import commands as cmds
from .core.execution import current
from .definitions import (
    LAST_DUE,
    ActivityError,
    ReplaytestError,
    RetryPolicy,
    activity_name,
    seconds,
    to_payload,
    workflow_defn,
)

defn = workflow_defn

__all__ = [
    "defn",
    "deprecate_patch",
    "execute_activity",
    "info",
    "now",
    "patched",
    "random",
    "side_effect",
    "sleep",
    "unsafe",
    "uuid4",
    "wait_for_signal",
]


async def execute_activity(
    activity: Callable[..., Any] | str,
    *args: Any,
    start_to_close_timeout: timedelta | float | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Any:
    """Run an activity (at least once, retried per ``retry_policy``) and return its result.

    Raises ActivityError when it fails for good. On replay the result comes from history.
    """
    ex = current()
    name = activity_name(activity)
    command = cmds.schedule_activity(
        ex.next_id("activity"),
        name,
        to_payload(list(args), f"the arguments of activity {name}"),
        _retry_policy_dict(retry_policy),
        seconds(start_to_close_timeout, "start_to_close_timeout"),
    )
    fut = ex.loop.create_future()
    ex.activities[command.attrs["activity_id"]] = (fut, name)
    ex.issue(command)
    value, event = await fut
    if ex.observer is not None:  # the debugger's hook (checked here: this runs once per activity)
        ex.resumed(event)
    if isinstance(value, ActivityError):
        raise value
    return value


_DEFAULT_RETRY_POLICY = RetryPolicy().to_dict()


def _retry_policy_dict(retry_policy: RetryPolicy | None) -> dict[str, Any]:
    """``(retry_policy or RetryPolicy()).to_dict()``; the default's dict is computed once
    (``to_dict`` goes through ``dataclasses.asdict``: ~40 µs per activity call)."""
    if retry_policy:
        return retry_policy.to_dict()
    return dict(_DEFAULT_RETRY_POLICY, non_retryable_error_types=[])


async def sleep(duration: timedelta | float) -> None:
    """A durable timer: survives worker restarts; skipped instantly on a virtual clock."""
    ex = current()
    fut = _start_timer(ex, seconds(duration, "workflow.sleep duration") or 0.0, "workflow.sleep")
    _, event = await fut
    if ex.observer is not None:
        ex.resumed(event)


def _start_timer(ex: Any, duration: float, what: str) -> asyncio.Future[Any]:
    # before 9898 no duration (at most 100 years, `seconds`) ends after LAST_DUE: skip the arithmetic
    if ex.now is not None and ex.now.year > 9897 and duration > (LAST_DUE - ex.now).total_seconds():
        raise ReplaytestError(
            f"{what} of {duration:g} s from {ex.now:%Y-%m-%d} would end after the year 9999, "
            "past the last time a history can record"
        )
    command = cmds.start_timer(ex.next_id("timer"), duration)
    fut: asyncio.Future[Any] = ex.loop.create_future()
    ex.timers[command.attrs["timer_id"]] = fut
    ex.issue(command)
    return fut


async def wait_for_signal(name: str, timeout: timedelta | float | None = None) -> Any:
    """Wait for the next signal called ``name`` and return its payload.

    Signals that arrived earlier are buffered, oldest first. With ``timeout`` a durable
    timer is started; if it fires first, ``TimeoutError`` is raised.
    """
    ex = current()
    buffered = ex.signal_buffer.get(name)
    if buffered:
        return buffered.popleft()[0]
    waiter = ex.loop.create_future()
    ex.signal_waiters[name].append(waiter)
    if timeout is None:
        payload, event = await waiter
        ex.resumed(event)
        return payload
    timer = _start_timer(ex, seconds(timeout, "wait_for_signal timeout") or 0.0, "wait_for_signal timeout")
    await asyncio.wait([waiter, timer], return_when=asyncio.FIRST_COMPLETED)
    if waiter.done():
        payload, event = waiter.result()
        ex.resumed(event)
        return payload
    waiter.cancel()
    ex.resumed(timer.result()[1])
    raise TimeoutError(f"no signal {name!r} within {timeout}")


def now() -> datetime:
    """The workflow's logical time: when the current workflow task started (UTC)."""
    ex = current()
    assert ex.now is not None
    return ex.now


def random() -> _random.Random:
    """The workflow's deterministic generator, seeded from history. Inside the sandbox the
    ``random`` module's functions draw from the same stream."""
    ex = current()
    return _random._inst if ex.rng_in_module else ex.rng


def uuid4() -> _uuid.UUID:
    """A UUID drawn from the workflow's generator: the same live and on replay."""
    return _uuid.UUID(bytes=random().randbytes(16), version=4)


async def side_effect(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` once, live, and record its (JSON) value; replay returns the recorded value
    without calling ``fn``. For small nondeterministic reads, not for real I/O."""
    ex = current()
    marker_id = ex.next_id("side_effect")
    recorded = ex.matcher.recorded_marker("side_effect")
    if recorded is not None:
        ex.issue(cmds.record_marker("side_effect", marker_id))
        return recorded.attrs.get("value")
    if ex.replaying():
        # history has something else here: let the door report the divergence
        ex.issue(cmds.record_marker("side_effect", marker_id))
    if ex.sandbox_mode is None:
        value = fn()
    else:
        from . import sandbox

        with sandbox.unrestricted():
            value = fn()
    value = to_payload(value, "the value of workflow.side_effect")
    ex.issue(cmds.record_marker("side_effect", marker_id, value))
    return value


def patched(patch_id: str) -> bool:
    """True for new code paths. Live, records a patch marker and returns True; replaying a
    history recorded before the patch existed returns False (take the old path)."""
    ex = current()
    if patch_id in ex.patches:
        return ex.patches[patch_id]
    if ex.matcher.recorded_marker("patch", patch_id) is not None:
        ex.issue(cmds.record_marker("patch", patch_id))
        result = True
    elif ex.replaying():
        result = False
    else:
        ex.issue(cmds.record_marker("patch", patch_id))
        result = True
    ex.patches[patch_id] = result
    return result


def deprecate_patch(patch_id: str) -> None:
    """Mark a patch whose old path is gone: histories that recorded its marker still replay,
    new runs record nothing. Replace ``if patched(x): new() else: old()`` by this + ``new()``."""
    ex = current()
    if ex.matcher.recorded_marker("patch", patch_id) is not None:
        ex.issue(cmds.record_marker("patch", patch_id))
    ex.patches[patch_id] = True


def info() -> SimpleNamespace:
    """workflow_id, run_id, workflow_type of the running workflow."""
    ex = current()
    return SimpleNamespace(workflow_id=ex.workflow_id, run_id=ex.run_id, workflow_type=ex.defn.name)


@contextmanager
def _sandbox_unrestricted() -> Iterator[None]:
    """Let this block do what the sandbox would flag (I/O, real time). You promise it does
    not change what the workflow decides."""
    from . import sandbox

    with sandbox.unrestricted():
        yield


unsafe = SimpleNamespace(sandbox_unrestricted=_sandbox_unrestricted)
