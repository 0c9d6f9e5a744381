import random

from durabletask import task

from ..shop import measure

DRAWS: list[float] = []


def fan_out(ctx: task.OrchestrationContext, parts):
    DRAWS.append(random.random())  # edit: replayed with the seeded stream
    sizes = yield task.when_all([ctx.call_activity(measure, input=p) for p in parts])
    return sum(sizes)
