from durabletask import task

from ..shop import RETRY, charge, refund, release, reserve, ship


def order_saga(ctx: task.OrchestrationContext, order):
    yield ctx.call_activity(reserve, input=order)
    yield ctx.call_activity(charge, input=order, retry_policy=RETRY)
    try:
        yield ctx.call_activity(ship, input=order)
    except task.TaskFailedError:
        yield ctx.call_activity(refund, input=order)
        yield ctx.call_activity(release, input=order)
        return {"order": order["id"], "status": "compensated"}
    return {"order": order["id"], "status": "shipped"}  # edit
