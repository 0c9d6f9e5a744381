"""Replay against the current code: the catalogue of broken versions, properties over
generated programs, the fixture histories, and the edges of the replay API."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.broken import catalogue
from replaytest import (
    Engine,
    History,
    NondeterminismError,
    ReplaytestError,
    UnknownWorkflowError,
    WorkflowTaskError,
    replay,
    workflow,
)
from replaytest.core.tasks import workflow_tasks
from replaytest.history import COMMAND_EVENTS
from tests import programs

ROOT = Path(__file__).resolve().parents[1]


def run_live(
    tmp_path: Path,
    fn: Any,
    *args: Any,
    signals: Sequence[tuple[str, Any]] = (),
    module: Any = None,
    name: str = "engine.db",
) -> History:
    """Run ``fn`` on a fresh engine (real SQLite file, virtual clock) and return its history.
    Signals are sent before the first workflow task runs, so the code finds them buffered."""
    with Engine(tmp_path / name, clock="virtual", sandbox="strict") as engine:
        engine.register(module or inspect.getmodule(fn))
        engine.register(fn)
        handle = engine.start(fn, *args, id="wf-1", seed=7)
        for signal_name, payload in signals:
            engine.signal("wf-1", signal_name, payload)
        handle.result()
        return handle.history()


def marked_line(fn: Any) -> int:
    lines, first = inspect.getsourcelines(fn)
    return next(first + i for i, line in enumerate(lines) if "# DIVERGES" in line)


@pytest.mark.parametrize("name", sorted(catalogue.CASES))
def test_catalogue_case_is_reported_with_kind_event_and_line(tmp_path: Path, name: str) -> None:
    case = catalogue.CASES[name]
    history = run_live(tmp_path, case.before, *case.args, signals=case.signals, module=catalogue)
    replay(history, [case.before])  # the code that recorded it replays cleanly
    if case.kind == "clean":
        result = replay(history, [case.after])
        assert result.status == "completed" and result.output == history.events[-1].attrs["result"]
        return
    with pytest.raises(NondeterminismError) as info:
        replay(history, [case.after])
    err = info.value
    assert case.event is not None
    event_type, n = case.event
    expected_event = [e for e in history.events if e.type == event_type][n - 1]
    assert (err.kind, err.event_id, err.event_type) == (case.kind, expected_event.id, event_type)
    assert err.source is not None
    assert Path(err.source.file).resolve() == Path(catalogue.__file__).resolve()
    assert err.source.line == marked_line(case.after)
    assert err.workflow_id == "wf-1" and err.workflow_type == name.replace("missing_at_end", "missing_at_end")
    message = str(err)
    assert message.startswith(f"Nondeterminism in workflow wf-1 ({err.workflow_type}) at history event {err.event_id}")
    assert "history recorded:" in message and "code issued:" in message and "What to do:" in message
    assert f"→ {err.event_id:>4}" in message  # the timeline marks the divergent event


def test_divergence_is_raised_inside_the_workflow_coroutine(tmp_path: Path) -> None:
    case = catalogue.CASES["activity_type"]
    history = run_live(tmp_path, case.before, *case.args, module=catalogue)
    with pytest.raises(NondeterminismError) as info:
        replay(history, [case.after])
    frames = [(Path(f.filename).name, f.lineno) for f in inspect.getinnerframes(info.tb)]
    assert ("catalogue.py", marked_line(case.after)) in frames


def test_args_mismatch_severity_warn_and_ignore(tmp_path: Path) -> None:
    case = catalogue.CASES["activity_args"]
    history = run_live(tmp_path, case.before, *case.args, module=catalogue)
    warned = replay(history, [case.after], args_mismatch="warn")
    assert warned.status == "completed" and len(warned.warnings) == 1
    assert "arguments differ" in warned.warnings[0] and "7274" in warned.warnings[0]
    assert replay(history, [case.after], args_mismatch="ignore").warnings == []
    with pytest.raises(ReplaytestError, match="error, warn or ignore"):
        replay(history, [case.after], args_mismatch="maybe")


def test_unknown_workflow_type_lists_the_registered_ones() -> None:
    history = History.load(ROOT / "fixtures" / "histories" / "order-42.json")
    with pytest.raises(UnknownWorkflowError) as info:
        replay(history, [catalogue.activity_type_v1, catalogue.order_v1])
    assert "'process_order' is not registered" in str(info.value)
    assert "registered: activity_type, order" in str(info.value)
    assert "order-42.json" in str(info.value)


FIXTURES = sorted((ROOT / "fixtures" / "histories").glob("*.json"))


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_every_fixture_history_replays_cleanly_against_its_own_code(path: Path) -> None:
    history = History.load(path)
    tasks = list(workflow_tasks(history.events))
    if tasks and tasks[-1].failed:
        # a workflow whose code kept raising: replay reproduces the same error at the same line
        with pytest.raises(WorkflowTaskError) as info:
            replay(history, [], import_recorded=True)
        recorded = next(e for e in reversed(history.events) if e.type == "WorkflowTaskFailed").attrs["failure"]
        assert type(info.value.error).__name__ == recorded["type"]
        assert info.value.source is not None
        assert (info.value.source.file, info.value.source.line) == (
            recorded["source"]["file"],
            recorded["source"]["line"],
        )
        return
    result = replay(history, [], import_recorded=True)
    assert result.events_replayed == len(history)
    assert result.status == history.status
    if history.status == "completed":
        assert result.output == history.events[-1].attrs["result"]


def test_an_open_history_replays_up_to_its_last_event(tmp_path: Path) -> None:
    case = catalogue.CASES["signal_name"]
    with Engine(tmp_path / "e.db", clock="virtual") as engine:
        engine.register(catalogue)
        engine.start(case.before, "order-1", id="open-1", seed=1)
        engine.work(until_idle=True)  # waits for "approve", which never comes
        history = engine.history("open-1")
    result = replay(history, [case.before])
    assert result.status == "running" and result.output is None
    assert result.events_replayed == len(history)
    assert result.waiting is not None and "catalogue.py" in result.waiting
    assert "history ends while the workflow runs" in result.summary()


def test_workflow_api_outside_a_workflow_says_where_it_may_be_used() -> None:
    with pytest.raises(RuntimeError, match="only be called from workflow code"):
        workflow.now()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_live_then_replay_never_diverges_and_any_mutation_is_reported_at_the_first_difference(
    tmp_path_factory, data
) -> None:
    program = data.draw(programs.programs, label="program")
    tmp = tmp_path_factory.mktemp("prop")
    history = run_live(tmp, programs.interpret, program, signals=programs.signals_for(program), module=programs)
    assert replay(history, [programs.interpret]).output == history.events[-1].attrs["result"]

    mutant = data.draw(programs.mutations(program), label="mutant")
    k = programs.first_difference(program, mutant)
    recorded = [e for e in history.events if e.type in COMMAND_EVENTS]
    with pytest.raises(NondeterminismError) as info:
        replay(history, [programs.make_mutant(mutant)])
    # reported after the k commands that still match, and no later than the k-th recorded command
    low = recorded[k - 1].id if k else 1
    event_id = info.value.event_id
    assert event_id is not None and low < event_id <= recorded[k].id, str(info.value)


def test_clock_and_random_in_workflow_code_are_the_same_live_and_on_replay(tmp_path: Path) -> None:
    """Live, the engine enters the sandbox per workflow task; replay holds one block for the
    whole history and moves its clock per task. Both must give the code the same values."""
    from tests.data import clock_workflows as m

    history = run_live(tmp_path, m.reads_clock_and_random, 3, module=m)
    recorded = history.events[-1].attrs["result"]
    times = [row[0] for row in recorded]
    assert len(set(times)) == 3 and len({row[1] for row in recorded}) == 3
    started = [e.timestamp.isoformat() for e in history.events if e.type == "WorkflowTaskStarted"]
    assert times == started[:3]  # datetime.now() is each task's logical time
    assert replay(history, [m]).output == recorded  # strict sandbox: would raise on a different result


def test_a_divergence_carries_no_internal_exception_as_its_context(tmp_path: Path) -> None:
    """The debugger stops where the NondeterminismError is raised, in the user's frame: nothing
    of replaytest's own matcher may show in its chain (a mistyped name in the debug console
    printed "During handling of ... Mismatch")."""
    case = catalogue.CASES["activity_type"]
    history = run_live(tmp_path, case.before, *case.args, module=catalogue)
    with pytest.raises(NondeterminismError) as info:
        replay(history, [case.after])
    assert info.value.__context__ is None and info.value.__cause__ is None, repr(info.value.__context__)
