"""An approval workflow that waits for a signal after one activity, and the edits a pull
request might make to it (tests/test_inflight.py): each registered as ``approval``."""

from __future__ import annotations

from replaytest import activity, workflow


@activity.defn
def charge(amount: float) -> str:
    return f"ch-{amount}"


@activity.defn
def refund(amount: float) -> str:
    return f"rf-{amount}"


@workflow.defn(name="approval")
async def recorded(amount: float) -> str:
    c = await workflow.execute_activity(charge, amount)
    ok = await workflow.wait_for_signal("decide")
    if not ok:
        return await workflow.execute_activity(refund, amount)
    return c


@workflow.defn(name="approval")
async def step_before_the_wait(amount: float) -> str:
    c = await workflow.execute_activity(charge, amount)
    await workflow.execute_activity(refund, 0)  # NEW STEP
    ok = await workflow.wait_for_signal("decide")
    if not ok:
        return await workflow.execute_activity(refund, amount)
    return c


@workflow.defn(name="approval")
async def timer_before_the_wait(amount: float) -> str:
    c = await workflow.execute_activity(charge, amount)
    await workflow.sleep(60)  # NEW STEP
    ok = await workflow.wait_for_signal("decide")
    if not ok:
        return await workflow.execute_activity(refund, amount)
    return c


@workflow.defn(name="approval")
async def patched_step_before_the_wait(amount: float) -> str:
    c = await workflow.execute_activity(charge, amount)
    if workflow.patched("refund-first"):
        await workflow.execute_activity(refund, 0)
    ok = await workflow.wait_for_signal("decide")
    if not ok:
        return await workflow.execute_activity(refund, amount)
    return c


@workflow.defn(name="approval")
async def step_after_the_wait(amount: float) -> str:
    c = await workflow.execute_activity(charge, amount)
    ok = await workflow.wait_for_signal("decide")
    await workflow.execute_activity(refund, 0)
    if not ok:
        return await workflow.execute_activity(refund, amount)
    return c
