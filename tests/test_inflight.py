"""A history still in flight (its workflow waits for a signal) replays the way the engine goes
on with it: replay fails exactly when deploying the same code would fail the workflow's next
workflow task. A recorded workflow task is complete -- history holds every command it issued
-- so a step the new code adds inside it is a divergence even when nothing follows it yet."""

from __future__ import annotations

import inspect
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replaytest import Engine, History, NondeterminismError, replay
from tests import programs
from tests.data import inflight_workflows as m


def record_waiting(db: Path) -> History:
    """The recorded code, run until it waits for the "decide" signal."""
    with Engine(db, clock="virtual") as engine:
        engine.register(m.charge, m.refund, m.recorded)
        engine.start(m.recorded, 7, id="s-wait", seed=1)
        engine.work(until_idle=True)
        history = engine.history("s-wait")
    assert history.status == "running" and history.events[-1].type == "WorkflowTaskCompleted"
    return history


def deploy(db: Path, code: Any, deployed: Path) -> History:
    """Deploy ``code`` on a copy of the engine's database, then signal the waiting workflow."""
    shutil.copy(db, deployed)
    with Engine(deployed, clock="virtual") as engine:
        engine.register(m.charge, m.refund, code)
        engine.signal("s-wait", "decide", True)
        engine.work(until_idle=True)
        return engine.history("s-wait")


def task_failure(history: History) -> str | None:
    failed = [e for e in history.events if e.type == "WorkflowTaskFailed"]
    return failed[-1].attrs["failure"]["type"] if failed else None


def new_step_line(fn: Any) -> int:
    lines, first = inspect.getsourcelines(fn)
    return next(first + i for i, line in enumerate(lines) if "# NEW STEP" in line)


@pytest.mark.parametrize("code", [m.step_before_the_wait, m.timer_before_the_wait], ids=lambda f: f.__name__)
def test_a_step_added_before_the_wait_fails_replay_as_it_fails_the_deployed_workflow(tmp_path: Path, code: Any) -> None:
    history = record_waiting(tmp_path / "e.db")
    with pytest.raises(NondeterminismError) as info:
        replay(history, [code])
    d = info.value.divergence
    assert d.kind == "extra", str(info.value)
    assert d.source is not None and d.source.line == new_step_line(code), str(info.value)
    # the engine agrees: the same code deployed fails the workflow's next task
    assert task_failure(deploy(tmp_path / "e.db", code, tmp_path / "deployed.db")) == "NondeterminismError"


@pytest.mark.parametrize("code", [m.patched_step_before_the_wait, m.step_after_the_wait], ids=lambda f: f.__name__)
def test_a_patched_step_or_one_after_the_wait_replays_green_and_the_deployed_workflow_completes(
    tmp_path: Path, code: Any
) -> None:
    history = record_waiting(tmp_path / "e.db")
    result = replay(history, [code])
    assert result.status == "running" and result.waiting is not None, result.summary()
    assert "inflight_workflows.py" in result.waiting, result.waiting
    deployed = deploy(tmp_path / "e.db", code, tmp_path / "deployed.db")
    assert task_failure(deployed) is None and deployed.status == "completed", [e.type for e in deployed.events]
    assert deployed.events[-1].attrs["result"] == "ch-7"


def _until_first_signal(program: list[dict[str, Any]]) -> int:
    return next((i for i, s in enumerate(program) if s["op"] == "signal"), len(program))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_replay_of_an_in_flight_history_agrees_with_the_engine_going_on(tmp_path_factory: Any, data: Any) -> None:
    """Any program, run until it waits for its first signal; any edit of it. Replay fails iff
    the engine, running the edit and given the signals, fails a workflow task."""
    program = data.draw(programs.programs.filter(lambda p: _until_first_signal(p) < len(p)), label="program")
    mutant = data.draw(programs.mutations(program), label="mutant")
    tmp = tmp_path_factory.mktemp("inflight")
    with Engine(tmp / "e.db", clock="virtual") as engine:
        engine.register(programs)
        engine.start(programs.interpret, program, id="wf-1", seed=7)
        engine.work(until_idle=True)  # no signal sent: it waits at its first signal step
        history = engine.history("wf-1")
    assert history.status == "running"
    try:
        replay(history, [programs.make_mutant(mutant)])
        replay_failed = False
    except NondeterminismError:
        replay_failed = True
    shutil.copy(tmp / "e.db", tmp / "deployed.db")
    with Engine(tmp / "deployed.db", clock="virtual") as engine:
        engine.register(programs.step, programs.make_mutant(mutant))
        for name, payload in programs.signals_for(program):
            engine.signal("wf-1", name, payload)
        engine.work(until_idle=True)
        deployed = engine.history("wf-1")
    engine_failed = task_failure(deployed) == "NondeterminismError"
    assert replay_failed == engine_failed, (program, mutant, [(e.id, e.type) for e in deployed.events][-8:])
