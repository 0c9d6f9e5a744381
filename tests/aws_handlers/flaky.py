"""A payment whose charge step has a bug: it fails and is retried in a minute."""

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, StepConfig
from aws_durable_execution_sdk_python.retries import JitterStrategy, RetryStrategyConfig, create_retry_strategy

RETRY = StepConfig(retry_strategy=create_retry_strategy(
    RetryStrategyConfig(max_attempts=5, initial_delay=Duration.from_seconds(60), jitter_strategy=JitterStrategy.NONE)))


def charge(amount: int) -> dict:
    cents = amount * 100
    return {"charged": cents / 0}


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    validated = context.step(lambda _: event["amount"], name="validate")
    receipt = context.step(lambda _: charge(validated), name="charge", config=RETRY)
    context.step(lambda _: "mailed", name="email-receipt")
    return receipt
