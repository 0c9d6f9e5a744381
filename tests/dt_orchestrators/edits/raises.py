from durabletask import task

from ..shop import reserve


def order_saga(ctx: task.OrchestrationContext, order):
    yield ctx.call_activity(reserve, input=order)
    raise ValueError(f"order {order['id']}: new validation rejects it")  # edit
