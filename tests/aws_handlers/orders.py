"""An order: reserve, a cooling-off wait, charge, ship (a child context), notify."""

from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution, durable_step
from aws_durable_execution_sdk_python.config import Duration


@durable_step
def reserve(step: StepContext, item: str) -> dict:
    return {"reserved": item}


def ship(ctx: DurableContext) -> list:
    label = ctx.step(lambda _: "label-1", name="print-label")
    pickup = ctx.step(lambda _: "pickup-1", name="book-pickup")
    return [label, pickup]


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    reserved = context.step(reserve(event["item"]))
    context.wait(Duration.from_seconds(5), name="cool-off")
    paid = context.step(lambda _: {"charged": 42}, name="charge")
    shipped = context.run_in_child_context(ship, name="ship")
    context.step(lambda _: "sent", name="notify")
    return {"reserved": reserved, "paid": paid, "shipped": shipped}
