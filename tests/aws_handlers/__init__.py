"""Durable Lambda handlers for the AWS backend's tests, and how each fixture history was recorded.

Tests edit copies of these files (reorder, rename, ...) and replay the recorded histories
against the copies: the files ARE the "code before the change".
"""

from __future__ import annotations

from typing import Any, Callable


def _orders() -> dict[str, Any]:
    from tests.aws_record import record
    from . import orders
    return record(orders.handler, {"item": "book"}, function="orders", name="order-1")


def _batch() -> dict[str, Any]:
    from tests.aws_record import record
    from . import batch
    return record(batch.handler, {"items": [1, 2, 3]}, function="batch", name="batch-1")


def _saga() -> dict[str, Any]:
    from tests.aws_record import record
    from . import saga
    return record(saga.handler, {"trip": "lisbon"}, function="trips", name="trip-1")


def _clock() -> dict[str, Any]:
    from tests.aws_record import record
    from . import clock
    return record(clock.handler, {}, function="greeter", name="greet-1")


def _flaky() -> dict[str, Any]:
    from tests.aws_record import record
    from . import flaky
    return record(flaky.handler, {"amount": 30}, function="payments", name="pay-1", skip_time=False, wait=3)


def _broken() -> dict[str, Any]:
    from tests.aws_record import record
    from . import broken
    return record(broken.handler, {"sku": "x-1"}, function="invoices", name="invoice-1")


def _waiting() -> dict[str, Any]:
    from tests.aws_record import record
    from . import waiting
    return record(waiting.handler, {"user": "ada"}, function="approvals", name="approve-1", skip_time=False, wait=3)


def _kitchen() -> dict[str, Any]:
    from tests.aws_record import record
    from . import kitchen
    return record(kitchen.handler, {"sku": "x-1"}, function="kitchen", name="sink-1", callback_result='"yes"',
                  targets={"pricing": lambda event, context: {"price": 12}})


def _fanout() -> dict[str, Any]:
    from tests.aws_record import record
    from . import fanout
    return record(fanout.handler, {"users": ["ada", "bob"]}, function="reminders", name="remind-1", skip_time=False,
                  wait=3)


FIXTURE_RECIPES: dict[str, Callable[[], dict[str, Any]]] = {
    "order-1.json": _orders, "batch-1.json": _batch, "trip-1.json": _saga, "greet-1.json": _clock,
    "pay-1.json": _flaky, "invoice-1.json": _broken, "approve-1.json": _waiting, "sink-1.json": _kitchen, "remind-1.json": _fanout,
}
