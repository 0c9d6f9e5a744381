"""The consistency checks (history/consistency.py): histories that pass the schema but are
impossible (an outcome of an activity never scheduled, a timer that never started, a second start,
a time that is not one) get a clear invalid-history report naming the file and the event -- in
the library, the CLI, the CLI under --debug and pytest alike -- never an internal exception; any
generated event sequence ends in one of replaytest's verdicts, never a traceback or a hang."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import replaytest
import replaytest.pytest_support
from fixtures.workflows import onboarding, orders, payments
from replaytest import History, HistoryFormatError, NondeterminismError, ReplayResult, WorkflowTaskError
from tests.conftest import ROOT

ORDER = ROOT / "fixtures" / "histories" / "order-42.json"


def _events() -> list[dict]:
    return json.loads(ORDER.read_text())["events"]


def _write(tmp_path: Path, name: str, events: list[dict]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"format": "replaytest.history", "version": 1, "events": events}))
    return path


def _never_scheduled(tmp_path: Path) -> Path:
    events = _events()
    done = next(e for e in events if e["type"] == "ActivityTaskCompleted")
    done["attrs"]["scheduled_event_id"] = 99
    return _write(tmp_path, "never-scheduled.json", events)


def _never_started_timer(tmp_path: Path) -> Path:
    events = _events()
    closing = events.pop()
    events.append(
        {
            "id": len(events) + 1,
            "time": closing["time"],
            "type": "TimerFired",
            "attrs": {"timer_id": "7", "started_event_id": 3},
        }
    )
    return _write(tmp_path, "never-started.json", events)


@pytest.mark.parametrize(
    ("make", "event", "reason"),
    [
        (_never_scheduled, 7, "scheduled_event_id 99 does not name an earlier ActivityTaskScheduled event"),
        (_never_started_timer, None, "does not name an earlier TimerStarted event"),
    ],
)
def test_load_names_the_file_and_the_event(tmp_path: Path, make, event, reason) -> None:
    path = make(tmp_path)
    with pytest.raises(HistoryFormatError) as info:
        History.load(path)
    assert str(path) in str(info.value) and reason in str(info.value)
    if event is not None:
        assert f"event {event} (ActivityTaskCompleted)" in str(info.value)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "replaytest", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_cli_replay_reports_it_and_replays_the_rest(tmp_path: Path) -> None:
    bad = _never_scheduled(tmp_path)
    run = _cli("replay", str(bad), str(ORDER))
    assert run.returncode == 1
    assert f"FAIL  {bad}: /events/6: event 7 (ActivityTaskCompleted): scheduled_event_id 99" in run.stdout
    assert (
        "ok    " in run.stdout
        and "1 history replayed: 1 ok, 0 failed; 1 file not replayed: not a usable history (FAIL above)" in run.stdout
    )
    assert "Traceback" not in run.stdout + run.stderr and "KeyError" not in run.stdout + run.stderr


def test_cli_replay_debug_refuses_it_before_waiting_for_the_ide(tmp_path: Path) -> None:
    bad = _never_started_timer(tmp_path)
    run = _cli("replay", str(bad), "--debug=127.0.0.1:0", "--debug-timeout", "5")
    assert run.returncode == 2
    assert run.stderr.startswith(f"replaytest: error: {bad}: ") and "TimerStarted" in run.stderr
    assert "waiting for a debugger" not in run.stderr and "Traceback" not in run.stderr


def test_pytest_item_fails_with_the_report(pytester: pytest.Pytester, tmp_path: Path) -> None:
    bad = _never_scheduled(tmp_path)
    result = pytester.runpytest("--replay", str(bad), "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "invalid history file" in out and "event 7 (ActivityTaskCompleted)" in out
    assert "Traceback" not in out and "KeyError" not in out and "1 invalid history file" in out


# ---------------------------------------------------------------------------- impossible histories, generated event sequences
HISTORIES = ROOT / "fixtures" / "histories"


WORKFLOWS = [orders, onboarding, payments]


SURROGATE = "\ud800"


FAILURES = (HistoryFormatError, NondeterminismError, WorkflowTaskError, replaytest.UnknownWorkflowError)


VERDICTS = (ReplayResult, *FAILURES)


def doc_of(name: str = "order-42") -> dict[str, Any]:
    return json.loads((HISTORIES / f"{name}.json").read_text(encoding="utf-8"))


def write(path: Path, doc: dict[str, Any] | bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(doc, dict):
        doc = json.dumps(doc)  # ensure_ascii: a lone surrogate is written as the escape \ud800
    path.write_bytes(doc if isinstance(doc, bytes) else doc.encode("utf-8"))
    return path


def insert(doc: dict[str, Any], index: int, event_type: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with a new event at position ``index``; ids and references renumbered."""
    events = doc["events"]
    shift = {e["id"]: (e["id"] + 1 if e["id"] > index else e["id"]) for e in events}
    for e in events:
        e["id"] = shift[e["id"]]
        for key in ("scheduled_event_id", "started_event_id"):
            if key in e["attrs"] and e["attrs"][key] in shift:
                e["attrs"][key] = shift[e["attrs"][key]]
    events.insert(index, {"id": index + 1, "time": events[0]["time"], "type": event_type, "attrs": attrs})
    return doc


def verdict(path: Path) -> BaseException | ReplayResult:
    """Load and replay through the public API; what it ends in."""
    try:
        return replaytest.replay(History.load(path), WORKFLOWS)
    except Exception as e:
        return e


def cli(
    *args: str, cwd: Path = ROOT, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    full.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "replaytest", *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        encoding="utf-8",
        errors="backslashreplace",
        timeout=timeout,
    )


MODULES = [
    "--module",
    "fixtures.workflows.orders",
    "--module",
    "fixtures.workflows.onboarding",
    "--module",
    "fixtures.workflows.payments",
]


def _schedule_id(doc: dict[str, Any]) -> int:
    return next(e["id"] for e in doc["events"] if e["type"] == "ActivityTaskScheduled")


IMPOSSIBLE: dict[str, Any] = {
    "completed-never-scheduled-activity": (
        lambda d: insert(d, 7, "ActivityTaskCompleted", {"activity_id": "99", "scheduled_event_id": 99, "result": 1}),
        "/events/7",
    ),
    "failed-never-scheduled-activity": (
        lambda d: insert(
            d,
            7,
            "ActivityTaskFailed",
            {"activity_id": "99", "scheduled_event_id": 99, "failure": {"type": "X", "message": "m"}},
        ),
        "/events/7",
    ),
    "fired-never-started-timer": (
        lambda d: insert(d, 7, "TimerFired", {"timer_id": "99", "started_event_id": 99}),
        "/events/7",
    ),
    "outcome-names-another-activity": (lambda d: d["events"][6]["attrs"].update(activity_id="2") or d, "/events/6"),
    "reference-to-no-event": (lambda d: d["events"][5]["attrs"].update(scheduled_event_id=999) or d, "/events/5"),
    "reference-to-wrong-kind": (lambda d: d["events"][6]["attrs"].update(scheduled_event_id=2) or d, "/events/6"),
    "task-completed-never-started": (lambda d: d["events"][3]["attrs"].update(started_event_id=77) or d, "/events/3"),
    "only-started-and-completed": (
        lambda d: {**d, "events": [d["events"][0], {**d["events"][-1], "id": 2}]},
        "/events/1",
    ),
    "second-started": (
        lambda d: insert(d, 4, "WorkflowExecutionStarted", copy.deepcopy(d["events"][0]["attrs"])),
        "/events/4",
    ),
    "closing-not-last": (lambda d: insert(d, 22, "WorkflowExecutionCompleted", {"result": None}), "/events/23"),
    "command-outside-a-task": (lambda d: insert(d, 2, "TimerStarted", {"timer_id": "1", "duration": 1.0}), "/events/2"),
    "time-trailing-newline": (lambda d: d["events"][4].update(time="2026-01-05T09:00:00.000Z\n") or d, "/events/4"),
    "time-non-ascii-digits": (
        lambda d: d["events"][4].update(time="\u0662\u0660\u0662\u0666-01-05T09:00:00.000Z") or d,
        "/events/4",
    ),
    "time-year-0000": (lambda d: d["events"][4].update(time="0000-01-05T09:00:00.000Z") or d, "/events/4"),
    "time-month-13": (lambda d: d["events"][4].update(time="2026-13-05T09:00:00.000Z") or d, "/events/4"),
}


@pytest.mark.parametrize("case", sorted(IMPOSSIBLE))
def test_an_impossible_history_is_an_invalid_history_naming_the_event(tmp_path: Path, case: str) -> None:
    mutate, where = IMPOSSIBLE[case]
    path = write(tmp_path / f"{case}.json", mutate(doc_of()))
    error = verdict(path)
    assert isinstance(error, HistoryFormatError), repr(error)
    assert error.where.startswith(where) and str(path) in str(error), str(error)


@pytest.mark.parametrize("inputs", [[], [1, 2], [None, None, None]])
def test_input_that_does_not_fit_the_workflow_is_an_invalid_history(tmp_path: Path, inputs: list[Any]) -> None:
    doc = doc_of()
    doc["events"][0]["attrs"]["input"] = inputs
    error = verdict(write(tmp_path / "h.json", doc))
    assert isinstance(error, HistoryFormatError), repr(error)
    assert error.where == "/events/0/attrs/input" and "process_order" in str(error)


def test_cli_and_pytest_report_an_impossible_history_in_one_line(
    tmp_path: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = write(tmp_path / "bad.json", IMPOSSIBLE["completed-never-scheduled-activity"][0](doc_of()))
    done = cli("replay", str(bad), str(HISTORIES / "order-42.json"), *MODULES)
    assert "Traceback" not in done.stdout + done.stderr and "KeyError" not in done.stdout
    assert (
        f"FAIL  {bad}: /events/7" in done.stdout
        and "1 history replayed: 1 ok, 0 failed; 1 file not replayed: not a usable history (FAIL above)" in done.stdout
    )
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    shutil.copy(bad, pytester.path / "bad.json")
    result = pytester.runpytest("--replay", "bad.json", "--replay-module", "fixtures.workflows.orders")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "invalid history file bad.json: /events/7*",
            "replaytest: 0 histories replayed (0 events), 0 divergences, 1 invalid history file",
        ]
    )
    assert "KeyError" not in result.stdout.str()


ATTRS: dict[str, Any] = {
    "WorkflowTaskScheduled": st.fixed_dictionaries({"attempt": st.integers(1, 3)}),
    "WorkflowTaskStarted": st.fixed_dictionaries({"scheduled_event_id": st.integers(1, 40)}),
    "WorkflowTaskCompleted": st.fixed_dictionaries({"started_event_id": st.integers(1, 40)}),
    "WorkflowTaskFailed": st.fixed_dictionaries(
        {"started_event_id": st.integers(1, 40), "failure": st.just({"type": "E", "message": "m"})}
    ),
    "ActivityTaskScheduled": st.fixed_dictionaries(
        {
            "activity_id": st.sampled_from(["1", "2", "3", "99"]),
            "activity_type": st.sampled_from(["calculate_total", "charge_card", "send_confirmation", "nope"]),
            "input": st.lists(
                st.none() | st.integers() | st.just({"card": "4242", "amount": 1.0, "order_id": "42"}), max_size=2
            ),
            "retry_policy": st.just(
                {
                    "initial_interval": 1.0,
                    "backoff_coefficient": 2.0,
                    "maximum_interval": 100.0,
                    "maximum_attempts": 0,
                    "non_retryable_error_types": [],
                }
            ),
        }
    ),
    "ActivityTaskStarted": st.fixed_dictionaries(
        {
            "activity_id": st.sampled_from(["1", "2", "99"]),
            "scheduled_event_id": st.integers(1, 40),
            "attempt": st.integers(1, 3),
        }
    ),
    "ActivityTaskCompleted": st.fixed_dictionaries(
        {
            "activity_id": st.sampled_from(["1", "2", "3", "99"]),
            "scheduled_event_id": st.integers(1, 40),
            "result": st.none() | st.integers() | st.floats(allow_nan=False) | st.text(),
        }
    ),
    "ActivityTaskFailed": st.fixed_dictionaries(
        {
            "activity_id": st.sampled_from(["1", "2", "99"]),
            "scheduled_event_id": st.integers(1, 40),
            "failure": st.just({"type": "CardDeclined", "message": "no"}),
        }
    ),
    "TimerStarted": st.fixed_dictionaries({"timer_id": st.sampled_from(["1", "2"]), "duration": st.floats(0, 1e6)}),
    "TimerFired": st.fixed_dictionaries(
        {"timer_id": st.sampled_from(["1", "2", "99"]), "started_event_id": st.integers(1, 40)}
    ),
    "MarkerRecorded": st.fixed_dictionaries(
        {
            "marker_name": st.sampled_from(["side_effect", "patch"]),
            "marker_id": st.sampled_from(["1", "2", "fix-1"]),
            "value": st.none() | st.integers() | st.booleans(),
        }
    ),
    "WorkflowExecutionSignaled": st.fixed_dictionaries(
        {"signal_name": st.sampled_from(["approve", "x", SURROGATE]), "payload": st.none() | st.integers()}
    ),
    "WorkflowExecutionCompleted": st.fixed_dictionaries({"result": st.none() | st.integers()}),
    "WorkflowExecutionFailed": st.fixed_dictionaries({"failure": st.just({"type": "E", "message": "m"})}),
}


PAYLOADS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.just({"type": "E", "message": "m"}),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def event_sequences(draw: st.DrawFn) -> dict[str, Any]:
    """A recorded history with events dropped, repeated, replaced or added: mostly near a real
    history (so replay gets deep), sometimes far from any."""
    doc = doc_of(draw(st.sampled_from(["order-42", "order-43", "order-44", "onboarding-7", "payment-3"])))
    events = doc["events"]
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["drop", "dup", "new", "attrs", "truncate", "payload", "payload"]))
        i = draw(st.integers(1, len(events)))
        if op == "truncate":  # a workflow still running (or a worker that died mid-task)
            del events[i:]
        elif op == "payload":  # same structure, other recorded values: replay goes deep
            e = events[i - 1]
            key = next((k for k in ("result", "input", "payload", "value", "failure") if k in e["attrs"]), None)
            if key is not None:
                e["attrs"][key] = draw(PAYLOADS if key != "input" else st.lists(PAYLOADS, max_size=2))
        elif op == "drop" and i < len(events):
            del events[i]
        elif op == "dup":
            events.insert(i, copy.deepcopy(events[draw(st.integers(0, len(events) - 1))]))
        elif op == "new":
            kind = draw(st.sampled_from(sorted(ATTRS)))
            events.insert(i, {"id": 0, "time": events[0]["time"], "type": kind, "attrs": draw(ATTRS[kind])})
        elif op == "attrs" and i < len(events) and events[i]["type"] in ATTRS:
            events[i]["attrs"] = draw(ATTRS[events[i]["type"]])
    if draw(st.booleans()):
        events[0]["attrs"]["input"] = draw(st.lists(st.none() | st.integers() | st.just({}), max_size=2))
    for n, e in enumerate(events, start=1):
        e["id"] = n
    return doc


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(doc=event_sequences())
def test_any_event_sequence_ends_in_a_verdict(doc: dict[str, Any]) -> None:
    try:
        result: object = replaytest.replay(
            History.from_json(json.dumps(doc), source="generated.json"), WORKFLOWS, sandbox="off"
        )
    except FAILURES as e:
        result = e
    event(type(result).__name__)  # --hypothesis-show-statistics: how deep the examples got
    assert isinstance(result, VERDICTS)


def test_a_file_of_many_invalid_events_reports_the_first(tmp_path: Path) -> None:
    doc = doc_of()
    good = doc["events"][1]
    doc["events"] = [doc["events"][0]] + [dict(good, id=n, type="Bogus") for n in range(2, 20_002)]
    doc["events"][7]["attrs"] = "not an object"  # a later, different error: not the one reported
    error = verdict(write(tmp_path / "h.json", doc))
    assert isinstance(error, HistoryFormatError)
    assert error.where == "/events/1/type" and "Bogus" in error.reason, str(error)
