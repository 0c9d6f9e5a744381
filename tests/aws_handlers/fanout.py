"""A map whose items each wait an hour: recorded while the waits are pending (in flight)."""

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration


def remind(ctx: DurableContext, user: str, index: int, users: list) -> str:
    ctx.step(lambda _: f"queued {user}", name=f"queue-{index}")
    ctx.wait(Duration.from_seconds(3600), name=f"delay-{index}")
    return ctx.step(lambda _: f"reminded {user}", name=f"send-{index}")


@durable_execution
def handler(event: dict, context: DurableContext) -> list:
    return context.map(event["users"], remind, name="reminders").get_results()
