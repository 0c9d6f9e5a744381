"""Greets according to the time of day: a branch on the clock, outside any step."""

import datetime

from aws_durable_execution_sdk_python import DurableContext, durable_execution


@durable_execution
def handler(event: dict, context: DurableContext) -> str:
    hour = datetime.datetime.now(datetime.timezone.utc).hour
    if hour < 12:
        greeting = context.step(lambda _: "good morning", name="morning")
    else:
        greeting = context.step(lambda _: "good afternoon", name="afternoon")
    context.step(lambda _: "logged", name="log")
    return greeting
