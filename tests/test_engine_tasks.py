"""Workflow and activity tasks (engine/workflow_task.py, engine/activity_task.py) given hostile
workflow code and data: a bad duration, sys.exit, text SQLite cannot store, a value too big, an
exception whose str raises -- each fails its own task at the user's line, never the worker or
the workflows beside it. Real SQLite files, real worker subprocesses, the public API."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fixtures.workflows import hostile
from replaytest import PayloadError
from replaytest.definitions import MAX_PAYLOAD_BYTES
from replaytest.engine import Engine, EngineError
from tests.conftest import ROOT, run_replaytest

MODULE = "fixtures.workflows.hostile"


FIXTURE = Path(hostile.__file__)


def line_of(tag: str) -> int:
    """The line of fixtures/workflows/hostile.py marked ``# line: TAG``."""
    for n, text in enumerate(FIXTURE.read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# line: {tag}"):
            return n
    raise AssertionError(tag)


def run_beside_fine(db: Path, workflow: str) -> Engine:
    """Start ``workflow`` and ``fine`` and work until idle: must return, not raise."""
    e = Engine(db, clock="virtual").register(hostile)
    e.start(getattr(hostile, workflow), id="hostile")
    e.start(hostile.fine, id="fine")
    e.work()
    return e


def hostile_task_failure(db: Path, workflow: str) -> tuple[Engine, dict[str, Any]]:
    """``run_beside_fine``: ``fine`` completed, ``hostile`` still running with a failed
    workflow task; the engine and that failure."""
    e = run_beside_fine(db, workflow)
    assert e.describe("fine").status == "completed"
    info = e.describe("hostile")
    assert info.status == "running" and info.task_failure is not None, info
    return e, info.task_failure


@pytest.mark.parametrize(
    "workflow, words",
    [
        ("sleep_forever", "workflow.sleep duration must be a finite"),
        ("sleep_1e300", "workflow.sleep duration must be at most"),
        ("huge_retry_interval", "initial_interval must be at most"),
        ("huge_timeout", "start_to_close_timeout must be at most"),
        ("nan_backoff", "backoff_coefficient must be a finite number"),
    ],
)
def test_an_impossible_duration_fails_its_workflow_task_at_the_users_line(db: Path, workflow: str, words: str) -> None:
    _, failure = hostile_task_failure(db, workflow)
    assert failure["type"] == "ReplaytestError"
    assert words in failure["message"]
    assert failure["source"]["line"] == line_of(workflow)
    assert failure["source"]["file"].endswith("hostile.py")


def test_sleeping_century_after_century_stops_before_the_year_9999(db: Path) -> None:
    """The virtual clock jumps a century per timer; the timer that would end past the last time a
    history can hold fails its workflow task instead of moving the clock there (and killing
    every worker on the database)."""
    e, failure = hostile_task_failure(db, "centuries")
    assert "after the year 9999" in failure["message"]
    assert failure["source"]["line"] == line_of("centuries")
    assert e.now().year < 9999 and len(e.list()) == 2  # the clock stays usable
    with pytest.raises(EngineError, match="year 9999"):
        e.sleep(hostile.CENTURY)


def test_an_activity_retried_century_after_century_fails_for_good_before_the_year_9999(db: Path) -> None:
    e = run_beside_fine(db, "retries_for_centuries")
    history = e.history("hostile")
    assert e.describe("fine").status == "completed" and history.status == "failed"
    (failed,) = [ev for ev in history.events if ev.type == "ActivityTaskFailed"]
    assert "not retried: the next attempt would be due after the year 9999" in failed.attrs["failure"]["message"]


def test_sys_exit_in_workflow_code_fails_its_task_not_the_worker(db: Path) -> None:
    _, failure = hostile_task_failure(db, "exits")
    assert failure["type"] == "SystemExit"
    assert "a workflow cannot stop the worker" in failure["message"]
    assert failure["source"]["line"] == line_of("exits")


def test_sys_exit_in_workflow_code_does_not_end_a_replay_run(db: Path, tmp_path: Path) -> None:
    with Engine(db, clock="virtual").register(hostile) as e:
        e.start(hostile.exits_on, 0, id="a-exits").result()
        e.start(hostile.exits_on, 0, id="b-fine").result()
        doc = e.history("a-exits").to_dict()
        e.history("b-fine").save(tmp_path / "h" / "b-fine.json")
    doc["events"][0]["attrs"]["input"] = [3]  # the same history, but now the code calls sys.exit(3)
    (tmp_path / "h" / "a-exits.json").write_text(json.dumps(doc))
    proc = run_replaytest("replay", str(tmp_path / "h"), "--module", MODULE)
    assert proc.returncode == 1, proc.stderr
    assert "2 histories replayed: 1 ok, 1 failed" in proc.stdout
    assert "SystemExit" in proc.stdout and f"hostile.py:{line_of('exits_on')}" in proc.stdout


def test_a_worker_process_survives_an_infinite_sleep_and_runs_the_others(db: Path) -> None:
    client = Engine(db).register(hostile)
    client.start(hostile.sleep_forever, id="hostile")
    client.start(hostile.fine, id="fine")
    client.close()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "replaytest",
            "worker",
            "--module",
            MODULE,
            "--db",
            str(db),
            "--virtual-clock",
            "--until-idle",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert (
        "hostile: workflow task failed (attempt 1): ReplaytestError: workflow.sleep duration must be a finite"
        in proc.stderr
    )
    assert f"hostile.py:{line_of('sleep_forever')}" in proc.stderr
    with Engine(db) as e:
        assert e.describe("fine").status == "completed"


@pytest.mark.parametrize(
    "workflow, words",
    [
        ("returns_surrogate_value", "lone surrogate"),
        ("raises_surrogate", "bad input \\ud800"),
        ("surrogate_patch_id", "could not record"),
    ],
)
def test_text_that_is_not_unicode_fails_only_its_workflow(db: Path, workflow: str, words: str) -> None:
    e, failure = hostile_task_failure(db, workflow)
    assert words in failure["message"]
    json.dumps(e.history("hostile").to_dict(), ensure_ascii=False).encode("utf-8")  # the history stays exportable


def test_a_value_too_big_for_sqlite_fails_only_its_workflow(db: Path) -> None:
    """SQLite refuses values over its length limit (1 GB by default; 10 kB here): DataError is
    the value's fault, not the database's, so only that workflow's task fails."""
    e = Engine(db, clock="virtual").register(hostile)
    e.store.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000)
    e.start(hostile.returns_big, id="hostile")
    e.start(hostile.fine, id="fine")
    e.work()
    assert e.describe("fine").status == "completed"
    info = e.describe("hostile")
    assert info.task_failure is not None and info.task_failure["type"] == "DataError"
    assert (
        "could not record this workflow task's commands (WorkflowExecutionCompleted result="
        in info.task_failure["message"]
    )


def test_an_activity_result_too_big_for_sqlite_fails_that_activity(db: Path) -> None:
    e = Engine(db, clock="virtual").register(hostile)
    e.store.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000)
    e.start(hostile.activity_returns_big, id="hostile")
    e.start(hostile.fine, id="fine")
    e.work()
    assert e.describe("fine").status == "completed"
    assert e.get_handle("hostile").result() == "caught DataError"
    (failed,) = [ev for ev in e.history("hostile").events if ev.type == "ActivityTaskFailed"]
    assert "the engine could not record attempt 1 of activity big" in failed.attrs["failure"]["message"]


def test_an_activity_result_that_is_not_unicode_fails_the_activity_not_the_worker(db: Path) -> None:
    e = run_beside_fine(db, "activity_returns_surrogate")
    assert e.describe("fine").status == "completed"
    history = e.history("hostile")
    failed = [ev for ev in history.events if ev.type == "ActivityTaskFailed"]
    assert failed and failed[0].attrs["failure"]["type"] == "PayloadError"
    assert "lone surrogate" in failed[0].attrs["failure"]["message"]


def test_an_activity_exception_whose_str_raises_still_fails_the_attempt(db: Path) -> None:
    """Before, the pool thread died describing it: the attempt never reported back and
    ``work()`` waited for it forever."""
    import threading

    e = Engine(db, clock="virtual").register(hostile)
    e.start(hostile.activity_raises_unprintable, id="hostile")
    e.start(hostile.fine, id="fine")
    worker = threading.Thread(target=e.work, daemon=True)
    worker.start()
    worker.join(timeout=60)  # a deadlock detector, not a timing assertion: it takes well under a second
    assert not worker.is_alive(), "work() is still waiting for an attempt that will never report back"
    assert e.describe("fine").status == "completed"
    assert e.get_handle("hostile").result() == "caught Unprintable: <its __str__ raised RuntimeError>"


def test_a_signal_payload_that_is_not_unicode_is_refused(db: Path) -> None:
    e = Engine(db, clock="virtual").register(hostile)
    e.start(hostile.wait_for_go, id="w")
    with pytest.raises(PayloadError, match="lone surrogate"):
        e.signal("w", "go", {"text": "\ud800"})
    with pytest.raises(EngineError, match="signal name"):
        e.signal("w", "go\udcff", 1)
    with pytest.raises(EngineError, match="workflow id"):
        e.start(hostile.fine, id="id-\ud800")
    e.signal("w", "go", "still works")
    assert e.get_handle("w").result() == "still works"


# ---------------------------------------------------------------- issue 19 item 11: payload limit
def test_an_activity_result_over_the_payload_limit_fails_that_activity(db: Path) -> None:
    e = Engine(db, clock="virtual").register(hostile)
    e.start(hostile.activity_returns_huge, id="huge")
    e.start(hostile.fine, id="fine")
    e.work()
    assert e.describe("fine").status == "completed"
    result = e.get_handle("huge").result()
    assert result.startswith("caught PayloadError: the result of activity huge is 3.0 MB"), result
    assert f"over the payload limit of {MAX_PAYLOAD_BYTES // 2**20} MB" in result
    scheduled = [ev for ev in e.history("huge").events if ev.type.startswith("ActivityTask")]
    assert [ev.type for ev in scheduled] == ["ActivityTaskScheduled", "ActivityTaskStarted", "ActivityTaskFailed"]


def test_an_activity_argument_over_the_payload_limit_fails_the_task_at_its_line(db: Path) -> None:
    e = Engine(db, clock="virtual").register(hostile)
    e.start(hostile.sends_huge, id="huge")
    e.work()
    failure = e.describe("huge").task_failure
    assert failure is not None and failure["type"] == "PayloadError", failure
    assert failure["source"]["line"] == line_of("sends_huge") and "payload limit" in failure["message"]
