"""The durabletask internals the backend relies on (all named in ``_sdk.py``) still exist in
the installed SDK, and events reach the SDK's executor exactly as ``ParseDict`` would build them."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb
from google.protobuf import json_format

from replaytest.backends.durabletask import _sdk
from replaytest.backends.durabletask import history as dt_history

pytest_plugins = ["tests.dt_fixtures"]


@pytest.mark.parametrize(("owner", "name"), _sdk.PRIVATE_NAMES)
def test_each_private_name_still_exists(owner: str, name: str) -> None:
    if owner == "ctx":
        _, ctx = _sdk.new_run("i", "o", lambda c, i: None)
        assert hasattr(ctx, name), f"_RuntimeOrchestrationContext has no {name} any more"
        return
    if owner == "RetryableTask":
        from durabletask import task

        assert name in task.RetryableTask.__init__.__code__.co_names or hasattr(task.RetryableTask, name)
        return
    _, _, attr = owner.partition(".worker.")
    module = importlib.import_module("durabletask.worker" if attr else owner)
    obj = getattr(module, attr) if attr else module
    assert hasattr(obj, name), f"{owner} has no {name} any more"


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
