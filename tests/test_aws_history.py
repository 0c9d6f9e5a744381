"""Reading AWS Lambda durable execution exports: sniffing by content, naming, both timestamp
forms, pages, and one clear line for an export replay cannot use. None of this imports the SDK."""

from __future__ import annotations

import copy
import datetime
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replaytest.backends import backend_for
from replaytest.backends.aws import BACKEND
from replaytest.backends.aws import history as aws_history
from replaytest.history.errors import HistoryFormatError

FIXTURES = Path(__file__).parent / "data" / "aws"
NATIVE = Path(__file__).parent / "data" / "smoke-w1.json"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def retimed(events: list[dict[str, Any]], convert: Callable[[Any], Any]) -> list[dict[str, Any]]:
    """A copy of ``events`` with every timestamp (``EventTimestamp``, a wait's
    ``ScheduledEndTimestamp``) passed through ``convert``."""
    out = copy.deepcopy(events)
    for e in out:
        e["EventTimestamp"] = convert(e["EventTimestamp"])
        for details in (v for k, v in e.items() if k.endswith("Details")):
            if "ScheduledEndTimestamp" in details:
                details["ScheduledEndTimestamp"] = convert(details["ScheduledEndTimestamp"])
    return out


def as_datetime(seconds: float) -> datetime.datetime:
    """Epoch seconds as botocore parses them."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def iso(doc: dict[str, Any], style: str) -> dict[str, Any]:
    """The same export with ISO timestamps (AWS CLI v2 prints them like this)."""

    def fmt(seconds: float) -> str:
        t = as_datetime(seconds)
        return t.isoformat() if style == "offset" else t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    return {**doc, "Events": retimed(doc["Events"], fmt)}


def test_exports_are_claimed_by_content():
    assert backend_for(fixture("order-1")).name == "aws"
    assert backend_for(json.loads(NATIVE.read_text())).name == "native"
    temporal_like = {"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]}
    assert not BACKEND.claims(temporal_like)
    assert BACKEND.claims([fixture("order-1"), fixture("trip-1")])
    assert not BACKEND.claims({"Events": [{"type": "x"}]})


def test_entries_are_named_by_execution_and_typed_by_function(tmp_path: Path):
    [entry] = BACKEND.entries(tmp_path / "x.json", fixture("order-1"))
    assert (entry.workflow_id, entry.workflow_type, entry.backend, entry.index) == ("order-1", "orders", "aws", 0)
    doc = fixture("order-1")
    del doc["Events"][0]["Name"]
    assert BACKEND.entries(tmp_path / "x.json", doc)[0].workflow_id == "order-1"  # the ARN's tail
    del doc["DurableExecutionArn"]
    [entry] = BACKEND.entries(tmp_path / "saved-export.json", doc)
    assert (entry.workflow_id, entry.workflow_type) == ("saved-export", None)  # the file's stem
    doc["FunctionName"] = "orders"
    assert BACKEND.entries(tmp_path / "x.json", doc)[0].workflow_type == "orders"


@pytest.mark.parametrize("style", ["offset", "zulu"])
def test_iso_timestamps_read_as_the_epoch_seconds_they_stand_for(style):
    wire = aws_history.load(fixture("order-1"), "a.json")
    cli = aws_history.load(iso(fixture("order-1"), style), "b.json")
    assert [abs((a.time - b.time).total_seconds()) < 0.001 for a, b in zip(wire.events, cli.events)] == [True] * len(
        wire.events
    )
    assert [op.scheduled_end is not None for op in cli.ops.values() if op.type == "WAIT"] == [True]


def test_timestamp_forms():
    t = aws_history.parse_timestamp
    assert t(1795765231.5) == t(1795765231500) == t("2026-11-27T07:40:31.5Z") == t("2026-11-27 07:40:31.500+00:00")
    with pytest.raises(ValueError, match="not a timestamp: True"):
        t(True)


def test_pages_are_joined_and_executions_kept_apart(tmp_path: Path):
    doc = fixture("order-1")
    events = doc["Events"]
    pages = [{"Events": events[:7], "NextMarker": "7"}, {"Events": events[7:]}]
    [joined] = aws_history.split_executions(pages)
    assert joined["Events"] == events and "NextMarker" not in joined
    assert len(aws_history.load(joined, "pages.json").events) == len(events)
    two = BACKEND.entries(tmp_path / "both.json", [fixture("order-1"), fixture("trip-1")])
    assert [(e.index, e.workflow_id) for e in two] == [(0, "order-1"), (1, "trip-1")]


def one_line_error(doc: Any) -> str:
    with pytest.raises(HistoryFormatError) as info:
        aws_history.load(doc, "exports/order-1.json")
    text = str(info.value)
    assert "\n" not in text and text.startswith("exports/order-1.json")
    return text


def test_an_export_cut_at_a_page_boundary_says_so():
    doc = fixture("order-1")
    doc["Events"] = doc["Events"][:7]
    doc["NextMarker"] = "8"
    assert "NextMarker" in one_line_error(doc)


def test_an_export_missing_its_first_page_says_so():
    doc = fixture("order-1")
    doc["Events"] = doc["Events"][5:]
    assert "starts with ExecutionStarted" in one_line_error(doc)


def test_malformed_events_name_the_event():
    doc = fixture("order-1")
    doc["Events"][3]["EventTimestamp"] = "yesterday"
    assert "event 4 (WaitStarted): EventTimestamp 'yesterday'" in one_line_error(doc)
    doc = fixture("order-1")
    del doc["Events"][2]["Id"]
    assert "event 3 (StepSucceeded): missing the operation Id" in one_line_error(doc)
    doc = fixture("order-1")
    doc["Events"][4]["EventType"] = "Teleported"
    assert "event 5: unknown EventType 'Teleported'" in one_line_error(doc)
    assert "no events" in one_line_error({"Events": []})


def test_operations_fold_from_events():
    h = aws_history.load(fixture("order-1"), "order-1.json")
    assert [(op.label(), op.status, op.parent_id is None) for op in h.ops.values()] == [
        ("step 'reserve'", "SUCCEEDED", True),
        ("wait 'cool-off'", "SUCCEEDED", True),
        ("step 'charge'", "SUCCEEDED", True),
        ("child context 'ship'", "SUCCEEDED", True),
        ("step 'print-label'", "SUCCEEDED", False),
        ("step 'book-pickup'", "SUCCEEDED", False),
        ("step 'notify'", "SUCCEEDED", True),
    ]
    assert h.status == "SUCCEEDED" and h.function_name == "orders" and h.sdk_version
    assert aws_history.readable(h.ops[next(iter(h.ops))].result) == {"reserved": "book"}


def test_reading_and_naming_exports_imports_no_sdk():
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from replaytest.backends import backend_for\n"
        "from replaytest.backends.aws import history\n"
        f"doc = json.loads(Path({str(FIXTURES / 'order-1.json')!r}).read_text())\n"
        "backend = backend_for(doc)\n"
        "assert backend.name == 'aws'\n"
        "backend.entries(Path('x.json'), doc)\n"
        "history.load(doc, 'x.json')\n"
        "print(sorted(m for m in sys.modules if m.startswith('aws_durable')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


ALL = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ALL), st.data())
def test_any_paging_and_any_mix_of_timestamp_forms_reads_the_same(doc, data):
    """However an export was paged and whichever timestamp form each event carries, it folds
    into the same operations at the same times."""
    events = copy.deepcopy(doc["Events"])
    cuts = sorted(data.draw(st.sets(st.integers(1, len(events) - 1), max_size=4)))
    for e in events:
        form = data.draw(st.sampled_from(["seconds", "millis", "iso", "iso-z", "str-seconds"]))
        t = e["EventTimestamp"]
        dt = as_datetime(t)
        e["EventTimestamp"] = {
            "seconds": t,
            "millis": round(t * 1000),
            "iso": dt.isoformat(),
            "iso-z": dt.isoformat().replace("+00:00", "Z"),
            "str-seconds": repr(t),
        }[form]
    bounds = [0, *cuts, len(events)]
    pages = [{"Events": events[a:b]} for a, b in zip(bounds, bounds[1:])]
    [joined] = aws_history.split_executions(pages)
    got, want = aws_history.load(joined, "paged.json"), aws_history.load(doc, "whole.json")
    assert [(e.id, e.type, round(e.time.timestamp(), 3)) for e in got.events] == [
        (e.id, e.type, round(e.time.timestamp(), 3)) for e in want.events
    ]
    assert [(o.id, o.status, o.name, o.parent_id) for o in got.ops.values()] == [
        (o.id, o.status, o.name, o.parent_id) for o in want.ops.values()
    ]


def test_validate_refuses_a_bad_export_before_a_debugger_attaches():
    BACKEND.validate(fixture("order-1"), "order-1.json")
    doc = fixture("order-1")
    doc["NextMarker"] = "9"
    with pytest.raises(HistoryFormatError, match=r"order-1\.json: the export stops at a page boundary"):
        BACKEND.validate(doc, "order-1.json")


def test_exporting_from_the_service_joins_every_page_in_wire_format(tmp_path: Path):
    """export.from_service through a real botocore client whose HTTP layer is botocore's own
    Stubber: two pages of GetDurableExecutionHistory, parsed responses with datetimes."""
    import botocore.session as botocore_session
    from botocore.stub import Stubber

    from replaytest.backends.aws import export

    wire = fixture("order-1")
    client = botocore_session.get_session().create_client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )

    def parsed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return retimed(events, as_datetime)

    arn = wire["DurableExecutionArn"]
    with Stubber(client) as stub:
        stub.add_response(
            "get_durable_execution_history",
            {"Events": parsed(wire["Events"][:10]), "NextMarker": "10"},
            {"DurableExecutionArn": arn, "IncludeExecutionData": True},
        )
        stub.add_response(
            "get_durable_execution_history",
            {"Events": parsed(wire["Events"][10:])},
            {"DurableExecutionArn": arn, "IncludeExecutionData": True, "Marker": "10"},
        )
        doc = export.from_service(client, arn, sdk_version="3.0.0")
        stub.assert_no_pending_responses()
    path = export.save(doc, tmp_path / "order-1.json")
    reread = json.loads(path.read_text())
    assert reread == {"DurableExecutionArn": arn, "SdkVersion": "3.0.0", "Events": wire["Events"]}
    assert BACKEND.entries(path, reread)[0].workflow_type == "orders"


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
def test_fixtures_have_the_shape_of_the_lambda_api(name):
    """Every recorded fixture passes botocore's model of GetDurableExecutionHistory's output
    (field names, required members, types), timestamps as the epoch seconds the API sends."""
    import botocore.session as botocore_session
    from botocore.validate import ParamValidator

    doc = fixture(name)
    client = botocore_session.get_session().create_client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    shape = client.meta.service_model.operation_model("GetDurableExecutionHistory").output_shape
    assert all(isinstance(e["EventTimestamp"], float | int) for e in doc["Events"])
    events = retimed(doc["Events"], as_datetime)
    report = ParamValidator().validate({"Events": events}, shape)
    assert not report.has_errors(), report.generate_report()
