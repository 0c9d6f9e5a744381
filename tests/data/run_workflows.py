"""Workflows for tests/test_engine_runs.py and the CLI tests: time that a later run must not inherit."""
from __future__ import annotations

from datetime import timedelta

from replaytest import workflow


@workflow.defn
async def sleep_then_wait(days: int) -> str:
    """Sleeps ``days``, then waits for signal "go"; returns workflow.now() when it came."""
    await workflow.sleep(timedelta(days=days))
    await workflow.wait_for_signal("go")
    return workflow.now().isoformat()


@workflow.defn
async def what_time(_: int = 0) -> str:
    """workflow.now() at its first task."""
    return workflow.now().isoformat()


@workflow.defn
async def other_type(_: int = 0) -> str:
    return "other"
