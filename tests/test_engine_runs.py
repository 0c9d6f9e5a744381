"""Workflow runs (engine/engine.py, engine/transitions.py): `run` and `handle.result()` work only
their own workflow, time skipping belongs to the run that skipped, a run's times never go back,
and a workflow id is reused only under an id reuse policy. Real SQLite files, the CLI as a
subprocess; no mocks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.workflows import engine_checks as checks
from fixtures.workflows import onboarding, orders
from replaytest import Engine, History
from replaytest import engine as engine_api
from replaytest.engine import EngineError
from tests.conftest import CLI
from tests.data import run_workflows as nw

ORDER = {
    "id": "42",
    "email": "ada@example.com",
    "card": "4242-4242-4242-4242",
    "items": [{"sku": "tea", "price": 12.5, "qty": 2}],
}


CHECKS = "fixtures.workflows.engine_checks"


NW = "tests.data.run_workflows"


def of_type(history: History, *types: str) -> list:
    return [e for e in history.events if e.type in types]


def near_now(when: datetime, plus: timedelta = timedelta(0)) -> bool:
    """Within a day of (real now + plus): a date window, not a timing assertion."""
    return abs(when - (datetime.now(UTC) + plus)) < timedelta(hours=12)


def waiting_neighbours(db: Path, tmp_path: Path) -> None:
    """Two workflows waiting in the database: a `steps` never worked, an onboarding at its 7-day timer."""
    e = Engine(db, clock="virtual").register(onboarding)
    e.start(onboarding.onboarding, {"id": "u1", "email": "a@example.com"}, id="onboarding-1")
    e.sleep(timedelta(hours=1))  # the welcome email, then the timer
    e.start(checks.steps, {"steps": 2, "log": str(tmp_path / "steps.log")}, id="steps-1")
    e.close()


def test_cli_run_works_only_its_own_workflow(cli: CLI, db: Path, tmp_path: Path) -> None:
    waiting_neighbours(db, tmp_path)
    done = cli("run", f"{CHECKS}:long_sleep", "--input", "30", "--id", "sleeper", "-v")
    assert done.returncode == 0, done.stderr
    assert "steps-1" not in done.stderr and "onboarding-1" not in done.stderr
    assert not (tmp_path / "steps.log").exists()  # nobody ran its activities
    with Engine(db) as e:
        assert e.describe("steps-1").status == "running" and e.describe("steps-1").events == 2
        assert not of_type(e.history("onboarding-1"), "TimerFired")  # its 7-day timer was not skipped


def test_handle_result_works_only_its_own_workflow(db: Path, tmp_path: Path) -> None:
    waiting_neighbours(db, tmp_path)
    e = Engine(db, clock="virtual").register(checks, onboarding)
    assert e.start(checks.long_sleep, 30, id="sleeper").result()
    assert not (tmp_path / "steps.log").exists()
    assert not of_type(e.history("onboarding-1"), "TimerFired")
    e.work()  # work() is for every workflow
    assert (tmp_path / "steps.log").exists() and e.describe("onboarding-1").status == "completed"


def test_a_later_run_does_not_start_in_an_earlier_runs_future(db: Path) -> None:
    first = Engine(db, clock="virtual").register(checks, nw)
    assert near_now(datetime.fromisoformat(first.start(checks.long_sleep, 30).result()), timedelta(days=30))
    first.close()
    later = Engine(db, clock="virtual").register(nw)
    assert near_now(datetime.fromisoformat(later.start(nw.what_time).result()))
    real = Engine(db).register(nw)
    handle = real.start(nw.what_time)
    assert near_now(real.history(handle.id).events[0].timestamp)


def test_cli_runs_after_a_30_day_sleep_start_today(cli: CLI, db: Path) -> None:
    assert cli("run", f"{CHECKS}:long_sleep", "--input", "30", "--id", "month").returncode == 0
    later = cli("run", f"{NW}:what_time", "--id", "later")
    assert later.returncode == 0, later.stderr
    assert near_now(datetime.fromisoformat(json.loads(later.stdout)))
    worker = cli("worker", "--module", NW, "--until-idle")  # nothing of theirs is pending or ahead
    assert worker.returncode == 0 and "ahead" not in worker.stderr and "waiting" not in worker.stderr


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=12))
def test_a_runs_event_times_never_go_back(offsets: list[int]) -> None:
    """Whatever clock appends (a virtual one a month ahead, then a real one), a history's times are monotonic."""
    from replaytest.engine import transitions as tx
    from replaytest.engine.clock import from_ms
    from replaytest.engine.store import Store
    from replaytest.history import format_time

    store = Store(":memory:")
    base = 1_800_000_000_000
    tx.start_run(store, workflow_id="w", run_id="r", workflow_type="t", module="m:t", args=[], seed=1, now_ms=base)
    for ms in offsets:
        store.append(
            "r", format_time(from_ms(base + ms)), [("WorkflowExecutionSignaled", {"signal_name": "s", "payload": ms})]
        )
    times = [e.time for e in store.events("r")]
    assert times == sorted(times)
    assert times[-1] == format_time(from_ms(base + max(offsets)))
    store.close()


def test_a_run_keeps_its_own_timeline_when_signalled_on_the_real_clock(cli: CLI, db: Path) -> None:
    blocked = cli("run", f"{NW}:sleep_then_wait", "--input", "10", "--id", "sw")
    assert blocked.returncode == 1 and "waits for signal 'go'" in blocked.stderr
    assert cli("signal", "sw", "go").returncode == 0  # a real-clock client
    done = cli("worker", "--module", NW, "--until-idle")  # and a real-clock worker
    assert done.returncode == 0, done.stderr
    with Engine(db) as e:
        history = e.history("sw")
        times = [ev.timestamp for ev in history.events]
        assert times == sorted(times)  # never back in time within a run
        (fired,) = of_type(history, "TimerFired")
        assert history.status == "completed" and history.events[-1].attrs["result"] >= fired.timestamp.isoformat()


def test_reusing_a_finished_workflow_id_is_refused_by_default(db: Path) -> None:
    e = Engine(db, clock="virtual").register(nw)
    first = e.start(nw.what_time, id="w")
    first.result()
    with pytest.raises(engine_api.WorkflowIdReuseError, match=r"'w' .*completed.*id_reuse_policy='allow_duplicate'"):
        e.start(nw.other_type, id="w")
    with pytest.raises(EngineError, match="id_reuse_policy must be one of"):
        e.start(nw.what_time, id="w", id_reuse_policy="sometimes")
    with pytest.raises(engine_api.WorkflowIdReuseError):  # only a failed run may be retried under it
        e.start(nw.what_time, id="w", id_reuse_policy="allow_duplicate_failed_only")
    second = e.start(nw.other_type, id="w", id_reuse_policy="allow_duplicate")
    assert second.result() == "other" and second.run_id != first.run_id
    assert [r.run_id for r in e.runs("w")] == [first.run_id, second.run_id]
    assert e.history("w", run_id=first.run_id).workflow_type == "what_time"


def test_a_failed_run_may_be_retried_under_allow_duplicate_failed_only(db: Path) -> None:
    e = Engine(db, clock="virtual").register(orders)
    declined = {**ORDER, "card": "4000-0000-0000-0002"}
    with pytest.raises(Exception, match="declined"):
        e.start(orders.process_order, declined, id="o").result()
    again = e.start(orders.process_order, ORDER, id="o", id_reuse_policy="allow-duplicate-failed-only")
    assert again.result()["charged"] == 25.0


def test_cli_id_reuse_and_older_runs(cli: CLI, db: Path, tmp_path: Path) -> None:
    assert cli("run", f"{NW}:what_time", "--id", "w").returncode == 0
    refused = cli("run", f"{NW}:other_type", "--id", "w")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "--id-reuse-policy allow-duplicate" in refused.stderr
    assert cli("run", f"{NW}:other_type", "--id", "w", "--id-reuse-policy", "allow-duplicate").returncode == 0
    with Engine(db) as e:
        old, new = (r.run_id for r in e.runs("w"))
    shown = cli("show", "w").stdout.splitlines()
    assert shown[0].startswith(f"w (other_type) completed — run {new}") and "1 older run" in shown[0]
    older = cli("show", "w", "--run", old[:8])
    assert older.returncode == 0 and older.stdout.startswith(f"w (what_time) completed — run {old}")
    assert cli("show", "w", "--run", "nope").stderr.startswith("replaytest: error: workflow w has no run 'nope'")
    out = tmp_path / "old.json"
    assert cli("export", "w", "--run", old, "-o", str(out)).returncode == 0
    assert History.load(out).workflow_type == "what_time"
