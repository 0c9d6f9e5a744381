"""Map over items, then two parallel branches."""

from aws_durable_execution_sdk_python import DurableContext, durable_execution


def double(ctx: DurableContext, item: int, index: int, items: list) -> int:
    return ctx.step(lambda _: item * 2, name=f"double-{index}")


def left(ctx: DurableContext) -> str:
    return ctx.step(lambda _: "L", name="left-step")


def right(ctx: DurableContext) -> str:
    return ctx.step(lambda _: "R", name="right-step")


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    doubled = context.map(event["items"], double, name="double-all")
    both = context.parallel([left, right], name="both")
    return {"doubled": doubled.get_results(), "both": both.get_results()}
