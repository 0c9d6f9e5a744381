"""Record real AWS durable execution histories with the testing SDK's local runner, in the
Lambda API's wire format (the shape ``get_durable_execution_history`` returns: ``Events`` with
PascalCase fields, timestamps as epoch seconds), plus the ARN a real export would be fetched
with (the local runner has no real one).

Run as a script to regenerate the committed fixtures in tests/data/aws/:
    python -m tests.aws_record
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from replaytest.backends.aws.export import from_test_runner, save

FIXTURES = Path(__file__).parent / "data" / "aws"


def record(
    handler: Callable[..., Any],
    payload: Any,
    *,
    function: str,
    name: str,
    wait: float = 20,
    skip_time: bool = True,
    callback_result: str | None = None,
    targets: dict[str, Callable[..., Any]] | None = None,
) -> dict[str, Any]:
    """Run ``handler`` to completion (or for ``wait`` seconds when it does not finish) and
    return its whole history, every page joined (replaytest.backends.aws.export)."""
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

    with DurableFunctionTestRunner(handler, skip_time=skip_time) as runner:
        for target, fn in (targets or {}).items():  # chained-invoke targets (plain functions)
            runner.register_function(target, fn)
        arn = runner.run_async(
            input=json.dumps(payload), execution_timeout=300, function_name=function, execution_name=name
        )
        if callback_result is not None:
            callback_id = runner.wait_for_callback(arn, timeout=10)
            runner.send_callback_success(callback_id, callback_result.encode())
        try:
            runner.wait_for_result(arn, timeout=int(wait))
        except TimeoutError:
            pass  # an execution still running (suspended on a wait, a callback, a retry)
        return from_test_runner(runner, arn, function=function, name=name)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from aws_handlers import FIXTURE_RECIPES  # type: ignore[import-not-found]  # run as a script, beside it

    for file_name, recipe in FIXTURE_RECIPES.items():
        save(recipe(), FIXTURES / file_name)
        print("recorded", FIXTURES / file_name)
