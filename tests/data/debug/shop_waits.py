"""checkout after an edit that waits for a signal where history scheduled `ship`: the code
issues nothing, so replay diverges (a missing step) while the code waits at `# @waits`."""
from replaytest import workflow

from .shop import charge


@workflow.defn
async def checkout(order):
    receipt = await workflow.execute_activity(charge, order["amount"])
    approved = await workflow.wait_for_signal("approve")  # @waits
    return {"receipt": receipt, "approved": approved}
