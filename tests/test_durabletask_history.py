"""Reading Durable Task histories as data: the forms are sniffed by content, a bad file is one
line naming the file and the event, the HTTP status API's condensed history is refused with
why, and nothing of the SDK is imported to sniff or read."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from replaytest.backends import ReplaySettings, backend_for, read_document
from replaytest.backends.durabletask import BACKEND
from replaytest.backends.durabletask import history as dt_history
from replaytest.history import HistoryFormatError

pytest_plugins = ["tests.dt_fixtures"]


def _load(data: bytes, name: str = "h.json") -> dt_history.DtHistory:
    return dt_history.load(dt_history.decode_bytes(data, name), name)


def test_each_form_is_claimed_and_named_after_its_instance(dt_histories: Path) -> None:
    for path in [*dt_histories.glob("export/*"), *dt_histories.glob("proto/*")]:
        doc = read_document(path)
        assert BACKEND.claims(doc) and backend_for(doc).name == "durabletask", path
        (entry,) = BACKEND.entries(path, doc)
        assert entry.workflow_id == path.name.split(".")[0]
        assert entry.workflow_type in {
            "order_saga",
            "approval",
            "fan_out",
            "batch",
            "monitor",
            "nightly_report",
            "shift",
        }


def test_other_formats_are_not_claimed() -> None:
    temporal = {"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]}
    aws = {"Events": [{"EventType": "ExecutionStarted", "EventId": 1}]}
    native = {"schema": "replaytest.history/1", "events": []}
    for doc in (temporal, aws, native, [], {}, [1, 2], "text", None):
        assert not BACKEND.claims(doc), doc


def test_http_status_api_history_is_refused_saying_why() -> None:
    status = {
        "name": "order_saga",
        "instanceId": "order-9",
        "runtimeStatus": "Completed",
        "historyEvents": [
            {"EventType": "ExecutionStarted", "FunctionName": "order_saga", "Timestamp": "2026-12-01T00:00:00Z"},
            {"EventType": "TaskCompleted", "FunctionName": "reserve", "Result": None, "ScheduledTime": "x"},
        ],
    }
    assert BACKEND.claims(status)
    with pytest.raises(HistoryFormatError) as caught:
        dt_history.load(status, "status.json")
    text = str(caught.value)
    assert text.startswith("status.json: historyEvents: ")
    assert "condensed" in text and "no event ids" in text and "get_orchestration_history" in text
    assert "\n" not in text


def _export(dt_histories: Path, iid: str = "order-1") -> dict[str, Any]:
    return json.loads((dt_histories / "export" / f"{iid}.json").read_text())


def test_a_truncated_gzip_export_is_one_line(dt_histories: Path) -> None:
    data = (dt_histories / "export" / "order-1.jsonl.gz").read_bytes()
    with pytest.raises(HistoryFormatError) as caught:
        _load(data[: len(data) // 2], "order-1.jsonl.gz")
    assert str(caught.value).startswith("order-1.jsonl.gz: ") and "truncated" in str(caught.value)


def test_a_json_lines_export_cut_mid_event_names_the_event(dt_histories: Path) -> None:
    raw = gzip.decompress((dt_histories / "export" / "order-1.jsonl.gz").read_bytes())
    cut = raw[: raw.index(b"\n", raw.index(b"TaskCompletedEvent")) - 5]
    with pytest.raises(HistoryFormatError) as caught:
        _load(gzip.compress(cut), "order-1.jsonl.gz")
    assert "line 7 (history event 6)" in str(caught.value) and "invalid JSON" in str(caught.value)


def test_a_dropped_event_is_named(dt_histories: Path) -> None:
    doc = _export(dt_histories)
    scheduled = next(i for i, e in enumerate(doc["events"]) if e.get("name") == "ship")
    del doc["events"][scheduled]
    with pytest.raises(HistoryFormatError) as caught:
        dt_history.load(doc, "order-1.json")
    assert str(caught.value) == (
        f"order-1.json: history event {scheduled + 3}: TaskCompleted refers to taskScheduled #4, which no "
        "earlier event records (the history is truncated or out of order)"
    )


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda e: e.__setitem__("event_type", "MysteryEvent"), 'unknown event_type "MysteryEvent"'),
        (lambda e: e.__setitem__("timestamp", "yesterday"), 'timestamp "yesterday" is not an ISO 8601 time'),
        (lambda e: e.__setitem__("event_id", "one"), 'event id "one" is not an integer'),
    ],
)
def test_a_bad_event_is_one_line_naming_it(dt_histories: Path, change: Any, says: str) -> None:
    doc = _export(dt_histories)
    change(doc["events"][2])
    with pytest.raises(HistoryFormatError) as caught:
        dt_history.load(doc, "order-1.json")
    assert str(caught.value) == f"order-1.json: history event 3: {says}"


def test_a_history_without_its_start_is_refused(dt_histories: Path) -> None:
    doc = _export(dt_histories)
    doc["events"] = [e for e in doc["events"] if e["event_type"] != "ExecutionStartedEvent"]
    with pytest.raises(HistoryFormatError, match="no ExecutionStarted event"):
        dt_history.load(doc, "order-1.json")


def test_protobuf_json_with_snake_case_names_reads_the_same(dt_histories: Path) -> None:
    from durabletask.internal import orchestrator_service_pb2 as pb
    from google.protobuf import json_format

    camel = json.loads((dt_histories / "proto" / "batch-1.json").read_text())
    snake = [
        json_format.MessageToDict(json_format.ParseDict(e, pb.HistoryEvent()), preserving_proto_field_name=True)
        for e in camel
    ]
    a, b = dt_history.load(camel, "a.json"), dt_history.load(snake, "b.json")
    assert [(e.kind, e.seq, e.data) for e in a.events] == [(e.kind, e.seq, e.data) for e in b.events]
    assert a.instance_id == "batch-1"


def test_sniffing_and_reading_never_import_the_sdk(dt_histories: Path) -> None:
    code = (
        "import sys, pathlib\n"
        "from replaytest.backends import read_document\n"
        "from replaytest.backends.durabletask import BACKEND\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).rglob('*.json*')):\n"
        "    doc = read_document(p)\n"
        "    assert BACKEND.claims(doc); BACKEND.entries(p, doc); BACKEND.validate(doc, str(p))\n"
        "print(sorted(m for m in sys.modules if m.startswith(('durabletask', 'grpc', 'google.protobuf'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(dt_histories)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_bare_list_of_exported_events_reads_like_the_export(dt_histories: Path) -> None:
    """``[event_to_dict(e) for e in client.get_orchestration_history(id)]`` dumped as is."""
    doc = _export(dt_histories, "batch-1")
    bare = dt_history.load(doc["events"], "bare.json")
    full = dt_history.load(doc, "full.json")
    assert BACKEND.claims(doc["events"]) and bare.instance_id == "batch-1"
    assert [(e.kind, e.seq, e.data) for e in bare.events] == [(e.kind, e.seq, e.data) for e in full.events]


MUTATIONS = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("duplicate"), st.integers(0, 40)),
    st.tuples(st.just("swap"), st.integers(0, 40)),
    st.tuples(
        st.just("set"),
        st.integers(0, 40),
        st.sampled_from(
            [
                "event_id",
                "timestamp",
                "name",
                "input",
                "result",
                "task_scheduled_id",
                "timer_id",
                "fire_at",
                "failure_details",
                "orchestration_status",
                "instance_id",
                "event_type",
            ]
        ),
        st.one_of(
            st.none(),
            st.integers(-3, 10**12),
            st.text(max_size=8),
            st.lists(st.integers(), max_size=2),
            st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        ),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    iid=st.sampled_from(["order-1", "order-2", "approval-late", "batch-1", "report-1", "monitor-wait"]),
    changes=st.lists(MUTATIONS, min_size=1, max_size=3),
)
def test_a_damaged_history_is_one_verdict_never_a_crash(dt_histories: Path, iid: str, changes: list[Any]) -> None:
    """Whatever is deleted, duplicated, swapped or overwritten in a recorded history, loading and
    replaying it ends in a ReplayResult, a verdict or a HistoryFormatError: never another
    exception (replaytest's bug) and never a hang."""
    from replaytest import sandbox
    from replaytest.backends.durabletask.orchestrators import resolve
    from replaytest.backends.durabletask.replay import replay_history
    from replaytest.report.divergence import Verdict

    from .dt_orchestrators import shop

    doc = _export(dt_histories, iid)
    events = doc["events"]
    for change in changes:
        i = change[1] % len(events)
        if change[0] == "delete" and len(events) > 1:
            del events[i]
        elif change[0] == "duplicate":
            events.insert(i, dict(events[i]))
        elif change[0] == "swap" and i + 1 < len(events):
            events[i], events[i + 1] = events[i + 1], events[i]
        elif change[0] == "set":
            events[i] = {**events[i], change[2]: change[3]}
    try:
        h = dt_history.load(doc, "damaged.json")
    except HistoryFormatError as e:
        assert str(e).startswith("damaged.json") and "\n" not in str(e)
        event("refused when read")
        return
    try:
        with sandbox.session():
            result = replay_history(h, resolve(h.orchestrator or "", [], [shop], "damaged.json", [], ReplaySettings()))
        event(f"replayed: {result.status}")
    except (Verdict, HistoryFormatError) as e:
        event(f"verdict: {type(e).__name__}")
