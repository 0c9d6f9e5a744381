"""tests/data/debug/shop.py after an incompatible edit: the second step now notifies instead
of shipping, so replaying checkout-1.json diverges at the `# @diverges` line."""
import asyncio

from replaytest import workflow

from .shop import charge, notify, ship  # noqa: F401  (the activities are unchanged)


@workflow.defn
async def checkout(order):
    receipt = await workflow.execute_activity(charge, order["amount"])  # @charge
    note = await workflow.execute_activity(notify, receipt)  # @diverges
    notes = await asyncio.gather(workflow.execute_activity(notify, "buyer"), workflow.execute_activity(notify, "seller"))
    await workflow.sleep(60)
    return {"receipt": receipt, "note": note, "notes": list(notes)}
