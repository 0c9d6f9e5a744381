from datetime import timedelta

from durabletask import task

from ..shop import measure, notify, publish

RETRY = task.RetryPolicy(first_retry_interval=timedelta(seconds=5), max_number_of_attempts=3)


def nightly_report(ctx: task.OrchestrationContext, day):
    rows = yield ctx.call_activity(measure, input=day)
    text = yield ctx.call_activity(notify, input=f"{day}: {rows} rows")
    yield ctx.call_activity(publish, input=text, retry_policy=RETRY)  # edit
    return "published"
