"""The engine in one process, on a virtual clock: histories, retries, timers, signals,
side effects, patches, failing workflow tasks. Real SQLite files; no mocks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixtures.workflows import engine_checks as checks
from fixtures.workflows import onboarding, orders, payments
from replaytest import ApplicationError, Engine, History, ReplaytestError, replay, workflow
from replaytest.engine import (
    EngineError,
    VirtualClock,
    WorkflowAlreadyRunningError,
    WorkflowBlockedError,
    WorkflowFailedError,
    WorkflowNotFoundError,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ORDER = {
    "id": "42",
    "email": "ada@example.com",
    "card": "4242-4242-4242-4242",
    "items": [{"sku": "tea", "price": 12.5, "qty": 2}],
}


def engine(db: Path, *items: object, **options: object) -> Engine:
    return Engine(db, clock=VirtualClock(start=T0), **options).register(*items)


def of_type(history: History, *types: str) -> list:
    return [e for e in history.events if e.type in types]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# ---------------------------------------------------------------------------- histories
def test_order_runs_to_completion_with_a_valid_replayable_history(db: Path) -> None:
    e = engine(db, orders)
    handle = e.start(orders.process_order, ORDER, id="order-42")
    result = handle.result()
    assert result["charged"] == 25.0 and result["charge_id"].startswith("ch_")
    history = e.history("order-42")
    started = history.events[0].attrs
    assert started["workflow_type"] == "process_order"
    assert started["workflow_module"] == "fixtures.workflows.orders:process_order"
    assert started["input"] == [ORDER] and len(started["run_id"]) == 32
    assert 0 <= started["seed"] < 2**63
    assert history.events[0].time == "2026-03-01T12:00:00.000Z"
    assert [ev.attrs["activity_type"] for ev in of_type(history, "ActivityTaskScheduled")] == [
        "calculate_total",
        "charge_card",
        "send_confirmation",
    ]
    assert History.from_json(history.to_json()).status == "completed"  # schema-valid round trip
    assert replay(history, [orders]).output == result  # sandboxed replay agrees


def test_a_running_workflow_id_cannot_be_started_twice_and_a_closed_one_only_when_allowed(db: Path) -> None:
    e = engine(db, checks)
    first = e.start(checks.wait_signals, {"count": 1}, id="w")
    with pytest.raises(WorkflowAlreadyRunningError, match="already running"):
        e.start(checks.wait_signals, {"count": 1}, id="w", id_reuse_policy="allow_duplicate")
    e.signal("w", "go", 1)
    assert first.result() == [1]
    with pytest.raises(EngineError, match="already used by a run that completed"):
        e.start(checks.wait_signals, {"count": 1}, id="w")
    second = e.start(checks.wait_signals, {"count": 1}, id="w", id_reuse_policy="allow_duplicate")
    assert second.run_id != first.run_id and e.history("w").run_id == second.run_id


def test_client_mistakes_get_clear_errors(db: Path) -> None:
    e = engine(db, orders)
    with pytest.raises(EngineError, match=r"process_order\(order\) cannot be started with 2"):
        e.start(orders.process_order, 1, 2)
    with pytest.raises(WorkflowNotFoundError, match="replaytest list"):
        e.signal("nope", "go")
    with pytest.raises(EngineError, match="not registered"):
        e.start("no_such_workflow")


def test_memory_database_works(tmp_path: Path) -> None:
    e = Engine(":memory:", clock="virtual").register(checks)
    assert e.start(checks.long_sleep, 1).result().startswith(str((e.now()).date()))


# ---------------------------------------------------------------------------- activities
def _retrying(db: Path, tmp_path: Path, spec: dict) -> tuple[dict, History, list[str]]:
    log = tmp_path / "attempts.txt"
    e = engine(db, checks)
    result = e.start(checks.retrying, {**spec, "log": str(log)}, id="r").result()
    return result, e.history("r"), lines(log)


def test_retries_back_off_1_2_4_seconds_on_the_virtual_clock(db: Path, tmp_path: Path) -> None:
    result, history, attempts = _retrying(db, tmp_path, {"error": "Transient", "succeed_on": 4})
    assert result == {"ok": True, "attempt": 4} and len(attempts) == 4
    scheduled, started = of_type(history, "ActivityTaskScheduled")[0], of_type(history, "ActivityTaskStarted")[0]
    assert started.attrs["attempt"] == 4
    assert started.timestamp - scheduled.timestamp == timedelta(seconds=1 + 2 + 4)


def test_retry_policy_intervals_and_cap_are_honoured(db: Path, tmp_path: Path) -> None:
    retry = {"initial_interval": 3, "backoff_coefficient": 10, "maximum_interval": 20}
    _, history, _ = _retrying(db, tmp_path, {"error": "Transient", "succeed_on": 4, "retry": retry})
    scheduled, started = of_type(history, "ActivityTaskScheduled")[0], of_type(history, "ActivityTaskStarted")[0]
    assert started.timestamp - scheduled.timestamp == timedelta(seconds=3 + 20 + 20)


def test_non_retryable_error_type_stops_at_once(db: Path, tmp_path: Path) -> None:
    result, history, attempts = _retrying(
        db, tmp_path, {"error": "CardDeclined", "retry": {"non_retryable_error_types": ["CardDeclined"]}}
    )
    assert result == {"ok": False, "type": "CardDeclined", "timed_out": False} and len(attempts) == 1
    assert of_type(history, "ActivityTaskFailed")[0].attrs["failure"]["type"] == "CardDeclined"


def test_non_retryable_application_error_stops_at_once(db: Path, tmp_path: Path) -> None:
    result, _, attempts = _retrying(db, tmp_path, {"error": "non_retryable"})
    assert result["type"] == "Fatal" and len(attempts) == 1


def test_maximum_attempts(db: Path, tmp_path: Path) -> None:
    result, history, attempts = _retrying(db, tmp_path, {"error": "value", "retry": {"maximum_attempts": 3}})
    assert result == {"ok": False, "type": "ValueError", "timed_out": False} and len(attempts) == 3
    (failed,) = of_type(history, "ActivityTaskFailed")
    assert failed.attrs["failure"]["message"] == "bad value on attempt 3"
    assert of_type(history, "ActivityTaskStarted")[0].attrs["attempt"] == 3


def test_start_to_close_timeout_retries_then_times_out(db: Path, tmp_path: Path) -> None:
    result, history, attempts = _retrying(
        db, tmp_path, {"error": "slow", "seconds": 1.0, "timeout": 0.1, "retry": {"maximum_attempts": 2}}
    )
    assert result == {"ok": False, "type": "StartToCloseTimeout", "timed_out": True} and len(attempts) == 2
    (timed_out,) = of_type(history, "ActivityTaskTimedOut")
    assert "start_to_close_timeout of 0.1s" in timed_out.attrs["failure"]["message"]


def test_a_timed_out_attempt_is_retried(db: Path, tmp_path: Path) -> None:
    result, _, attempts = _retrying(db, tmp_path, {"error": "slow", "seconds": 1.0, "timeout": 0.1, "succeed_on": 2})
    assert result == {"ok": True, "attempt": 2} and len(attempts) == 2


def test_payment_sample_succeeds_after_two_transient_failures(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "gateway.txt"
    e = engine(db, payments)
    result = e.start(payments.process_payment, {"id": "3", "amount": 120.0, "log": str(log)}).result()
    assert result["gateway_attempts"] == 3 and lines(log) == [f"authorize 3 attempt {n}" for n in (1, 2, 3)]


def test_activities_started_with_gather_get_ids_in_issue_order_and_all_run(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "steps.txt"
    e = engine(db, checks)
    assert e.start(checks.fan_out, {"width": 4, "log": str(log)}, id="f").result() == [0, 1, 2, 3]
    scheduled = of_type(e.history("f"), "ActivityTaskScheduled")
    assert [s.attrs["activity_id"] for s in scheduled] == ["1", "2", "3", "4"]
    assert [s.id for s in scheduled] == list(range(scheduled[0].id, scheduled[0].id + 4))  # one workflow task
    assert sorted(line.split()[1] for line in lines(log)) == ["0", "1", "2", "3"]


def test_a_failed_workflow_raises_its_failure(db: Path) -> None:
    e = engine(db, orders)
    handle = e.start(orders.process_order, {**ORDER, "card": "4000-0000-0000-0002"}, id="declined")
    with pytest.raises(WorkflowFailedError, match="CardDeclined") as caught:
        handle.result()
    assert isinstance(caught.value, ApplicationError) and caught.value.type == "CardDeclined"
    assert handle.status == "failed" and e.history("declined").status == "failed"


def test_an_unregistered_activity_blocks_with_a_clear_reason(db: Path) -> None:
    e = engine(db, orders.process_order)  # the workflow only, no activities
    with pytest.raises(WorkflowBlockedError, match="activity 'calculate_total' is not registered"):
        e.start(orders.process_order, ORDER).result()


# ---------------------------------------------------------------------------- timers and signals
def test_a_30_day_sleep_completes_on_the_virtual_clock(db: Path) -> None:
    e = engine(db, checks)
    assert e.start(checks.long_sleep, 30, id="s").result() == (T0 + timedelta(days=30)).isoformat()
    history = e.history("s")
    (started,), (fired,) = of_type(history, "TimerStarted"), of_type(history, "TimerFired")
    assert started.attrs["duration"] == 30 * 86400
    assert fired.timestamp - started.timestamp == timedelta(days=30)
    assert history.events[-1].timestamp == T0 + timedelta(days=30)


def test_signals_sent_before_the_wait_are_buffered_in_order(db: Path) -> None:
    e = engine(db, checks)
    handle = e.start(checks.wait_signals, {"count": 2}, id="w")
    e.signal("w", "go", {"n": 1})
    e.signal("w", "go", {"n": 2})
    assert handle.result() == [{"n": 1}, {"n": 2}]
    assert len(of_type(e.history("w"), "WorkflowExecutionSignaled")) == 2


def test_wait_for_signal_with_timeout(db: Path) -> None:
    e = engine(db, checks)
    handle = e.start(checks.wait_signals, {"count": 2, "timeout": 3600}, id="w")
    e.sleep(timedelta(minutes=30))
    e.signal("w", "go", "on time")
    assert handle.result() == ["on time", "timeout"]
    history = e.history("w")
    (signalled,) = of_type(history, "WorkflowExecutionSignaled")
    assert signalled.timestamp == T0 + timedelta(minutes=30)
    assert history.events[-1].timestamp == T0 + timedelta(minutes=30, hours=1)


def test_completing_drops_pending_timers(db: Path) -> None:
    e = engine(db, checks)
    handle = e.start(checks.wait_signals, {"count": 1, "timeout": 86400}, id="w")
    e.signal("w", "go", 1)
    assert handle.result() == [1]
    assert e.store.tasks_of(handle.run_id) == [] and not of_type(e.history("w"), "TimerFired")


def test_onboarding_sample_takes_weeks_of_offers_then_a_signal(db: Path) -> None:
    e = engine(db, onboarding)
    handle = e.start(onboarding.onboarding, {"id": "u7", "email": "g@example.com"}, id="onboarding-7")
    e.sleep(timedelta(days=15))
    e.signal("onboarding-7", "subscription", "subscribed")
    assert handle.result()["outcome"] == "subscribed" and handle.result()["offers_sent"] == 2
    gives_up = e.start(onboarding.onboarding, {"id": "u8", "email": "h@example.com", "max_offers": 2}).result()
    assert gives_up["outcome"] == "gave_up" and gives_up["offers_sent"] == 2


def test_waiting_for_a_signal_is_reported_as_blocked(db: Path) -> None:
    e = engine(db, checks)
    with pytest.raises(WorkflowBlockedError, match="waits for signal 'go'"):
        e.start(checks.wait_signals, {"count": 1}).result()


# ---------------------------------------------------------------------------- recovery is replay
def test_a_side_effect_is_recorded_once_and_not_rerun_on_recovery(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "side.txt"
    first = engine(db, checks)
    first.start(checks.side_effects, {"log": str(log)}, id="se")
    first.work()
    second = engine(db, checks)  # a new worker: no cached execution, so it replays the history
    second.signal("se", "go")
    assert second.run_until_complete("se") == {"calls_when_recorded": 1}
    assert lines(log) == ["side effect ran"]
    (marker,) = of_type(second.history("se"), "MarkerRecorded")
    assert marker.attrs == {"marker_name": "side_effect", "marker_id": "1", "value": 1}


def test_the_sticky_cache_avoids_replay_and_a_new_worker_replays(db: Path, tmp_path: Path) -> None:
    e = engine(db, checks)
    e.start(checks.steps, {"steps": 5, "log": str(tmp_path / "log")}, id="st")
    assert e.work().events_replayed == 0
    e.start(checks.side_effects, {"log": str(tmp_path / "log2")}, id="se")
    e.work()
    other = engine(db, checks)
    other.signal("se", "go")
    assert other.work().events_replayed > 0


def test_patched_takes_the_old_path_for_histories_recorded_before_the_patch(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "bonus.txt"
    old = engine(db, checks.patch_demo_v1)
    old.start(checks.patch_demo_v1, {"log": str(log)}, id="p-old")
    old.work()
    new = engine(db, checks.patch_demo_v2, checks.record_step)
    new.signal("p-old", "go")
    assert new.run_until_complete("p-old") == "v2, old path" and lines(log) == []
    fresh = new.start(checks.patch_demo_v2, {"log": str(log)}, id="p-new")
    new.signal("p-new", "go")
    assert fresh.result() == "v2 with bonus" and len(lines(log)) == 1
    assert of_type(new.history("p-new"), "MarkerRecorded")[0].attrs == {
        "marker_name": "patch",
        "marker_id": "send-bonus",
    }
    for workflow_id in ("p-old", "p-new"):
        assert replay(new.history(workflow_id), [checks.patch_demo_v2]).status == "completed"


# the buggy worker registers the buggy `process_order` next to orders.py's (for its activities): on purpose
@pytest.mark.filterwarnings("ignore::replaytest.DuplicateWorkflowWarning")
def test_hotfix_failing_workflow_task_is_retried_and_fixed_code_completes_it(db: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "charges.jsonl"
    order = {**ORDER, "ledger": str(ledger), "items": [{"sku": "gift", "price": 25.0, "qty": 2, "gift_card": True}]}
    buggy = engine(db, checks.process_order_before_hotfix, orders)
    handle = buggy.start(checks.process_order_before_hotfix, order, id="order-44")
    stats = buggy.work()
    assert stats.workflow_task_failures == 1 and handle.status == "running"
    (failed,) = of_type(buggy.history("order-44"), "WorkflowTaskFailed")
    failure = failed.attrs["failure"]
    assert failure["type"] == "ZeroDivisionError" and failure["source"]["file"].endswith("engine_checks.py")
    assert "amount / units" in failure["stack"]
    info = buggy.describe("order-44")
    assert info.status == "running" and info.task_failure["type"] == "ZeroDivisionError"
    with pytest.raises(WorkflowBlockedError, match="keeps failing"):
        handle.result()
    assert len(of_type(buggy.history("order-44"), "WorkflowTaskFailed")) == 2  # one more retry, 1 s later

    fixed = Engine(db, clock="virtual").register(orders)  # a new worker with the fixed code
    result = fixed.run_until_complete("order-44")
    assert result["next_order_discount_percent"] == 0.0
    assert len(lines(ledger)) == 1  # the card was charged exactly once
    history = fixed.history("order-44")
    fails = of_type(history, "WorkflowTaskFailed")
    retried = [e for e in history.events if e.type == "WorkflowTaskStarted" and e.id > fails[0].id]
    assert retried[0].timestamp - fails[0].timestamp == timedelta(seconds=1)  # backoff 1 s, then 2 s, …
    assert replay(history, [orders]).status == "completed"


# A workflow whose second version reorders its activities: histories of the first diverge.
@workflow.defn(name="two_steps")
async def two_steps_v1(spec: dict) -> str:
    await workflow.execute_activity(checks.record_step, spec["log"], 1)
    await workflow.wait_for_signal("go")
    return "v1"


@workflow.defn(name="two_steps")
async def two_steps_v2(spec: dict) -> str:
    await workflow.execute_activity(checks.record_step, spec["log"], 2)
    await workflow.wait_for_signal("go")
    return "v2"


def test_nondeterministic_code_fails_the_workflow_task_not_the_workflow(db: Path, tmp_path: Path) -> None:
    v1 = engine(db, two_steps_v1, checks.record_step)
    v1.start(two_steps_v1, {"log": str(tmp_path / "log")}, id="nd")
    v1.work()
    v2 = engine(db, two_steps_v2, checks.record_step)
    v2.signal("nd", "go")
    assert v2.work().workflow_task_failures == 1
    failure = of_type(v2.history("nd"), "WorkflowTaskFailed")[0].attrs["failure"]
    assert failure["type"] == "NondeterminismError" and "different activity arguments" in failure["message"]
    assert v2.describe("nd").status == "running"
    v1b = engine(db, two_steps_v1, checks.record_step)  # rolling back the code unsticks it
    assert v1b.run_until_complete("nd") == "v1"


def test_the_strict_sandbox_fails_the_task_and_none_lets_it_run(db: Path, tmp_path: Path) -> None:
    strict = engine(db, checks)
    strict.start(checks.sleeps_for_real, 0.0, id="io")
    strict.work()
    failure = of_type(strict.history("io"), "WorkflowTaskFailed")[0].attrs["failure"]
    assert failure["type"] == "SandboxViolation" and "time.sleep" in failure["message"]
    lenient = engine(tmp_path / "other.db", checks, sandbox=None)
    assert lenient.start(checks.sleeps_for_real, 0.0).result() == "slept"


def test_a_new_virtual_clock_continues_the_running_workflows_not_the_closed_ones(db: Path) -> None:
    e = engine(db, checks)
    e.start(checks.long_sleep, 10).result()
    assert abs(Engine(db, clock="virtual").now() - datetime.now(UTC)) < timedelta(hours=1)  # closed: forgotten
    waiting = e.start(checks.wait_signals, {"count": 1, "timeout": 3 * 86400})
    e.sleep(timedelta(days=1))  # nothing happens in that day: the run's timeline stays where it was
    again = Engine(db, clock="virtual").register(checks)  # a restarted worker continues the running one
    assert again.now() == T0 + timedelta(days=10)
    assert again.run_until_complete(waiting.id) == ["timeout"]
    assert again.history(waiting.id).events[-1].timestamp == T0 + timedelta(days=13)


def test_run_worker_in_a_thread_while_the_caller_waits_for_a_result(db: Path) -> None:
    e = engine(db, checks)
    thread = threading.Thread(target=e.run_worker, daemon=True)
    thread.start()
    try:
        handle = e.start(checks.long_sleep, 2)
        assert handle.result(timeout=20) == (T0 + timedelta(days=2)).isoformat()
    finally:
        e.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_stop_requested_before_the_worker_starts_is_not_lost(db: Path) -> None:
    """A SIGTERM that reaches `replaytest worker` after its handlers are installed but before its
    loop starts must still stop it; the stop is spent by that run, not kept for the next."""
    e = engine(db, checks)
    e.stop()
    thread = threading.Thread(target=e.run_worker, daemon=True)
    thread.start()
    thread.join(timeout=10)  # a deadlock detector, not a timing assertion: it returns at once
    assert not thread.is_alive(), "run_worker() ran on after a stop requested before it started"
    assert e.start(checks.long_sleep, 2).result() == (T0 + timedelta(days=2)).isoformat()


def test_the_database_is_a_durable_wal_file(db: Path, tmp_path: Path) -> None:
    e = Engine(db)
    assert e.store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert e.store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: commits survive a power cut
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("these are my notes\n" * 100)
    with pytest.raises(ReplaytestError, match=r"the engine database .*notes\.db is damaged or not an SQLite file"):
        Engine(not_a_db)


# A workflow whose code raises on its first two workflow tasks (module-level counter), then completes.
_FLAKY_CODE_CALLS: list[int] = []


@workflow.defn
async def raises_twice_then_completes(spec: dict) -> str:
    _FLAKY_CODE_CALLS.append(1)
    if len(_FLAKY_CODE_CALLS) <= 2:
        raise RuntimeError(f"transient bug, call {len(_FLAKY_CODE_CALLS)}")
    return "done"


def test_a_long_running_virtual_clock_worker_retries_a_failed_workflow_task(db: Path) -> None:
    _FLAKY_CODE_CALLS.clear()
    e = engine(db, raises_twice_then_completes, sandbox=None)
    handle = e.start(raises_twice_then_completes, {}, id="flaky-code")
    stats: list = []
    thread = threading.Thread(target=lambda: stats.append(e.run_worker()), daemon=True)
    thread.start()
    try:
        assert handle.result(timeout=15) == "done"  # TimeoutError when the retry never comes
    finally:
        e.stop()
        thread.join(timeout=10)
    assert not thread.is_alive() and stats[0].workflow_task_failures == 2
    history = e.history("flaky-code")
    fails = of_type(history, "WorkflowTaskFailed")
    starts = of_type(history, "WorkflowTaskStarted")
    assert len(fails) == 2 and len(starts) == 3
    # the virtual clock jumped to each retry: backoff 1 s, then 2 s
    assert [s.timestamp - f.timestamp for f, s in zip(fails, starts[1:])] == [
        timedelta(seconds=1),
        timedelta(seconds=2),
    ]
    assert replay(history, [raises_twice_then_completes], sandbox=None).status == "completed"


# ---------------------------------------------------------------------------- eager dispatch, activity pool
class _CountCommits:
    """A stand-in fault injector that only counts the store's commits."""

    def __init__(self) -> None:
        self.commits = 0

    def attach(self, engine: Engine) -> None: ...
    def appended(self, run_id: str, events: object) -> None: ...
    def before_activity(self, info: object) -> None: ...

    def committed(self) -> None:
        self.commits += 1


def test_a_sequential_step_commits_twice_and_keeps_its_history_shape(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    e = engine(db, checks)
    handle = e.start(checks.steps, {"steps": 20, "log": str(log)}, id="s")
    counter = _CountCommits()
    e.set_faults(counter)
    assert handle.result() == list(range(20))
    # per step: complete the workflow task, lease its activity, (record the activity's result
    # + claim the workflow task it schedules); plus the first claim, the closing task and the
    # worker's first lease renewal. Each commit is durable (WAL, synchronous=FULL).
    assert counter.commits == 3 * 20 + 3
    history = e.history("s")
    assert [ev.type for ev in history.events[1:11]] == [
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "WorkflowTaskScheduled",
        "WorkflowTaskStarted",
        "WorkflowTaskCompleted",
        "ActivityTaskScheduled",
    ]
    assert e.store.tasks_of(handle.run_id) == []
    assert replay(history, [checks]).status == "completed"
    assert len(lines(log)) == 20


def test_eager_claims_respect_free_activity_slots(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    e = engine(db, checks, max_concurrent_activities=2)
    assert e.start(checks.fan_out, {"width": 5, "log": str(log), "sleep": 0.05}, id="f").result() == [0, 1, 2, 3, 4]
    assert sorted(line.split()[1] for line in lines(log)) == ["0", "1", "2", "3", "4"]
    assert all(line.split()[3] == "1" for line in lines(log))  # every activity ran once, on attempt 1


def test_activities_this_worker_does_not_run_are_left_for_a_worker_that_does(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    workflows_only = engine(db, checks.steps)
    workflows_only.start(checks.steps, {"steps": 1, "log": str(log)}, id="split")
    workflows_only.work()
    (task,) = workflows_only.store.tasks_of(workflows_only.get_handle("split").run_id)
    assert task.kind == "activity" and task.lease_owner is None  # not leased by a worker that cannot run it
    activities_only = engine(db, checks.record_step)
    activities_only.work()
    assert workflows_only.run_until_complete("split") == [0]


def test_activity_threads_are_reused_and_info_is_per_attempt(db: Path, tmp_path: Path) -> None:
    log = tmp_path / "log"
    e = engine(db, checks)
    before = threading.active_count()
    assert e.start(checks.steps, {"steps": 30, "log": str(log)}).result() == list(range(30))
    assert threading.active_count() - before <= 2  # a pool, not a thread per attempt
    keys = [line.split()[5] for line in lines(log)]
    assert len(set(keys)) == 30  # activity.info() is each attempt's own


def test_async_activities_run_on_a_reused_loop_and_their_leftover_tasks_are_cancelled() -> None:
    import asyncio

    from replaytest.engine.activity_task import _run_async

    cancelled: list[str] = []

    async def leaves_a_task() -> int:
        async def forever() -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append("yes")
                raise

        asyncio.get_running_loop().create_task(forever())
        await asyncio.sleep(0)
        return id(asyncio.get_running_loop())

    first = _run_async(leaves_a_task())
    assert cancelled == ["yes"]
    assert _run_async(leaves_a_task()) == first and cancelled == ["yes", "yes"]


def test_a_crash_right_after_scheduling_an_activity_does_not_count_an_attempt_as_lost() -> None:
    from replaytest.testing.faults import Crash, FaultPlan, run_under_plan

    def run(plan: FaultPlan):
        return run_under_plan(orders.process_order, ORDER, plan=plan, modules=[orders], workflow_id="o")

    baseline = run(FaultPlan())
    scheduled = next(e.id for e in baseline.history.events if e.type == "ActivityTaskScheduled")
    crashed = run(FaultPlan(crash=Crash(scheduled)))
    assert crashed.crashed_at == scheduled and crashed.result == baseline.result
    started = next(e for e in crashed.history.events if e.type == "ActivityTaskStarted")
    assert started.attrs["attempt"] == 1  # the activity never ran before the crash: attempt 1 runs on recovery
