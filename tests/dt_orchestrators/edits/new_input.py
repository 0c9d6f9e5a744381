from durabletask import task

from ..shop import RETRY, charge, notify, reserve, ship


def order_saga(ctx: task.OrchestrationContext, order):
    yield ctx.call_activity(reserve, input={**order, "priority": True})  # edit
    yield ctx.call_activity(charge, input=order, retry_policy=RETRY)
    try:
        shipped = yield ctx.call_activity(ship, input=order)
    except task.TaskFailedError:
        return {"order": order["id"], "status": "compensated"}
    yield ctx.call_activity(notify, input=f"order {order['id']} {shipped}")
    return {"order": order["id"], "status": "shipped"}
