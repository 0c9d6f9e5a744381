from durabletask import task

from ..shop import RETRY, notify, reserve, ship


def order_saga(ctx: task.OrchestrationContext, order):
    yield ctx.call_activity(reserve, input=order)
    yield ctx.call_activity("charge_card", input=order, retry_policy=RETRY)  # edit
    shipped = yield ctx.call_activity(ship, input=order)
    yield ctx.call_activity(notify, input=f"order {order['id']} {shipped}")
    return {"order": order["id"], "status": "shipped"}
