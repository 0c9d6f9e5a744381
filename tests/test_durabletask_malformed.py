"""What the fuzzer found in Durable Task histories (bench/fuzz_histories.py --format
durabletask): each is now one verdict, never "internal error".

- A payload the SDK decodes as JSON (an execution's input, a task's result) that is not JSON
  text: a HistoryFormatError naming the file and the event.
- ``--handler NAME=MODULE:ATTR`` is shared by AWS (NAME: a Lambda function) and Durable Task
  (NAME: an orchestrator): an AWS ``@durable_execution`` handler named for a Lambda function
  called like an orchestrator is not taken for that orchestrator.

Real recorded histories (the SDK's in-memory backend), replayed through the seam."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from replaytest.backends import ReplaySettings, Sessions, backend_for, replay_entry
from replaytest.history import HistoryFormatError
from replaytest.report import ReplayResult
from replaytest.report.divergence import UnknownWorkflowError
from tests.dt_orchestrators import shop

pytest_plugins = ["tests.dt_fixtures"]


def _replay(doc: Any, handlers: list[str] = (), modules: list[Any] = (shop,)) -> ReplayResult:  # type: ignore[assignment]
    settings = ReplaySettings(list(modules), backend_options={"durabletask": {"handlers": list(handlers)}})
    with Sessions(settings) as sessions:
        entry = backend_for(doc, "h.json").entries(Path("h.json"), doc)[0]
        return replay_entry(entry, doc, settings, sessions, "h.json")


def _export(dt_histories: Path, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((dt_histories / "export" / f"{name}.json").read_text())
    return doc


@pytest.mark.parametrize(
    "event_type, field, value, where",
    [
        ("ExecutionStartedEvent", "input", "{not json", "history event 2 (ExecutionStarted)"),
        ("TaskCompletedEvent", "result", "[1,", "history event 6 (TaskCompleted)"),
    ],
)
def test_a_payload_that_is_not_json_is_a_history_format_error(
    dt_histories: Path, event_type: str, field: str, value: str, where: str
) -> None:
    doc = copy.deepcopy(_export(dt_histories, "order-1"))
    event = next(e for e in doc["events"] if e["event_type"] == event_type)
    event[field] = value
    with pytest.raises(HistoryFormatError) as caught:
        _replay(doc)
    text = str(caught.value)
    assert text.startswith(f"h.json: {where}: ") and "not JSON" in text, text


def test_an_aws_handler_named_like_an_orchestrator_is_not_taken_for_it(dt_histories: Path) -> None:
    doc = _export(dt_histories, "batch-1")  # orchestrator "batch"; tests/aws_handlers/batch.py is a Lambda's
    result = _replay(doc, ["batch=tests.aws_handlers.batch:handler"])
    assert result.status == "completed" and result.output == ["pen ready", "ink ready"]
    with pytest.raises(UnknownWorkflowError) as caught:  # and it is never the only candidate either
        _replay(doc, ["batch=tests.aws_handlers.batch:handler"], modules=[])
    assert "batch=tests.aws_handlers.batch:handler is not a Durable Task orchestrator" in str(caught.value)
