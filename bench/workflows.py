"""Workflows for the bench shapes: the replaytest twins of temporal-bench/loop_workflows.py.

``loop_activities(n)`` runs ``say_hello(str(i))`` n times, one activity per workflow task;
``loop_timers(n)`` sleeps 1 s n times, one timer per workflow task. Histories of both are
written by ``bench/gen_history.py`` (or by the embedded engine, see ``bench/run.py``).
"""

from __future__ import annotations

from replaytest import activity, workflow

START_TO_CLOSE = 60.0


@activity.defn
async def say_hello(name: str) -> str:
    return f"Hello, {name}!"


@workflow.defn
async def loop_activities(n: int) -> int:
    for i in range(n):
        await workflow.execute_activity(say_hello, str(i), start_to_close_timeout=START_TO_CLOSE)
    return n


@workflow.defn
async def loop_timers(n: int) -> int:
    for _ in range(n):
        await workflow.sleep(1)
    return n


@workflow.defn
async def loop_then_wait(n: int) -> int:
    """n activities, then wait for signal "go": a running workflow with 6n+4 events (the
    engine bench's recovery case: 1,666 iterations make 10,000 events)."""
    for i in range(n):
        await workflow.execute_activity(say_hello, str(i), start_to_close_timeout=START_TO_CLOSE)
    await workflow.wait_for_signal("go")
    return n
