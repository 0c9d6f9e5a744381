"""An invoice whose handler code (outside any step) raises: the execution failed."""

from aws_durable_execution_sdk_python import DurableContext, durable_execution


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    item = context.step(lambda _: {"sku": event["sku"]}, name="load-item")
    total = item["price"] * 2
    invoice = context.step(lambda _: {"total": total}, name="invoice")
    return invoice
