"""Work a history file needs is done once: a paged AWS export is split once for all its items
(and the pages are left as they were), and a history checked before a debugger starts is not
parsed again when it replays."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from replaytest.backends import ReplaySettings, Sessions, replay_entry
from replaytest.backends import native as native_backend
from replaytest.backends.aws import BACKEND as AWS
from replaytest.backends.aws import history as aws_history
from replaytest.history import History
from tests.aws_handlers import orders
from tests.data import smoke_workflows

DATA = Path(__file__).parent / "data"


def pages_of(doc: dict[str, Any], size: int) -> list[dict[str, Any]]:
    events = doc["Events"]
    pages = [{"Events": events[i : i + size], "NextMarker": str(i + size)} for i in range(0, len(events), size)]
    del pages[-1]["NextMarker"]
    return pages


def test_a_paged_export_is_split_once_for_its_items_and_its_pages_stay_as_they_were(tmp_path: Path) -> None:
    order, trip = (json.loads((DATA / "aws" / f"{n}.json").read_text()) for n in ("order-1", "trip-1"))
    doc = pages_of(order, 1) + pages_of(trip, 2)  # two executions, one event or two per page
    before = copy.deepcopy(doc)
    entries = AWS.entries(tmp_path / "paged.json", doc)
    assert [e.workflow_id for e in entries] == ["order-1", "trip-1"]
    split = aws_history.split_executions(doc)
    assert split is aws_history.split_executions(doc)  # every item of the file reuses it
    assert [s["Events"] for s in split] == [order["Events"], trip["Events"]]
    assert "NextMarker" not in split[0] and doc == before
    doc[0] = {**doc[0], "FunctionName": "renamed"}  # a page replaced: split again
    assert aws_history.split_executions(doc)[0]["FunctionName"] == "renamed"


@pytest.fixture
def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real_aws, real_native = aws_history.load, History.from_dict.__func__  # type: ignore[attr-defined]

    def aws_load(doc: Any, source: str) -> Any:
        seen.append("aws")
        return real_aws(doc, source)

    def native_load(cls: type[History], doc: Any, source: str) -> History:
        seen.append("native")
        loaded: History = real_native(cls, doc, source)
        return loaded

    monkeypatch.setattr(aws_history, "load", aws_load)
    monkeypatch.setattr(History, "from_dict", classmethod(native_load))
    return seen


def test_a_history_checked_before_the_debugger_starts_is_not_read_again(count_loads: list[str]) -> None:
    """What `replaytest replay --debug` does: every file is validated first, then replayed."""
    docs = [json.loads((DATA / "aws" / "order-1.json").read_text()), json.loads((DATA / "smoke-w1.json").read_text())]
    settings = ReplaySettings([orders, smoke_workflows], ["tests.aws_handlers.orders", "tests.data.smoke_workflows"])
    backends = [AWS, native_backend.BACKEND]
    for backend, doc in zip(backends, docs):
        backend.validate(doc, "h.json")
    assert count_loads == ["aws", "native"]
    with Sessions(settings) as sessions:
        for backend, doc in zip(backends, docs):
            [entry] = backend.entries(Path("h.json"), doc)
            assert replay_entry(entry, doc, settings, sessions, "h.json").status.lower() == "completed"
    assert count_loads == ["aws", "native"]
    with Sessions(settings) as sessions:  # replayed again: read again (nothing is kept past its replay)
        [entry] = AWS.entries(Path("h.json"), docs[0])
        replay_entry(entry, docs[0], settings, sessions, "h.json")
    assert count_loads == ["aws", "native", "aws"]
