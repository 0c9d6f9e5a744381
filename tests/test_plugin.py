"""The pytest plugin, end to end: real pytest sessions (pytester) over real histories recorded
from tests/data/plugin/order_workflows.py (see generate.py there)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

# Imported up front so in-process pytester runs find them already loaded: pytester removes
# modules a run imported, and re-importing these for every run would be slow.
import jsonschema  # noqa: F401
import pytest

import replaytest
import replaytest.pytest_support
import replaytest.sandbox  # noqa: F401
from replaytest import (
    DuplicateWorkflowWarning,
    Engine,
    History,
    UnknownWorkflowError,
    replay,
)
from tests.test_history_consistency import SURROGATE, write
from tests.test_recovery import FLOW
from tests.test_report import ARGS_THEN_ACTIVITY, ORDER, SHOP, edit, load, record

DATA = Path(__file__).parent / "data" / "plugin"
ALL_GOOD = [
    "histories/discount-7.json",
    "histories/nested/greet-ada.json",
    "histories/order-42.json",
    "histories/order-43.json",
]


@pytest.fixture(autouse=True)
def _inner_session_options(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # Set after pytester starts (it clears PYTEST_ADDOPTS). This module imported replaytest
    # before the inner sessions, which pytest reports as "already imported so cannot be
    # rewritten" (a real session never does that); hypothesis's plugin would import hypothesis
    # at every inner session's end (seconds each, and not what is under test here).
    monkeypatch.setenv(
        "PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning -p no:hypothesispytest -p no:randomly"
    )


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with the workflows module and the recorded histories."""
    shutil.copy(DATA / "order_workflows.py", pytester.path)
    shutil.copytree(DATA / "histories", pytester.path / "histories")
    pytester.syspathinsert()
    return pytester


def edit_workflows(pytester: pytest.Pytester, old: str, new: str) -> None:
    """Change the workflow code the way a developer would (histories stay as recorded)."""
    path = pytester.path / "order_workflows.py"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    shutil.rmtree(pytester.path / "__pycache__", ignore_errors=True)


FIX_DISCOUNT = (
    '    per_item = total / order["coupons"]  # BUG: no coupons means ZeroDivisionError',
    '    per_item = total / max(order["coupons"], 1)',
)


# ---------------------------------------------------------------- collection
def test_each_history_is_one_item_named_by_workflow_id(project: pytest.Pytester) -> None:
    result = project.runpytest("--replay", "histories", "-v")
    result.stdout.fnmatch_lines(
        [
            "histories/discount-7.json::discount-7 FAILED*",
            "histories/nested/greet-ada.json::greet-ada PASSED*",
            "histories/order-42.json::order-42 PASSED*",
            "histories/order-43.json::order-43 PASSED*",
            "*- replaytest -*",
            "replaytest: 4 histories replayed (73 events), 0 divergences, 1 workflow task error",
        ]
    )
    result.assert_outcomes(passed=3, failed=1)


def test_a_fixed_history_passes_and_the_summary_counts_events(project: pytest.Pytester) -> None:
    edit_workflows(project, *FIX_DISCOUNT)
    result = project.runpytest("--replay", "histories")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["replaytest: 4 histories replayed (76 events), 0 divergences"])


def test_histories_are_not_collected_unless_asked(project: pytest.Pytester) -> None:
    project.makepyfile(test_unit="def test_unit(): pass")
    result = project.runpytest("-v")
    result.assert_outcomes(passed=1)
    assert "json" not in result.stdout.str() and "replaytest:" not in result.stdout.str()
    # naming the directory without --replay does not make its JSON files tests either
    result = project.runpytest("histories")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_replay_alone_runs_only_histories_and_a_file_path_works(project: pytest.Pytester) -> None:
    project.makepyfile(test_unit="def test_unit(): pass")
    result = project.runpytest("--replay", "histories/order-42.json", "-v")
    result.stdout.fnmatch_lines(["histories/order-42.json::order-42 PASSED*"])
    result.assert_outcomes(passed=1)
    # with explicit path arguments the histories are added to them
    result = project.runpytest("test_unit.py", "--replay", "histories/order-42.json")
    result.assert_outcomes(passed=2)


def test_overlapping_paths_collect_each_history_once(project: pytest.Pytester) -> None:
    result = project.runpytest(
        "--replay",
        "histories",
        "--replay",
        "histories/order-42.json",
        "--replay",
        "histories/nested",
        "histories",
        "--collect-only",
        "-q",
    )
    lines = [line for line in result.stdout.lines if "::" in line]
    assert sorted(lines) == sorted(f"{p}::{Path(p).stem}" for p in ALL_GOOD)


def test_a_symlinked_replay_path_works(project: pytest.Pytester) -> None:
    (project.path / "linked").symlink_to(project.path / "histories", target_is_directory=True)
    result = project.runpytest("--replay", "linked", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["linked/order-42.json::order-42", "4 tests collected*"])


def test_ini_replay_paths_join_a_plain_run_only(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nreplay_paths = histories/order-42.json histories/nested\n")
    project.makepyfile(test_unit="def test_unit(): pass")
    result = project.runpytest("-v")
    result.stdout.fnmatch_lines_random(
        [
            "histories/order-42.json::order-42 PASSED*",
            "histories/nested/greet-ada.json::greet-ada PASSED*",
            "test_unit.py::test_unit PASSED*",
        ]
    )
    result.assert_outcomes(passed=3)
    result = project.runpytest("test_unit.py")  # an explicit selection stays just that
    result.assert_outcomes(passed=1)


def test_an_ini_replay_path_that_does_not_exist_is_a_usage_error_where_it_would_replay(
    project: pytest.Pytester,
) -> None:
    # a typo in the ini: the run must not go green with nothing replayed
    project.makepyprojecttoml(
        '[tool.pytest.ini_options]\nreplay_paths = ["histories/order-42.json", "histroies/nested"]\n'
    )
    project.makepyfile(test_unit="def test_unit(): pass")
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: replay_paths in pyproject.toml names histroies/nested: no such file or directory "
            f"(relative to {project.path}); correct the entry or remove it"
        ]
    )
    # a session that does not replay the ini's paths (it names its own) is not stopped by them
    project.runpytest("test_unit.py").assert_outcomes(passed=1)
    project.runpytest("--replay", "histories/order-42.json").assert_outcomes(passed=1)


def test_an_ini_replay_path_without_histories_is_said_at_the_end_of_the_run(project: pytest.Pytester) -> None:
    project.mkdir("empty")
    project.makeini("[pytest]\nreplay_paths = histories/order-42.json empty\n")
    project.makepyfile(test_unit="def test_unit(): pass")
    result = project.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["replaytest: no history files (?.json, ?.jsonl.gz) found under empty (replay_paths in tox.ini)"]
    )
    assert "found under histories" not in result.stdout.str()
    assert "no history files" not in project.runpytest("test_unit.py").stdout.str()  # not replayed: not said


def test_missing_replay_path_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest("--replay", "nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--replay */nowhere: no such file or directory"])


# ---------------------------------------------------------------- failure reports
def test_divergence_shows_the_structured_report_not_a_traceback(project: pytest.Pytester) -> None:
    edit_workflows(
        project,
        "    charge = await workflow.execute_activity(charge_card",
        "    await workflow.execute_activity(send_receipt, 'early')\n"
        "    charge = await workflow.execute_activity(charge_card",
    )
    result = project.runpytest("--replay", "histories/order-42.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ replay histories/order-42.json::order-42 _*",
            "Nondeterminism in workflow order-42 (checkout) at history event 11: *",
            '  history recorded: ActivityTaskScheduled charge_card("order-42", 2100)',
            '  code issued:      ActivityTaskScheduled send_receipt("early")',
            "  at order_workflows.py:28 in checkout",
            "      await workflow.execute_activity(send_receipt, 'early')",
            "*→   11  ActivityTaskScheduled charge_card(*   ← diverges here",
            "  What to do: *",
            "replaytest: 1 history replayed (10 events), 1 divergence",
            "FAILED histories/order-42.json::order-42 - Nondeterminism in workflow order-4*",
        ]
    )
    out = result.stdout.str()
    assert "Traceback" not in out and "pytest_support" not in out and "execution.py" not in out


def test_workflow_task_error_shows_exception_line_and_workflow_traceback(project: pytest.Pytester) -> None:
    edit_workflows(
        project,
        "    total = await workflow.execute_activity(calculate_total, order)\n    charge",
        "    total = await workflow.execute_activity(calculate_total, order)\n"
        "    total = split(total, order)\n    charge",
    )
    edit_workflows(
        project,
        "@workflow.defn\nasync def checkout",
        "def split(total, order):\n    return total // order['parts']\n\n\n@workflow.defn\nasync def checkout",
    )
    result = project.runpytest("--replay", "histories/order-42.json", "--replay", "histories/discount-7.json")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "Workflow code raised in workflow order-42 (checkout): KeyError: 'parts'",
            "  at order_workflows.py:26 in split",
            "      return total // order['parts']",
            "  history recorded this workflow task as completed: *",
            "  workflow code traceback (most recent call last):",
            '    File "order_workflows.py", line 32, in checkout',
            "      total = split(total, order)",
            '    File "order_workflows.py", line 26, in split',
            "Workflow code raised in workflow discount-7 (discount): ZeroDivisionError: division by zero",
            "  at order_workflows.py:48 in discount",
            '      per_item = total / order["coupons"]  # BUG: no coupons means ZeroDivisionError',
            "  history ends in 2 failed workflow task(s), last recorded as ZeroDivisionError: division by zero; "
            "the current code still raises. *",
            "replaytest: 2 histories replayed (19 events), 0 divergences, 2 workflow task errors",
        ]
    )
    assert "pytest_support" not in result.stdout.str()


@pytest.mark.parametrize(
    "name, content, node, message",
    [
        (
            "badjson",
            b'{"format": "replaytest.history", "version": 1, "events": [\n  {"id": 1,, }\n]}\n',
            "badjson",
            "invalid history file bad/badjson.json: line 2 column 12: invalid JSON: Expecting property name*",
        ),
        ("empty", b"", "empty", "invalid history file bad/empty.json: the file is empty*"),
        (
            "binary",
            b"\x00\x01\x02\xff binary",
            "binary",
            "invalid history file bad/binary.json: this is a binary file, not a JSON history",
        ),
        (
            "truncated",
            "lines:6",
            "truncated",
            "invalid history file bad/truncated.json: line 6 column *: invalid JSON: * (the file looks truncated)",
        ),
        (
            "schema",
            ('"seed": ', '"sead": '),
            "order-42",
            "invalid history file bad/schema.json: /events/0/attrs: 'seed' is missing (required)",
        ),
        (
            "version",
            ('"version": 1', '"version": 2'),
            "order-42",
            "invalid history file bad/version.json: /version: format version 2 is not one this replaytest reads*",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isalpha() else "",
)
def test_a_malformed_file_fails_alone(
    project: pytest.Pytester, name: str, content: object, node: str, message: str
) -> None:
    recorded = (project.path / "histories/order-42.json").read_text()
    if isinstance(content, tuple):
        content = recorded.replace(*content).encode()
    elif content == "lines:6":
        content = "\n".join(recorded.splitlines()[:6]).encode()
    assert isinstance(content, bytes) and content != recorded.encode()
    (project.path / "bad").mkdir()
    (project.path / "bad" / f"{name}.json").write_bytes(content)
    result = project.runpytest(
        "--replay", "bad", "--replay", "histories/order-42.json", "--replay", "histories/nested", "-v"
    )
    result.stdout.fnmatch_lines([f"bad/{name}.json::{node} FAILED*", message])
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["replaytest: 2 histories replayed (34 events), 0 divergences, 1 invalid history file"])


def test_unknown_workflow_fails_its_item_and_lists_what_is_registered(project: pytest.Pytester) -> None:
    recorded = (project.path / "histories/order-42.json").read_text()
    unknown = (
        recorded.replace('"workflow_type": "checkout"', '"workflow_type": "refund"')
        .replace("order_workflows:checkout", "refunds:refund")
        .replace("order-42", "refund-1")
    )
    (project.path / "histories" / "refund-1.json").write_text(unknown)
    result = project.runpytest("--replay", "histories", "--replay-module", "order_workflows")
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ replay histories/refund-1.json::refund-1 _*",
            "histories/refund-1.json: workflow type 'refund' is not registered (registered: checkout, discount, greet); *",
            "  searched replay modules (--replay-module / replay_modules): order_workflows",
            "  the history names refunds:refund; replaytest never imports a module a history names when you name the "
            "modules yourself: if it is your code, add --replay-module refunds",
            "replaytest: 4 histories replayed (73 events), 0 divergences, 1 workflow task error, 1 unknown workflow",
        ]
    )


def test_replay_modules_from_ini_find_a_workflow_whose_recorded_module_moved(project: pytest.Pytester) -> None:
    moved = (
        (project.path / "histories/order-42.json").read_text().replace("order_workflows:checkout", "shop.old:checkout")
    )
    (project.path / "histories/order-42.json").write_text(moved)
    result = project.runpytest("--replay", "histories/order-42.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*workflow type 'checkout' is not registered (registered: none)*",
            "  no replay modules configured (--replay-module / replay_modules)",
            "  the history names shop.old:checkout, which is not importable here *; is the project on sys.path "
            '(`pythonpath = [[]"."]` in pyproject.toml, `pythonpath = .` in pytest.ini)? *',  # [[] is fnmatch's [
        ]
    )
    project.makeini("[pytest]\nreplay_modules = order_workflows\n")
    project.runpytest("--replay", "histories/order-42.json").assert_outcomes(passed=1)


def test_recorded_module_is_used_without_replay_module(project: pytest.Pytester) -> None:
    result = project.runpytest("--replay", "histories/order-42.json")
    result.assert_outcomes(passed=1)


# ---------------------------------------------------------------- --replay-args / --replay-sandbox
CHANGED_ARGS = ('charge_card, order["id"], total)', 'charge_card, order["id"], total + 1)')


@pytest.mark.parametrize(
    "mode, outcome, lines",
    [
        (
            "error",
            {"failed": 1},
            [
                "*: different activity arguments",
                '  code issued:      ActivityTaskScheduled charge_card("order-42", 2101)',
            ],
        ),
        (
            "warn",
            {"passed": 1, "warnings": 1},
            [
                "  order_workflows.py:28: ReplayWarning: order-42: event 11: activity charge_card arguments differ: "
                "history ?'order-42', 2100?, code ?'order-42', 2101? (at order_workflows.py:28 in checkout)"
            ],
        ),
        ("ignore", {"passed": 1}, []),
    ],
)
def test_replay_args(project: pytest.Pytester, mode: str, outcome: dict[str, int], lines: list[str]) -> None:
    edit_workflows(project, *CHANGED_ARGS)
    result = project.runpytest("--replay", "histories/order-42.json", f"--replay-args={mode}")
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines(lines)
    if mode == "ignore":
        assert "ReplayWarning" not in result.stdout.str()


def test_replay_args_from_ini_and_warnings_as_errors(project: pytest.Pytester) -> None:
    edit_workflows(project, *CHANGED_ARGS)
    project.makeini("[pytest]\nreplay_args = warn\n")
    project.runpytest("--replay", "histories/order-42.json").assert_outcomes(passed=1, warnings=1)
    result = project.runpytest("--replay", "histories/order-42.json", "-W", "error::replaytest_pytest.ReplayWarning")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["order-42: event 11: activity charge_card arguments differ*"])
    project.makeini("[pytest]\nreplay_args = sometimes\n")
    result = project.runpytest("--replay", "histories/order-42.json")
    result.stderr.fnmatch_lines(["*replay_args = 'sometimes': must be one of error, warn, ignore"])


READS_ENV = (
    '    suffix = await workflow.side_effect(lambda: "!")',
    '    suffix = await workflow.side_effect(lambda: "!")\n    os.environ.get("HOME")',
)


@pytest.mark.parametrize(
    "mode, outcome, lines",
    [
        (
            "strict",
            {"failed": 1},
            [
                "Workflow code raised in workflow greet-ada (greet): SandboxViolation: "
                "workflow code called os.environ?'HOME'? at order_workflows.py:38 — *",
                "  at order_workflows.py:38 in greet",
                '      os.environ.get("HOME")',
            ],
        ),
        (
            "warn",
            {"passed": 1, "warnings": 1},
            [
                "*ReplayWarning: greet-ada: sandbox: workflow code called os.environ?'HOME'? at order_workflows.py:38 — *"
            ],
        ),
        ("off", {"passed": 1}, []),
    ],
)
def test_replay_sandbox(project: pytest.Pytester, mode: str, outcome: dict[str, int], lines: list[str]) -> None:
    edit_workflows(project, *READS_ENV)
    edit_workflows(project, "from datetime import timedelta", "import os\nfrom datetime import timedelta")
    result = project.runpytest("--replay", "histories/nested", f"--replay-sandbox={mode}")
    result.assert_outcomes(**outcome)
    result.stdout.fnmatch_lines(lines)
    if mode == "off":
        assert "ReplayWarning" not in result.stdout.str()


def test_options_are_documented_in_one_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "replaytest: replay durable workflow histories:",
            "  --replay=PATH, --replay-histories=PATH",
            "  --replay-module=MODULE",
            "  --replay-args={error,warn,ignore}",
            "  --replay-sandbox={strict,warn,off}",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "  replay_paths (paths):*",
            "  replay_modules (args):*",
            "  replay_args (string):*",
            "  replay_sandbox (string):*",
        ]
    )


# ---------------------------------------------------------------- pytest features on history items
def test_k_selects_by_workflow_id_and_type(project: pytest.Pytester) -> None:
    project.runpytest("--replay", "histories", "-k", "greet").assert_outcomes(passed=1)
    project.runpytest("--replay", "histories", "-k", "checkout").assert_outcomes(passed=2)
    project.runpytest("--replay", "histories", "-k", "order-43").assert_outcomes(passed=1)


def test_markers_m_and_conftest_xfail(project: pytest.Pytester) -> None:
    project.makeconftest("""
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                if item.name == "discount-7":
                    item.add_marker(pytest.mark.xfail(reason="hotfix pending", strict=True))
    """)
    project.makepyfile(test_unit="def test_unit(): pass")
    result = project.runpytest("test_unit.py", "--replay", "histories", "-m", "replay", "--strict-markers")
    result.assert_outcomes(passed=3, xfailed=1, deselected=1)
    project.runpytest("test_unit.py", "--replay", "histories", "-m", "not replay").assert_outcomes(
        passed=1, deselected=4
    )


def test_x_stops_at_the_first_failing_history(project: pytest.Pytester) -> None:
    result = project.runpytest("--replay", "histories", "-x")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_lf_reruns_only_the_failed_history(project: pytest.Pytester) -> None:
    project.runpytest("--replay", "histories").assert_outcomes(passed=3, failed=1)
    result = project.runpytest("--replay", "histories", "--lf", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["histories/discount-7.json::discount-7 FAILED*"])


def test_junit_xml(project: pytest.Pytester) -> None:
    project.runpytest("--replay", "histories", "--junitxml=out.xml")
    cases = {c.attrib["name"]: c for c in ET.parse(project.path / "out.xml").iter("testcase")}
    assert sorted(cases) == ["discount-7", "greet-ada", "order-42", "order-43"]
    assert cases["order-42"].get("classname") == "histories.order-42.json"
    props = {p.get("name"): p.get("value") for p in cases["order-42"].iter("property")}
    assert props == {"replay_outcome": "passed", "replay_events": "28"}
    failure = cases["discount-7"].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith(
        "Workflow code raised in workflow discount-7 (discount): ZeroDivisionError"
    )
    assert "history ends in 2 failed workflow task(s)" in (failure.text or "")


def test_xdist_runs_histories_and_aggregates_the_summary(project: pytest.Pytester) -> None:
    project.makepyfile(test_unit="def test_unit(): pass")
    result = project.runpytest_subprocess("test_unit.py", "--replay", "histories", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "Workflow code raised in workflow discount-7 (discount): ZeroDivisionError: division by zero",
            "replaytest: 4 histories replayed (73 events), 0 divergences, 1 workflow task error",
        ]
    )


# ---------------------------------------------------------------- marker and fixtures
def test_replay_marker_and_replayed_fixture(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_orders="""
        import pytest

        @pytest.mark.replay("histories/order-42.json")
        def test_order_42(replayed):
            assert replayed.output["status"] == "charged"
            assert replayed.events_replayed == 28

        @pytest.mark.replay("histories/discount-7.json")
        def test_discount(replayed):
            raise AssertionError("not reached: the replay fails first")

        @pytest.mark.replay("histories/nope.json")
        def test_missing(replayed):
            pass

        def test_unmarked(replayed):
            pass
    """
    )
    result = project.runpytest("--strict-markers", "-v")
    result.stdout.fnmatch_lines_random(
        [
            "test_orders.py::test_order_42 PASSED*",
            "test_orders.py::test_discount FAILED*",
            "test_orders.py::test_missing ERROR*",
            "test_orders.py::test_unmarked ERROR*",
            "Workflow code raised in workflow discount-7 (discount): ZeroDivisionError: division by zero",
            "*@pytest.mark.replay('histories/nope.json'): no history file at */histories/nope.json "
            "(marker paths are relative to the rootdir)",
            '*the `replayed` fixture needs @pytest.mark.replay("path/to/history.json") on the test',
            "replaytest: 2 histories replayed (39 events), 0 divergences, 1 workflow task error",
        ]
    )
    assert "not reached" not in result.stdout.str()


def test_replay_marker_options(project: pytest.Pytester) -> None:
    edit_workflows(project, *CHANGED_ARGS)
    moved = (
        (project.path / "histories/order-43.json").read_text().replace("order_workflows:checkout", "shop.old:checkout")
    )
    (project.path / "histories/order-43.json").write_text(moved)
    project.makepyfile(
        test_hotfix="""
        import pytest
        import order_workflows

        @pytest.mark.replay("histories/order-42.json", args_mismatch="ignore")
        def test_hotfix_keeps_the_order_going(replayed):
            assert replayed.status == "completed"

        @pytest.mark.replay("histories/order-43.json", args_mismatch="warn", workflows=[order_workflows])
        def test_moved_module(replayed):
            assert len(replayed.warnings) == 1
    """
    )
    project.runpytest().assert_outcomes(passed=2, warnings=1)


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--markers").stdout.fnmatch_lines(["@pytest.mark.replay(path, **options): *"])


def test_engine_fixture_is_fresh_virtual_and_exports_replayable_histories(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_engine="""
        import order_workflows
        from replaytest import replay

        ORDER = {"id": "o-1", "items": [{"sku": "tea", "price": 450, "qty": 2}]}

        def test_checkout(engine, tmp_path):
            assert engine.list() == [] and engine.path == str(tmp_path / "engine.db")
            engine.register(order_workflows)
            before = engine.now()
            assert engine.start(order_workflows.checkout, ORDER, id="o-1").result()["status"] == "charged"
            assert (engine.now() - before).days == 1  # the one-day timer fired at once
            assert replay(engine.history("o-1"), [order_workflows]).status == "completed"

        def test_fresh(engine):
            assert engine.list() == []
    """
    )
    project.runpytest().assert_outcomes(passed=2)


# ---------------------------------------------------------------- import cost
def test_plugin_is_cheap_when_unused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_probe="""
        import sys

        def test_probe():
            heavy = [m for m in ("replaytest", "freezegun", "jsonschema", "sqlite3", "debugpy", "asyncio")
                     if m in sys.modules]
            assert "replaytest_pytest" in sys.modules
            assert heavy == []
    """
    )
    pytester.makefile(".json", data='{"not": "a history"}')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # what importing the plugin costs is measured in the bench (`bench/run.py --only import`)


def test_the_plugins_copy_of_the_mode_words_is_the_librarys() -> None:
    import replaytest_pytest

    from replaytest.modes import ArgsMode, SandboxMode

    assert replaytest_pytest.ARGS_MODES == tuple(m.value for m in ArgsMode)
    assert replaytest_pytest.SANDBOX_MODES == tuple(m.value for m in SandboxMode)


# ---------------------------------------------------------------- ids that are not text
def surrogate_histories(directory: Path) -> None:
    recorded = json.loads((DATA / "histories" / "order-42.json").read_text(encoding="utf-8"))
    write(directory / "a-good.json", recorded)
    lone = copy.deepcopy(recorded)
    lone["events"][0]["attrs"]["workflow_id"] = SURROGATE
    write(directory / "b-surrogate.json", lone)
    raw = json.dumps(recorded).encode().replace(b'"workflow_id": "order-42"', b'"workflow_id": "order-\xff\xfe"')
    write(directory / "c-raw.json", raw)


@pytest.fixture
def surrogate_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning -p no:hypothesispytest")
    shutil.copy(DATA / "order_workflows.py", pytester.path)
    pytester.syspathinsert()
    surrogate_histories(pytester.path / "histories")
    return pytester


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_pytest_survives_ids_that_are_not_text(surrogate_project: pytest.Pytester, workers: list[str]) -> None:
    result = surrogate_project.runpytest_subprocess("--replay", "histories", "-v", "-p", "no:cacheprovider", *workers)
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out, out
    result.assert_outcomes(passed=2, failed=1)
    assert any("histories/b-surrogate.json::\\ud800" in line and "PASSED" in line for line in out.splitlines()), out
    result.stdout.fnmatch_lines(["*invalid history file histories/c-raw.json: byte *: the file is not UTF-8 text*"])


# ---------------------------------------------------------------- a --replay directory outside the project
def _project_with_outside_histories(pytester: pytest.Pytester) -> str:
    """pytester.path is the project (pytest.ini names its workflow module); the history lies in
    a sibling directory and names a module that does not exist, so only the ini can replay it."""
    import json

    pytester.path.joinpath("flows.py").write_text(FLOW)
    pytester.path.joinpath("pytest.ini").write_text("[pytest]\nreplay_modules = flows\n")
    outside = pytester.path.parent / f"{pytester.path.name}-histories"
    outside.mkdir()
    db = pytester.path / "engine.db"
    for args in (["run", "flows:total", "--input", "2", "--id", "t1"], ["export", "t1", "-o", str(outside)]):
        done = subprocess.run(
            [sys.executable, "-m", "replaytest", *args, "--db", str(db)],
            cwd=pytester.path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    history = outside / "t1.json"
    doc = json.loads(history.read_text())
    doc["events"][0]["attrs"]["workflow_module"] = "not_here:total"
    history.write_text(json.dumps(doc))
    return f"../{outside.name}"


def test_replay_dir_outside_the_project_warns_that_the_ini_was_not_read(pytester: pytest.Pytester) -> None:
    rel = _project_with_outside_histories(pytester)
    result = pytester.runpytest_subprocess("--replay", rel, "-p", "no:cacheprovider")
    text = result.stdout.str()
    assert "pytest.ini was not read" in text, text
    assert f"--replay={rel}" in text


def test_replay_equals_dir_outside_the_project_keeps_the_ini(pytester: pytest.Pytester) -> None:
    rel = _project_with_outside_histories(pytester)
    result = pytester.runpytest_subprocess(f"--replay={rel}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "was not read" not in result.stdout.str()


# ---------------------------------------------------------------- a report in the session; two modules of one workflow type; a mistyped module, an empty dir
@pytest.fixture
def shop_project(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "shop.py").write_text(SHOP)
    pytester.syspathinsert()
    return pytester


@pytest.mark.parametrize("extra", [[], ["-W", "error::replaytest_pytest.ReplayWarning"]])
def test_pytest_shows_the_args_warning_in_the_failure_report(shop_project: pytest.Pytester, extra: list[str]) -> None:
    record(shop_project.path, "shop", "notify", ORDER)
    for old, new in ARGS_THEN_ACTIVITY:
        edit(shop_project.path / "shop.py", old, new)
    result = shop_project.runpytest("--replay", "histories", "--replay-args=warn", *extra)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*at history event 11: a different activity", "*activity charge arguments differ*"])


ORDERS = """\
from replaytest import activity, workflow


@activity.defn
def charge(cents: int) -> str:
    return "ch"


@workflow.defn
async def process_order(order: dict) -> str:
    return await workflow.execute_activity(charge, {field})
"""


@pytest.fixture
def two_packages(pytester: pytest.Pytester) -> pytest.Pytester:
    for package, field in (("app", 'order["cents"]'), ("saas", 'order["total_cents"]')):
        (pytester.path / package).mkdir()
        (pytester.path / package / "__init__.py").write_text("")
        (pytester.path / package / "orders.py").write_text(ORDERS.format(field=field))
    pytester.syspathinsert()
    return pytester


def test_the_report_says_the_history_names_another_module(two_packages: pytest.Pytester) -> None:
    record(two_packages.path, "saas.orders", "process_order", {"total_cents": 100}, workflow_id="order-1")
    result = two_packages.runpytest("--replay", "histories", "--replay-module", "app.orders")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "KeyError" in text
    assert "saas.orders:process_order" in text and "app.orders:process_order" in text, text


def test_two_replay_modules_of_one_type_fail_the_item_naming_both_whatever_their_order(
    two_packages: pytest.Pytester,
) -> None:
    record(two_packages.path, "app.orders", "process_order", {"cents": 1}, workflow_id="order-1")
    for first, second in (("saas.orders", "app.orders"), ("app.orders", "saas.orders")):
        result = two_packages.runpytest("--replay", "histories", "--replay-module", first, "--replay-module", second)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(
            [
                f"*workflow type 'process_order' is defined by more than one module given ({first}:process_order "
                f"and {second}:process_order); replaytest does not pick one by their order: name the one to replay, "
                f"e.g. --replay-module {second}:process_order*"
            ]
        )
    # named as the line says, the one given replays
    named = two_packages.runpytest("--replay", "histories", "--replay-module", "app.orders:process_order")
    named.assert_outcomes(passed=1)


def test_registering_two_workflows_of_one_type_warns(two_packages: pytest.Pytester) -> None:
    app, saas = load(two_packages.path / "app" / "orders.py"), load(two_packages.path / "saas" / "orders.py")
    with pytest.warns(DuplicateWorkflowWarning, match=r"two workflows of type 'process_order'") as caught:
        with Engine(two_packages.path / "e.db") as engine:
            engine.register(app, saas)
    assert app.__name__ in str(caught[0].message) and saas.__name__ in str(caught[0].message)
    history = History.load(record(two_packages.path, "app.orders", "process_order", {"cents": 1}))
    for order in ([saas, app], [app, saas]):  # replay refuses to choose, in either order
        with pytest.raises(UnknownWorkflowError, match=r"'process_order' is defined by more than one module"):
            replay(history, order)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        replay(history, [app, app.process_order])  # the same definition twice is no conflict


def test_a_mistyped_replay_module_fails_loudly(shop_project: pytest.Pytester) -> None:
    record(shop_project.path, "shop", "notify", ORDER)
    result = shop_project.runpytest("--replay", "histories", "--replay-module", "shpo")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*--replay-module shpo*No module named 'shpo'*",
            "replaytest: 0 histories replayed (0 events), 0 divergences, "
            "1 history not replayed: a replay module does not import",
        ]
    )


def test_an_empty_replay_directory_says_no_histories_were_found(pytester: pytest.Pytester) -> None:
    pytester.mkdir("emptydir")
    result = pytester.runpytest("--replay", "emptydir")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["*no history files (?.json, ?.jsonl.gz) found under emptydir*"])
