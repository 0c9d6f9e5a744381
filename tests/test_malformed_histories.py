"""Every malformed Temporal, AWS or native file is one clear line: a HistoryFormatError naming
the file, the event and the field, never "internal error" and never a traceback that stops
the run; and no value of a file is echoed whole (a multi-megabyte field is cut, and refused
before anything compares it).

The files are real recorded histories (a real Temporal dev server's, the AWS testing SDK's,
replaytest's own) with one defect each, replayed by the real ``replaytest replay`` in one run,
and loaded through the seam in this process."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from replaytest.backends import backend_for
from replaytest.history import HistoryFormatError, parse_json
from tests.conftest import ROOT

Doc = dict[str, Any]
BIG = 5_000_000  # characters: enough to show a value is not echoed whole, cheap to write


def _edit(fn: Callable[[Doc], Any]) -> Callable[[Doc], str]:
    def make(base: Doc) -> str:
        doc = copy.deepcopy(base)
        fn(doc)
        return json.dumps(doc)

    return make


def _nest(base: Doc, put: Callable[[Doc], None], depth: int) -> str:
    doc = copy.deepcopy(base)
    put(doc)
    return json.dumps(doc).replace('"__NEST__"', '{"a": ' * depth + "1" + "}" * depth, 1)


def _set(path: list[Any], value: Any) -> Callable[[Doc], None]:
    def put(doc: Doc) -> None:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return put


_START = ["events", 0, "workflowExecutionStartedEventAttributes"]
_SCHEDULED = ["events", 4, "activityTaskScheduledEventAttributes"]

#: name → (the file's text from the recorded history, what its one line must say after "FILE: ")
TEMPORAL: dict[str, tuple[Callable[[Doc], str], str]] = {
    "t-event-null.json": (_edit(_set(["events", 4], None)), "event 5: is null; every event of a history is an object"),
    "t-event-list.json": (_edit(_set(["events", 4], [1])), "event 5: is a list"),
    "t-event-string.json": (_edit(_set(["events", 4], "x")), "event 5: is a string"),
    "t-event-number.json": (_edit(_set(["events", 4], 7)), "event 5: is a number"),
    "t-metadata.json": (
        _edit(_set([*_START, "input", "payloads", 0, "metadata"], "x")),
        "event 1: workflowExecutionStartedEventAttributes.input.payloads[0].metadata is a string",
    ),
    "t-deep.json": (
        lambda base: _nest(base, _set([*_SCHEDULED, "header"], "__NEST__"), 970),
        "event 5: activityTaskScheduledEventAttributes.header.a.a",
    ),
    "t-surrogate-key.json": (
        _edit(_set([*_SCHEDULED, "\ud800\u0000"], 1)),
        "event 5: activityTaskScheduledEventAttributes has a key with a lone surrogate",
    ),
    "t-surrogate-enum.json": (
        _edit(_set(["events", 4, "eventType"], "\ud800\u0000")),
        "event 5: eventType holds a lone surrogate",
    ),
    "t-huge-number.json": (
        lambda base: _edit(_set(["events", 4, "taskId"], "__BIG__"))(base).replace('"__BIG__"', "9" * 4300),
        "event 5: taskId is a number of 4,300 digits",
    ),
    "t-huge-type.json": (_edit(_set(["events", 4, "eventType"], "E" * BIG)), "event 5: unknown event type 'EEE"),
}

_STEP = ["Events", 1]
_DONE = ["Events", 2, "StepSucceededDetails"]
AWS: dict[str, tuple[Callable[[Doc], str], str]] = {
    "a-type-list.json": (
        _edit(_set([*_STEP, "EventType"], ["StepStarted"])),
        'event 2: unknown EventType ["StepStarted"]',
    ),
    "a-type-object.json": (_edit(_set([*_STEP, "EventType"], {"a": 1})), 'event 2: unknown EventType {"a": 1}'),
    "a-parent-list.json": (
        _edit(_set([*_STEP, "ParentId"], ["x"])),
        "event 2 (StepStarted): ParentId is a list; it must be a string",
    ),
    "a-parent-object.json": (
        _edit(_set([*_STEP, "ParentId"], {"x": 1})),
        "event 2 (StepStarted): ParentId is an object",
    ),
    "a-result.json": (
        _edit(_set([*_DONE, "Result"], "x")),
        "event 3 (StepSucceeded): StepSucceededDetails.Result is a string",
    ),
    "a-error.json": (
        _edit(_set([*_DONE, "Error"], 5)),
        "event 3 (StepSucceeded): StepSucceededDetails.Error is a number",
    ),
    "a-input.json": (
        _edit(_set(["Events", 0, "ExecutionStartedDetails", "Input"], [1])),
        "event 1 (ExecutionStarted): ExecutionStartedDetails.Input is a list",
    ),
    "a-input-not-json.json": (
        _edit(_set(["Events", 0, "ExecutionStartedDetails", "Input", "Payload"], "{not json")),
        "event 1 (ExecutionStarted): ExecutionStartedDetails.Input.Payload is not JSON",
    ),
    "a-deep.json": (
        _edit(_set(["Events", 0, "ExecutionStartedDetails", "Input", "Payload"], "[" * 990 + "]" * 990)),
        "event 1 (ExecutionStarted): ExecutionStartedDetails.Input.Payload ",
    ),
    "a-surrogate-id.json": (
        _edit(_set(["Events", 0, "Id"], "\ud800\u0000")),
        "event 1 (ExecutionStarted): Id holds a lone surrogate",
    ),
    "a-huge-subtype.json": (
        _edit(_set([*_STEP, "SubType"], "S" * BIG)),
        "event 2 (StepStarted): SubType is 5,000,000 characters long",
    ),
}


def _failed_without_details(base: Doc) -> str:
    doc = copy.deepcopy(base)
    last = doc["Events"][-1]
    assert last["EventType"] == "ExecutionSucceeded"
    doc["Events"][-1] = {k: v for k, v in last.items() if k != "ExecutionSucceededDetails"}
    doc["Events"][-1]["EventType"] = "ExecutionFailed"
    return json.dumps(doc)


AWS["a-failed-no-details.json"] = (
    _failed_without_details,
    "event 18 (ExecutionFailed): ExecutionFailedDetails.Error.Payload is missing",
)

NATIVE: dict[str, tuple[Callable[[Doc], str], str]] = {
    "n-deep-list.json": (lambda base: "[" * 990 + "]" * 990, ""),
    "n-deep-events.json": (lambda base: '{"events": ' + "[" * 990 + "]" * 990 + "}", ""),
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, temporal_histories: Path) -> Path:
    out = tmp_path_factory.mktemp("malformed")
    bases = {
        "t": json.loads((temporal_histories / "cli" / "order-1.json").read_text()),
        "a": json.loads((ROOT / "tests" / "data" / "aws" / "order-1.json").read_text()),
        "n": json.loads((ROOT / "fixtures" / "histories" / "order-42.json").read_text()),
    }
    for name, (make, _) in {**TEMPORAL, **AWS, **NATIVE}.items():
        (out / name).write_text(make(bases[name[0]]))
    return out


CASES = {**TEMPORAL, **AWS, **NATIVE}


def test_the_cli_says_one_line_per_malformed_file_and_replays_the_rest(files: Path) -> None:
    good = files / "z-good.json"
    good.write_text((ROOT / "fixtures" / "histories" / "order-42.json").read_text())
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "replaytest",
            "replay",
            str(files),
            *("--module", "fixtures.workflows.orders", "--module", "fixtures.temporal.orders"),
            *("--handler", "tests.aws_handlers.orders:handler"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = r.stdout.splitlines()
    assert "Traceback" not in r.stderr and "internal error" not in r.stdout, r.stdout + r.stderr
    for name, (_, why) in CASES.items():
        [line] = [line for line in lines if f"/{name}" in line]
        assert line.startswith(f"FAIL  {files}/{name}: {why}") or ("deep" in name and "too deeply" in line), line
        assert len(line) < 1200, f"{name}: a {len(line)}-character line"
    assert any(line.startswith(f"ok    {good}: order-42") for line in lines)
    assert lines[-1] == (
        f"1 history replayed: 1 ok, 0 failed; {len(CASES)} files not replayed: not a usable history (FAIL above)"
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_loading_through_the_seam_is_a_history_format_error_naming_the_event(files: Path, name: str) -> None:
    with pytest.raises(HistoryFormatError) as caught:  # the native deep files may stop while parsing
        doc = parse_json((files / name).read_bytes(), source=name)
        backend_for(doc, name).validate(doc, name)
    text = str(caught.value)
    # how deep Python's JSON reader goes depends on the stack it starts on: at pytest's depth a
    # file ~970 levels deep may already stop there, at its line and column
    assert text.startswith(f"{name}: {CASES[name][1]}") or ("deep" in name and "nested too deeply" in text), text
    assert len(text) < 1200
