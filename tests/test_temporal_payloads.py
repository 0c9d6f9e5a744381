"""Payloads shown decoded, as a Temporal Web UI "decoded" download (and some of sdk-python's own
test histories) write them: refused only when temporalio cannot replay the history, and then
the failure says the decoded payload is why. (Shaped like sdk-python's
``test_replayer_command_reordering_backward_compatibility.json``, whose completion result is
``{"metadata": {"encoding": <base64>, "encodingDecoded": "json/plain"}, "data": "workflow-result"}``
and which temporalio replays.)"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from replaytest.backends import Entry, ReplaySettings
from replaytest.backends.temporal.replay import replay
from replaytest.history import HistoryFormatError
from replaytest.modules import import_spec
from replaytest.report import ReplayResult, WorkflowTaskError

V1 = "fixtures.temporal.versions:InvoiceWorkflow"


@pytest.fixture
def invoice(temporal_histories: Path) -> dict[str, Any]:
    return json.loads((temporal_histories / "project" / "invoice-1.json").read_text())


def run(doc: dict[str, Any]) -> Any:
    try:
        return replay(
            Entry(Path("h.json"), 0, "invoice-1", None, "temporal"),
            doc,
            ReplaySettings([import_spec(V1)]),
            display="h.json",
        )
    except Exception as e:
        return e


def payload(doc: dict[str, Any], event: int, kind: str, field: str) -> dict[str, Any]:
    return doc["events"][event - 1][f"{kind}EventAttributes"][field]["payloads"][0]


def test_a_history_temporalio_replays_is_never_refused_for_a_decoded_payload(invoice: dict[str, Any]) -> None:
    doc = copy.deepcopy(invoice)
    result = payload(doc, len(doc["events"]), "workflowExecutionCompleted", "result")
    result["metadata"]["encodingDecoded"] = "json/plain"
    result["data"] = "charge-invoice-1"  # the value, not its base64
    replayed = run(doc)
    assert isinstance(replayed, ReplayResult), replayed
    assert replayed.status == "completed"


def test_a_decoded_payload_that_breaks_replay_is_named_as_the_reason(invoice: dict[str, Any]) -> None:
    doc = copy.deepcopy(invoice)
    workflow_input = payload(doc, 1, "workflowExecutionStarted", "input")
    workflow_input["metadata"]["encodingDecoded"] = "json/plain"
    workflow_input["data"] = "invoice-11"  # reads as base64, decodes to bytes that are no JSON
    failed = run(doc)
    assert isinstance(failed, WorkflowTaskError), failed
    assert "RuntimeError: Failed decoding arguments" in str(failed)
    assert "note: event 1 holds a decoded payload: if that is why, payloads in this history are decoded" in str(failed)


def test_a_decoded_download_temporalio_cannot_read_names_the_event(invoice: dict[str, Any]) -> None:
    doc = copy.deepcopy(invoice)
    payload(doc, 5, "activityTaskScheduled", "input")["data"] = '"invoice-1"'  # quotes: no base64 at all
    failed = run(doc)
    assert isinstance(failed, HistoryFormatError), failed
    assert str(failed).startswith("h.json: event 5: payloads in this history are decoded (a Temporal Web UI download")
