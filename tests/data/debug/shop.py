"""Workflows for tests/test_debug.py. The tests find lines by the `# @name` marker comments,
so lines may move; keep each marker on the line it names."""
import asyncio

from replaytest import activity, workflow


@activity.defn
async def charge(amount):
    return f"receipt-{amount}"


@activity.defn
def ship(receipt):
    return {"label": "L-" + receipt}


@activity.defn
def notify(who):
    return f"notified {who}"


@workflow.defn
async def checkout(order):
    receipt = await workflow.execute_activity(charge, order["amount"])  # @charge
    shipment = await workflow.execute_activity(ship, receipt)  # @ship
    label = shipment["label"]  # @label
    notes = await asyncio.gather(workflow.execute_activity(notify, "buyer"), workflow.execute_activity(notify, "seller"))  # @gather
    await workflow.sleep(60)  # @sleep
    return {"receipt": receipt, "label": label, "notes": list(notes)}  # @return
