"""The exported sample histories: schema-valid, replayable, and up to date with the code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from fixtures.workflows import engine_checks, onboarding, orders, payments
from replaytest import History, HistoryFormatError, WorkflowTaskError, replay
from replaytest.history import schema
from tests.conftest import ROOT

HISTORIES = sorted((ROOT / "fixtures" / "histories").glob("*.json"))
SAMPLES = [orders, onboarding, payments]


def test_the_fixture_set_is_there() -> None:
    assert [p.stem for p in HISTORIES] == ["onboarding-7", "order-42", "order-43", "order-44", "payment-3"]


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
def test_fixture_validates_against_the_schema_and_replays_cleanly(path: Path) -> None:
    jsonschema.Draft202012Validator(schema()).validate(json.loads(path.read_text()))
    history = History.load(path)
    result = replay(history, SAMPLES)  # the default (strict) sandbox
    assert result.status == history.status and not result.warnings


def test_the_stuck_order_reproduces_its_failure_with_the_code_before_the_hotfix() -> None:
    with pytest.raises(WorkflowTaskError, match="ZeroDivisionError"):
        replay(
            History.load(ROOT / "fixtures" / "histories" / "order-44.json"), [engine_checks.process_order_before_hotfix]
        )


@pytest.mark.parametrize(
    "corrupt, pointer",
    [
        (lambda d: d["events"][0]["attrs"].pop("seed"), "/events/0/attrs"),
        (lambda d: d["events"][4].update(type="ActivityTaskExploded"), "/events/4/type"),
        (lambda d: d["events"][5]["attrs"].update(attempt=0), "/events/5/attrs/attempt"),
        (lambda d: d["events"][1].update(time="yesterday"), "/events/1/time"),
    ],
)
def test_the_schema_rejects_a_corrupted_copy(tmp_path: Path, corrupt, pointer: str) -> None:
    doc = json.loads((ROOT / "fixtures" / "histories" / "order-42.json").read_text())
    corrupt(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema()).validate(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(HistoryFormatError, match=pointer):
        History.load(bad)


def test_export_script_regenerates_the_same_histories(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "scripts/export_fixtures.py", "-o", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for committed in HISTORIES:
        fresh, old = History.load(tmp_path / committed.name), History.load(committed)
        assert [(e.id, e.time, e.type) for e in fresh.events] == [(e.id, e.time, e.type) for e in old.events]
        assert fresh.started == old.started
