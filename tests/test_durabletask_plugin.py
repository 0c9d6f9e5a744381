"""Durable Task histories through ``pytest --replay`` and ``replaytest replay``: real pytest
sessions (pytester) over histories recorded on the SDK's in-memory backend, in all three forms
(``--replay DIR`` collects ``*.jsonl.gz`` too)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from .dt_orchestrators import shop

pytest_plugins = ["tests.dt_fixtures"]


@pytest.fixture(autouse=True)
def _inner_session_options(monkeypatch: pytest.MonkeyPatch) -> None:
    # as in test_plugin.py: no assert-rewrite noise, no hypothesis plugin, items in file order
    monkeypatch.setenv(
        "PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning -p no:hypothesispytest -p no:randomly"
    )


@pytest.fixture
def project(pytester: pytest.Pytester, dt_histories: Path) -> pytest.Pytester:
    """A Durable Task project: its orchestrators (orders.py) and histories in every form."""
    shutil.copytree(dt_histories / "export", pytester.path / "histories" / "export")
    shutil.copytree(dt_histories / "proto", pytester.path / "histories" / "proto")
    shutil.copy(shop.__file__, pytester.path / "orders.py")
    pytester.syspathinsert()
    return pytester


def edit(pytester: pytest.Pytester, old: str, new: str) -> int:
    """Edit the orchestrators as a developer would; returns the number of the edit's first line."""
    path = pytester.path / "orders.py"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    shutil.rmtree(pytester.path / "__pycache__", ignore_errors=True)
    first = new.strip().splitlines()[0] if new.strip() else None
    return next((i for i, line in enumerate(path.read_text().splitlines(), 1) if first and first in line), 0)


INSTANCES = 11  # tests/dt_recording.py: COMPLETED + RUNNING


def test_unchanged_orchestrators_pass_in_every_form(project: pytest.Pytester) -> None:
    result = project.runpytest("--replay", "histories", "--replay-module", "orders", "-v")
    result.assert_outcomes(passed=3 * INSTANCES)
    result.stdout.fnmatch_lines(
        [
            "*histories/export/order-1.json::order-1 PASSED*",
            "*histories/export/order-1.jsonl.gz::order-1 PASSED*",
            "*histories/proto/order-1.json::order-1 PASSED*",
        ]
    )


def test_every_jsonl_gz_file_a_shell_glob_names_replays(project: pytest.Pytester) -> None:
    # `pytest --replay histories/export/order-*.jsonl.gz` reaches pytest as two paths after --replay
    result = project.runpytest(
        "--replay",
        "histories/export/order-1.jsonl.gz",
        "histories/export/order-2.jsonl.gz",
        "--replay-module",
        "orders",
        "-v",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines_random(
        ["*export/order-1.jsonl.gz::order-1 PASSED*", "*export/order-2.jsonl.gz::order-2 PASSED*"]
    )


def test_k_selects_by_orchestrator_name(project: pytest.Pytester) -> None:
    result = project.runpytest("--replay", "histories", "--replay-module", "orders", "-k", "approval")
    result.assert_outcomes(passed=9)


def test_a_dropped_trailing_step_fails_at_the_return(project: pytest.Pytester) -> None:
    edit(project, "    yield ctx.call_activity(notify, input=f\"order {order['id']} {shipped}\")\n", "")
    line = edit(
        project,
        'return {"order": order["id"], "status": "shipped"}',
        'return {"order": order["id"], "status": "shipped"}',
    )
    result = project.runpytest("--replay", "histories", "--replay-module", "orders")
    result.assert_outcomes(passed=3 * INSTANCES - 3, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*Nondeterminism in workflow order-1 (order_saga) at history event 23: a recorded command the code no longer issues*",
            '*history recorded: call_activity notify("order order-1 shipped lamp")*',
            "*code issued:      (nothing: the orchestration returns first)*",
            f"*at orders.py:{line} in order_saga*",
        ]
    )


def test_changed_arguments_warn_and_fail_with_replay_args_error(project: pytest.Pytester) -> None:
    line = edit(
        project, "yield ctx.call_activity(measure, input=day)", 'yield ctx.call_activity(measure, input=day + "Z")'
    )
    result = project.runpytest("--replay", "histories/export", "--replay-module", "orders", "-k", "nightly_report")
    result.assert_outcomes(passed=2, warnings=2)
    result.stdout.fnmatch_lines([f"*input * → * at orders.py:{line} in nightly_report*"])
    result = project.runpytest(
        "--replay", "histories/export", "--replay-module", "orders", "-k", "nightly_report", "--replay-args=error"
    )
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*different command arguments*", f"*at orders.py:{line} in nightly_report*"])


def test_a_condensed_status_api_history_fails_alone_in_one_line(project: pytest.Pytester) -> None:
    status = {"name": "order_saga", "instanceId": "order-9", "runtimeStatus": "Completed", "historyEvents": []}
    (project.path / "histories" / "export" / "status.json").write_text(json.dumps(status))
    result = project.runpytest("--replay", "histories", "--replay-module", "orders")
    result.assert_outcomes(passed=3 * INSTANCES, failed=1)
    result.stdout.fnmatch_lines(["*status.json: historyEvents: this is the Durable Functions HTTP status API*"])
    assert "Traceback" not in result.stdout.str()


def test_an_orchestrator_not_in_the_modules_names_what_was_searched(project: pytest.Pytester) -> None:
    result = project.runpytest("--replay", "histories/export/fanout-1.json", "--replay-module", "json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no orchestrator 'fan_out' (the name the history records) in the replay modules*"])


def test_replaytest_replay_reports_an_edit_at_its_line(project: pytest.Pytester) -> None:
    line = edit(project, "return sum(sizes)", "return max(sizes)")
    result = project.run(
        sys.executable, "-m", "replaytest", "replay", "histories/export", "histories/proto", "--module", "orders"
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*a different orchestration result*",
            "*history recorded: returns 60*",
            "*code issued:      returns 30*",
            f"*at orders.py:{line} in fan_out*",
            "*33 histories replayed: 30 ok, 3 failed*",
        ]
    )


def test_the_cli_names_its_own_flags_when_no_orchestrator_is_found(project: pytest.Pytester) -> None:
    result = project.run(
        sys.executable, "-m", "replaytest", "replay", "histories/export/fanout-1.json", "--module", "json"
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*no orchestrator 'fan_out' (the name the history records) in the replay modules*",
            "*name the module that defines it with --module MODULE, or the function with --handler "
            "fan_out=MODULE:ATTR*",
        ]
    )
    assert "--replay-" not in result.stdout.str()
