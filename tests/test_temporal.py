"""The Temporal backend against histories a real temporalio worker recorded on a real dev
server (tests/temporal_recording.py): each edit a developer might make fails at the right
history event and source line, safe edits pass, a stuck workflow fails until fixed, every
export form loads, and unusable files get one clear line."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from replaytest.backends import ReplaySettings
from replaytest.backends import temporal as backend
from replaytest.history import HistoryFormatError
from replaytest.modes import ArgsMode, SandboxMode
from replaytest.report.divergence import NondeterminismError, UnknownWorkflowError
from replaytest.report.result import ReplayResult
from tests.conftest import ROOT

VARIANTS = ROOT / "fixtures" / "temporal" / "variants"


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def replay(path: Path, module: str, args: str | None = None, sandbox: str = "strict", doc: Any = None) -> Any:
    """Replay every entry of ``path`` with ``module``'s workflows; the result or the verdict."""
    doc = json.loads(path.read_text()) if doc is None else doc
    assert backend.claims(doc), path
    [entry] = backend.entries(path, doc)
    settings = ReplaySettings(
        [importlib.import_module(module)],
        [module],
        args_mismatch=None if args is None else ArgsMode(args),
        sandbox=SandboxMode(sandbox),
    )
    try:
        return backend.BACKEND.replay(entry, doc, settings, display=str(path))
    except Exception as e:  # the verdicts are what these tests look at
        return e


@pytest.fixture(scope="module")
def order(temporal_histories: Path) -> Path:
    return temporal_histories / "cli" / "order-1.json"


FAILING = [
    # variant, report kind, history event, the line that issued the divergent command
    ("reordered", "order", 5, "# CHANGED"),
    ("renamed", "activity_type", 11, "# CHANGED"),
    ("added", "activity_type", 11, "# CHANGED"),
    ("no_signal", "extra", 17, "parcel = await workflow.execute_activity(ship_standard"),
    ("child_id", "child_workflow", 34, "# CHANGED"),
    ("no_patch", "patch", 21, "# CHANGED"),
    ("removed", "missing", 11, "await workflow.wait_condition"),  # the code issues nothing: where it waits
]


@pytest.mark.parametrize("variant,kind,event_id,marker", FAILING, ids=[v[0] for v in FAILING])
def test_an_incompatible_edit_fails_at_its_event_and_source_line(
    order: Path, variant: str, kind: str, event_id: int, marker: str
) -> None:
    error = replay(order, f"fixtures.temporal.variants.{variant}")
    assert isinstance(error, NondeterminismError), error
    d = error.divergence
    assert (d.kind, d.event_id) == (kind, event_id), str(error)
    assert d.source is not None and d.source.file == f"fixtures/temporal/variants/{variant}.py"
    assert d.source.line == line_of(VARIANTS / f"{variant}.py", marker)
    report = str(error)
    assert f"at history event {event_id}" in report
    assert f"→ {event_id:>4}" in report  # the timeline marks the event
    assert report.splitlines()[-1].startswith("  temporalio: [TMPRL1100] Nondeterminism error")


def test_the_report_decodes_both_sides(order: Path) -> None:
    d = replay(order, "fixtures.temporal.variants.renamed").divergence
    assert d.recorded == 'ActivityTaskScheduled charge_card("1", 649.0)'
    assert d.issued == 'ActivityTaskScheduled charge_payment("1", 649.0)'
    assert "charge_payment appears nowhere in this history" in d.detail


def test_datetime_now_fails_with_temporals_sandbox_error_at_the_line(order: Path) -> None:
    error = replay(order, "fixtures.temporal.variants.clock")
    assert type(error).__name__ == "TemporalTaskError", error
    assert type(error.error).__name__ == "RestrictedWorkflowAccessError"
    assert error.event_id == 3
    assert (error.source.file, error.source.line) == (
        "fixtures/temporal/variants/clock.py",
        line_of(VARIANTS / "clock.py", "# CHANGED"),
    )
    assert "use workflow.now()" in str(error)


@pytest.mark.parametrize(
    "module", ["fixtures.temporal.orders", "fixtures.temporal.variants.guarded", "fixtures.temporal.variants.refactor"]
)
def test_unchanged_code_a_patched_change_and_a_refactor_pass(order: Path, module: str) -> None:
    result = replay(order, module)
    assert isinstance(result, ReplayResult), result
    assert (result.workflow_id, result.workflow_type, result.status) == ("order-1", "OrderWorkflow", "completed")
    assert result.output == "express-1 via courier-1" and result.events_replayed == 43 and not result.warnings


@pytest.mark.parametrize("variant,kind,event_id", [("args", "activity_args", 11), ("timer", "timer_duration", 29)])
def test_changed_inputs_warn_by_default_and_fail_with_args_error(
    order: Path, variant: str, kind: str, event_id: int
) -> None:
    module = f"fixtures.temporal.variants.{variant}"
    line = line_of(VARIANTS / f"{variant}.py", "# CHANGED")
    warned = replay(order, module)
    assert isinstance(warned, ReplayResult), warned
    [warning] = warned.warnings
    assert f"history event {event_id}" in warning and f"{variant}.py:{line}" in warning
    assert isinstance(replay(order, module, args="ignore"), ReplayResult)
    assert not replay(order, module, args="ignore").warnings
    error = replay(order, module, args="error")
    assert isinstance(error, NondeterminismError), error
    assert error.divergence.source is not None
    assert (error.divergence.kind, error.divergence.event_id, error.divergence.source.line) == (kind, event_id, line)


@pytest.mark.parametrize("export", ["cli", "client"])
def test_a_stuck_workflow_fails_at_the_raising_line_and_passes_when_fixed(
    temporal_histories: Path, export: str
) -> None:
    path = temporal_histories / export / "coupon-1.json"
    error = replay(path, "fixtures.temporal.coupon_buggy")
    assert type(error).__name__ == "TemporalTaskError", error
    assert isinstance(error.error, KeyError)
    assert error.source.line == line_of(ROOT / "fixtures/temporal/coupon_buggy.py", "# BUG:")
    report = str(error)
    assert "history ends in 2 failed workflow task(s), last recorded as KeyError" in report
    assert "temporalio: replay reported success" in report.splitlines()[-1]
    fixed = replay(path, "fixtures.temporal.coupon_fixed")
    assert isinstance(fixed, ReplayResult) and fixed.status == "running", fixed


def _pascal(doc: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for e in out["events"]:
        e["eventType"] = "".join(p.capitalize() for p in e["eventType"][len("EVENT_TYPE_") :].split("_"))
    return out


@pytest.mark.parametrize("export", ["cli", "client"])
@pytest.mark.parametrize("spelling", ["EVENT_TYPE_", "PascalCase"])
def test_both_export_forms_and_both_event_type_spellings_load_and_replay(
    temporal_histories: Path, export: str, spelling: str
) -> None:
    path = temporal_histories / export / "order-1.json"
    doc = json.loads(path.read_text())
    if spelling == "PascalCase":
        doc = _pascal(doc)
        assert doc["events"][0]["eventType"] == "WorkflowExecutionStarted"
    result = replay(path, "fixtures.temporal.orders", doc=doc)
    assert isinstance(result, ReplayResult) and result.status == "completed", result
    error = replay(path, "fixtures.temporal.variants.renamed", doc=doc)
    assert isinstance(error, NondeterminismError) and error.divergence.event_id == 11


def test_the_workflow_id_comes_from_the_file_name_when_history_lacks_it(order: Path, tmp_path: Path) -> None:
    doc = json.loads(order.read_text())
    del doc["events"][0]["workflowExecutionStartedEventAttributes"]["workflowId"]
    path = tmp_path / "order-from-name.json"
    [entry] = backend.entries(path, doc)
    assert (entry.workflow_id, entry.workflow_type) == ("order-from-name", "OrderWorkflow")


def test_a_json_list_of_histories_gives_one_entry_each(temporal_histories: Path, tmp_path: Path) -> None:
    docs = [json.loads((temporal_histories / "cli" / f"{wid}.json").read_text()) for wid in ("order-1", "ship-1")]
    path = tmp_path / "batch.json"
    entries = backend.entries(path, docs)
    assert [(e.index, e.workflow_id, e.workflow_type) for e in entries] == [
        (0, "order-1", "OrderWorkflow"),
        (1, "ship-1", "ShippingWorkflow"),
    ]
    settings = ReplaySettings([importlib.import_module("fixtures.temporal.orders")], ["fixtures.temporal.orders"])
    assert [backend.BACKEND.replay(e, docs, settings, display="batch.json").status for e in entries] == [
        "completed",
        "completed",
    ]


def _decoded(doc: Any) -> Any:
    """What the Web UI's "decoded" download does to payloads: plain JSON values."""
    if isinstance(doc, dict):
        if isinstance(doc.get("payloads"), list):
            return {"payloads": [json.loads(base64.b64decode(p["data"])) for p in doc["payloads"]]}
        return {k: _decoded(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_decoded(v) for v in doc]
    return doc


def test_a_web_ui_decoded_download_gets_one_line_naming_the_export_to_use(order: Path) -> None:
    doc = _decoded(json.loads(order.read_text()))
    assert backend.claims(doc)
    error = replay(order, "fixtures.temporal.orders", doc=doc)
    assert isinstance(error, HistoryFormatError), error
    assert len(str(error).splitlines()) == 1
    assert "Web UI download with decoded payloads" in str(error) and "temporal workflow show" in str(error)


def test_garbage_is_not_claimed_and_a_broken_export_gets_one_line(order: Path) -> None:
    garbage: Any
    for garbage in ({"foo": 1}, [1, 2], {"events": []}, {"events": [{"type": "WorkflowExecutionStarted"}]}, "x"):
        assert not backend.claims(garbage)
    doc = json.loads(order.read_text())
    doc["events"].reverse()  # what an old Web UI download did
    error = replay(order, "fixtures.temporal.orders", doc=doc)
    assert isinstance(error, HistoryFormatError), error
    assert "does not start with WorkflowExecutionStarted (its first event is WorkflowExecutionCompleted)" in str(error)
    doc = json.loads(order.read_text())
    doc["events"][4]["eventType"] = "EVENT_TYPE_NOT_A_THING"
    error = replay(order, "fixtures.temporal.orders", doc=doc)
    assert isinstance(error, HistoryFormatError), error
    assert "event 5: unknown event type 'NotAThing'" in str(error)
    doc = json.loads(order.read_text())
    doc["events"][4]["activityTaskScheduledEventAttributes"]["activityId"] = {"not": "a string"}
    error = replay(order, "fixtures.temporal.orders", doc=doc)
    assert isinstance(error, HistoryFormatError), error
    assert len(str(error).splitlines()) == 1 and "temporal workflow show" in str(error)


def test_a_malformed_started_event_is_still_an_entry_and_replays_to_one_line(order: Path) -> None:
    doc = json.loads(order.read_text())
    doc["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"] = "OrderWorkflow"  # not an object
    [entry] = backend.entries(order, doc)  # collection never raises: replaying says what is wrong
    assert (entry.workflow_id, entry.workflow_type) == ("order-1", None)
    error = replay(order, "fixtures.temporal.orders", doc=doc)
    assert isinstance(error, HistoryFormatError), error
    assert len(str(error).splitlines()) == 1 and "temporal workflow show" in str(error)


def test_an_unknown_workflow_type_lists_the_registered_ones(order: Path) -> None:
    error = replay(order, "fixtures.temporal.coupon_fixed")
    assert isinstance(error, UnknownWorkflowError), error
    assert "'OrderWorkflow' is not registered" in str(error) and "CouponWorkflow" in str(error)


def test_sandbox_off_replays_with_temporals_unsandboxed_runner(order: Path) -> None:
    # datetime.now() is allowed without the sandbox: whatever happens, it is not the sandbox error
    result = replay(order, "fixtures.temporal.variants.clock", sandbox="off")
    assert type(result).__name__ != "TemporalTaskError", result
    assert isinstance(replay(order, "fixtures.temporal.orders", sandbox="off"), ReplayResult)


def test_sniffing_and_peeking_import_nothing_of_temporalio(order: Path) -> None:
    code = (
        f"import json, sys, pathlib; import replaytest, replaytest_pytest\n"
        f"import replaytest.backends.temporal as t\n"
        f"p = pathlib.Path({str(order)!r}); doc = json.loads(p.read_text())\n"
        f"assert t.claims(doc) and t.entries(p, doc)[0].workflow_id == 'order-1'\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in ('temporalio', 'freezegun', 'google')]\n"
        f"assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_private_temporalio_hooks_the_capture_relies_on_still_exist() -> None:
    import temporalio.service
    import temporalio.workflow
    from temporalio.worker._workflow_instance import _WorkflowInstanceImpl

    version = tuple(int(x) for x in re.findall(r"\d+", importlib.metadata.version("temporalio"))[:2])
    assert (1, 35) <= version < (1, 36), "pyproject pins temporalio>=1.35,<1.36: re-check capture.py first"
    assert callable(_WorkflowInstanceImpl._timer_impl) and callable(_WorkflowInstanceImpl.workflow_patch)
    assert callable(temporalio.workflow._Runtime.current)


def test_a_warning_before_a_divergence_is_in_the_divergence_report(order: Path) -> None:
    error = replay(order, "fixtures.temporal.variants.args_then_child")
    assert isinstance(error, NondeterminismError), error
    assert (error.divergence.kind, error.divergence.event_id) == ("child_workflow", 34)
    assert "  warnings before the divergence:\n    activity arguments differ from history event 11" in str(error)


def test_the_hotfixed_history_passes_with_the_fix_and_fails_with_the_bug(temporal_histories: Path) -> None:
    # coupon-2 was stuck under the buggy code, then a worker with the fix completed it
    path = temporal_histories / "client" / "coupon-2.json"
    fixed = replay(path, "fixtures.temporal.coupon_fixed")
    assert isinstance(fixed, ReplayResult) and fixed.status == "completed", fixed
    error = replay(path, "fixtures.temporal.coupon_buggy")
    assert type(error).__name__ == "TemporalTaskError", error
    assert error.event_id == 12 and isinstance(error.error, KeyError)
    assert error.source.line == line_of(ROOT / "fixtures/temporal/coupon_buggy.py", "# BUG:")
    assert "history recorded this workflow task as completed" in str(error)


def test_sandbox_warn_is_refused_for_temporal_histories(order: Path) -> None:
    from replaytest.report.divergence import UnsupportedOption

    error = replay(order, "fixtures.temporal.orders", sandbox="warn")
    assert isinstance(error, UnsupportedOption), error
    assert "--replay-sandbox=warn does not apply to Temporal histories" in str(error)


def test_history_text_cannot_forge_report_lines(order: Path) -> None:
    doc = json.loads(order.read_text())
    attrs = doc["events"][10]["activityTaskScheduledEventAttributes"]  # event 11: charge_card
    attrs["input"]["payloads"][0]["data"] = base64.b64encode(b'"1\\u2028FAIL forged"').decode()
    error = replay(order, "fixtures.temporal.variants.renamed", doc=doc)
    assert isinstance(error, NondeterminismError), error
    assert not any(line.startswith("FAIL forged") for line in str(error).splitlines())
    assert "\\u2028FAIL forged" in str(error)


EARLY_ENDS = [
    # variant, report kind, history event, the line the report names, whether that line is the `return` that ran
    ("returns_instead", "command", 11, "# CHANGED", True),  # a `return` in a branch not taken comes first
    ("branch_return", "extra", 17, "# CHANGED", True),  # the same, where history waited for a signal
    ("finally_return", "extra", 17, "# CHANGED", True),  # a finally body runs after the `return`
    ("falls_off_end", "extra", 17, "# LAST LINE", False),  # no `return` runs: run() ends after its last line
]


@pytest.mark.parametrize("variant,kind,event_id,marker,is_return", EARLY_ENDS, ids=[v[0] for v in EARLY_ENDS])
def test_an_early_end_names_the_line_that_ran_never_a_return_that_did_not(
    order: Path, variant: str, kind: str, event_id: int, marker: str, is_return: bool
) -> None:
    error = replay(order, f"fixtures.temporal.variants.{variant}")
    assert isinstance(error, NondeterminismError), error
    d = error.divergence
    assert (d.kind, d.event_id) == (kind, event_id), str(error)
    assert d.source is not None and d.source.file == f"fixtures/temporal/variants/{variant}.py", str(error)
    assert d.source.line == line_of(VARIANTS / f"{variant}.py", marker), str(error)
    report = str(error)
    assert "NOT TAKEN" not in report  # the code of the branch not taken is never shown
    assert ("no `return` statement ran" in report) is not is_return, report


def test_a_step_made_a_local_activity_names_its_line_and_what_history_recorded_instead(order: Path) -> None:
    error = replay(order, "fixtures.temporal.variants.local_activity")
    assert isinstance(error, NondeterminismError), error
    d = error.divergence
    assert (d.kind, d.event_id) == ("local_activity", 11), str(error)
    assert d.recorded == 'ActivityTaskScheduled charge_card("1", 649.0)'
    assert d.issued == 'a local activity charge_card("1", 649.0)'
    assert d.source is not None and d.source.file == "fixtures/temporal/variants/local_activity.py"
    assert d.source.line == line_of(VARIANTS / "local_activity.py", "# CHANGED")
    report = str(error)
    assert "a local activity records a MarkerRecorded event, not an ActivityTaskScheduled" in report, report
    assert "the code is waiting" not in report


def test_a_local_activity_made_a_scheduled_one_says_history_ran_it_locally(temporal_histories: Path) -> None:
    local = temporal_histories / "local" / "local-1.json"
    assert isinstance(replay(local, "fixtures.temporal.local"), ReplayResult)  # as recorded: green
    error = replay(local, "fixtures.temporal.variants.scheduled_activity")
    assert isinstance(error, NondeterminismError), error
    d = error.divergence
    assert d.kind == "local_activity", str(error)
    assert d.issued == 'ActivityTaskScheduled check_fraud("1")'
    assert d.source is not None and d.source.file == "fixtures/temporal/variants/scheduled_activity.py"
    assert d.source.line == line_of(VARIANTS / "scheduled_activity.py", "# CHANGED")
    report = str(error)
    assert "history ran check_fraud as a local activity (MarkerRecorded at event 5)" in report, report
    assert "appears nowhere in this history" not in report
