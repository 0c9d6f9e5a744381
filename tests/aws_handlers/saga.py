"""A trip booking whose flight fails; the child context compensates in reverse order."""

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import StepConfig
from aws_durable_execution_sdk_python.exceptions import StepError
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy

NO_RETRY = StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=1)))


def no_seats(_: object) -> str:
    raise RuntimeError("no seats left")


def book(ctx: DurableContext) -> str:
    try:
        ctx.step(lambda _: "car-7", name="book-car")
        ctx.step(lambda _: "hotel-3", name="book-hotel")
        ctx.step(no_seats, name="book-flight", config=NO_RETRY)
        return "booked"
    except StepError:
        for undo in ["cancel-hotel", "cancel-car"]:
            ctx.step(lambda _: "undone", name=undo)
        return "compensated"


@durable_execution
def handler(event: dict, context: DurableContext) -> str:
    return context.run_in_child_context(book, name="trip")
