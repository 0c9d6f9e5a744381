"""checkout after an edit that only changes what it returns: every step matches, and replay
diverges at the very end (a different workflow result)."""
import asyncio

from replaytest import workflow

from .shop import charge, notify, ship


@workflow.defn
async def checkout(order):
    receipt = await workflow.execute_activity(charge, order["amount"])
    shipment = await workflow.execute_activity(ship, receipt)
    notes = await asyncio.gather(workflow.execute_activity(notify, "buyer"), workflow.execute_activity(notify, "seller"))
    await workflow.sleep(60)
    return {"receipt": receipt, "label": shipment["label"].lower(), "notes": list(notes)}  # @return
