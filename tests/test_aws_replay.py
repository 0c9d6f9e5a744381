"""Replaying recorded AWS Lambda durable execution histories against edited handler code.

The fixtures in tests/data/aws/ were recorded with the testing SDK's local runner from the
handlers in tests/aws_handlers/ (``python -m tests.aws_record``). Each test writes an edited
copy of a handler, replays the recorded history against it, and checks the verdict: its kind
AND the handler line it names.
"""

from __future__ import annotations

import datetime
import importlib.util
import itertools
from pathlib import Path
from typing import Any

import aws_durable_execution_sdk_python  # noqa: F401  (a dev dependency: without it this module errors, never skips)
import pytest

from replaytest import NondeterminismError, WorkflowTaskError
from replaytest.backends.aws import history as aws_history
from replaytest.backends.aws.replay import replay_history
from tests.test_aws_history import fixture, iso, retimed

HANDLERS = Path(__file__).parent / "aws_handlers"
_ids = itertools.count()


def variant(tmp_path: Path, base: str, *edits: tuple[str, str]) -> tuple[Any, Path]:
    """A copy of tests/aws_handlers/<base>.py with ``edits`` applied, imported under a fresh name."""
    text = (HANDLERS / f"{base}.py").read_text()
    for old, new in edits:
        assert old in text, f"edit target not in {base}.py: {old!r}"
        text = text.replace(old, new, 1)
    path = tmp_path / f"aws_variant_{base}_{next(_ids)}.py"
    path.write_text(text)
    return import_file(path), path


def import_file(path: Path) -> Any:
    """The module in ``path``, imported under its file's stem."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def replay(doc: dict[str, Any], module: Any, **kwargs: Any) -> Any:
    return replay_history(aws_history.load(doc, "history.json"), module.handler, **kwargs)


def diverges(doc: dict[str, Any], module: Any, **kwargs: Any) -> Any:
    with pytest.raises(NondeterminismError) as info:
        replay(doc, module, **kwargs)
    return info.value


# ---- unchanged code replays ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "history, handler, status",
    [
        ("order-1", "orders", "completed"),
        ("batch-1", "batch", "completed"),
        ("trip-1", "saga", "completed"),
        ("greet-1", "clock", "completed"),
        ("invoice-1", "broken", "failed"),
        ("approve-1", "waiting", "running"),
        ("sink-1", "kitchen", "completed"),
        ("remind-1", "fanout", "running"),
    ],
)
def test_unchanged_code_replays_its_history(tmp_path: Path, history, handler, status):
    module, _ = variant(tmp_path, handler)
    result = replay(fixture(history), module)
    assert (result.status, result.warnings, result.new_commands) == (status, [], [])


def test_the_replayed_result_is_the_recorded_one_and_no_recorded_step_body_runs(tmp_path: Path):
    module, _ = variant(
        tmp_path,
        "orders",
        ('    return {"reserved": item}', '    RAN.append(item)\n    return {"reserved": item}'),
        ("@durable_step", "RAN: list = []\n\n\n@durable_step"),
    )
    result = replay(fixture("order-1"), module)
    assert module.RAN == []
    assert result.output == {
        "reserved": {"reserved": "book"},
        "paid": {"charged": 42},
        "shipped": ["label-1", "pickup-1"],
    }
    assert result.workflow_id == "order-1" and result.workflow_type == "orders"


# ---- what the SDK itself reports (identity at the same position), with our line -------------------
def test_a_renamed_step_names_the_line_that_issued_it(tmp_path: Path):
    module, path = variant(tmp_path, "orders", ('name="charge"', 'name="bill"'))
    err = diverges(fixture("order-1"), module)
    assert err.kind == "command"
    assert (err.source.path, err.source.line) == (str(path), line_of(path, 'name="bill"'))
    assert err.recorded == "step 'charge'" and err.issued == "step 'bill'"
    assert err.event_type == "StepStarted"
    assert any("diverges here" in line and "charge" in line for line in err.timeline)
    assert "name 'charge' → 'bill'" in str(err)


def test_reordered_operations(tmp_path: Path):
    module, path = variant(
        tmp_path,
        "orders",
        (
            '    context.wait(Duration.from_seconds(5), name="cool-off")\n'
            '    paid = context.step(lambda _: {"charged": 42}, name="charge")\n',
            '    paid = context.step(lambda _: {"charged": 42}, name="charge")\n'
            '    context.wait(Duration.from_seconds(5), name="cool-off")\n',
        ),
    )
    err = diverges(fixture("order-1"), module)
    assert err.kind == "order"
    assert err.source.line == line_of(path, 'name="charge"')
    assert (err.recorded, err.issued) == ("wait 'cool-off'", "step 'charge'")


def test_a_wait_turned_into_a_step(tmp_path: Path):
    module, path = variant(
        tmp_path,
        "orders",
        ('context.wait(Duration.from_seconds(5), name="cool-off")', 'context.step(lambda _: None, name="cool-off")'),
    )
    err = diverges(fixture("order-1"), module)
    assert err.kind == "command"
    assert err.source.line == line_of(path, 'name="cool-off"')
    assert "type WAIT → STEP" in err.detail


def test_a_step_added_in_the_middle(tmp_path: Path):
    module, path = variant(
        tmp_path,
        "orders",
        ("    context.wait(", '    context.step(lambda _: "audited", name="audit")\n    context.wait('),
    )
    err = diverges(fixture("order-1"), module)
    assert err.kind == "command"
    assert err.source.line == line_of(path, 'name="audit"')
    assert (err.recorded, err.issued) == ("wait 'cool-off'", "step 'audit'")


# ---- what the SDK misses ----------------------------------------------------------------------------
def test_a_step_added_at_the_end_stops_before_its_body_runs(tmp_path: Path):
    module, path = variant(
        tmp_path,
        "orders",
        (
            '    return {"reserved": reserved',
            '    context.step(lambda _: RAN.append("thank-you"), name="thank-you")\n    return {"reserved": reserved',
        ),
        ("@durable_step", "RAN: list = []\n\n\n@durable_step"),
    )
    err = diverges(fixture("order-1"), module)
    assert err.kind == "extra"
    assert err.source.line == line_of(path, 'name="thank-you"')
    assert err.issued == "step 'thank-you'"
    assert module.RAN == []  # the SDK alone would have run it for real


def test_the_last_step_removed(tmp_path: Path):
    module, path = variant(tmp_path, "orders", ('    context.step(lambda _: "sent", name="notify")\n', ""))
    err = diverges(fixture("order-1"), module)
    assert err.kind == "missing"
    assert err.recorded == "step 'notify'" and err.issued == "(nothing: the handler returns first)"
    assert err.source.line == line_of(path, 'return {"reserved": reserved')  # where the handler now returns
    assert "no longer reached" in "\n".join(err.timeline)


@pytest.mark.parametrize(
    "handler, history, edit, kind, anchor, function, recorded, issued",
    [
        pytest.param(
            "orders",
            "order-1",
            ('name="book-pickup"', 'name="schedule-pickup"'),
            "command",
            'name="schedule-pickup"',
            "ship",
            "step 'book-pickup'",
            "step 'schedule-pickup'",
            id="a-rename-inside-a-completed-child-context",
        ),
        pytest.param(
            "batch",
            "batch-1",
            ('name=f"double-{index}"', 'name=f"twice-{index}"'),
            "command",
            'name=f"twice-{index}"',
            "double",
            "step 'double-0'",
            "step 'twice-0'",
            id="a-rename-inside-map-iterations",
        ),
        pytest.param(
            "kitchen",
            "sink-1",
            ('name=f"add-{i}"', 'name=f"plus-{i}"'),
            "command",
            'name=f"plus-{i}"',
            "<lambda>",
            "step 'add-0'",
            "step 'plus-0'",
            id="a-rename-inside-a-flat-map",
        ),
        pytest.param(
            "kitchen",
            "sink-1",
            ('name="half-done"', 'name="halfway"'),
            "command",
            'name="halfway"',
            "failing_child",
            "step 'half-done'",
            "step 'halfway'",
            id="a-rename-inside-a-failed-child-context-that-the-handler-caught",
        ),
        pytest.param(
            "fanout",
            "remind-1",
            ('name=f"queue-{index}"', 'name=f"enqueue-{index}"'),
            "command",
            "enqueue-",
            "remind",
            "step 'queue-0'",
            "step 'enqueue-0'",
            id="a-rename-inside-a-map-still-running-its-items-in-threads",
        ),
        pytest.param(
            "batch",
            "batch-1",
            ("[left, right]", "[right, left]"),
            "command",
            'name="right-step"',
            "right",
            "step 'left-step'",
            "step 'right-step'",
            id="swapped-parallel-branches",
        ),
        pytest.param(
            "saga",
            "trip-1",
            ('["cancel-hotel", "cancel-car"]', '["cancel-car", "cancel-hotel"]'),
            "order",
            "name=undo",
            "book",
            "step 'cancel-hotel'",
            "step 'cancel-car'",
            id="reversed-compensation-order-inside-a-child-context",
        ),
    ],
)
def test_a_change_inside_nested_code_names_its_line(
    tmp_path, handler, history, edit, kind, anchor, function, recorded, issued
):
    module, path = variant(tmp_path, handler, edit)
    err = diverges(fixture(history), module)
    assert err.kind == kind
    assert (err.source.line, err.source.function) == (line_of(path, anchor), function)
    assert (err.recorded, err.issued) == (recorded, issued)


# ---- changes that are not divergences ---------------------------------------------------------------
def test_a_changed_argument_passes_with_a_warning(tmp_path: Path):
    module, path = variant(tmp_path, "orders", ("Duration.from_seconds(5)", "Duration.from_seconds(10)"))
    result = replay(fixture("order-1"), module)
    assert result.status == "completed"
    assert (
        len(result.warnings) == 1
        and "wait 'cool-off': recorded seconds 5, the code now passes 10" in result.warnings[0]
    )
    assert f":{line_of(path, 'from_seconds(10)')}" in result.warnings[0]


def test_a_changed_argument_fails_with_args_error(tmp_path: Path):
    module, path = variant(tmp_path, "orders", ("Duration.from_seconds(5)", "Duration.from_seconds(10)"))
    err = diverges(fixture("order-1"), module, args_mismatch="error")
    assert err.kind == "args"
    assert err.source.line == line_of(path, "from_seconds(10)")


def test_a_pure_refactor_passes(tmp_path: Path):
    module, _ = variant(
        tmp_path,
        "orders",
        ('    paid = context.step(lambda _: {"charged": 42}, name="charge")\n', "    paid = take_payment(context)\n"),
        (
            "@durable_execution",
            "def take_payment(context: DurableContext) -> dict:\n"
            '    return context.step(lambda _: {"charged": 42}, name="charge")\n\n\n@durable_execution',
        ),
    )
    assert replay(fixture("order-1"), module).status == "completed"


def test_a_failed_execution_replays_its_failure(tmp_path: Path):
    module, _ = variant(tmp_path, "broken")
    result = replay(fixture("invoice-1"), module)
    assert result.status == "failed" and result.output["ErrorType"] == "KeyError"


def test_a_bug_fix_for_a_failed_execution_passes(tmp_path: Path):
    module, path = variant(tmp_path, "broken", ('item["price"] * 2', 'item.get("price", 0) * 2'))
    result = replay(fixture("invoice-1"), module)
    assert result.status == "failed"
    assert len(result.new_commands) == 1 and result.new_commands[0].startswith("step 'invoice' at ")
    assert result.new_commands[0].endswith(f":{line_of(path, 'invoice = ')} in handler")


# ---- executions still running -----------------------------------------------------------------------
def test_a_step_still_failing_on_its_pending_retry_fails_at_the_handler_line(tmp_path: Path):
    module, path = variant(tmp_path, "flaky")
    with pytest.raises(WorkflowTaskError) as info:
        replay(fixture("pay-1"), module)
    err = info.value
    assert isinstance(err.error, ZeroDivisionError)
    assert err.source is not None
    assert (err.source.line, err.source.function) == (line_of(path, "cents / 0"), "charge")


def test_the_fixed_step_passes_on_its_pending_retry(tmp_path: Path):
    module, _path = variant(tmp_path, "flaky", ("cents / 0", "cents"))
    result = replay(fixture("pay-1"), module)
    assert result.status == "running"
    assert len(result.new_commands) == 1 and result.new_commands[0].startswith("step 'email-receipt' at ")


def test_the_sdk_conversion_would_have_called_the_pending_retry_a_final_failure():
    """Why we fold events ourselves: NextAttemptDelaySeconds > 0 means the step is retrying."""
    h = aws_history.load(fixture("pay-1"), "pay-1.json")
    charge = next(op for op in h.ops.values() if op.name == "charge")
    assert (charge.status, charge.retry_delay, charge.attempt) == ("PENDING", 60.0, 1)


def test_a_history_suspended_on_a_callback_replays_up_to_where_it_stands(tmp_path: Path):
    module, path = variant(tmp_path, "waiting")
    result = replay(fixture("approve-1"), module)
    assert result.status == "running"
    assert result.waiting.endswith(f":{line_of(path, 'callback.result()')} in handler")


# ---- the clock ----------------------------------------------------------------------------------------
def shifted(doc: dict[str, Any], hours: float) -> dict[str, Any]:
    return {**doc, "Events": retimed(doc["Events"], lambda t: t + hours * 3600)}


def test_the_clock_branch_is_decided_by_the_recorded_time(tmp_path: Path):
    module, path = variant(tmp_path, "clock")
    doc = fixture("greet-1")
    assert replay(doc, module).status == "completed"
    err = diverges(shifted(doc, 12), module)  # the same history, as if recorded at the other half of the day
    assert err.kind == "command"
    assert err.source.line in (line_of(path, 'name="morning"'), line_of(path, 'name="afternoon"'))


def test_a_clock_branch_that_adds_an_operation_is_reported_at_its_line(tmp_path: Path):
    doc = shifted(fixture("greet-1"), -24)  # recorded yesterday
    start = aws_history.parse_timestamp(doc["Events"][0]["EventTimestamp"])
    edit = (
        "    return greeting",
        "    if datetime.datetime.now(datetime.timezone.utc) > CUTOFF:\n"
        "        context.step(lambda _: 'late', name='late-fee')\n    return greeting",
    )
    before = (start - datetime.timedelta(minutes=1)).isoformat()
    module, path = variant(
        tmp_path,
        "clock",
        edit,
        ("import datetime\n", f"import datetime\nCUTOFF = datetime.datetime.fromisoformat({before!r})\n"),
    )
    err = diverges(doc, module)
    assert err.kind == "extra" and err.source.line == line_of(path, "name='late-fee'")
    after = (start + datetime.timedelta(hours=1)).isoformat()  # already past in real time, not at the recorded time
    module, _ = variant(
        tmp_path,
        "clock",
        edit,
        ("import datetime\n", f"import datetime\nCUTOFF = datetime.datetime.fromisoformat({after!r})\n"),
    )
    assert replay(doc, module).status == "completed"


# ---- the sandbox ----------------------------------------------------------------------------------------
def test_io_in_handler_code_outside_steps_is_flagged(tmp_path: Path):
    from replaytest.sandbox import SandboxViolation

    module, path = variant(
        tmp_path,
        "orders",
        ('    context.step(lambda _: "sent"', '    open(__file__).close()\n    context.step(lambda _: "sent"'),
    )
    with pytest.raises(WorkflowTaskError) as info:
        replay(fixture("order-1"), module)
    violation = info.value.error
    assert isinstance(violation, SandboxViolation)
    assert (violation.filename, violation.lineno) == (str(path), line_of(path, "open(__file__)"))
    assert info.value.source is not None
    assert (info.value.source.path, info.value.source.line) == (str(path), line_of(path, "open(__file__)"))
    result = replay(fixture("order-1"), module, sandbox="warn")
    assert len(result.warnings) == 1 and "open(" in result.warnings[0]
    assert replay(fixture("order-1"), module, sandbox="off").warnings == []


def test_io_inside_a_step_body_is_allowed(tmp_path: Path):
    module, _ = variant(tmp_path, "flaky", ("cents / 0", "cents / (1 + len(open(__file__).read(0)))"))
    assert replay(fixture("pay-1"), module).status == "running"


def test_an_export_with_iso_timestamps_replays_the_same(tmp_path: Path):
    module, path = variant(tmp_path, "orders", ('name="charge"', 'name="bill"'))
    for doc in (fixture("order-1"), iso(fixture("order-1"), "zulu")):
        assert diverges(doc, module).source.line == line_of(path, 'name="bill"')
    module, _ = variant(tmp_path, "orders")
    assert replay(iso(fixture("order-1"), "offset"), module).status == "completed"


def test_truncated_payloads_and_another_sdk_major_are_warned_about(tmp_path: Path):
    module, _ = variant(tmp_path, "orders")
    doc = fixture("order-1")
    doc["Events"][2]["StepSucceededDetails"]["Result"]["Truncated"] = True  # reserve's result
    doc["SdkVersion"] = "2.4.0"
    result = replay(doc, module)
    assert result.status == "completed" and len(result.warnings) == 2
    assert "truncated recorded payloads of step 'reserve'" in result.warnings[0]
    assert "recorded with aws-durable-execution-sdk-python 2.4.0" in result.warnings[1]


def test_what_only_the_sdk_checks_is_still_reported_with_the_handler_line(tmp_path: Path):
    """Map iterations are allocated by the SDK itself (not through the context's operation
    hook); a renamed iteration is caught by the SDK's NonDeterministicExecutionError, which
    replay turns into the same structured report."""
    module, path = variant(
        tmp_path,
        "batch",
        (
            'context.map(event["items"], double, name="double-all")',
            'context.map(event["items"], double, name="double-all", '
            'config=MapConfig(item_namer=lambda item, i: f"item-{item}"))',
        ),
        (
            "from aws_durable_execution_sdk_python import DurableContext, durable_execution",
            "from aws_durable_execution_sdk_python import DurableContext, durable_execution\n"
            "from aws_durable_execution_sdk_python.config import MapConfig",
        ),
    )
    err = diverges(fixture("batch-1"), module)
    assert err.kind == "command" and (err.recorded, err.issued) == (
        "map iteration 'map-item-0'",
        "map iteration 'item-1'",
    )
    assert err.source.line == line_of(path, "item_namer=")
    assert "name checkpoint='map-item-0' current='item-1'" in err.detail


def test_a_history_longer_than_one_page_is_recorded_whole_and_replays(tmp_path: Path):
    """The testing SDK's get_execution_history returns 100 events a page: the recorder pages."""
    from tests.aws_record import record

    path = tmp_path / "many_steps.py"
    path.write_text(
        "from aws_durable_execution_sdk_python import DurableContext, durable_execution\n\n\n"
        "@durable_execution\n"
        "def handler(event: dict, context: DurableContext) -> int:\n"
        "    return sum(context.step(lambda _, i=i: i, name=f'n-{i}') for i in range(70))\n"
    )
    module = import_file(path)
    doc = record(module.handler, {}, function="counter", name="count-1")
    assert len(doc["Events"]) > 140 and doc["Events"][-1]["EventType"] == "ExecutionSucceeded"
    assert replay(doc, module).output == sum(range(70))


@pytest.mark.parametrize(
    "handler, history, anchor",
    [
        ("orders", "order-1", "    label = ctx.step("),  # a child context's body
        (
            "batch",
            "batch-1",
            "    return ctx.step(lambda _: item * 2",
        ),  # a map function, replayed in the handler's thread
        ("fanout", "remind-1", '    ctx.step(lambda _: f"queued'),  # a map item still running: the SDK's branch thread
    ],
)
def test_io_in_child_contexts_and_map_functions_is_flagged_at_its_line(tmp_path: Path, handler, history, anchor):
    from replaytest.sandbox import SandboxViolation

    module, path = variant(tmp_path, handler, (anchor, "    open(__file__).close()\n" + anchor))
    with pytest.raises(WorkflowTaskError) as info:
        replay(fixture(history), module)
    assert isinstance(info.value.error, SandboxViolation)
    assert info.value.source is not None
    assert (info.value.source.path, info.value.source.line) == (str(path), line_of(path, "open(__file__)"))


def test_handler_code_reads_the_recorded_time_and_seeded_randomness(tmp_path: Path):
    module, _ = variant(
        tmp_path,
        "clock",
        ("import datetime\n", "import datetime\nimport random\nimport time\n\nSEEN: list = []\n"),
        ("    hour = ", "    SEEN.append((time.time(), random.random()))\n    hour = "),
        (
            "    return greeting",
            "    SEEN.append((datetime.datetime.now(datetime.timezone.utc).timestamp(), "
            "random.random()))\n    return greeting",
        ),
    )
    doc = fixture("greet-1")
    events = doc["Events"]
    started = events[0]["EventTimestamp"]
    logged = next(e["EventTimestamp"] for e in events if e["EventType"] == "StepSucceeded" and e["Name"] == "log")
    replay(doc, module)
    first = list(module.SEEN)
    assert [round(t, 3) for t, _ in first] == [started, logged]  # the execution's start, then the last step's end
    module.SEEN.clear()
    replay(doc, module)
    assert module.SEEN == first  # randomness seeded from the execution


def test_a_history_suspended_on_a_wait_replays_up_to_it(tmp_path: Path):
    module, path = variant(tmp_path, "orders")
    doc = fixture("order-1")
    doc["Events"] = doc["Events"][:5]  # exported during the cooling-off wait: WaitStarted, InvocationCompleted
    result = replay(doc, module)
    assert result.status == "running" and result.new_commands == []
    wait_line = line_of(path, 'name="cool-off"')
    assert result.waiting.endswith(f":{wait_line} in handler")


def test_a_step_added_at_the_end_of_a_completed_child_context(tmp_path: Path):
    module, path = variant(
        tmp_path,
        "orders",
        ("    return [label, pickup]", '    ctx.step(lambda _: "insured", name="insure")\n    return [label, pickup]'),
    )
    err = diverges(fixture("order-1"), module)
    assert err.kind == "extra" and (err.source.line, err.source.function) == (line_of(path, 'name="insure"'), "ship")
    assert err.recorded == "nothing more inside child context 'ship' after step 'book-pickup'"
    assert err.event_type == "ContextSucceeded"


def test_a_failed_execution_that_now_fails_otherwise_passes_with_a_warning(tmp_path: Path):
    module, _ = variant(tmp_path, "broken", ('item["price"] * 2', 'int(item["sku"])'))
    result = replay(fixture("invoice-1"), module)
    assert result.status == "failed"
    assert result.warnings == [
        "history recorded the execution failing with KeyError; the code now fails with ValueError"
    ]


def test_a_running_history_whose_code_now_completes_says_so(tmp_path: Path):
    module, _ = variant(tmp_path, "orders")
    doc = fixture("order-1")
    doc["Events"] = [e for e in doc["Events"] if e["EventType"] != "ExecutionSucceeded"]  # exported just before the end
    result = replay(doc, module)
    assert result.status == "running"
    assert len(result.new_commands) == 1
    assert result.new_commands[0].startswith('the execution completes with {"reserved": {"reserved": "book"}, "paid"')


@pytest.mark.parametrize("ending", ["ExecutionTimedOut", "ExecutionStopped"])
def test_an_execution_that_timed_out_or_was_stopped_replays_to_where_it_stood(tmp_path: Path, ending):
    module, path = variant(tmp_path, "waiting")
    doc = fixture("approve-1")
    last = doc["Events"][-1]
    doc["Events"].append(
        {
            "EventType": ending,
            "EventTimestamp": last["EventTimestamp"] + 300,
            "EventId": last["EventId"] + 1,
            "Id": doc["Events"][0]["Id"],
            "Name": "approve-1",
            f"{ending}Details": {"Error": {"Payload": {"ErrorMessage": "ended", "ErrorType": ending}}},
        }
    )
    result = replay(doc, module)
    assert (result.status, result.output["ErrorType"]) == ("failed", ending)
    assert result.waiting.endswith(f":{line_of(path, 'callback.result()')} in handler")


def test_warnings_before_a_divergence_are_in_its_report(tmp_path: Path):
    module, _ = variant(
        tmp_path,
        "orders",
        ("Duration.from_seconds(5)", "Duration.from_seconds(10)"),
        ('name="book-pickup"', 'name="schedule-pickup"'),
    )
    err = diverges(fixture("order-1"), module)
    assert err.kind == "command" and len(err.divergence.warnings) == 1
    assert "warnings before the divergence:" in str(err) and "recorded seconds 5" in str(err)
