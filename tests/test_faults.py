"""Fault plans: activities failing, timing out, delayed; signals at chosen times; worker
crashes after event k — on a real engine (SQLite file, virtual clock), then replayed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from fixtures.recovery import bad
from fixtures.workflows import onboarding, orders
from replaytest import History, replay
from replaytest.testing import strategies as rs
from replaytest.testing.faults import (
    ActivityFault,
    Crash,
    FaultPlan,
    PlanReplayError,
    PlanRun,
    SignalAt,
    last_run,
    run_under_plan,
)
from tests.conftest import ROOT

ORDER = {
    "id": "42",
    "email": "ada@example.com",
    "card": "4242-4242-4242-4242",
    "items": [{"sku": "tea", "price": 12.5, "qty": 2}],
}
ORDER_ACTIVITIES = ["calculate_total", "charge_card", "send_confirmation"]


def events(run: PlanRun, *types: str) -> list:
    return [e for e in run.history.events if e.type in types]


def order(plan: FaultPlan, **options: Any) -> PlanRun:
    return run_under_plan(orders.process_order, ORDER, plan=plan, modules=[orders], **options)


def test_a_plan_is_plain_json_and_prints_as_something_to_paste_back() -> None:
    plan = FaultPlan((ActivityFault("charge_card", 2, "timeout"),), (SignalAt("go", {"x": 1}, 5.0),), Crash(9, True))
    assert FaultPlan.from_json(plan.to_json()) == plan
    assert eval(repr(plan)) == plan
    with pytest.raises(Exception, match="fault kind"):
        ActivityFault("charge_card", 1, "explode")


def test_transient_failures_and_a_timeout_are_retried_on_the_backoff_schedule() -> None:
    plan = FaultPlan(
        (ActivityFault("charge_card", 1, "transient", "GatewayDown"), ActivityFault("charge_card", 2, "timeout"))
    )
    run = order(plan)
    assert run.status == "completed"
    assert [(x.attempt, x.fault) for x in run.executions if x.activity_type == "charge_card"] == [
        (1, "transient"),
        (2, "timeout"),
        (3, None),
    ]
    scheduled = next(e for e in events(run, "ActivityTaskScheduled") if e.attrs["activity_type"] == "charge_card")
    started = next(e for e in events(run, "ActivityTaskStarted") if e.attrs["scheduled_event_id"] == scheduled.id)
    assert started.attrs["attempt"] == 3
    assert started.timestamp - scheduled.timestamp == timedelta(seconds=2 + 4)  # CHARGE_RETRY: 2 s, then ×2


def test_the_default_retry_policy_doubles_from_1_s_and_caps_at_100_s() -> None:
    plan = FaultPlan(tuple(ActivityFault("send_confirmation", n, "transient") for n in range(1, 10)))
    run = order(plan)
    scheduled = events(run, "ActivityTaskScheduled")[-1]
    (started,) = [e for e in events(run, "ActivityTaskStarted") if e.attrs["scheduled_event_id"] == scheduled.id]
    assert run.status == "completed" and started.attrs["attempt"] == 10
    assert started.timestamp - scheduled.timestamp == timedelta(seconds=1 + 2 + 4 + 8 + 16 + 32 + 64 + 100 + 100)


def test_a_non_retryable_failure_fails_the_workflow_with_its_type_at_once() -> None:
    run = order(FaultPlan((ActivityFault("charge_card", 1, "non_retryable", "CardDeclined"),)))
    assert run.status == "failed" and run.failure is not None and run.failure["type"] == "CardDeclined"
    assert [x.attempt for x in run.executions if x.activity_type == "charge_card"] == [1]
    assert not events(run, "ActivityTaskScheduled")[2:]  # send_confirmation was never scheduled


def test_timeouts_on_every_attempt_end_in_activity_task_timed_out() -> None:
    run = order(FaultPlan(tuple(ActivityFault("charge_card", n, "timeout") for n in range(1, 6))))
    (timed_out,) = events(run, "ActivityTaskTimedOut")
    assert timed_out.attrs["failure"]["type"] == "StartToCloseTimeout"
    assert run.status == "failed" and run.failure is not None and run.failure["type"] == "StartToCloseTimeout"


def test_a_delay_passes_on_the_virtual_clock_without_real_sleeping() -> None:
    run = order(FaultPlan((ActivityFault("send_confirmation", 1, "delay", seconds=3 * 86400),)))
    done = events(run, "ActivityTaskCompleted")[-1]
    assert run.status == "completed"
    assert done.timestamp - run.history.events[0].timestamp == timedelta(days=3)


def test_a_crash_after_a_claimed_workflow_task_is_recorded_and_recovered_on_a_new_worker() -> None:
    baseline = order(FaultPlan(), workflow_id="o")
    claim = next(e.id for e in baseline.history.events if e.type == "WorkflowTaskStarted" and e.id > 3)
    run = order(FaultPlan(crash=Crash(claim)), workflow_id="o")
    assert run.crashed_at == claim and len(run.worker_identities) == 2
    (lost,) = events(run, "WorkflowTaskFailed")
    assert lost.attrs["failure"]["type"] == "WorkflowTaskTimedOut"
    assert run.result == baseline.result


def test_a_crash_inside_the_activity_completion_reruns_it_with_the_same_idempotency_key(tmp_path: Path) -> None:
    ledger = tmp_path / "charges.jsonl"
    spec = {**ORDER, "ledger": str(ledger)}
    baseline = run_under_plan(orders.process_order, spec, modules=[orders], workflow_id="o")
    charged = next(
        e.id
        for e in baseline.history.events
        if e.type == "ActivityTaskCompleted" and "charge_id" in str(e.attrs.get("result"))
    )
    run = run_under_plan(
        orders.process_order,
        spec,
        plan=FaultPlan(crash=Crash(charged, in_activity_completion=True)),
        modules=[orders],
        workflow_id="o",
    )
    assert run.crashed_inside and run.status == "completed"
    charges = [x for x in run.executions if x.activity_type == "charge_card"]
    assert [(x.attempt, x.before_crash) for x in charges] == [(1, True), (2, False)]
    assert len({x.idempotency_key for x in charges}) == 1
    keys = [line.split('"idempotency_key": ')[1] for line in ledger.read_text().splitlines()]
    assert len(keys) == 3 and keys[1] == keys[2]  # the provider sees the retry as the same charge
    assert len([e for e in events(run, "ActivityTaskCompleted")]) == 3  # recorded once each


def test_signals_arrive_at_their_planned_time() -> None:
    user = {"id": "u7", "email": "grace@example.com", "days_between_offers": 7, "max_offers": 3}
    run = run_under_plan(
        onboarding.onboarding,
        user,
        modules=[onboarding],
        plan=FaultPlan(signals=(SignalAt("subscription", "subscribed", 10 * 86400.0),)),
    )
    assert run.status == "completed" and run.result["outcome"] == "subscribed" and run.result["offers_sent"] == 1
    (signalled,) = events(run, "WorkflowExecutionSignaled")
    assert signalled.timestamp - run.history.events[0].timestamp == timedelta(days=10)


def test_a_history_that_does_not_replay_raises_an_error_naming_the_plan() -> None:
    plan = FaultPlan((ActivityFault("do_step", 1, "transient"),))
    with pytest.raises(PlanReplayError, match="does not replay cleanly against the same code") as e:
        run_under_plan(bad.numbered_invoice, "o-9", plan=plan, modules=[bad])
    assert plan.to_json() in str(e.value) and "different activity arguments" in str(e.value)
    kept = last_run()
    assert kept is not None and kept.plan == plan  # kept for --replay-save-failures


# ---------------------------------------------------------------------------- the property
def expected_outcome(plan: FaultPlan, lost: tuple[str, int] | None) -> tuple[str, str | None]:
    """What the retry policies of the order sample say must happen under ``plan``."""
    policies = {"calculate_total": (0, ()), "charge_card": (5, ("CardDeclined",)), "send_confirmation": (0, ())}
    for activity in ORDER_ACTIVITIES:
        maximum, non_retryable = policies[activity]
        n = 1
        while True:
            if lost == (activity, n):  # its final outcome was lost in the crash: the attempt counts as lost
                if maximum and n >= maximum:
                    return "failed", "ActivityWorkerLost"
                n += 1
                continue
            fault = plan.fault_for(activity, n)
            if fault is None or fault.kind == "delay":
                break
            error = "StartToCloseTimeout" if fault.kind == "timeout" else fault.error_type
            if fault.kind == "non_retryable" or error in non_retryable or (maximum and n >= maximum):
                return "failed", error
            n += 1
    return "completed", None


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(rs.fault_plans(ORDER_ACTIVITIES, max_event=32, max_attempt=6, error_types=("GatewayDown", "CardDeclined")))
def test_order_histories_under_any_fault_plan_replay_and_match_the_retry_policies(plan: FaultPlan) -> None:
    run = order(plan)  # raises PlanReplayError if the history does not replay
    lost = None
    if run.crashed_inside:
        last = [x for x in run.executions if x.before_crash][-1]
        lost = (last.activity_type, last.attempt)
    status, error = expected_outcome(plan, lost)
    assert run.status == status, run.blocked
    assert (run.failure or {}).get("type") == error
    completions = [
        e.attrs["activity_id"]
        for e in events(run, "ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut")
    ]
    assert len(completions) == len(set(completions))


# ---------------------------------------------------------------------------- --replay-save-failures
def test_a_failing_example_s_history_is_saved_and_replays_as_a_regression_test(tmp_path: Path) -> None:
    (tmp_path / "test_prop.py").write_text(
        "from fixtures.workflows import orders\n"
        "from replaytest.testing.faults import ActivityFault, FaultPlan, run_under_plan\n"
        "def test_charge_is_never_declined():\n"
        "    plan = FaultPlan((ActivityFault('charge_card', 1, 'non_retryable', 'CardDeclined'),))\n"
        f"    run = run_under_plan(orders.process_order, {ORDER!r}, plan=plan, modules=[orders])\n"
        "    assert run.status == 'completed'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    done = subprocess.run(
        [*argv, "test_prop.py", "--replay-save-failures", "saved"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout
    (saved,) = (tmp_path / "saved").glob("process_order-plan-*.json")
    assert f"saved to {saved}" in done.stdout
    assert History.load(saved).status == "failed"
    again = subprocess.run(
        [*argv, "--replay", str(saved), "--replay-module", "fixtures.workflows.orders"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0 and "1 passed" in again.stdout, again.stdout
    assert replay(History.load(saved), [orders]).status == "failed"


def test_run_under_plan_registers_the_workflows_own_module() -> None:
    from fixtures.workflows import orders
    from replaytest.testing.faults import run_under_plan

    order = {
        "id": "42",
        "email": "ada@example.com",
        "card": "4242-4242-4242-4242",
        "items": [{"sku": "tea", "price": 12.5, "qty": 2}],
    }
    run = run_under_plan(orders.process_order, order)  # no modules=: its activities live beside it
    assert run.status == "completed", run.blocked
