"""Every other operation kind: wait_for_callback, wait_for_condition, a chained invoke, a flat
map, named parallel branches, a failed child context that the handler catches."""

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, MapConfig, NestingType, ParallelBranch
from aws_durable_execution_sdk_python.exceptions import ChildContextError
from aws_durable_execution_sdk_python.waits import WaitForConditionConfig, WaitForConditionDecision


def until_three(state: int, check_context: object) -> int:
    return state + 1


def stop_at_three(state: int, attempt: int) -> WaitForConditionDecision:
    return WaitForConditionDecision.stop_polling() if state >= 3 else WaitForConditionDecision.continue_waiting(Duration.from_seconds(1))


def failing_child(ctx: DurableContext) -> str:
    ctx.step(lambda _: "half", name="half-done")
    raise ValueError("child gave up")


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    approved = context.wait_for_callback(lambda callback_id, _: None, name="approval")
    polled = context.wait_for_condition(until_three, WaitForConditionConfig(wait_strategy=stop_at_three, initial_state=0),
                                        name="poll")
    quote = context.invoke("pricing", {"sku": event["sku"]}, name="price")
    flat = context.map([1, 2], lambda ctx, x, i, xs: ctx.step(lambda _: x + 10, name=f"add-{i}"), name="flat",
                       config=MapConfig(nesting_type=NestingType.FLAT))
    named = context.parallel([ParallelBranch(func=lambda ctx: ctx.step(lambda _: "a", name="a-step"), name="alpha"),
                              ParallelBranch(func=lambda ctx: ctx.step(lambda _: "b", name="b-step"), name="beta")],
                             name="named")
    try:
        context.run_in_child_context(failing_child, name="risky")
        outcome = "fine"
    except ChildContextError:
        outcome = "recovered"
    return {"approved": approved, "polled": polled, "quote": quote, "flat": flat.get_results(),
            "named": named.get_results(), "outcome": outcome}
