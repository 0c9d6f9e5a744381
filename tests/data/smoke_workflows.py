import asyncio
from datetime import timedelta
from replaytest import workflow, activity

@activity.defn
async def calc(order): return order["n"] * 10
@activity.defn
def email(x): return f"sent {x}"

@workflow.defn
async def flow(order):
    total = await workflow.execute_activity(calc, order)
    a, b = await asyncio.gather(workflow.execute_activity(email, "a"), workflow.execute_activity(email, "b"))
    await workflow.sleep(timedelta(days=30))
    v = await workflow.side_effect(lambda: 41)
    p = workflow.patched("fix")
    r = workflow.random().random()
    return {"total": total, "a": a, "b": b, "v": v, "p": p, "now": workflow.now().isoformat(), "u": str(workflow.uuid4())[:8], "r": r}
