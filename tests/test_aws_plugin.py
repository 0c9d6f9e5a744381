"""AWS Lambda durable histories through `pytest --replay` and `replaytest replay`: real pytest
sessions (pytester) over histories recorded with the testing SDK (tests/data/aws/)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import aws_durable_execution_sdk_python  # noqa: F401  (a dev dependency: without it this module errors, never skips)
import pytest

import replaytest.pytest_support
import replaytest.sandbox  # noqa: F401

DATA = Path(__file__).parent / "data"
HANDLERS = Path(__file__).parent / "aws_handlers"


@pytest.fixture(autouse=True)
def _inner_session_options(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # as in test_plugin.py: no assert-rewrite noise, no hypothesis plugin, items in file order
    monkeypatch.setenv(
        "PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning -p no:hypothesispytest -p no:randomly"
    )


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A Lambda project: its handler module and exported histories."""
    (pytester.path / "histories").mkdir()
    for name in ("order-1", "trip-1"):
        shutil.copy(DATA / "aws" / f"{name}.json", pytester.path / "histories")
    shutil.copy(HANDLERS / "orders.py", pytester.path / "orders.py")
    shutil.copy(HANDLERS / "saga.py", pytester.path / "trips.py")
    pytester.syspathinsert()
    return pytester


def edit(pytester: pytest.Pytester, file: str, old: str, new: str) -> int:
    """Edit the handler as a developer would; returns the number of the edit's first line."""
    path = pytester.path / file
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    shutil.rmtree(pytester.path / "__pycache__", ignore_errors=True)
    first = new.strip().splitlines()[0] if new.strip() else ""
    return next((i for i, line in enumerate(path.read_text().splitlines(), 1) if first and first in line), 0)


HANDLER_OPTIONS = ["--replay-handler", "orders=orders:handler", "--replay-handler", "trips=trips:handler"]


def test_unchanged_handlers_pass(project):
    result = project.runpytest("--replay", "histories", *HANDLER_OPTIONS, "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*histories/order-1.json::order-1 PASSED*", "*histories/trip-1.json::trip-1 PASSED*"])


def test_a_rename_fails_its_item_at_the_handler_line(project):
    line = edit(project, "orders.py", 'name="charge"', 'name="bill"')
    result = project.runpytest("--replay", "histories", *HANDLER_OPTIONS)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*a different operation*",
            "*history recorded: step 'charge'*",
            "*code issued:      step 'bill'*",
            f"*at orders.py:{line} in handler*",
        ]
    )


@pytest.mark.parametrize(
    "file, old, new, title, marker",
    [
        (
            "orders.py",
            '    context.step(lambda _: "sent", name="notify")\n',
            "",
            "a recorded operation the code no longer reaches",
            'return {"reserved": reserved',
        ),
        (
            "orders.py",
            '    return {"reserved": reserved',
            '    context.step(lambda _: 1, name="extra")\n    return {"reserved": reserved',
            "an operation the history does not have",
            'name="extra"',
        ),
        (
            "orders.py",
            'context.wait(Duration.from_seconds(5), name="cool-off")',
            'context.step(lambda _: 0, name="cool-off")',
            "a different operation",
            'name="cool-off"',
        ),
        ("orders.py", 'name="book-pickup"', 'name="schedule-pickup"', "a different operation", "schedule-pickup"),
        (
            "trips.py",
            '["cancel-hotel", "cancel-car"]',
            '["cancel-car", "cancel-hotel"]',
            "operations in a different order",
            "name=undo",
        ),
    ],
)
def test_each_kind_of_edit_fails_its_item_at_the_handler_line(project, file, old, new, title, marker):
    edit(project, file, old, new)
    at = next(i for i, text in enumerate((project.path / file).read_text().splitlines(), 1) if marker in text)
    result = project.runpytest("--replay", "histories", *HANDLER_OPTIONS)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*: {title}", f"*at {file}:{at} in *"])


def test_k_selects_by_function(project):
    result = project.runpytest("--replay", "histories", *HANDLER_OPTIONS, "-k", "trips")
    result.assert_outcomes(passed=1, deselected=1)


def test_a_changed_argument_is_a_replay_warning(project):
    edit(project, "orders.py", "Duration.from_seconds(5)", "Duration.from_seconds(10)")
    result = project.runpytest("--replay", "histories/order-1.json", "--replay-handler", "orders:handler")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*ReplayWarning: order-1: event 4: wait 'cool-off': recorded seconds 5, the code now "
            "passes 10 at orders.py:21 in handler"
        ]
    )
    result = project.runpytest(
        "--replay", "histories/order-1.json", "--replay-handler", "orders:handler", "--replay-args", "error"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*different operation arguments*"])


def test_the_one_durable_handler_of_a_replay_module_is_used(project):
    project.runpytest("--replay", "histories/order-1.json", "--replay-module", "orders").assert_outcomes(passed=1)


def test_without_a_handler_the_item_fails_listing_what_was_found(project):
    result = project.runpytest(
        "--replay", "histories/order-1.json", "--replay-module", "orders", "--replay-module", "trips"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*no handler chosen for Lambda function 'orders'*several durable handlers "
            "(orders:handler, trips:handler)*--replay-handler*"
        ]
    )


def test_the_replay_marker_takes_the_handler(project):
    project.makepyfile(
        test_orders="""
        import pytest
        import orders

        @pytest.mark.replay("histories/order-1.json", workflows=[orders.handler])
        def test_order_replays(replayed):
            assert replayed.status == "completed" and replayed.output["paid"] == {"charged": 42}
    """
    )
    project.runpytest("test_orders.py").assert_outcomes(passed=1)


def test_handlers_from_the_ini_file(project):
    project.makeini("[pytest]\nreplay_handlers =\n    orders=orders:handler\n    trips=trips:handler\n")
    project.runpytest("--replay", "histories").assert_outcomes(passed=2)


def test_a_truncated_export_fails_its_item_in_one_line(project):
    text = (project.path / "histories" / "order-1.json").read_text()
    (project.path / "histories" / "order-1.json").write_text(
        text.replace('"EventType": "ExecutionStarted"', '"EventType": "ExecutionStarting"')
    )
    result = project.runpytest("--replay", "histories/order-1.json", *HANDLER_OPTIONS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*histories/order-1.json: event 1: unknown EventType 'ExecutionStarting'*"])


def test_a_session_with_only_native_histories_imports_nothing_of_the_aws_sdk(pytester):
    shutil.copy(DATA / "smoke-w1.json", pytester.path)
    shutil.copy(DATA / "smoke_workflows.py", pytester.path)
    pytester.makeconftest(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        "    loaded = sorted(m for m in sys.modules if m.startswith('aws_durable'))\n"
        "    print('AWS-MODULES', loaded)\n"
    )
    result = pytester.runpytest_subprocess(
        "--replay", "smoke-w1.json", "--replay-module", "smoke_workflows", "-s", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*AWS-MODULES []"])


def test_the_cli_replays_an_export(project):
    edit(project, "trips.py", '["cancel-hotel", "cancel-car"]', '["cancel-car", "cancel-hotel"]')
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "replaytest",
            "replay",
            "histories",
            "--handler",
            "orders=orders:handler",
            "--handler",
            "trips=trips:handler",
        ],
        cwd=project.path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1, out.stderr
    assert "ok    histories/order-1.json: order-1 (orders): 18 events replayed, completed" in out.stdout
    assert "operations in a different order" in out.stdout and "at trips.py:23 in book" in out.stdout


def test_a_replay_module_that_does_not_import_is_named_in_the_failure(project):
    (project.path / "broken_handlers.py").write_text("raise RuntimeError('no config in CI')\n")
    result = project.runpytest("--replay", "histories/order-1.json", "--replay-module", "broken_handlers")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*--replay-module broken_handlers: cannot import it: RuntimeError: no config in CI (at broken_handlers.py:1)*"]
    )


def test_a_src_layout_handler_the_cli_cannot_import_is_named_with_the_cli_flag_and_the_fix(project):
    """`replaytest replay --handler` on a src layout: the line names the flag the user typed (not
    pytest's --replay-handler) and says PYTHONPATH=src, for AWS handlers and Durable Task alike."""
    src = project.path / "src" / "shop"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    shutil.move(project.path / "orders.py", src / "orders.py")
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-m", "replaytest", "replay", "histories/order-1.json", "--handler", "shop.orders:handler"],
        cwd=project.path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    [line] = [x for x in out.stdout.splitlines() if x.startswith("FAIL")]
    assert line == (
        "FAIL  histories/order-1.json: --handler shop.orders:handler: cannot import module 'shop.orders': "
        f"no module named 'shop'; shop is in {(project.path / 'src').resolve()}, which is not on sys.path: "
        "run replaytest with PYTHONPATH=src"
    ), line
    fixed = subprocess.run(
        [sys.executable, "-m", "replaytest", "replay", "histories/order-1.json", "--handler", "shop.orders:handler"],
        cwd=project.path,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": "src"},
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_the_cli_names_its_own_handler_flag_when_no_handler_is_found(project):
    out = subprocess.run(
        [sys.executable, "-m", "replaytest", "replay", "histories/order-1.json", "--module", "json"],
        cwd=project.path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert (
        "no @durable_execution handler in the replay modules (json): name it with --handler "
        "[FUNCTION=]MODULE:ATTR or --module MODULE" in out.stdout
    ), out.stdout
    assert "--replay-" not in out.stdout and "ini:" not in out.stdout, out.stdout
