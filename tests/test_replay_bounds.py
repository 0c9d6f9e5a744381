"""Every replay is bounded, whatever runs the code, and a BaseException from the code fails only
its history (issue 19, items 1 and 2 as left open).

- AWS handler code runs on the SDK's threads: an endless loop there is interrupted at the
  limit; a handler blocked forever inside one call is given up (and never keeps the process
  from exiting). Each fails its history in one line naming the file, the limit and its flag,
  the line it runs and the last operation it issued; the next histories replay.
- A Durable Task orchestrator in a busy loop fails the same way (the last history event fed).
- ``KeyboardInterrupt`` / ``SystemExit`` raised by workflow code (native, Temporal, AWS,
  Durable Task) fails that history at its line; a real Ctrl-C still stops the run.

Real CLI runs and pytest sessions (serial and ``-n 2``) in subprocesses with an outer timeout,
so a regression fails here instead of hanging the suite."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytest_plugins = ["tests.dt_fixtures"]

AWS_CODE = """
import threading

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution, durable_step


@durable_step
def reserve(step: StepContext, item: str) -> dict:
    return {"reserved": item}


@durable_execution
def looping(event: dict, context: DurableContext) -> dict:
    context.step(reserve(event["item"]))
    while True:
        try:
            pass
        except Exception:
            pass


@durable_execution
def blocked(event: dict, context: DurableContext) -> dict:
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()
    return {}


@durable_execution
def interrupted(event: dict, context: DurableContext) -> dict:
    raise KeyboardInterrupt
"""
DT_CODE = """
def busy(ctx, order):
    yield ctx.call_activity("reserve", input=order)
    while True:
        pass


def interrupted(ctx, parts):
    raise KeyboardInterrupt
"""
NATIVE_CODE = """
from replaytest import workflow


@workflow.defn
async def process_order(order: dict) -> dict:
    raise SystemExit(3)


@workflow.defn
async def process_payment(payment: dict) -> dict:
    while True:
        pass
"""
TEMPORAL_CODE = """
from temporalio import workflow


@workflow.defn(name="ShippingWorkflow")
class ShippingWorkflow:
    @workflow.run
    async def run(self, order_id: str) -> str:
        raise KeyboardInterrupt
"""
HANDLERS = {
    "aws": ["orders=aws_code:looping", "greeter=aws_code:blocked", "payments=aws_code:interrupted"],
    "dt": ["order_saga=dt_code:busy", "fan_out=dt_code:interrupted"],
}


@pytest.fixture
def project(tmp_path: Path, dt_histories: Path, temporal_histories: Path) -> Path:
    for name, code in [("aws_code", AWS_CODE), ("dt_code", DT_CODE), ("native_code", NATIVE_CODE)]:
        (tmp_path / f"{name}.py").write_text(code)
    (tmp_path / "temporal_code.py").write_text(TEMPORAL_CODE)
    h = tmp_path / "h"
    h.mkdir()
    aws = ROOT / "tests" / "data" / "aws"
    shutil.copy(aws / "order-1.json", h / "a-aws-loop.json")
    shutil.copy(aws / "greet-1.json", h / "b-aws-blocked.json")
    shutil.copy(aws / "pay-1.json", h / "c-aws-interrupt.json")
    shutil.copy(dt_histories / "export" / "order-1.json", h / "d-dt-busy.json")
    shutil.copy(dt_histories / "export" / "fanout-1.json", h / "e-dt-interrupt.json")
    shutil.copy(ROOT / "fixtures" / "histories" / "order-42.json", h / "f-native-exit.json")
    shutil.copy(ROOT / "fixtures" / "histories" / "onboarding-7.json", h / "z-native-ok.json")
    return tmp_path


def _run(project: Path, *args: str, limit: float = 90) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)]), "PYTEST_ADDOPTS": ""}
    return subprocess.run([sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=limit)


def _line(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if name in line and line.startswith(("FAIL", "ok")))


def test_the_cli_bounds_aws_and_durable_task_code_and_a_base_exception_fails_one_history(
    project: Path, temporal_histories: Path
) -> None:
    shutil.copy(temporal_histories / "cli" / "ship-1.json", project / "h" / "g-temporal-interrupt.json")
    shutil.copy(ROOT / "fixtures" / "histories" / "payment-3.json", project / "h" / "h-native-loop.json")
    modules = ["native_code", "fixtures.workflows.onboarding", "temporal_code"]
    r = _run(
        project,
        *("-m", "replaytest", "replay", "h", "--timeout", "1"),
        *[a for m in modules for a in ("--module", m)],
        *[a for h in HANDLERS["aws"] + HANDLERS["dt"] for a in ("--handler", h)],
    )
    out = r.stdout
    assert r.returncode == 1 and "Traceback" not in r.stderr, out + r.stderr
    loop = _line(out, "a-aws-loop.json")
    assert re.match(
        r"FAIL  h/a-aws-loop\.json: replay did not finish within 1 s \(--timeout\): the handler code is still running "
        r"at aws_code\.py:1[5-7] in looping \(an endless loop\?\); last applied: step 'reserve' \(history event 2\), "
        r"issued at aws_code\.py:14 in looping;",
        loop,
    ), loop
    blocked = _line(out, "b-aws-blocked.json")
    assert "still running at aws_code.py:26 in blocked" in blocked and "could not be stopped" in blocked, blocked
    assert _line(out, "c-aws-interrupt.json").startswith(  # a bare `raise KeyboardInterrupt`: no empty message
        "FAIL  h/c-aws-interrupt.json: workflow pay-1: workflow code raised KeyboardInterrupt at aws_code.py:32 in "
        "interrupted"
    ), _line(out, "c-aws-interrupt.json")
    busy = _line(out, "d-dt-busy.json")
    assert re.match(
        r"FAIL  h/d-dt-busy\.json: replay did not finish within 1 s \(--timeout\): the workflow code is still running "
        r"at dt_code\.py:[45] in busy \(an endless loop\?\); last applied: history event 6 \(TaskCompleted #1 ",
        busy,
    ), busy
    assert "raised KeyboardInterrupt" in _line(out, "e-dt-interrupt.json")
    assert "raised SystemExit: 3 at native_code.py:7 in process_order" in _line(out, "f-native-exit.json")
    temporal = out[out.index("FAIL  h/g-temporal-interrupt.json") :]
    assert "KeyboardInterrupt" in temporal.split("\n")[1] and "at temporal_code.py:9 in run" in temporal
    assert re.match(
        r"FAIL  h/h-native-loop\.json: replay did not finish within 1 s \(--timeout\): the workflow code is still "
        r"running at native_code\.py:1[23] in process_payment \(an endless loop\?\); last applied: events 1–4 \(next "
        r"recorded: event 5, ",
        _line(out, "h-native-loop.json"),
    ), _line(out, "h-native-loop.json")
    assert _line(out, "z-native-ok.json").startswith("ok    h/z-native-ok.json: onboarding-7")
    assert out.splitlines()[-1] == "9 histories replayed: 1 ok, 8 failed"


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_pytest_session_bounds_aws_code_and_fails_only_the_item_that_raised(project: Path, workers: str) -> None:
    for name in ("d-dt-busy.json", "f-native-exit.json"):  # the CLI test covers these; time is dear
        (project / "h" / name).unlink()
    r = _run(
        project,
        *("-m", "pytest", "--replay", "h", "--replay-timeout", "1", "-n", workers),
        *("-p", "no:randomly", "-p", "no:cacheprovider", "-q", "-rf"),
        *("--replay-module", "fixtures.workflows.onboarding"),
        *[a for h in HANDLERS["aws"] + HANDLERS["dt"] for a in ("--replay-handler", h)],
    )
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert "h/a-aws-loop.json: replay did not finish within 1 s (--replay-timeout)" in out
    assert "h/b-aws-blocked.json: replay did not finish within 1 s (--replay-timeout)" in out
    assert "2 replays timed out" in out and "2 workflow task errors" in out, out
    assert "4 failed, 1 passed" in out and "!!!" not in out, out  # no "!!! KeyboardInterrupt !!!" session stop


#: the native and AWS code of a long replay, interrupted for real
SLOW = {
    "native": ("f-native-exit.json", ["--module", "native_code"], "payment-3.json"),
    "aws": ("a-aws-loop.json", ["--handler", "orders=aws_code:looping"], None),
}


@pytest.mark.parametrize("backend", sorted(SLOW))
def test_a_real_ctrl_c_still_stops_the_run(project: Path, backend: str) -> None:
    name, options, native = SLOW[backend]
    history = project / "h" / name
    if native:  # process_payment loops forever
        shutil.copy(ROOT / "fixtures" / "histories" / native, history)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "replaytest", "replay", str(history), "h/z-native-ok.json", *options],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal starts it
    )
    try:
        time.sleep(2.5)  # well inside the endless loop (the default timeout is 300 s)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "replaytest: interrupted" in err and "z-native-ok" not in out, out + err


def test_the_daemon_pool_keeps_the_thread_pool_contract() -> None:
    """The AWS SDK's pools during a bounded replay: results, exceptions, cancelled futures on
    shutdown, and threads that do not keep the process alive."""
    from replaytest.backends.aws.bound import DaemonPool

    with DaemonPool(max_workers=2, thread_name_prefix="t") as pool:
        futures = [pool.submit(pow, 2, n) for n in range(5)]
        failing = pool.submit(json.loads, "{")
        assert [f.result(10) for f in futures] == [1, 2, 4, 8, 16]
        assert isinstance(failing.exception(10), json.JSONDecodeError)
        assert len(pool._own) == 2 and all(t.daemon for t in pool._own)
    assert not any(t.is_alive() for t in pool._own)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(pow, 2, 2)
    slow = DaemonPool(max_workers=1)
    gate = slow.submit(time.sleep, 0.2)
    queued = slow.submit(pow, 2, 2)
    slow.shutdown(wait=True, cancel_futures=True)
    assert gate.done() and queued.cancelled()
