"""Deadlock detection and workflow code that would end a worker (engine/watchdog.py,
engine/workflow_task.py; issue 19, item 10): a busy loop is a "potential deadlock" at its line
(like Temporal's deadlock detection) and the worker serves the others and answers SIGTERM;
KeyboardInterrupt, any BaseException and os._exit in workflow code fail that workflow task only,
while a real Ctrl-C still stops the worker. Real worker subprocesses on a real SQLite file,
killed for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fixtures.workflows import hostile
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


def wait_for(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    return process.communicate(timeout=30)


def history_of(db: Path, workflow_id: str) -> list[Any]:
    with Engine(db) as client:
        return client.history(workflow_id).events


def task_failure(db: Path, workflow_id: str) -> dict[str, Any] | None:
    with Engine(db) as client:
        return client.describe(workflow_id).task_failure


def test_a_busy_loop_is_a_potential_deadlock_at_its_line_and_both_workers_serve_the_others(db: Path) -> None:
    fines = [f"fine-{n}" for n in range(4)]
    with Engine(db) as client:
        client.start(hostile.busy_loop, id="busy")
        for workflow_id in fines:
            client.start(hostile.fine, id=workflow_id)
    options = ("--virtual-clock", "--deadlock-timeout", "0.5", "-q")
    workers = [worker(db, *options), worker(db, *options)]
    try:
        wait_for(lambda: all(history_of(db, f)[-1].type == "WorkflowExecutionCompleted" for f in fines))
        wait_for(lambda: task_failure(db, "busy") is not None)
        for w in workers:
            w.send_signal(signal.SIGTERM)  # the worker in the busy loop too: it is interrupted within the limit
        for w in workers:
            w.wait(timeout=20)
    finally:
        errs = [stop(w)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], errs
    failure = task_failure(db, "busy")
    assert failure is not None and failure["type"] == "PotentialDeadlock", failure
    assert failure["source"]["line"] in (line_of("busy_loop"), line_of("busy_loop") + 1), failure
    assert failure["message"].startswith("potential deadlock: workflow code ran for 0.5 s without yielding"), failure
    assert any("potential deadlock" in err for err in errs), errs


def test_keyboard_interrupt_base_exceptions_and_os_exit_in_workflow_code_fail_their_tasks_only(db: Path) -> None:
    hostile_ids = {
        "raises_keyboard_interrupt": "KeyboardInterrupt",
        "raises_base_exception": "Fatal",
        "hard_exit": "SandboxViolation",
    }
    with Engine(db) as client:
        for name in hostile_ids:
            client.start(getattr(hostile, name), id=name)
        client.start(hostile.fine, id="fine")
    w = worker(db, "--virtual-clock", "--until-idle", "-q")
    _, err = w.communicate(timeout=60)
    assert w.returncode == 0, err
    assert history_of(db, "fine")[-1].type == "WorkflowExecutionCompleted"
    for name, kind in hostile_ids.items():
        failure = task_failure(db, name)
        assert failure is not None and failure["type"] == kind, (name, failure)
        assert failure["source"]["line"] == line_of(name), (name, failure)
    assert "os._exit" in (task_failure(db, "hard_exit") or {})["message"]


def test_a_second_ctrl_c_stops_a_worker_inside_workflow_code(db: Path) -> None:
    """A real Ctrl-C is not the workflow's KeyboardInterrupt: it stops the worker, and the
    workflow's history records no failure for it."""
    with Engine(db) as client:
        client.start(hostile.busy_loop, id="busy")
    w = worker(db, "--virtual-clock", "--deadlock-timeout", "60")
    try:
        wait_for(lambda: history_of(db, "busy")[-1].type == "WorkflowTaskStarted")
        time.sleep(0.3)  # inside the loop by now
        w.send_signal(signal.SIGINT)
        time.sleep(0.3)
        w.send_signal(signal.SIGINT)
        w.wait(timeout=20)
    finally:
        _, err = stop(w)
    assert w.returncode == 130, err
    assert err.strip().splitlines()[-1] == "replaytest: interrupted"
    assert not any(e.type == "WorkflowTaskFailed" for e in history_of(db, "busy"))


LIBRARY_SCRIPT = """
import sys, tempfile, threading
from pathlib import Path
from fixtures.workflows import hostile
from replaytest.engine import Engine

e = Engine(Path(tempfile.mkdtemp()) / "e.db", clock="virtual", deadlock_timeout=0.3).register(hostile)
e.start(hostile.busy_loop, id="busy")
e.start(hostile.fine, id="fine")
worker = threading.Thread(target=e.work, daemon=True)
worker.start()
worker.join(timeout=30)
failure = e.describe("busy").task_failure or {}
print("hung" if worker.is_alive() else "returned", e.describe("fine").status, failure.get("type"),
      failure.get("source", {}).get("line"), flush=True)

def gen():
    yield 1

sys.settrace(lambda frame, event, arg: None)  # a traced generator afterwards (pytest-cov, debuggers) still runs
print("traced", next(gen()), flush=True)
"""


def test_the_library_worker_interrupts_a_busy_loop_in_any_thread_and_leaves_nothing_pending() -> None:
    """In a thread of the caller's process (a subprocess here, so a regression cannot spin in
    the test run): work() returns, and nothing of the interruption outlives it -- on CPython
    3.11 an async exception cleared the wrong way leaves the eval breaker set, and the next
    traced generator spins forever."""
    done = subprocess.run([sys.executable, "-c", LIBRARY_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=45)
    lines = done.stdout.splitlines()
    assert lines[:1] and lines[0].split()[:3] == ["returned", "completed", "PotentialDeadlock"], done
    assert int(lines[0].split()[3]) in (line_of("busy_loop"), line_of("busy_loop") + 1), done
    assert lines[1:] == ["traced 1"], done


def test_a_deadlock_timeout_that_is_not_a_positive_number_is_refused_where_the_engine_is_made(tmp_path: Path) -> None:
    from replaytest.engine import EngineError

    for bad in (0, -1.0, float("inf"), float("nan"), "2"):
        try:
            Engine(tmp_path / f"e{id(bad)}.db", clock="virtual", deadlock_timeout=bad)  # type: ignore[arg-type]
        except EngineError as e:
            assert str(e) == f"deadlock_timeout must be a positive number of seconds or None, not {bad!r}"
        else:
            raise AssertionError(f"deadlock_timeout={bad!r} was accepted")
