"""Which handler replays an AWS history: --replay-handler specs, replay modules, and what the
failures say. Also: without the SDK installed, an AWS history fails with what to install."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_durable_execution_sdk_python  # noqa: F401  (a dev dependency: without it this module errors, never skips)
import pytest

from replaytest.backends import ReplaySettings
from replaytest.backends.aws.handlers import HandlerSpec, handlers_in, is_durable_handler, resolve
from replaytest.report import UnknownWorkflowError
from tests.aws_handlers import batch, orders, saga

FIXTURE = Path(__file__).parent / "data" / "aws" / "order-1.json"

#: a pytest session's settings: reports spell --replay-handler and the ini
PYTEST = ReplaySettings(module_flag="--replay-module")


def test_durable_handlers_are_recognised_without_calling_them():
    assert is_durable_handler(orders.handler)
    assert not is_durable_handler(orders.ship) and not is_durable_handler(orders) and not is_durable_handler(None)
    assert [name for name, _ in handlers_in([orders, batch, orders.handler])] == [
        "tests.aws_handlers.orders:handler",
        "tests.aws_handlers.batch:handler",
    ]


def test_a_function_specific_spec_wins_over_a_general_one():
    specs = ["tests.aws_handlers.batch:handler", "orders=tests.aws_handlers.orders:handler"]
    assert resolve("orders", specs, [], "h.json", PYTEST) is orders.handler
    assert resolve("trips", specs, [], "h.json", PYTEST) is batch.handler
    assert resolve(None, specs, [], "h.json", PYTEST) is batch.handler


def test_without_specs_the_one_handler_of_the_modules():
    assert resolve("orders", [], [orders], "h.json", PYTEST) is orders.handler
    with pytest.raises(
        UnknownWorkflowError,
        match=r"h.json: no handler chosen for Lambda function 'orders'.*"
        r"several durable handlers \(tests.aws_handlers.orders:handler, "
        r"tests.aws_handlers.saga:handler\)",
    ):
        resolve("orders", [], [orders, saga], "h.json", PYTEST)
    with pytest.raises(
        UnknownWorkflowError,
        match=r"h.json: no handler for this execution \(the export names no "
        r"function\).*no @durable_execution handler in the replay modules",
    ):
        resolve(None, [], [], "h.json", PYTEST)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("orders", "expected [FUNCTION=]MODULE:ATTR"),
        ("no_such_module_here:handler", "cannot import module 'no_such_module_here'"),
        ("tests.aws_handlers.orders:nothing", "module 'tests.aws_handlers.orders' has no 'nothing'"),
        ("tests.aws_handlers.orders:ship", "is not a function decorated with @durable_execution"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(
        UnknownWorkflowError, match=f"--replay-handler {spec!r}: " if "expected" in message else None
    ) as info:
        HandlerSpec.parse(spec).load(PYTEST)
    assert message in str(info.value)


def test_without_the_sdk_an_aws_history_says_what_to_install(tmp_path: Path):
    code = (
        "import sys, json\n"
        "sys.modules['aws_durable_execution_sdk_python'] = None  # as if not installed\n"
        "from pathlib import Path\n"
        "from replaytest.backends import ReplaySettings, backend_for\n"
        f"doc = json.loads(Path({str(FIXTURE)!r}).read_text())\n"
        "backend = backend_for(doc)\n"
        "[entry] = backend.entries(Path('order-1.json'), doc)\n"
        "try:\n"
        "    backend.replay(entry, doc, ReplaySettings(), display='histories/order-1.json')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "MissingSDK histories/order-1.json: replaying an AWS Lambda durable execution needs the SDK it runs on: "
        "pip install '/path/to/replaytest[aws]' (aws-durable-execution-sdk-python; see docs/aws-lambda-durable.md)"
    )
    json.loads(FIXTURE.read_text())  # the fixture itself is fine
