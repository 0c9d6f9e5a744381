from datetime import UTC, datetime

from durabletask import task

from ..shop import notify


def shift(ctx: task.OrchestrationContext, team):
    with open(__file__) as own_source:  # edit
        own_source.read()
    if datetime.now(UTC).hour < 12:
        yield ctx.call_activity(notify, input=f"{team}: morning shift")
    else:
        yield ctx.call_activity(notify, input=f"{team}: evening shift")
    return "rostered"
