"""Durable Task histories recorded on the SDK's own in-memory backend replay through the SDK's
executor with replaytest's checks: every recorded orchestrator passes in all three forms, and
each edited copy gives its verdict at the edited line (``# edit`` in tests/dt_orchestrators)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from replaytest import sandbox
from replaytest.backends import ReplaySettings
from replaytest.backends.durabletask import history as dt_history
from replaytest.backends.durabletask.orchestrators import resolve
from replaytest.backends.durabletask.replay import replay_history
from replaytest.report import NondeterminismError, ReplayResult, WorkflowTaskError

from .dt_orchestrators import shop

pytest_plugins = ["tests.dt_fixtures"]  # dt_histories: recorded once per session

FORMS = ["export/{}.json", "export/{}.jsonl.gz", "proto/{}.json"]
EDITS = Path(__file__).parent / "dt_orchestrators" / "edits"


def load(root: Path, form: str, iid: str) -> dt_history.DtHistory:
    path = root / form.format(iid)
    return dt_history.load(dt_history.decode_bytes(path.read_bytes(), str(path)), str(path))


def replay(history: dt_history.DtHistory, module: Any, **kw: Any) -> ReplayResult:
    fn = resolve(history.orchestrator or "", [], [module], history.source, [], ReplaySettings())
    with sandbox.session():
        return replay_history(history, fn, **kw)


def edit_line(module: str) -> int:
    lines = (EDITS / f"{module}.py").read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.rstrip().endswith("# edit"))


RECORDED = {
    "order-1": ("completed", {"order": "order-1", "status": "shipped"}),
    "order-2": ("completed", {"order": "order-2", "status": "compensated"}),
    "approval-yes": ("completed", "approved"),
    "approval-late": ("completed", "timed out"),
    "fanout-1": ("completed", 60),
    "batch-1": ("completed", ["pen ready", "ink ready"]),
    "monitor-1": ("completed", "job build done after 2 rounds"),
    "report-1": ("failed", None),
    "shift-1": ("completed", "rostered"),
    "approval-open": ("running", None),
    "monitor-wait": ("running", None),
}


@pytest.mark.parametrize("form", FORMS)
def test_every_recorded_history_replays_with_its_own_code(dt_histories: Path, form: str) -> None:
    for iid, (status, output) in RECORDED.items():
        h = load(dt_histories, form, iid)
        assert h.instance_id == iid
        result = replay(h, shop)
        assert (result.status, result.warnings) == (status, []), iid
        if status == "completed":
            assert result.output == output, iid
        assert result.events_replayed == len(h.events)


def test_the_three_forms_hold_the_same_events(dt_histories: Path) -> None:
    for iid in RECORDED:
        forms = [load(dt_histories, form, iid) for form in FORMS]
        shapes = [[(e.kind, e.seq, e.time, e.text("name")) for e in h.events] for h in forms]
        assert shapes[0] == shapes[1] == shapes[2], iid
        assert {h.form for h in forms} == {"export", "jsonl", "protobuf"}


def test_a_failed_history_replays_as_the_same_failure(dt_histories: Path) -> None:
    result = replay(load(dt_histories, FORMS[0], "report-1"), shop)
    assert result.status == "failed"
    assert result.output["type"] == "TaskFailedError"
    assert "report store is read-only" in result.output["message"]


def test_a_running_history_replays_to_where_it_waits(dt_histories: Path) -> None:
    approval = replay(load(dt_histories, FORMS[0], "approval-open"), shop)
    assert approval.status == "running"
    assert approval.waiting is not None and approval.waiting.endswith(
        f"shop.py:{_line(shop, 'winner = yield task.when_any')} in approval"
    )
    monitor = replay(load(dt_histories, FORMS[2], "monitor-wait"), shop)
    assert (
        monitor.waiting is not None
        and f":{_line(shop, 'yield ctx.create_timer(timedelta(seconds=job')}" in monitor.waiting
    )


def _line(module: Any, text: str) -> int:
    lines = Path(module.__file__).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


#: edit module → (recorded instance, verdict kind, what the report says)
NONDETERMINISM = {
    "renamed": ("order-1", "command", "call_activity charge_card("),
    "reordered": ("order-1", "command", "call_activity charge("),
    "dropped_last": ("order-1", "missing", "the orchestration returns first"),
    "added_step": ("order-1", "extra", 'call_activity notify("survey")'),
    "new_result": ("fanout-1", "result", "returns 30"),
    "more_parts": ("fanout-1", "extra", 'call_activity measure("extra")'),
    "fewer_parts": ("fanout-1", "missing", "the code waits here"),
    "no_sleep": ("monitor-wait", "missing", "the orchestration continues as new first"),
    "caught": ("report-1", "end", 'completes with "not published"'),
    "retried": ("report-1", "extra", "a retry of sequence number 3"),
}


@pytest.mark.parametrize("edit", sorted(NONDETERMINISM))
@pytest.mark.parametrize("form", FORMS)
def test_an_edit_is_reported_at_its_line(dt_histories: Path, edit: str, form: str) -> None:
    iid, kind, issued = NONDETERMINISM[edit]
    module = importlib.import_module(f"tests.dt_orchestrators.edits.{edit}")
    with pytest.raises(NondeterminismError) as caught:
        replay(load(dt_histories, form, iid), module)
    d = caught.value.divergence
    assert (d.kind, d.workflow_id) == (kind, iid)
    assert d.source is not None and (Path(d.source.file).name, d.source.line) == (f"{edit}.py", edit_line(edit))
    assert issued in (d.issued or "")
    assert "# edit" in str(caught.value)  # the report quotes the line


def test_a_different_new_input_of_continue_as_new_is_a_result_divergence(dt_histories: Path) -> None:
    """monitor-wait's timer fired and the orchestration continued as new (the end record's
    result is the new input): the code unchanged replays it; a changed new input diverges."""
    doc = json.loads((dt_histories / "export" / "monitor-wait.json").read_text())
    job = {"name": "nightly", "round": 1, "every": 3600}
    fire_at = doc["events"][-2]["fire_at"]
    doc["events"] += [
        {"event_id": -1, "event_type": "OrchestratorStartedEvent", "timestamp": fire_at},
        {"event_id": -1, "event_type": "TimerFiredEvent", "fire_at": fire_at, "timer_id": 2, "timestamp": fire_at},
        {"event_id": -1, "event_type": "OrchestratorCompletedEvent", "timestamp": fire_at},
        {
            "event_id": -1,
            "event_type": "ExecutionCompletedEvent",
            "failure_details": None,
            "orchestration_status": 2,  # CONTINUED_AS_NEW
            "result": json.dumps(job),
            "timestamp": fire_at,
        },
    ]
    h = dt_history.load(doc, "continued.json")
    result = replay(h, shop)
    assert (result.status, result.output, result.warnings) == ("completed", job, [])
    with pytest.raises(NondeterminismError) as caught:
        replay(
            dt_history.load(doc, "continued.json"), importlib.import_module("tests.dt_orchestrators.edits.next_round")
        )
    d = caught.value.divergence
    assert (d.kind, d.recorded, d.issued) == (
        "result",
        'continues as new with {"name": "nightly", "round": 1, "every": 3600}',
        'continues as new with {"name": "nightly", "round": 2, "every": 3600}',
    )
    assert d.detail == "every command matched; only the new input differs"
    assert d.source is not None and (Path(d.source.file).name, d.source.line) == (
        "next_round.py",
        edit_line("next_round"),
    )


@pytest.mark.parametrize(
    ("edit", "iid", "field"),
    [
        ("new_input", "order-1", "input"),
        ("longer_timeout", "approval-yes", "fire time"),
        ("sub_ids", "batch-1", "instance id"),
    ],
)
def test_changed_arguments_warn_by_default_and_fail_with_error(
    dt_histories: Path, edit: str, iid: str, field: str
) -> None:
    module = importlib.import_module(f"tests.dt_orchestrators.edits.{edit}")
    h = load(dt_histories, FORMS[0], iid)
    result = replay(h, module)
    assert result.status == "completed"
    assert result.warnings and all(f"{edit}.py:{edit_line(edit)}" in w and field in w for w in result.warnings)
    assert replay(h, module, args_mismatch="ignore").warnings == []
    with pytest.raises(NondeterminismError) as caught:
        replay(h, module, args_mismatch="error")
    d = caught.value.divergence
    assert d.kind == "args" and d.source is not None and d.source.line == edit_line(edit)
    assert field in d.detail


def test_code_that_now_raises_fails_at_the_raising_line(dt_histories: Path) -> None:
    from .dt_orchestrators.edits import raises

    with pytest.raises(WorkflowTaskError) as caught:
        replay(load(dt_histories, FORMS[1], "order-1"), raises)
    e = caught.value
    assert isinstance(e.error, ValueError)
    assert e.source is not None and e.source.line == edit_line("raises")
    assert "history recorded the orchestration going on" in e.history_note


def test_io_in_an_orchestrator_is_flagged_at_its_line(dt_histories: Path) -> None:
    from .dt_orchestrators.edits import does_io

    h = load(dt_histories, FORMS[0], "shift-1")
    with pytest.raises(WorkflowTaskError) as caught:
        replay(h, does_io)
    assert type(caught.value.error).__name__ == "SandboxViolation"
    assert caught.value.source is not None and caught.value.source.line == edit_line("does_io")
    result = replay(h, does_io, sandbox="warn")
    assert result.status == "completed" and any("open(" in w for w in result.warnings)


def test_datetime_now_in_an_orchestrator_is_the_recorded_time(dt_histories: Path) -> None:
    """shift() branches on datetime.now().hour: it replays by the history's clock, not the wall
    clock; moving every recorded episode by 12 hours flips the branch it takes."""
    path = dt_histories / "export" / "shift-1.json"
    doc = json.loads(path.read_text())
    assert replay(dt_history.load(doc, str(path)), shop).status == "completed"
    for event in doc["events"]:
        if event["event_type"] == "OrchestratorStartedEvent":
            hour = int(event["timestamp"][11:13])
            event["timestamp"] = event["timestamp"][:11] + f"{(hour + 12) % 24:02d}" + event["timestamp"][13:]
    with pytest.raises(NondeterminismError) as caught:
        replay(dt_history.load(doc, str(path)), shop, args_mismatch="error")
    d = caught.value.divergence
    assert d.kind == "args" and "shift" in (d.recorded or "") and "shift" in (d.issued or "")
    assert d.recorded != d.issued
    branches = {_line(shop, 'input=f"{team}: morning shift"'), _line(shop, 'input=f"{team}: evening shift"')}
    assert d.source is not None and d.source.function == "shift" and d.source.line in branches


def sdk_alone(root: Path, iid: str, module: Any) -> list[str]:
    """What the SDK's own executor returns for the history's last episode, as a worker runs it:
    one line per action (a FAILED completion is all it has to say about nondeterminism)."""
    from durabletask.internal import orchestrator_service_pb2 as pb
    from google.protobuf import json_format

    from replaytest.backends.durabletask import _sdk

    events = [
        json_format.ParseDict(e, pb.HistoryEvent()) for e in json.loads((root / "proto" / f"{iid}.json").read_text())
    ]
    last = max(i for i, e in enumerate(events) if e.HasField("orchestratorStarted"))
    name = next(e.executionStarted.name for e in events if e.HasField("executionStarted"))
    executor = _sdk.new_executor_for_bench(getattr(module, name), name)
    out = []
    for action in executor.execute(iid, events[:last], events[last:]).actions:
        kind = action.WhichOneof("orchestratorActionType")
        if kind == "completeOrchestration":
            kind = pb.OrchestrationStatus.Name(action.completeOrchestration.orchestrationStatus).split("_")[-1]
        out.append(kind)
    return out


@pytest.mark.parametrize(
    ("edit", "iid", "sdk_says"),
    [
        ("dropped_last", "order-1", []),
        ("added_step", "order-1", ["scheduleTask"]),
        ("more_parts", "fanout-1", ["scheduleTask"]),
        ("new_result", "fanout-1", ["COMPLETED"]),
        ("no_sleep", "monitor-wait", ["NEW"]),
        ("caught", "report-1", ["COMPLETED"]),
        ("retried", "report-1", ["createTimer"]),
        ("new_input", "order-1", ["COMPLETED"]),
        ("sub_ids", "batch-1", ["COMPLETED"]),
    ],
)
def test_what_the_sdk_alone_misses(dt_histories: Path, edit: str, iid: str, sdk_says: list[str]) -> None:
    """The gaps replaytest fills (docs/durabletask.md): the SDK's executor fails none of these
    edits; replaytest reports each (the tests above). The day the SDK catches one, this fails."""
    module = importlib.import_module(f"tests.dt_orchestrators.edits.{edit}")
    assert sdk_alone(dt_histories, iid, module) == sdk_says
    assert sdk_alone(dt_histories, iid, shop) in ([], ["COMPLETED"], ["FAILED"])  # the unedited code


def test_randomness_in_an_orchestrator_is_seeded_per_instance(dt_histories: Path) -> None:
    from .dt_orchestrators.edits import draws

    draws.DRAWS.clear()
    h = load(dt_histories, FORMS[0], "fanout-1")
    replay(h, draws)
    replay(h, draws)
    other = load(dt_histories, FORMS[0], "fanout-1")
    other.instance_id = "fanout-2"
    replay(other, draws)
    first, again, elsewhere = draws.DRAWS
    assert first == again != elsewhere
