"""What the AWS durable SDK alone reports for the edits in tests/test_aws_replay.py, next to
what replaytest reports: the table in docs/aws-lambda-durable.md comes from this script.

"SDK alone" = the recorded events converted by the testing SDK's own conversion
(events_to_operations) and handed to the unmodified handler with a checkpoint client that
records; that is what replaying on the service does with the same history.

    .venv/bin/python scripts/aws_compare.py
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aws_durable_execution_sdk_python.execution import DurableExecutionInvocationInputWithClient, InitialExecutionState  # noqa: E402
from aws_durable_execution_sdk_python.lambda_service import OperationAction  # noqa: E402
from aws_durable_execution_sdk_python_testing.model import Event, events_to_operations  # noqa: E402

from replaytest.backends.aws import history as aws_history  # noqa: E402
from replaytest.backends.aws.operations import RecordingClient  # noqa: E402
from replaytest.backends.aws.replay import replay_history  # noqa: E402
from tests.test_aws_replay import fixture, variant  # noqa: E402

EDITS = [
    ("rename a step", "orders", "order-1", [('name="charge"', 'name="bill"')]),
    (
        "turn a wait into a step",
        "orders",
        "order-1",
        [('context.wait(Duration.from_seconds(5), name="cool-off")', 'context.step(lambda _: None, name="cool-off")')],
    ),
    (
        "add a step at the end",
        "orders",
        "order-1",
        [
            (
                '    return {"reserved": reserved',
                '    context.step(lambda _: "thanks", name="thank-you")\n    return {"reserved": reserved',
            )
        ],
    ),
    ("remove the last step", "orders", "order-1", [('    context.step(lambda _: "sent", name="notify")\n', "")]),
    (
        "rename inside a completed child context",
        "orders",
        "order-1",
        [('name="book-pickup"', 'name="schedule-pickup"')],
    ),
    ("rename inside map iterations", "batch", "batch-1", [('name=f"double-{index}"', 'name=f"twice-{index}"')]),
    ("swap parallel branches", "batch", "batch-1", [("[left, right]", "[right, left]")]),
    (
        "reverse compensations in a child context",
        "saga",
        "trip-1",
        [('["cancel-hotel", "cancel-car"]', '["cancel-car", "cancel-hotel"]')],
    ),
    ("none, replaying a step whose retry is pending (still buggy)", "flaky", "pay-1", []),
    ("fix the step whose retry is pending", "flaky", "pay-1", [("cents / 0", "cents")]),
    ("change a wait's duration", "orders", "order-1", [("Duration.from_seconds(5)", "Duration.from_seconds(10)")]),
]


def sdk_alone(doc: dict, module: object) -> str:
    raw = []
    for e in doc["Events"]:
        e = dict(e)
        e["EventTimestamp"] = aws_history.parse_timestamp(e["EventTimestamp"])
        raw.append(Event.from_dict(e))
    ops = events_to_operations(raw)
    client = RecordingClient({op.operation_id: op for op in ops})
    execution_id = doc["Events"][0]["Id"]
    invocation = DurableExecutionInvocationInputWithClient(
        durable_execution_arn=f"x/{execution_id}",
        checkpoint_token="t",
        initial_execution_state=InitialExecutionState(operations=ops, next_marker=""),
        service_client=client,
    )
    logging.getLogger("aws_durable_execution_sdk_python").setLevel(logging.CRITICAL)
    out = module.handler(invocation, None)  # type: ignore[attr-defined]
    recorded = {op.operation_id for op in ops}
    ran = sorted(
        {
            u.name or u.operation_id[:8]
            for u in client.updates
            if u.operation_id not in recorded and u.action is OperationAction.SUCCEED and u.name
        }
    )
    if out["Status"] == "FAILED":
        return f"FAILED: {out['Error'].get('ErrorMessage', '')}"
    return f"{out['Status']}" + (f", ran {', '.join(ran)} for real" if ran else "")


def ours(doc: dict, module: object) -> str:
    try:
        result = replay_history(aws_history.load(doc, "h.json"), module.handler)  # type: ignore[attr-defined]
    except Exception as e:
        d = getattr(e, "divergence", None)
        if d is None:
            src = getattr(e, "source", None)
            where = f" at {src.function}:{src.line}" if src else ""
            return f"{type(e).__name__}: {type(getattr(e, 'error', e)).__name__}{where}"
        return f"{d.kind}: {d.recorded} / {d.issued} at {d.source.function}:{d.source.line}"
    text = f"passes ({result.status})"
    if result.new_commands:
        text += f", next: {result.new_commands[0].split(' at ')[0]}"
    if result.warnings:
        text += f", warning: {result.warnings[0].split(': ', 1)[-1].split(' at ')[0]}"
    return text


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    print("| edit | SDK alone | replaytest |\n|---|---|---|")
    for title, base, history, edits in EDITS:
        module, _ = variant(tmp, base, *edits)
        doc = fixture(history)
        print(f"| {title} | {sdk_alone(doc, module)} | {ours(doc, module)} |")


if __name__ == "__main__":
    main()
