"""The workflow loop (core/loop.py) runs asyncio handles itself, without Handle._run: what
asyncio promises a callback still holds -- its context, cancellation, an exception that stops
only that callback, KeyboardInterrupt that stops the loop."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from replaytest.core.loop import WorkflowLoop

NAME: contextvars.ContextVar[str] = contextvars.ContextVar("name", default="none")


def test_callbacks_run_in_order_each_in_its_context() -> None:
    loop = WorkflowLoop()  # type: ignore[abstract]
    seen: list[object] = []
    ctx = contextvars.copy_context()
    ctx.run(NAME.set, "given")
    loop.call_soon(lambda: seen.append(("first", NAME.get())), context=ctx)
    loop.call_soon(lambda: seen.append(("second", NAME.get())))
    loop.run_until_idle()
    assert seen == [("first", "given"), ("second", "none")]


def test_a_cancelled_handle_never_runs_and_a_raising_callback_stops_only_itself() -> None:
    loop = WorkflowLoop()  # type: ignore[abstract]
    seen: list[object] = []
    handle = loop.call_soon(seen.append, "cancelled")
    assert isinstance(handle, asyncio.Handle)
    handle.cancel()
    loop.call_soon(lambda: 1 / 0)
    loop.call_soon(lambda: (_ for _ in ()).throw(SystemExit(3)))
    loop.call_soon(seen.append, "after")
    loop.run_until_idle()
    assert seen == ["after"]
    assert handle.cancelled() and "cancelled" in repr(handle)
    assert not loop.is_running() and asyncio.events._get_running_loop() is None


def test_keyboard_interrupt_leaves_the_loop_and_restores_the_running_loop() -> None:
    loop = WorkflowLoop()  # type: ignore[abstract]
    seen: list[object] = []

    def interrupt() -> None:
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    loop.call_soon(seen.append, "later")
    with pytest.raises(KeyboardInterrupt):
        loop.run_until_idle()
    assert seen == [] and asyncio.events._get_running_loop() is None
    loop.run_until_idle()
    assert seen == ["later"]


def test_tasks_and_futures_wake_through_the_loop() -> None:
    loop = WorkflowLoop()  # type: ignore[abstract]
    fut = loop.create_future()

    async def waits() -> str:
        assert asyncio.get_running_loop() is loop
        return f"got {await fut}"

    task = loop.create_task(waits())
    loop.run_until_idle()
    assert not task.done()
    fut.set_result(7)
    loop.run_until_idle()
    assert task.result() == "got 7"
