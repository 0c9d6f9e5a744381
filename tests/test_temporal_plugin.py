"""``pytest --replay`` on Temporal histories, end to end: real pytest sessions (pytester) over
histories a real worker recorded on a real dev server (tests/temporal_recording.py)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# Loaded up front: pytester drops modules an in-process run imported, and temporalio (a Rust
# extension with a process-wide runtime) must not be imported twice.
import fixtures.temporal.coupon_buggy
import fixtures.temporal.coupon_fixed
import fixtures.temporal.orders
import fixtures.temporal.variants.args
import fixtures.temporal.variants.reordered  # noqa: F401
import replaytest.backends.temporal.replay
import replaytest.pytest_support  # noqa: F401
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def _inner_session_options(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning -p no:hypothesispytest -p no:randomly"
    )


@pytest.fixture
def histories(pytester: pytest.Pytester, temporal_histories: Path) -> Path:
    """The CLI exports of order-1, ship-1 and coupon-1 in the pytester project's histories/."""
    out = pytester.path / "histories"
    shutil.copytree(temporal_histories / "cli", out)
    return out


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--replay", "histories", "-p", "no:cacheprovider", *args)


def test_unchanged_code_passes_every_history(pytester: pytest.Pytester, histories: Path) -> None:
    result = run(
        pytester,
        "--replay-module",
        "fixtures.temporal.orders",
        "--replay-module",
        "fixtures.temporal.coupon_fixed",
        "-v",
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*histories/coupon-1.json::coupon-1 PASSED*",
            "*histories/order-1.json::order-1 PASSED*",
            "*histories/ship-1.json::ship-1 PASSED*",
            "replaytest: 3 histories replayed (*events), 0 divergences",
        ]
    )


def test_a_reordered_workflow_fails_with_the_report_and_the_source_line(
    pytester: pytest.Pytester, histories: Path
) -> None:
    result = run(pytester, "--replay-module", "fixtures.temporal.variants.reordered", "-k", "OrderWorkflow")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*replay histories/order-1.json::order-1*",
            "Nondeterminism in workflow order-1 (OrderWorkflow) at history event 5: commands in a different order",
            '  history recorded: ActivityTaskScheduled reserve_stock("1", ?"tv-55", "hdmi"?)',
            '  code issued:      ActivityTaskScheduled charge_card("1", 649.0)',
            "*fixtures/temporal/variants/reordered.py:28 in run",
            "*→    5  ActivityTaskScheduled reserve_stock*diverges here",
            "  temporalio: ?TMPRL1100? Nondeterminism error: Activity type of scheduled event 'reserve_stock'*",
            "replaytest: 1 history replayed (4 events), 1 divergence",
        ]
    )


def test_k_selects_by_workflow_type_and_the_stuck_workflow_fails_until_fixed(
    pytester: pytest.Pytester, histories: Path
) -> None:
    buggy = run(pytester, "--replay-module", "fixtures.temporal.coupon_buggy", "-k", "CouponWorkflow")
    buggy.assert_outcomes(failed=1)
    buggy.stdout.fnmatch_lines(
        [
            "Workflow code raised in workflow coupon-1 (CouponWorkflow)*KeyError: 'quantity'",
            "*fixtures/temporal/coupon_buggy.py:21 in run",
            "*history ends in 2 failed workflow task(s)*",
            "*1 workflow task error*",
        ]
    )
    run(pytester, "--replay-module", "fixtures.temporal.coupon_fixed", "-k", "CouponWorkflow").assert_outcomes(passed=1)


def test_changed_activity_arguments_warn_by_default_and_fail_with_replay_args_error(
    pytester: pytest.Pytester, histories: Path
) -> None:
    warned = run(pytester, "--replay-module", "fixtures.temporal.variants.args", "-k", "order")
    warned.assert_outcomes(passed=1, warnings=1)
    warned.stdout.fnmatch_lines(["*ReplayWarning: order-1: activity arguments differ from history event 11*"])
    failed = run(pytester, "--replay-module", "fixtures.temporal.variants.args", "-k", "order", "--replay-args=error")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*at history event 11: different activity arguments"])


def test_a_json_list_of_histories_is_one_item_each(pytester: pytest.Pytester, histories: Path) -> None:
    docs = [json.loads((histories / f"{wid}.json").read_text()) for wid in ("order-1", "ship-1")]
    shutil.rmtree(histories)
    histories.mkdir()
    (histories / "batch.json").write_text(json.dumps(docs))
    result = run(pytester, "--replay-module", "fixtures.temporal.orders", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*batch.json::order-1 PASSED*", "*batch.json::ship-1 PASSED*"])


def test_unusable_files_fail_with_one_line_each(pytester: pytest.Pytester, histories: Path) -> None:
    doc = json.loads((histories / "order-1.json").read_text())

    def decode(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("payloads"), list):
                return {"payloads": [json.loads(base64.b64decode(p["data"])) for p in node["payloads"]]}
            return {k: decode(v) for k, v in node.items()}
        return [decode(v) for v in node] if isinstance(node, list) else node

    (histories / "order-1.json").write_text(json.dumps(decode(doc)))
    (histories / "garbage.json").write_text(json.dumps({"hello": "world"}))
    result = run(pytester, "--replay-module", "fixtures.temporal.orders", "-k", "order or garbage")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "invalid history file histories/garbage.json: not a workflow history: export a history with `replaytest export ID -o DIR`*"
            "`temporal workflow show --workflow-id ID -o json` (Temporal), `aws lambda get-durable-execution-history*",
            "invalid history file histories/order-1.json: event *: payloads in this history are decoded (a Temporal Web UI*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


PROBE = """
import json, sys
def pytest_sessionfinish(session):
    heavy = sorted({m.split(".")[0] if not m.startswith("replaytest.") else ".".join(m.split(".")[:2])
                    for m in sys.modules if m.split(".")[0] in ("temporalio", "freezegun", "replaytest")})
    open("modules.json", "w").write(json.dumps(heavy))
"""


def _session(project: Path, conftest: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A pytest session of its own in ``project``, with ``conftest`` as its conftest.py."""
    (project / "conftest.py").write_text(conftest)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )


def _modules_after(tmp_path: Path, *args: str) -> list[str]:
    done = _session(tmp_path, PROBE, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((tmp_path / "modules.json").read_text())


def test_a_temporal_only_session_never_starts_the_freezegun_sandbox(tmp_path: Path, temporal_histories: Path) -> None:
    shutil.copytree(temporal_histories / "cli", tmp_path / "histories")
    loaded = _modules_after(
        tmp_path, "--replay", "histories", "--replay-module", "fixtures.temporal.orders", "-k", "not coupon"
    )
    assert "temporalio" in loaded and "freezegun" not in loaded, loaded
    assert "replaytest.sandbox" not in loaded, loaded


# registered when pytest loads the conftest, before replaytest's Temporal runner exists, so it
# runs after the runner's own exit handler: what is still running as the interpreter finalizes
THREADS_AT_EXIT = """
import atexit, os

@atexit.register
def _threads_left():
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names.append(f.read().strip())
        except OSError:  # a thread that ended while we looked
            pass
    with open("threads-at-exit.txt", "w") as f:
        f.write("\\n".join(sorted(names)))
"""


def test_no_core_thread_outlives_a_temporal_session(tmp_path: Path, temporal_histories: Path) -> None:
    """temporalio's Tokio threads still running when the interpreter finalizes can call into
    Python as it goes away: the process then aborts (SIGABRT, "PyGILState_Release: thread state
    ... must be current") after every test passed -- CI's failure, 1 run in a few dozen under
    load. The runner lets its Core runtime go at exit, which joins them first."""
    shutil.copytree(temporal_histories / "cli", tmp_path / "histories")
    done = _session(
        tmp_path,
        THREADS_AT_EXIT,
        *("-p", "no:randomly", "--replay", "histories"),
        *("--replay-module", "fixtures.temporal.orders", "--replay-module", "fixtures.temporal.coupon_fixed"),
    )
    assert "3 passed" in done.stdout, done.stdout + done.stderr
    left = (tmp_path / "threads-at-exit.txt").read_text().split("\n")
    assert not [name for name in left if name.startswith("tokio")], left


def test_an_unrelated_session_imports_neither_temporalio_nor_replaytests_heavy_modules(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_one():\n    assert 1\n")
    loaded = _modules_after(tmp_path, "test_plain.py")
    assert loaded == [], loaded


def test_native_and_temporal_histories_replay_in_one_session(pytester: pytest.Pytester, histories: Path) -> None:
    # the native history first: freezegun's sandbox is running when the Temporal one replays,
    # and temporalio's own sandbox still catches datetime.now()
    shutil.copy(ROOT / "fixtures" / "histories" / "order-42.json", histories / "a-native-order-42.json")
    (histories / "coupon-1.json").unlink()
    (histories / "ship-1.json").unlink()
    import fixtures.temporal.variants.clock
    import fixtures.workflows.orders  # noqa: F401

    result = run(
        pytester,
        "--replay-module",
        "fixtures.workflows.orders",
        "--replay-module",
        "fixtures.temporal.variants.clock",
        "-v",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*a-native-order-42.json::order-42 PASSED*",
            "*order-1.json::order-1 FAILED*",
            "*RestrictedWorkflowAccessError: Cannot access datetime.datetime.now*",
            "*fixtures/temporal/variants/clock.py:27 in run",
        ]
    )


def test_the_replayed_fixture_replays_a_temporal_history(pytester: pytest.Pytester, histories: Path) -> None:
    pytester.makepyfile(
        test_order="""
        import pytest
        from fixtures.temporal.orders import OrderWorkflow
        from fixtures.temporal.variants.renamed import OrderWorkflow as Renamed

        @pytest.mark.replay("histories/order-1.json", workflows=[OrderWorkflow])
        def test_order(replayed):
            assert replayed.status == "completed" and replayed.output == "express-1 via courier-1"

        @pytest.mark.replay("histories/order-1.json", workflows=[Renamed])
        def test_renamed(replayed):
            pass
    """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "test_order.py")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*at history event 11: a different activity*"])


NO_TEMPORALIO = "import sys\nsys.modules['temporalio'] = None  # as if replaytest were installed without [temporal]\n"
NEEDS_TEMPORALIO = (
    "histories/order-1.json: replaying a Temporal history needs the SDK it runs on: "
    "pip install '/path/to/replaytest[temporal]' (temporalio; see docs/temporal.md)"
)


def test_without_temporalio_a_temporal_history_says_what_to_install_and_the_others_replay(
    pytester: pytest.Pytester, histories: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(ROOT / "tests" / "data" / "smoke-w1.json", histories)
    pytester.makeconftest(NO_TEMPORALIO)
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "tests" / "data"))  # the native history's workflows
    # processes of their own: this one has imported temporalio already
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--replay", "histories", "--replay-module", "smoke_workflows", "-k", "order or w1"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            NEEDS_TEMPORALIO,
            "replaytest: 1 history replayed (27 events), 0 divergences, 1 history not replayed: its SDK is not installed",
        ]
    )
    assert "Traceback" not in result.stdout.str() and "ModuleNotFoundError" not in result.stdout.str()
    assert len(result.stdout.lines) < 40, result.stdout.str()

    cli = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_TEMPORALIO + "from replaytest.cli.main import main\nsys.exit(main())\n",
            "replay",
            "histories/order-1.json",
            "histories/smoke-w1.json",
            "--module",
            "smoke_workflows",
        ],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 1, cli
    assert f"FAIL  {NEEDS_TEMPORALIO}" in cli.stdout.splitlines(), cli.stdout
    assert "ok    histories/smoke-w1.json: w1 (flow): 27 events replayed, completed" in cli.stdout.splitlines()
    assert "internal error" not in cli.stdout + cli.stderr
    # counted as pytest counts it: not replayed, not a failed replay
    assert cli.stdout.splitlines()[-1] == (
        "1 history replayed: 1 ok, 0 failed; 1 history not replayed: its SDK is not installed (FAIL above)"
    )
