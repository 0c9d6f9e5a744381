"""The hotfix story end to end, with real worker processes and real pytest runs: a workflow
task that divides by zero after the card was charged fails and is retried with backoff; its
history is exported, reproduces the failure as a test, passes with the fix; a worker with the
fixed code completes the stuck workflow; the card was charged exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from fixtures.hotfix import fixed
from replaytest import Engine, replay
from replaytest.engine import VirtualClock
from replaytest.testing.faults import T0
from tests.conftest import ROOT

BUG_LINE = next(
    n for n, line in enumerate((ROOT / "fixtures/hotfix/buggy.py").read_text().splitlines(), 1) if "# BUG:" in line
)


def run(argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """A process from the repository root, killed if it outlives ``timeout``."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def worker(db: Path, module: str) -> subprocess.CompletedProcess[str]:
    done = run(
        [
            sys.executable,
            "-m",
            "replaytest",
            "worker",
            "--module",
            module,
            "--db",
            str(db),
            "--virtual-clock",
            "--until-idle",
            "--lease-seconds",
            "5",
        ]
    )
    assert done.returncode == 0, done.stderr
    return done


def replaytest(*args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "replaytest", *args])


def replay_test(history: Path, module: str) -> subprocess.CompletedProcess[str]:
    return run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--replay",
            str(history),
            "--replay-module",
            module,
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
        ]
    )


def test_a_poison_order_is_exported_reproduced_fixed_and_completed_charging_once(db: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    order = {
        "id": "77",
        "email": "ada@example.com",
        "card": "4242-4242-4242-4242",
        "ledger": str(ledger),
        "items": [{"sku": "tv-55", "price": 649.0, "qty": 1, "on_sale": True}],
    }
    client = Engine(db, clock=VirtualClock(start=T0))
    client.register(fixed).start(fixed.checkout, order, id="order-77")
    client.close()

    # The buggy code, deployed: each worker start retries the failing task once more.
    for _ in range(3):
        assert "workflow task failed" in worker(db, "fixtures.hotfix.buggy").stderr
    history = Engine(db).history("order-77")
    fails = [e for e in history.events if e.type == "WorkflowTaskFailed"]
    assert [f.attrs["failure"]["type"] for f in fails] == ["ZeroDivisionError"] * 3
    assert {f.attrs["failure"]["source"]["file"] for f in fails} == {"fixtures/hotfix/buggy.py"}
    assert [e.attrs["attempt"] for e in history.events if e.type == "WorkflowTaskScheduled"][-3:] == [2, 3, 4]
    retried = [next(e for e in history.events if e.type == "WorkflowTaskStarted" and e.id > f.id) for f in fails[:2]]
    assert [r.timestamp - f.timestamp for r, f in zip(retried, fails)] == [timedelta(seconds=1), timedelta(seconds=2)]
    assert history.status == "running" and len(ledger.read_text().splitlines()) == 1

    # Operations see it: listed as failing, shown with the exception and the line.
    listed = replaytest("list", "--status", "failed", "--db", str(db)).stdout
    assert "order-77" in listed and "running (task failing, attempt 3)" in listed
    shown = replaytest("show", "order-77", "--db", str(db)).stdout
    assert shown.count(f"ZeroDivisionError: float division by zero at fixtures/hotfix/buggy.py:{BUG_LINE}") == 3
    assert "return round(10.0 / full_price, 2)" in shown

    # Export the failing workflows: the history becomes a test that reproduces the failure.
    exported = replaytest("export", "--status", "failed", "-o", str(tmp_path / "histories"), "--db", str(db))
    assert exported.returncode == 0, exported.stderr
    saved = tmp_path / "histories" / "order-77.json"
    assert exported.stdout.split() == [str(saved)]
    buggy_run = replay_test(saved, "fixtures.hotfix.buggy")
    assert buggy_run.returncode == 1 and "1 failed" in buggy_run.stdout
    assert f"at fixtures/hotfix/buggy.py:{BUG_LINE} in bulk_discount" in buggy_run.stdout
    assert "ZeroDivisionError" in buggy_run.stdout

    # The fix passes the same test before it is deployed ...
    fixed_run = replay_test(saved, "fixtures.hotfix.fixed")
    assert fixed_run.returncode == 0 and "1 passed" in fixed_run.stdout, fixed_run.stdout

    # ... and a worker with it completes the stuck workflow without charging again.
    worker(db, "fixtures.hotfix.fixed")
    final = Engine(db).history("order-77")
    assert final.status == "completed" and final.events[-1].attrs["result"]["next_order_discount"] == 0.0
    charges = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert len(charges) == 1 and charges[0]["charge_id"] == final.events[-1].attrs["result"]["charge_id"]
    assert sum(e.type == "ActivityTaskStarted" and e.attrs["activity_id"] == "2" for e in final.events) == 1
    assert replay(final, [fixed]).status == "completed"


def test_export_by_id_with_status_failed_includes_a_poison_workflow(db: Path, tmp_path: Path) -> None:
    from fixtures.hotfix import buggy

    engine = Engine(db, clock=VirtualClock(start=T0)).register(buggy)
    items = [{"sku": "tv", "price": 700.0, "qty": 1, "on_sale": True}]
    engine.start(buggy.checkout, {"id": "1", "email": "a@b", "card": "4242", "items": items}, id="poison")
    engine.start(
        buggy.checkout,
        {"id": "2", "email": "a@b", "card": "4242", "items": [{**items[0], "on_sale": False}]},
        id="fine",
    )
    engine.work()
    assert [i.workflow_id for i in engine.list("failed")] == ["poison"]
    assert {i.workflow_id for i in engine.list("running")} == {"poison"}
    out = replaytest("export", "poison", "--status", "failed", "-o", str(tmp_path), "--db", str(db))
    assert out.returncode == 0 and out.stdout.strip().endswith("poison.json")
    none = replaytest("export", "fine", "--status", "failed", "-o", str(tmp_path), "--db", str(db))
    assert none.returncode == 1 and none.stdout == "", none.stdout + none.stderr
    assert none.stderr.strip() == "fine is completed, not failed: nothing exported (without --status it is)"
