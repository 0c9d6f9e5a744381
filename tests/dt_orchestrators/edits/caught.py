from durabletask import task

from ..shop import measure, notify, publish


def nightly_report(ctx: task.OrchestrationContext, day):
    rows = yield ctx.call_activity(measure, input=day)
    text = yield ctx.call_activity(notify, input=f"{day}: {rows} rows")
    try:
        yield ctx.call_activity(publish, input=text)
    except task.TaskFailedError:
        return "not published"  # edit
    return "published"
