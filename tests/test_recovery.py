"""check_recovery: crash the worker after every durable step, recover, compare — in the same
process (modules already imported) and in fresh worker processes with another PYTHONHASHSEED;
and from a real pytest project, with the failure that says why a reference run did not finish."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fixtures.recovery import bad
from fixtures.workflows import onboarding, orders, payments
from replaytest import History, check_recovery
from replaytest.testing.recovery import RecoveryError

ORDER = {
    "id": "42",
    "email": "ada@example.com",
    "card": "4242-4242-4242-4242",
    "items": [{"sku": "tea", "price": 12.5, "qty": 2}],
}
USER = {"id": "u7", "email": "grace@example.com", "days_between_offers": 7, "max_offers": 3}


def without_attempts(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "gateway_attempts"}


def test_the_order_sample_recovers_from_a_crash_at_every_step(tmp_path: Path) -> None:
    report = check_recovery(orders.process_order, ORDER, modules=[orders], save_dir=tmp_path, samples=2)
    assert report.events == 23 and report.crash_points and report.crash_points[-1] < report.events
    assert len(report.activity_windows) == 3 and len(report.fresh_process_points) == 2
    assert report.seconds / (len(report.crash_points) + len(report.activity_windows) + 4) < 1.0
    assert not list(tmp_path.iterdir())


def test_the_payment_sample_recovers_except_for_the_attempt_count_it_reports(tmp_path: Path) -> None:
    payment = {"id": "p3", "amount": 120.0}
    report = check_recovery(
        payments.process_payment,
        payment,
        modules=[payments],
        save_dir=tmp_path,
        fresh_process=False,
        compare=without_attempts,
    )
    assert report.activity_windows
    # The sample returns activity.info().attempt: a crash that loses the successful attempt
    # makes it one more. check_recovery says so, at the activity-completion window.
    with pytest.raises(RecoveryError) as e:
        check_recovery(payments.process_payment, payment, modules=[payments], save_dir=tmp_path, fresh_process=False)
    (failure,) = e.value.failures
    assert failure.inside_activity_completion and "'gateway_attempts': 4" in str(e.value)


def test_the_onboarding_sample_recovers_across_weeks_of_timers(tmp_path: Path) -> None:
    report = check_recovery(onboarding.onboarding, USER, modules=[onboarding], save_dir=tmp_path, samples=1)
    assert report.events > 40 and len(report.crash_points) > 20


def test_module_level_state_in_a_long_lived_worker_is_caught_with_the_crash_point(tmp_path: Path) -> None:
    with pytest.raises(RecoveryError) as e:
        check_recovery(bad.numbered_invoice, "o-1", modules=[bad], save_dir=tmp_path, fresh_process=False)
    first = e.value.failures[0]
    assert first.k == 3 and first.mode.startswith("in-process")
    assert first.saved is not None and first.saved.name == "numbered_invoice-recovery-crash-3.json"
    assert History.load(first.saved).workflow_type == "numbered_invoice"
    message = str(e.value)
    assert "k=3: crash right after event 3 was committed" in message and str(first.saved) in message
    assert any("NondeterminismError" in p and "bad.py:41" in p for f in e.value.failures for p in f.problems)


def test_iterating_a_set_of_strings_is_caught_only_by_a_fresh_worker_process(tmp_path: Path) -> None:
    check_recovery(bad.steps_in_set_order, "o-2", modules=[bad], save_dir=tmp_path, fresh_process=False)
    with pytest.raises(RecoveryError) as e:
        check_recovery(bad.steps_in_set_order, "o-2", modules=[bad], save_dir=tmp_path, samples=2)
    assert e.value.failures and all("PYTHONHASHSEED=" in f.mode for f in e.value.failures)
    assert all(f.saved is not None and f.saved.exists() for f in e.value.failures)


def test_the_pytest_fixture_saves_broken_crash_points_under_tmp_path(check_recovery: Any, tmp_path: Path) -> None:
    with pytest.raises(RecoveryError) as e:
        check_recovery(bad.numbered_invoice, "o-3", modules=[bad], fresh_process=False)
    saved = e.value.failures[0].saved
    assert saved is not None and saved.parent == tmp_path / "recovery-failures"


# ---------------------------------------------------------------------------- from a real pytest project
FLOW = """
from replaytest import activity, workflow

@activity.defn
def add(a: int, b: int) -> int:
    return a + b

@workflow.defn
async def total(n: int) -> int:
    s = 0
    for i in range(n):
        s = await workflow.execute_activity(add, s, i)
    return s

@workflow.defn
async def uses_missing() -> int:
    return await workflow.execute_activity("missing_activity", 1)
"""


def test_check_recovery_registers_the_workflows_module_and_passes_sys_path_on(pytester: pytest.Pytester) -> None:
    """``myflow`` is importable only because pytest put tests/ on sys.path (rootdir insertion)."""
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "myflow.py").write_text(FLOW)
    pytester.path.joinpath("tests", "test_flow.py").write_text("""
import myflow
from replaytest import check_recovery

def test_total_recovers():
    report = check_recovery(myflow.total, 3, save_dir=None, fresh_process="all")
    assert report.events > 10 and report.fresh_process_points == report.crash_points
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_check_recovery_says_why_the_reference_run_did_not_finish(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("myflow.py").write_text(FLOW)
    pytester.path.joinpath("test_flow.py").write_text("""
import pytest
import myflow
from replaytest import ReplaytestError, check_recovery

def test_missing():
    with pytest.raises(ReplaytestError) as e:
        check_recovery(myflow.uses_missing, save_dir=None)
    message = str(e.value)
    assert "uses_missing did not finish without a crash" in message, message
    assert "activity 'missing_activity' is not registered" in message, message
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
