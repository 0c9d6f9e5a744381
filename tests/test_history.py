"""The history format (history/io.py, model.py, schema.py): loading, validation errors that point
at the problem, round trips; JSON that Python accepts but JSON does not, nesting and huge numbers,
a FIFO or a device, a file over the size limit -- each one clear invalid-history line."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replaytest import History, HistoryFormatError
from replaytest.history import Event, format_time, schema, validate
from tests.conftest import ROOT
from tests.test_history_consistency import HISTORIES, MODULES, VERDICTS, cli, doc_of, verdict, write

DATA = Path(__file__).parent / "data"
SMOKE = DATA / "smoke-w1.json"


def smoke_doc() -> dict:
    return json.loads(SMOKE.read_text())


def test_load_reads_identity_from_the_started_event() -> None:
    h = History.load(SMOKE)
    assert (h.workflow_id, h.workflow_type, h.status) == ("w1", "flow", "completed")
    assert len(h) == 27 and h.events[0].type == "WorkflowExecutionStarted"


def test_save_writes_one_event_per_line_and_round_trips(tmp_path: Path) -> None:
    h = History.load(SMOKE)
    out = h.save(tmp_path / "sub" / "h.json")
    lines = out.read_text().splitlines()
    assert len(lines) == len(h) + 2  # header line, one line per event, closing line
    assert History.load(out).to_dict() == h.to_dict()


@pytest.mark.parametrize(
    "content, where, reason",
    [
        (b"", "", "the file is empty"),
        (b"   \n", "", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "", "binary file"),
        (b"\xff\xfe{", "byte 0", "not UTF-8"),
        (b'{"format": "replaytest.history", "version": 1, "events": [', "line 1 column", "looks truncated"),
        (b'{"format": "replaytest.history",, }', "line 1 column 33", "invalid JSON"),
        (b"[1, 2]", "top level", "is not of type 'object'"),
        (b'{"format": "other", "version": 1, "events": []}', "/format", "is this a replaytest history"),
        (b'{"events": [{"eventId": "1", "eventType": "WorkflowExecutionStarted"}]}', "/events/0", "Temporal history"),
    ],
)
def test_malformed_files_name_the_place_and_the_reason(tmp_path: Path, content: bytes, where: str, reason: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(HistoryFormatError) as info:
        History.load(path)
    assert info.value.source == str(path)
    assert where in info.value.where
    assert reason in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryFormatError, match="cannot read the file"):
        History.load(tmp_path / "nope.json")


def test_newer_format_version_is_refused_naming_both_versions() -> None:
    doc = smoke_doc()
    doc["version"] = 2
    with pytest.raises(HistoryFormatError, match=r"/version: format version 2 .* reads version 1"):
        History.from_dict(doc, "h.json")


@pytest.mark.parametrize(
    "corrupt, pointer",
    [
        (lambda d: d["events"][0]["attrs"].pop("seed"), "/events/0/attrs"),
        (lambda d: d["events"][0]["attrs"].__setitem__("seed", "x"), "/events/0/attrs/seed"),
        (lambda d: d["events"][4]["attrs"].pop("activity_type"), "/events/4/attrs"),
        (lambda d: d["events"][19]["attrs"].__setitem__("duration", -1), "/events/19/attrs/duration"),
        (lambda d: d["events"][3].__setitem__("type", "WorkflowTaskExploded"), "/events/3/type"),
        (lambda d: d["events"][5].__setitem__("time", "yesterday"), "/events/5/time"),
        (lambda d: d["events"][6].__setitem__("id", 9), "/events/6/id"),
        (lambda d: d["events"].insert(0, d["events"].pop(2)), "/events/0/type"),
    ],
)
def test_schema_and_ids_reject_corrupted_copies(corrupt, pointer: str) -> None:
    doc = smoke_doc()
    corrupt(doc)
    with pytest.raises(HistoryFormatError) as info:
        History.from_dict(doc, "h.json")
    assert info.value.where == pointer


def test_valid_histories_load_through_the_typed_structs_not_the_schema_fallback() -> None:
    from replaytest.history import typed

    paths = [SMOKE, *sorted((Path(__file__).parent.parent / "fixtures" / "histories").glob("*.json"))]
    for path in paths:
        assert typed.decode(path.read_bytes()) is not None, path
        assert typed.convert(json.loads(path.read_text())) is not None, path


def test_a_repeated_key_is_refused_by_every_way_of_loading(tmp_path: Path) -> None:
    text = SMOKE.read_text().replace('"run_id": "r1"', '"run_id": "r1", "run_id": "r2"', 1)
    assert text != SMOKE.read_text()
    with pytest.raises(HistoryFormatError, match=r"key 'run_id' appears twice") as info:
        History.from_json(text.encode(), "h.json")
    assert info.value.where == "/events/0/attrs"


@pytest.mark.parametrize(
    "old, new, where",
    [
        ('"version": 1,', '"version": 1, "version": 1,', "top level"),
        ('{"id": 2, ', '{"id": 2, "id": 2, ', "/events/1"),
        (
            '"time": "2026-01-01T00:00:00.000Z", "type": "WorkflowTaskScheduled"',
            '"time": "2026-01-01T00:00:00.000Z", "time": "2026-01-01T00:00:00.000Z", "type": "WorkflowTaskScheduled"',
            "/events/1",
        ),
        ('"input": [{"n": 3}], "seed"', '"input": [{"n": 3, "n": 3}], "seed"', "/events/0/attrs/input/0"),
        ('"maximum_attempts": 0,', '"maximum_attempts": 0, "maximum_attempts": 0,', "/events/4/attrs/retry_policy"),
    ],
)
def test_a_repeated_key_at_any_depth_is_refused_where_it_is(old: str, new: str, where: str) -> None:
    """The one decode counts the colons of the attrs it encodes again and adds the keys it does
    not (each event's four, the file's three, and each time's two colons): a key repeated at
    any of those levels still shows, with the same value or another."""
    text = SMOKE.read_text().replace(old, new, 1)
    assert text != SMOKE.read_text()
    with pytest.raises(HistoryFormatError, match=r"appears twice") as info:
        History.from_json(text.encode(), "h.json")
    assert info.value.where == where


def test_keys_the_schema_does_not_name_are_kept_by_the_one_decode() -> None:
    """attrs are open in the schema: a key it does not name (colons in its value, nested objects)
    loads through the typed decode, not the fallback, and stays in the event."""
    from replaytest.history import typed

    extra = ', "note": {"a:b": "c: d", "deep": [{"x": ":"}]}'
    text = SMOKE.read_text().replace('"seed": 7}', '"seed": 7' + extra + "}", 1)
    decoded = typed.decode(text.encode())
    assert decoded is not None
    assert decoded[0][0].attrs["note"] == {"a:b": "c: d", "deep": [{"x": ":"}]}
    assert History.from_json(text.encode(), "h.json").started["note"]["a:b"] == "c: d"


def test_every_fixture_history_validates() -> None:
    paths = sorted((Path(__file__).parent.parent / "fixtures" / "histories").glob("*.json"))
    for path in paths:
        validate(json.loads(path.read_text()), str(path))
    assert paths, "fixtures/histories/ has no histories; run scripts/export_fixtures.py"


def test_schema_is_draft_2020_12_and_names_every_event_type() -> None:
    s = schema()
    assert s["$schema"].endswith("2020-12/schema")
    types = set(s["$defs"]["event"]["properties"]["type"]["enum"])
    assert {
        "WorkflowExecutionStarted",
        "ActivityTaskScheduled",
        "TimerFired",
        "MarkerRecorded",
        "WorkflowTaskFailed",
    } <= types


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    inputs=st.lists(json_values, max_size=3),
    results=st.lists(json_values, min_size=1, max_size=5),
    seed=st.integers(0, 2**62),
)
def test_any_json_payloads_round_trip_through_a_saved_history(inputs, results, seed) -> None:
    t = format_time(__import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").timezone.utc))
    events = [
        Event(
            1,
            t,
            "WorkflowExecutionStarted",
            {"workflow_type": "w", "workflow_id": "id", "run_id": "r", "input": inputs, "seed": seed},
        )
    ]
    events += [
        Event(2, t, "WorkflowTaskScheduled", {"attempt": 1}),
        Event(3, t, "WorkflowTaskStarted", {"scheduled_event_id": 2}),
        Event(4, t, "WorkflowTaskCompleted", {"started_event_id": 3}),
    ]  # markers are commands of a task
    for i, r in enumerate(results, start=1):
        events.append(
            Event(len(events) + 1, t, "MarkerRecorded", {"marker_name": "side_effect", "marker_id": str(i), "value": r})
        )
    h = History(events)
    back = History.from_json(h.to_json())
    assert back.to_dict() == json.loads(json.dumps(h.to_dict()))


ODD = [
    None,
    True,
    False,
    0,
    -1,
    1,
    1.0,
    1.5,
    2**70,
    "",
    "x",
    "1",
    [],
    [1],
    {},
    {"a": 1},
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.000Z\n",
    "patch",
    "side_effect",
    "WorkflowExecutionStarted",
    "TimerStarted",
    "Bogus",
]


def _paths(doc, prefix=()):
    yield prefix
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        yield from _paths(v, prefix + (k,))


def _corrupted(data: st.DataObject) -> dict:
    doc = smoke_doc()
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(doc))[1:]))
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            # a copy: a shared [] or {} from ODD would carry one example's edits into the next
            parent[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(ODD)))
    return doc


def _integral_floats_as_ints(doc):
    """``1.0`` → ``1`` everywhere: a valid integer written as a float is left to jsonschema."""
    if isinstance(doc, float) and doc.is_integer():
        return int(doc)
    if isinstance(doc, dict):
        return {k: _integral_floats_as_ints(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_integral_floats_as_ints(v) for v in doc]
    return doc


def _has_huge_int(doc) -> bool:
    if isinstance(doc, int) and not isinstance(doc, bool):
        return abs(doc) >= 2**63
    items = doc.values() if isinstance(doc, dict) else doc if isinstance(doc, list) else ()
    return any(_has_huge_int(v) for v in items)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_typed_structs_agree_with_jsonschema_on_corrupted_histories(data) -> None:
    """The typed structs decide most loads: they accept only what the published schema accepts,
    and all of it but integers written as floats or beyond 64 bits (left to jsonschema)."""
    from replaytest.history import typed
    from replaytest.history.schema import _validator

    doc = _corrupted(data)
    for candidate in (doc, _integral_floats_as_ints(doc)):
        valid = _validator().is_valid(candidate)
        decided = [typed.convert(candidate) is not None, typed.decode(json.dumps(candidate).encode()) is not None]
        if any(decided):
            assert valid
        if candidate is not doc and not _has_huge_int(candidate):
            assert decided == [valid, valid]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_a_corrupted_history_loads_or_fails_as_the_schema_alone_decides(data) -> None:
    """Whichever way a file is read (bytes, parsed document), the verdict and the message are the
    ones jsonschema and the consistency checks give on their own."""
    from replaytest.history.consistency import check_consistency
    from replaytest.history.schema import checked_events

    doc = _corrupted(data)

    def outcome(load) -> object:
        try:
            return load().to_dict()
        except HistoryFormatError as e:
            return str(e)

    def by_schema_alone() -> History:
        events, _ = checked_events(doc, "h.json", fast=False)
        check_consistency(events, "h.json")
        return History(events, "h.json")

    expected = outcome(by_schema_alone)
    assert outcome(lambda: History.from_json(json.dumps(doc), "h.json")) == expected
    assert outcome(lambda: History.from_dict(copy.deepcopy(doc), "h.json")) == expected


# ---------------------------------------------------------------------------- what json.loads refuses; not a file; too big
@pytest.mark.parametrize(
    "old, new, where",
    [
        ('"initial_interval": 1.0', '"initial_interval": NaN', "line 6"),
        ('"start_to_close_timeout": 10.0', '"start_to_close_timeout": Infinity', "line 6"),
        ('"backoff_coefficient": 2.0', '"backoff_coefficient": -Infinity', "line 6"),
        (
            '"workflow_type": "process_order"',
            '"workflow_type": "shadow", "workflow_type": "process_order"',
            "/events/0/attrs",
        ),
        ('"result": 34.99', '"result": 1, "result": 34.99', "/events/6/attrs"),
    ],
)
def test_json_that_python_accepts_but_json_does_not_is_an_invalid_history(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    text = (HISTORIES / "order-42.json").read_text(encoding="utf-8")
    assert old in text
    error = verdict(write(tmp_path / "h.json", text.replace(old, new, 1)))
    assert isinstance(error, HistoryFormatError), repr(error)
    assert error.where.startswith(where), str(error)


@pytest.mark.parametrize(
    "text, where",
    [
        ("[" * 5000 + "]" * 5000, "line 1 column"),
        ('{"format": "replaytest.history", "version": 1, "events": ' + "[" * 100000, "line 1 column"),
        (json.dumps(doc_of()).replace('"seed": 42', '"seed": ' + "9" * 5000), "line 1 column"),
        (json.dumps(doc_of()).replace('"result": 34.99', '"result": ' + "[" * 900 + "]" * 900), ""),
        (
            json.dumps(doc_of())
            .replace('"seed": 42', '"seed": 1, "seed": 42')
            .replace('"result": 34.99', '"result": ' + "[" * 5000),
            "",
        ),
    ],
)
def test_nesting_and_huge_numbers_are_invalid_histories(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path / "h.json", text)
    error = verdict(path)
    assert isinstance(error, VERDICTS), repr(error)
    if isinstance(error, HistoryFormatError):
        assert error.where.startswith(where) and str(path) in str(error)
    done = cli("replay", str(path), *MODULES)
    assert "Traceback" not in done.stderr and "RecursionError" not in done.stdout and "ValueError" not in done.stdout


@contextlib.contextmanager
def hang_guard(seconds: int) -> Iterator[None]:
    """Turn a hang into a failure (a read that never returns), not a stuck suite."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # an unbounded read of /dev/zero stops at 1 GB


def test_a_fifo_and_a_device_are_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with hang_guard(20), pytest.raises(HistoryFormatError, match="not a regular file"):
        History.load(fifo)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "replaytest",
            "replay",
            str(fifo),
            "/dev/zero",
            str(HISTORIES / "order-42.json"),
            *MODULES,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=60,
        preexec_fn=_limit_memory,
    )
    assert f"FAIL  {fifo}: not a regular file" in done.stdout and "FAIL  /dev/zero: not a regular file" in done.stdout
    assert "1 history replayed: 1 ok, 0 failed; 2 files not replayed: not a usable history" in done.stdout


def test_a_fifo_under_a_replay_directory_fails_alone(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    (pytester.path / "h").mkdir()
    shutil.copy(HISTORIES / "order-42.json", pytester.path / "h")
    os.mkfifo(pytester.path / "h" / "pipe.json")
    result = pytester.runpytest_subprocess(
        "--replay", "h", "--replay-module", "fixtures.workflows.orders", "-p", "no:cacheprovider", timeout=120
    )
    assert result.ret in (0, 1) and "INTERNALERROR" not in result.stdout.str()
    assert result.parseoutcomes().get("passed") == 1


def test_a_history_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = HISTORIES / "order-42.json"
    monkeypatch.setenv("REPLAYTEST_MAX_HISTORY_MB", "0.001")
    with pytest.raises(HistoryFormatError, match="REPLAYTEST_MAX_HISTORY_MB"):
        History.load(path)
    monkeypatch.setenv("REPLAYTEST_MAX_HISTORY_MB", "1")
    assert len(History.load(path)) == 23
    done = cli("replay", str(path), *MODULES, env={"REPLAYTEST_MAX_HISTORY_MB": "0.001"})
    assert done.returncode == 1 and "larger than the limit" in done.stdout and "Traceback" not in done.stderr


# keys as JSON text: some spelled with escapes ("\u0061" is "a", "\u003a" a colon)
json_keys = st.sampled_from(['"a"', '"b"', '":"', '"a:b"', '"\\u0061"', '"a\\u003a"', '"a:"']) | st.text(
    max_size=4
).map(json.dumps)
json_texts = st.recursive(
    st.sampled_from(["null", "true", "1", "-0", "1.5e3", "123456789012345678901234567890", '"x:y"', '"\\u003a"']),
    lambda children: (
        st.lists(children, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]")
        | st.lists(st.tuples(json_keys, children), max_size=3).map(
            lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}"
        )
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(json_texts)
def test_parse_json_reads_what_json_loads_reads_and_refuses_every_repeated_key(text: str) -> None:
    """parse_json reads the values json.loads reads, and refuses a repeated key anywhere,
    however its colons and escapes fall (what a faster reader would have to keep)."""
    from replaytest.history import parse_json

    def pairs(kvs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in kvs}) != len(kvs):
            raise KeyError("repeated")
        return dict(kvs)

    try:
        expected: Any = json.loads(text, object_pairs_hook=pairs)
    except KeyError:
        with pytest.raises(HistoryFormatError, match="appears twice in one object"):
            parse_json(text.encode(), "h.json")
        return
    assert parse_json(text.encode(), "h.json") == expected
