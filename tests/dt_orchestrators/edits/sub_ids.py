from durabletask import task

from ..shop import ship_one


def batch(ctx: task.OrchestrationContext, items):
    results = []
    for item in items:
        done = yield ctx.call_sub_orchestrator(ship_one, input=item, instance_id=f"{item}-{ctx.instance_id}")  # edit
        results.append(done)
    return results
