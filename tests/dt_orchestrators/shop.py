"""A small shop on Durable Task: the orchestrators recorded by the tests (line numbers matter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from durabletask import task

ATTEMPTS: dict[str, int] = {}  # activity attempts per key, in the recording worker


def reserve(ctx, order):
    return {"sku": order["sku"], "reserved": True}


def charge(ctx, order):
    key = f"charge:{order['id']}"
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] == 1:
        raise ConnectionError("payment gateway timed out")
    return {"charged": order["amount"]}


def ship(ctx, order):
    if order.get("address") is None:
        raise ValueError(f"order {order['id']} has no address")
    return f"shipped {order['sku']}"


def refund(ctx, order):
    return f"refunded {order['amount']}"


def release(ctx, order):
    return f"released {order['sku']}"


def notify(ctx, text):
    return f"sent: {text}"


def measure(ctx, part):
    return len(part) * 10


def check_status(ctx, job):
    return "done" if job["round"] >= 2 else "busy"


def publish(ctx, report):
    raise RuntimeError("report store is read-only")


RETRY = task.RetryPolicy(first_retry_interval=timedelta(milliseconds=50), max_number_of_attempts=3)


def order_saga(ctx: task.OrchestrationContext, order):
    """Activity chain with a retry policy and compensation."""
    yield ctx.call_activity(reserve, input=order)
    yield ctx.call_activity(charge, input=order, retry_policy=RETRY)
    try:
        shipped = yield ctx.call_activity(ship, input=order)
    except task.TaskFailedError:
        yield ctx.call_activity(refund, input=order)
        yield ctx.call_activity(release, input=order)
        return {"order": order["id"], "status": "compensated"}
    yield ctx.call_activity(notify, input=f"order {order['id']} {shipped}")
    return {"order": order["id"], "status": "shipped"}


def approval(ctx: task.OrchestrationContext, request):
    """An external event raced against a timer."""
    approved = ctx.wait_for_external_event("approve")
    timeout = ctx.create_timer(timedelta(seconds=request["timeout"]))
    winner = yield task.when_any([approved, timeout])
    if winner is approved:
        yield ctx.call_activity(notify, input=f"{request['id']} approved by {approved.get_result()}")
        return "approved"
    yield ctx.call_activity(notify, input=f"{request['id']} timed out")
    return "timed out"


def fan_out(ctx: task.OrchestrationContext, parts):
    """Fan-out/fan-in with when_all."""
    sizes = yield task.when_all([ctx.call_activity(measure, input=p) for p in parts])
    return sum(sizes)


def ship_one(ctx: task.OrchestrationContext, item):
    yield ctx.call_activity(reserve, input={"sku": item})
    return f"{item} ready"


def batch(ctx: task.OrchestrationContext, items):
    """Sub-orchestrations, one per item."""
    results = []
    for item in items:
        done = yield ctx.call_sub_orchestrator(ship_one, input=item, instance_id=f"{ctx.instance_id}-{item}")
        results.append(done)
    return results


def monitor(ctx: task.OrchestrationContext, job):
    """A monitor that polls, sleeps and continues as new."""
    status = yield ctx.call_activity(check_status, input=job)
    if status == "done":
        return f"job {job['name']} done after {job['round']} rounds"
    yield ctx.create_timer(timedelta(seconds=job["every"]))
    ctx.continue_as_new({**job, "round": job["round"] + 1})


def nightly_report(ctx: task.OrchestrationContext, day):
    """The last step fails: the orchestration fails with it."""
    rows = yield ctx.call_activity(measure, input=day)
    text = yield ctx.call_activity(notify, input=f"{day}: {rows} rows")
    yield ctx.call_activity(publish, input=text)
    return "published"


def shift(ctx: task.OrchestrationContext, team):
    """Branches on the wall clock: replayable only when datetime.now() is the recorded time."""
    if datetime.now(UTC).hour < 12:
        yield ctx.call_activity(notify, input=f"{team}: morning shift")
    else:
        yield ctx.call_activity(notify, input=f"{team}: evening shift")
    return "rostered"


ORCHESTRATORS = [shift, order_saga, approval, fan_out, ship_one, batch, monitor, nightly_report]
ACTIVITIES = [reserve, charge, ship, refund, release, notify, measure, check_status, publish]
