"""Issue 14, items 9-13: one workflow's data never takes a worker down, and database faults
are one clear line. Real SQLite files, real worker subprocesses, the public API."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.workflows import hostile
from replaytest import PayloadError, RetryPolicy
from replaytest.engine import Engine, EngineError
from tests.conftest import ROOT

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


# ---------------------------------------------------------------------------- 9: durations
@pytest.mark.parametrize("workflow, words", [
    ("sleep_forever", "workflow.sleep duration must be a finite"),
    ("sleep_1e300", "workflow.sleep duration must be at most"),
    ("huge_retry_interval", "initial_interval must be at most"),
    ("huge_timeout", "start_to_close_timeout must be at most"),
    ("nan_backoff", "backoff_coefficient must be a finite number"),
])
def test_an_impossible_duration_fails_its_workflow_task_at_the_users_line(db: Path, workflow: str, words: str) -> None:
    e = run_beside_fine(db, workflow)
    assert e.describe("fine").status == "completed"
    info = e.describe("hostile")
    assert info.status == "running" and info.task_failure is not None, info
    assert info.task_failure["type"] == "ReplaytestError"
    assert words in info.task_failure["message"]
    assert info.task_failure["source"]["line"] == line_of(workflow)
    assert info.task_failure["source"]["file"].endswith("hostile.py")


def test_retry_delay_never_overflows_however_many_attempts() -> None:
    assert RetryPolicy().delay(5000) == 100.0
    assert RetryPolicy(initial_interval=0.5, backoff_coefficient=3, maximum_interval=7).delay(10**6) == 7.0
    assert RetryPolicy(backoff_coefficient=1.0).delay(10**6) == 1.0


def test_a_worker_process_survives_an_infinite_sleep_and_runs_the_others(db: Path) -> None:
    client = Engine(db).register(hostile)
    client.start(hostile.sleep_forever, id="hostile")
    client.start(hostile.fine, id="fine")
    client.close()
    proc = subprocess.run([sys.executable, "-m", "replaytest", "worker", "--module", MODULE, "--db", str(db),
                           "--virtual-clock", "--until-idle"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"hostile: workflow task failed (attempt 1): ReplaytestError: workflow.sleep duration must be a finite" in proc.stderr
    assert f"hostile.py:{line_of('sleep_forever')}" in proc.stderr
    with Engine(db) as e:
        assert e.describe("fine").status == "completed"


# ---------------------------------------------------------------------------- 9/13: text SQLite cannot store
@pytest.mark.parametrize("workflow, words", [
    ("returns_surrogate_value", "lone surrogate"),
    ("raises_surrogate", "bad input \\ud800"),
    ("surrogate_patch_id", "could not record"),
])
def test_text_that_is_not_unicode_fails_only_its_workflow(db: Path, workflow: str, words: str) -> None:
    e = run_beside_fine(db, workflow)
    assert e.describe("fine").status == "completed"
    info = e.describe("hostile")
    assert info.status == "running" and info.task_failure is not None
    assert words in info.task_failure["message"]
    json.dumps(e.history("hostile").to_dict(), ensure_ascii=False).encode("utf-8")  # the history stays exportable


def test_an_activity_result_that_is_not_unicode_fails_the_activity_not_the_worker(db: Path) -> None:
    e = run_beside_fine(db, "activity_returns_surrogate")
    assert e.describe("fine").status == "completed"
    history = e.history("hostile")
    failed = [ev for ev in history.events if ev.type == "ActivityTaskFailed"]
    assert failed and failed[0].attrs["failure"]["type"] == "PayloadError"
    assert "lone surrogate" in failed[0].attrs["failure"]["message"]


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


def test_cli_signal_with_a_lone_surrogate_is_one_line(cli, db: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("start", f"{MODULE}:wait_for_go", "--id", "w").returncode == 0
    proc = cli("signal", "w", "go", "--payload", '{"text": "\\ud800"}')
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "lone surrogate" in proc.stderr and "--payload" in proc.stderr
