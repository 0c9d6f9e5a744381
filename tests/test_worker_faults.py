"""Issue 19, items 10-12: nothing a workflow does and nothing done to the database file takes
a worker down silently. A busy loop is a "potential deadlock" at its line (like Temporal's
deadlock detection) and the worker serves the others; KeyboardInterrupt, any BaseException and
os._exit in workflow code fail that workflow task only; a payload over the limit fails where it
is made; a database deleted under a running worker stops it with one line. Real worker
subprocesses on a real SQLite file, killed for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fixtures.workflows import hostile
from replaytest.definitions import MAX_PAYLOAD_BYTES
from replaytest.engine import Engine
from tests.conftest import ROOT

MODULE = "fixtures.workflows.hostile"
FIXTURE = Path(hostile.__file__)


def line_of(tag: str) -> int:
    for n, text in enumerate(FIXTURE.read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# line: {tag}"):
            return n
    raise AssertionError(tag)


def worker(db: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "replaytest",
            "worker",
            "--module",
            MODULE,
            "--db",
            str(db),
            "--lease-seconds",
            "2",
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    return process.communicate(timeout=30)


# ---------------------------------------------------------------------------- 11: payload limit
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


# ---------------------------------------------------------------------------- 12: database deleted
def test_deleting_the_database_under_a_running_worker_stops_it_in_one_line(db: Path) -> None:
    with Engine(db) as client:
        client.start(hostile.wait_for_go, id="waiting")
    w = worker(db)
    try:
        wait_for(lambda: _waits_for_its_signal(db))
        os.remove(db)
        w.wait(timeout=20)
    finally:
        _, err = stop(w)
    assert w.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"replaytest: error: the engine database {db} was deleted while this worker ran"), err
    assert "Traceback" not in err


def _waits_for_its_signal(db: Path) -> bool:
    """The worker has run the workflow's first task (it now waits for a signal)."""
    with Engine(db) as client:
        return any(ev.type == "WorkflowTaskCompleted" for ev in client.history("waiting").events)
