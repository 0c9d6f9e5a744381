"""Workflows the plugin tests replay. Histories under ./histories were recorded from this
exact code (``python tests/data/plugin/generate.py``); tests write edited copies of it to
show divergences, workflow task errors and sandbox findings."""

from datetime import timedelta

from replaytest import ApplicationError, activity, workflow


@activity.defn
def calculate_total(order: dict) -> int:
    return sum(item["price"] * item["qty"] for item in order["items"])


@activity.defn
def charge_card(order_id: str, amount: int) -> str:
    return f"charge-{order_id}-{amount}"


@activity.defn
def send_receipt(order_id: str) -> str:
    return f"receipt-{order_id}"


@workflow.defn
async def checkout(order: dict) -> dict:
    total = await workflow.execute_activity(calculate_total, order)
    charge = await workflow.execute_activity(charge_card, order["id"], total)
    await workflow.sleep(timedelta(days=1))
    receipt = await workflow.execute_activity(send_receipt, order["id"])
    return {"status": "charged", "total": total, "charge": charge, "receipt": receipt}


@workflow.defn
async def greet(name: str) -> str:
    suffix = await workflow.side_effect(lambda: "!")
    return f"hello {name}{suffix}"


@workflow.defn
async def discount(order: dict) -> dict:
    total = await workflow.execute_activity(calculate_total, order)
    per_item = total / order["coupons"]  # BUG: no coupons means ZeroDivisionError
    if per_item < 0:
        raise ApplicationError("negative total", type="BadOrder")
    return {"per_item": per_item}
