"""An approval: waits for an external callback (never sent in the recording)."""

from aws_durable_execution_sdk_python import DurableContext, durable_execution


@durable_execution
def handler(event: dict, context: DurableContext) -> str:
    context.step(lambda _: f"asked {event['user']}", name="ask")
    callback = context.create_callback(name="approval")
    decision = callback.result()
    context.step(lambda _: "done", name="record-decision")
    return decision
