"""Leases and interleavings, driven step by step through the engine's own transitions:
a claim whose worker died, a zombie's late result, an outcome arriving mid-task."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.workflows import engine_checks as checks
from replaytest import Engine, History, replay
from replaytest.engine import EngineError, VirtualClock
from replaytest.engine import transitions as tx
from replaytest.history import Event

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def engine(db: Path) -> Engine:
    return Engine(db, clock=VirtualClock(start=T0), lease_seconds=5).register(checks)


def types(history: History, *names: str) -> list[Event]:
    return [e for e in history.events if e.type in names]


def test_a_workflow_task_whose_worker_died_is_recorded_and_run_again(db: Path, tmp_path: Path) -> None:
    e = engine(db)
    e.start(checks.steps, {"steps": 1, "log": str(tmp_path / "log")}, id="w")
    dead = tx.claim_workflow_task(e.store, ["steps"], e.clock.now_ms(), time.time(), "dead-worker", lease_seconds=0.0)
    assert dead is not None  # claimed, WorkflowTaskStarted written, then the worker "died"
    assert e.run_until_complete("w") == [0]
    history = e.history("w")
    timed_out = types(history, "WorkflowTaskFailed")[0]
    assert timed_out.attrs["started_event_id"] == dead.started.id
    assert (
        timed_out.attrs["failure"]["type"] == "WorkflowTaskTimedOut"
        and "dead-worker" in timed_out.attrs["failure"]["message"]
    )
    assert replay(history, [checks]).status == "completed"


def test_a_zombie_activity_result_is_dropped(db: Path, tmp_path: Path) -> None:
    e = engine(db)
    e.start(checks.steps, {"steps": 1, "log": str(tmp_path / "log")}, id="w")
    claim = tx.claim_workflow_task(e.store, ["steps"], e.clock.now_ms(), time.time(), "me", 30)
    assert claim is not None
    e.worker.workflows.run(claim, e.clock.now_ms)  # schedules the activity
    zombie = tx.claim_activity(e.store, ["record_step"], e.clock.now_ms(), time.time(), "zombie", lease_seconds=0.0)
    assert zombie is not None and zombie.attempt == 1
    assert e.run_until_complete("w") == [0]  # another worker took over: attempt 2
    assert tx.finish_activity(e.store, zombie, e.clock.now_ms(), result="late") == "dropped"
    history = e.history("w")
    (started,) = types(history, "ActivityTaskStarted")
    assert started.attrs["attempt"] == 2 and len(types(history, "ActivityTaskCompleted")) == 1


def test_an_outcome_arriving_while_a_workflow_task_runs_goes_to_the_next_task(db: Path) -> None:
    e = engine(db)
    e.start(checks.wait_signals, {"count": 2}, id="w")
    claim = tx.claim_workflow_task(e.store, ["wait_signals"], e.clock.now_ms(), time.time(), "me", 30)
    assert claim is not None
    e.signal("w", "go", "during")  # appended after WorkflowTaskStarted, before WorkflowTaskCompleted
    e.worker.workflows.run(claim, e.clock.now_ms)
    e.signal("w", "go", "after")
    assert e.run_until_complete("w") == ["during", "after"]
    history = e.history("w")
    signalled, completed = types(history, "WorkflowExecutionSignaled")[0], types(history, "WorkflowTaskCompleted")[0]
    assert claim.started.id < signalled.id < completed.id
    assert replay(history, [checks]).output == ["during", "after"]


def test_engine_rejects_a_lease_that_is_not_positive(db: Path) -> None:
    with pytest.raises(EngineError, match="lease_seconds must be a positive number"):
        Engine(db, lease_seconds=0)
