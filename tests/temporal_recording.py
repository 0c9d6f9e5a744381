"""Record the Temporal fixture histories with a real worker against a real dev server, and
export each one the two ways Temporal users do: ``temporal workflow show -o json`` (the CLI)
and ``(await handle.fetch_history()).to_json()`` (the Python client).

Writes ``OUT/cli/<workflow-id>.json`` and ``OUT/client/<workflow-id>.json`` for
``order-1`` (OrderWorkflow: activities, a signal, a patch, a timer, a child), ``ship-1`` (its
child) and ``coupon-1`` (CouponWorkflow, stuck: its second workflow task keeps failing) and, client
export only, ``coupon-2`` (stuck the same way, then completed by a worker with the fix).

``OUT/project/<workflow-id>.json`` (client exports) are a project with one worker per task
queue (``fixtures/temporal/versions.py`` and ``fixtures/temporal/project/``): ``invoice-1`` and
``invoice-2``, recorded by version 1 and then version 2 of ``invoice-workflow`` on queue
``invoices``; ``greet-hello-1`` and ``greet-bye-1``, two different ``GreetingWorkflow`` classes
on queues ``hello-greetings`` and ``bye-greetings``; ``fanout-1`` (queue ``fanout``); all in
namespace ``project``. ``OUT/local/local-1.json``: a workflow with a local activity
(``fixtures/temporal/local.py``, namespace ``local``).

The server keeps what the pull tests pull (``_record_pull``): once stopped, its database is
what each test process's own dev server starts from (tests/conftest.py), so no test records
its executions again.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from fixtures.temporal import activities, coupon_buggy, coupon_fixed, orders
from tests.temporal_server import temporal_cli

#: the activities, typed as temporalio wants them (a list of differently typed functions is a list[function])
ACTIVITIES = cast(Sequence[Callable[..., Any]], activities.ALL)

ORDER = {"id": "1", "items": ["tv-55", "hdmi"], "amount": 649.0}
COUPON = {"id": "7", "coupon": "WELCOME5", "amount": 120.0}


async def _wait_for(handle: WorkflowHandle, predicate, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        history = await handle.fetch_history()
        if predicate([e for e in history.events]):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"workflow {handle.id} did not reach the expected state")


def _charged_and_waiting(events) -> bool:
    # both activities completed and the workflow task after them completed: it waits for the signal
    completed = [i for i, e in enumerate(events) if e.HasField("activity_task_completed_event_attributes")]
    return len(completed) >= 2 and any(
        e.HasField("workflow_task_completed_event_attributes") for e in events[completed[1] :]
    )


def _task_failed(events) -> bool:
    return any(e.HasField("workflow_task_failed_event_attributes") for e in events)


async def _record(address: str, out: Path) -> None:
    client = await Client.connect(address)
    queue = f"fixtures-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[orders.OrderWorkflow, orders.ShippingWorkflow, coupon_buggy.CouponWorkflow],
        activities=ACTIVITIES,
    ):
        order = await client.start_workflow(orders.OrderWorkflow.run, ORDER, id="order-1", task_queue=queue)
        coupon = await client.start_workflow(coupon_buggy.CouponWorkflow.run, COUPON, id="coupon-1", task_queue=queue)
        await _wait_for(order, _charged_and_waiting)
        await order.signal(orders.OrderWorkflow.approve)
        await order.result()
        await _wait_for(coupon, _task_failed)
        handles = {"order-1": order, "ship-1": client.get_workflow_handle("ship-1"), "coupon-1": coupon}
        (out / "client").mkdir(parents=True, exist_ok=True)
        for wid, handle in handles.items():
            (out / "client" / f"{wid}.json").write_text((await handle.fetch_history()).to_json())
        (out / "cli").mkdir(parents=True, exist_ok=True)
        for wid in handles:
            shown = subprocess.run(
                [temporal_cli(), "workflow", "show", "--workflow-id", wid, "-o", "json", "--address", address],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            json.loads(shown.stdout)
            (out / "cli" / f"{wid}.json").write_text(shown.stdout)
        await coupon.terminate("recorded")
    await _hotfix(client, out)


@workflow.defn(name="CouponWorkflow")
class _RedeployedCoupon:
    """The buggy CouponWorkflow until its first workflow task fails, then the fixed one: the
    commands and events of a stuck workflow whose worker was redeployed with the fix. (Stopping
    a buggy worker and starting a fixed one loses the task retried in between: 10 s until it
    times out.) Runs unsandboxed, so the switch outlives the failed task."""

    fixed = False

    @workflow.run
    async def run(self, order: dict[str, Any]) -> float:
        if _RedeployedCoupon.fixed:
            return await coupon_fixed.CouponWorkflow().run(order)
        try:
            return await coupon_buggy.CouponWorkflow().run(order)
        except KeyError:
            _RedeployedCoupon.fixed = True
            raise


async def _hotfix(client: Client, out: Path) -> None:
    """coupon-2: stuck under the buggy code, then completed by the fix."""
    queue = f"hotfix-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[_RedeployedCoupon],
        activities=ACTIVITIES,
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(_RedeployedCoupon.run, COUPON, id="coupon-2", task_queue=queue)
        await asyncio.wait_for(handle.result(), 60)
    assert _RedeployedCoupon.fixed, "coupon-2 never failed under the buggy code"
    (out / "client" / "coupon-2.json").write_text((await handle.fetch_history()).to_json())


async def _record_project(address: str, out: Path) -> None:
    from fixtures.temporal import versions
    from fixtures.temporal.project import fanout, greet_bye, greet_hello

    client = await Client.connect(address, namespace="project")
    (out / "project").mkdir(parents=True, exist_ok=True)
    handles: list[WorkflowHandle[Any, Any]] = []
    for version, wid in ((versions.InvoiceWorkflow, "invoice-1"), (versions.InvoiceWorkflowPatched, "invoice-2")):
        async with Worker(client, task_queue="invoices", workflows=[version], activities=ACTIVITIES):
            handle = await client.start_workflow(version.run, wid, id=wid, task_queue="invoices")
            await handle.result()
            handles.append(handle)
    workers = [
        Worker(client, task_queue="hello-greetings", workflows=[greet_hello.GreetingWorkflow], activities=ACTIVITIES),
        Worker(client, task_queue="bye-greetings", workflows=[greet_bye.GreetingWorkflow], activities=ACTIVITIES),
        Worker(
            client,
            task_queue="fanout",
            workflows=[fanout.FanOutWorkflow, fanout.PackingWorkflow],
            activities=ACTIVITIES,
        ),
    ]
    for w in workers:
        await w.__aenter__()
    try:
        started: list[WorkflowHandle[Any, Any]] = [
            await client.start_workflow(
                greet_hello.GreetingWorkflow.run, "Ada", id="greet-hello-1", task_queue="hello-greetings"
            ),
            await client.start_workflow(
                greet_bye.GreetingWorkflow.run, "Ada", id="greet-bye-1", task_queue="bye-greetings"
            ),
            await client.start_workflow(fanout.FanOutWorkflow.run, ["a", "b"], id="fanout-1", task_queue="fanout"),
        ]
        for handle in started:
            await asyncio.wait_for(handle.result(), 60)
        handles.extend(started)
    finally:
        for w in reversed(workers):
            await w.__aexit__(None, None, None)
    for handle in handles:
        (out / "project" / f"{handle.id}.json").write_text((await handle.fetch_history()).to_json())


async def _listed(client: Client, count: int) -> None:
    """Wait until visibility (eventually consistent) lists ``count`` executions."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len([w async for w in client.list_workflows()]) >= count:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"visibility never listed the {count} executions in namespace {client.namespace}")


async def _record_pull(address: str, out: Path) -> None:
    """What the pull tests pull. Namespace ``default`` also holds ``dup`` twice (one workflow
    id, two runs): 6 executions with the fixtures. Namespace ``pull-files``: dup (two runs),
    dup-<first run> and dup@<first run> (one each), greet-1..3 (three GreetingWorkflow, started
    in that order); the run ids of each workflow id go to ``OUT/pull-files-runs.json``."""
    from fixtures.temporal.project import greet_hello

    client = await Client.connect(address)
    queue = "dup"
    async with Worker(client, task_queue=queue, workflows=[orders.ShippingWorkflow], activities=ACTIVITIES):
        for _ in range(2):
            await client.execute_workflow(orders.ShippingWorkflow.run, "9", id="dup", task_queue=queue)
    await _listed(client, 6)

    client = await Client.connect(address, namespace="pull-files")
    queue = "pull-files"
    runs: dict[str, list[str]] = {}
    async with Worker(
        client,
        task_queue=queue,
        workflows=[orders.ShippingWorkflow, greet_hello.GreetingWorkflow],
        activities=ACTIVITIES,
    ):
        for _ in range(2):
            handle = await client.start_workflow(orders.ShippingWorkflow.run, "9", id="dup", task_queue=queue)
            await handle.result()
            runs.setdefault("dup", []).append(handle.result_run_id or "")
        for wid in (f"dup-{runs['dup'][0]}", f"dup@{runs['dup'][0]}"):
            handle = await client.start_workflow(orders.ShippingWorkflow.run, "9", id=wid, task_queue=queue)
            await handle.result()
            runs[wid] = [handle.result_run_id or ""]
        for i in (1, 2, 3):
            greeting = await client.start_workflow(
                greet_hello.GreetingWorkflow.run, "Ada", id=f"greet-{i}", task_queue=queue
            )
            await greeting.result()
            runs[f"greet-{i}"] = [greeting.result_run_id or ""]
    await _listed(client, 7)
    (out / "pull-files-runs.json").write_text(json.dumps(runs))


async def _record_local(address: str, out: Path) -> None:
    """``OUT/local/local-1.json``: LocalStepWorkflow, whose local activity history records as a
    MarkerRecorded (namespace ``local``, so that no pull test counts it)."""
    from fixtures.temporal import local

    client = await Client.connect(address, namespace="local")
    async with Worker(client, task_queue="local", workflows=[local.LocalStepWorkflow], activities=ACTIVITIES):
        handle = await client.start_workflow(local.LocalStepWorkflow.run, "1", id="local-1", task_queue="local")
        await asyncio.wait_for(handle.result(), 60)
    (out / "local").mkdir(parents=True, exist_ok=True)
    (out / "local" / "local-1.json").write_text((await handle.fetch_history()).to_json())


#: the namespaces the recording server needs besides ``default``
NAMESPACES = ("project", "pull-files", "local")


def record(address: str, out: Path) -> Path:
    async def every() -> None:
        await _record(address, out)
        await _record_project(address, out)
        await _record_pull(address, out)
        await _record_local(address, out)

    asyncio.run(every())
    return out


if __name__ == "__main__":  # python -m tests.temporal_recording ADDRESS OUT
    import os
    import sys

    record(sys.argv[1], Path(sys.argv[2]))
    # temporalio's core threads can abort the interpreter while it finalizes (the same
    # "PyGILState_Release ... finalizing" seen in test processes that kept a client, and
    # why `replaytest pull` ends with os._exit): everything is written, so leave now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
