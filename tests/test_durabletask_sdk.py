"""Events reach the SDK's executor exactly as ``ParseDict`` would build them (the private names
``_sdk.py`` touches are resolved one by one in tests/test_sdk_names.py)."""

from __future__ import annotations

from pathlib import Path

from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import json_format

from replaytest.backends.durabletask import _sdk
from replaytest.backends.durabletask import history as dt_history

pytest_plugins = ["tests.dt_fixtures"]


def test_the_installed_sdk_is_the_pinned_minor_version() -> None:
    assert _sdk.SDK_VERSION.startswith("1.12."), _sdk.SDK_VERSION


def test_events_are_built_as_parse_dict_builds_them(dt_histories: Path) -> None:
    seen = set()
    for path in [*dt_histories.glob("export/*"), *dt_histories.glob("proto/*.json")]:
        h = dt_history.load(dt_history.decode_bytes(path.read_bytes(), str(path)), str(path))
        for e in h.events:
            doc = {"eventId": e.seq, e.kind: e.data}
            if e.time is not None:
                doc["timestamp"] = e.time.isoformat().replace("+00:00", "Z")
            expected = json_format.ParseDict(doc, pb.HistoryEvent(), ignore_unknown_fields=True)
            assert _sdk.to_pb(e) == expected, (path.name, e.pos)
            seen.add(e.kind)
    assert {"taskFailed", "executionCompleted", "timerFired", "subOrchestrationInstanceCreated"} <= seen
