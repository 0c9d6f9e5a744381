from datetime import timedelta

from durabletask import task

from ..shop import check_status


def monitor(ctx: task.OrchestrationContext, job):
    status = yield ctx.call_activity(check_status, input=job)
    if status == "done":
        return f"job {job['name']} done after {job['round']} rounds"
    yield ctx.create_timer(timedelta(seconds=job["every"]))
    ctx.continue_as_new({**job, "round": job["round"] + 2})  # edit
