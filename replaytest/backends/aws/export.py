"""Write an AWS durable execution history to a file replaytest replays: every page joined, in
the API's wire format (epoch-seconds timestamps), with the execution's ARN (it names the Lambda
function, which picks the handler) and the SDK version (it assigned the operation ids).

From the service (boto3) or from the testing SDK's local runner, whose
``get_execution_history`` returns one page of 100 events at a time.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from . import _sdk


def to_wire(value: Any) -> Any:
    """datetimes → epoch seconds (rounded to the millisecond), recursively: what the API sends."""
    if isinstance(value, datetime.datetime):
        return round(value.timestamp(), 3)
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    return value


def _document(arn: str, events: list[Any], sdk_version: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"DurableExecutionArn": arn}
    if sdk_version:
        doc["SdkVersion"] = sdk_version
    doc["Events"] = to_wire(events)
    return doc


def api_shape(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the local runner leaves out and the API always sends: ``StepSucceededDetails``
    carries ``RetryDetails.CurrentAttempt`` (the attempt that succeeded, counted from 1)."""
    attempts: dict[str, int] = {}
    for event in events:
        op = event.get("Id") or ""
        if event.get("EventType") == "StepStarted":
            attempts[op] = attempts.get(op, 0) + 1
        if event.get("EventType") == "StepSucceeded":
            details = event.setdefault("StepSucceededDetails", {})
            details.setdefault("RetryDetails", {"CurrentAttempt": attempts.get(op, 1)})
    return events


def _installed_sdk() -> str | None:
    try:
        from aws_durable_execution_sdk_python.__about__ import __version__
    except ImportError:
        return None
    return str(__version__)


def from_service(lambda_client: Any, arn: str, *, sdk_version: str | None = None) -> dict[str, Any]:
    """The whole history of ``arn`` through a boto3 Lambda client (paginated, execution data
    included). ``sdk_version`` defaults to the SDK installed here: pass the deployed one."""
    pages = lambda_client.get_paginator("get_durable_execution_history").paginate(
        DurableExecutionArn=arn, IncludeExecutionData=True
    )
    events = [event for page in pages for event in page["Events"]]
    return _document(arn, events, sdk_version or _installed_sdk())


def from_test_runner(
    runner: Any, arn: str, *, function: str = "test-function", name: str | None = None
) -> dict[str, Any]:
    """The whole history of a ``DurableFunctionTestRunner`` execution, every page. The local
    runner's ARN is not a Lambda ARN; the file gets one naming ``function`` (and ``name``, the
    execution name, by default the one history recorded)."""
    first = runner.get_execution_history(arn, include_execution_data=True)
    events = list(first.to_dict()["Events"])
    marker = first.next_marker
    while marker:
        page = _sdk.runner_history_page(runner, arn, marker)
        events.extend(page.to_dict()["Events"])
        marker = page.next_marker
    started = events[0] if events else {}
    name = name or started.get("Name") or "execution"
    real = (
        f"arn:aws:lambda:us-east-1:123456789012:function:{function}:$LATEST/durable-execution/{name}/"
        f"{started.get('Id', 'unknown')}"
    )
    return _document(real, api_shape(events), _installed_sdk())


def save(doc: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return path
