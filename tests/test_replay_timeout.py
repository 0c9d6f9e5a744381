"""No history hangs a run: a Temporal history temporalio's Core could never finish is refused
before it is handed over, and every replay is bounded anyway (``--timeout`` /
``--replay-timeout`` / ``replay_timeout``): a replay that has not finished fails its history in
one line naming the file and how far it got, and the CLI run or pytest session goes on to its
summary (and JUnit file) with the next history on a fresh replay worker.

Real components: histories a real worker recorded on a real dev server, the real CLI and real
pytest sessions (serial and ``-n 2``) in subprocesses with a hard timeout of their own."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

#: workflow code that blocks forever in C, where temporalio's deadlock detector cannot interrupt
#: it (possible with the sandbox off): the natural way a healthy history's replay never finishes
BLOCKING = """
import threading

from temporalio import workflow


@workflow.defn(name="OrderWorkflow")
class OrderWorkflow:
    @workflow.run
    async def run(self, order: dict) -> dict:
        lock = threading.Lock()
        lock.acquire()
        lock.acquire()
        return {}
"""
MODULES = """
from blocking import OrderWorkflow  # noqa: F401
from fixtures.temporal.orders import ShippingWorkflow  # noqa: F401
from fixtures.workflows.orders import *  # noqa: F401,F403
"""


def _renumbered(events: list[dict[str, Any]]) -> dict[str, Any]:
    events = copy.deepcopy(events)
    for i, e in enumerate(events, 1):
        e["eventId"] = str(i)
    return {"events": events}


def _mutants(order: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str]]:
    """File name → (a history temporalio's Core cannot finish, what its FAIL line must say)."""
    ev = order["events"]
    assert ev[3]["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED"
    return {
        "start-only.json": ({"events": ev[:1]}, "event 1: the history holds only its WorkflowExecutionStarted"),
        "dropped.json": (_renumbered(ev[:3] + ev[4:]), "event 4 (ActivityTaskScheduled): follows WorkflowTaskStarted"),
        "swapped.json": (
            _renumbered(ev[:3] + [ev[4], ev[3]] + ev[5:]),
            "event 4 (ActivityTaskScheduled): follows WorkflowTaskStarted event 3",
        ),
        "same-id.json": (
            {"events": ev[:4] + [dict(ev[1], eventId="5"), dict(ev[2], eventId="3"), dict(ev[3], eventId="7")]},
            "event 3: two workflow tasks have the same WorkflowTaskStarted event id",
        ),
    }


@pytest.fixture
def project(tmp_path: Path, temporal_histories: Path) -> Path:
    """A project whose OrderWorkflow blocks forever, with unfinishable histories beside good ones."""
    (tmp_path / "blocking.py").write_text(BLOCKING)
    (tmp_path / "workflows.py").write_text(MODULES)
    h = tmp_path / "h"
    h.mkdir()
    order = json.loads((temporal_histories / "cli" / "order-1.json").read_text())
    (h / "a-blocked.json").write_text(json.dumps(order))
    for name, (doc, _) in _mutants(order).items():
        (h / name).write_text(json.dumps(doc))
    shutil.copy(temporal_histories / "cli" / "ship-1.json", h / "z-ship.json")
    shutil.copy(ROOT / "fixtures" / "histories" / "order-42.json", h / "z-native.json")
    return tmp_path


def _run(project: Path, *args: str, limit: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)]), "PYTEST_ADDOPTS": ""}
    return subprocess.run([sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=limit)


def test_the_cli_refuses_unfinishable_histories_and_bounds_the_one_that_blocks(project: Path) -> None:
    r = _run(project, "-m", "replaytest", "replay", "h", "--module", "workflows", "--sandbox", "off", "--timeout", "2")
    lines = r.stdout.splitlines()
    assert r.returncode == 1, r.stdout + r.stderr
    blocked = next(line for line in lines if "a-blocked.json" in line)
    assert blocked.startswith("FAIL  h/a-blocked.json: replay did not finish within 2 s (--timeout;"), blocked
    assert "the workflow code last ran in the workflow task at event 3 (WorkflowTaskStarted)" in blocked
    order = json.loads((project / "h" / "a-blocked.json").read_text())
    for name, (_, why) in _mutants(order).items():
        line = next(line for line in lines if name in line)
        assert line.startswith(f"FAIL  h/{name}: {why}"), line
    assert any(line.startswith("ok    h/z-ship.json: ship-1 (ShippingWorkflow)") for line in lines), r.stdout
    assert any(line.startswith("ok    h/z-native.json: order-42") for line in lines), r.stdout
    # the refused mutants are no usable history: not counted as replayed
    assert lines[-1] == "3 histories replayed: 2 ok, 1 failed; 4 files not replayed: not a usable history (FAIL above)"
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_pytest_session_fails_the_stuck_item_and_ends_with_its_summary_and_junit(project: Path, workers: str) -> None:
    junit = project / "junit.xml"
    r = _run(
        project,
        "-m",
        "pytest",
        "--replay",
        "h",
        "--replay-module",
        "workflows",
        "--replay-sandbox",
        "off",
        "--replay-timeout",
        "2",
        "-n",
        workers,
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "replay did not finish within 2 s (--replay-timeout; 43 events in the file)" in r.stdout
    assert "1 replay timed out" in r.stdout and "4 invalid history files" in r.stdout, r.stdout
    assert "2 passed" in r.stdout and "5 failed" in r.stdout
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert len(cases) == 7 and {"ship-1", "order-42"} <= {c.get("name") for c in cases}
    outcomes = [p.get("value", "") for c in cases for p in c.iter("property") if p.get("name") == "replay_outcome"]
    assert sorted(outcomes) == ["invalid_history"] * 4 + ["passed"] * 2 + ["timeout"]


@pytest.mark.parametrize(
    "args, why",
    [
        (["-m", "replaytest", "replay", "h", "--timeout", "soon"], "--timeout must be a number of seconds"),
        (["-m", "pytest", "--replay", "h", "--replay-timeout", "-1"], "--replay-timeout must be a number of seconds"),
        (["-m", "pytest", "--replay", "h", "-o", "replay_timeout=nan"], "replay_timeout (ini) must be a number"),
    ],
)
def test_a_timeout_that_is_not_a_number_of_seconds_is_one_line(project: Path, args: list[str], why: str) -> None:
    r = _run(project, *args, limit=60)
    assert r.returncode in (2, 4), r.stdout + r.stderr
    assert why in r.stderr and "Traceback" not in r.stderr


#: replaytest's own workflow type, now in an endless loop that catches everything it can
LOOPING = """
from replaytest import workflow


@workflow.defn
async def process_order(order: dict) -> dict:
    while True:
        try:
            pass
        except Exception:
            pass
"""


@pytest.mark.parametrize("surface", ["cli", "pytest-n2"])
def test_a_native_replay_in_an_endless_loop_fails_in_one_line_and_the_next_one_runs(
    tmp_path: Path, surface: str
) -> None:
    (tmp_path / "looping.py").write_text(LOOPING)
    h = tmp_path / "h"
    h.mkdir()
    shutil.copy(ROOT / "fixtures" / "histories" / "order-42.json", h / "a-order.json")
    shutil.copy(ROOT / "fixtures" / "histories" / "payment-3.json", h / "b-payment.json")
    modules = ["looping", "fixtures.workflows.payments"]
    if surface == "cli":
        r = _run(
            tmp_path,
            "-m",
            "replaytest",
            "replay",
            "h",
            *[a for m in modules for a in ("--module", m)],
            "--timeout",
            "2",
        )
        assert r.stdout.splitlines()[0].startswith(
            "FAIL  h/a-order.json: replay did not finish within 2 s (--timeout): the workflow code is still running"
        ), r.stdout + r.stderr
        assert "ok    h/b-payment.json: payment-3" in r.stdout and r.returncode == 1
        return
    r = _run(
        tmp_path,
        *("-m", "pytest", "--replay", "h", "--replay-timeout", "2", "-n", "2", "-p", "no:randomly"),
        *[a for m in modules for a in ("--replay-module", m)],
    )
    assert "h/a-order.json: replay did not finish within 2 s (--replay-timeout)" in r.stdout, r.stdout + r.stderr
    assert "1 replay timed out" in r.stdout and "1 failed, 1 passed" in r.stdout
