from datetime import timedelta

from durabletask import task

from ..shop import notify


def approval(ctx: task.OrchestrationContext, request):
    approved = ctx.wait_for_external_event("approve")
    timeout = ctx.create_timer(timedelta(seconds=request["timeout"] * 2))  # edit
    winner = yield task.when_any([approved, timeout])
    if winner is approved:
        yield ctx.call_activity(notify, input=f"{request['id']} approved by {approved.get_result()}")
        return "approved"
    yield ctx.call_activity(notify, input=f"{request['id']} timed out")
    return "timed out"
