"""A Temporal project as it really is: several workers, one per task queue, workflow type names
reused across queues, and versions of one workflow kept side by side in one module (temporalio's
``hello_patch`` pattern). Histories recorded once per run on a real dev server
(``tests/temporal_recording.py``, ``OUT/project``), replayed through real pytest sessions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Loaded up front: pytester drops modules an in-process run imported, and temporalio (a Rust
# extension with a process-wide runtime) must not be imported twice.
import fixtures.temporal.project.fanout
import fixtures.temporal.project.greet_bye
import fixtures.temporal.project.greet_hello
import fixtures.temporal.variants.fanout_activity
import fixtures.temporal.variants.fanout_child
import fixtures.temporal.variants.fanout_continues
import fixtures.temporal.variants.fanout_raises
import fixtures.temporal.variants.fanout_returns_early
import fixtures.temporal.variants.fanout_signal
import fixtures.temporal.variants.fanout_timer
import fixtures.temporal.variants.versions_unguarded
import fixtures.temporal.versions  # noqa: F401
import replaytest.backends.temporal.replay
import replaytest.pytest_support  # noqa: F401
from tests.conftest import ROOT

VERSIONS = "fixtures.temporal.versions"
UNGUARDED = "fixtures.temporal.variants.versions_unguarded"
QUEUES = [
    "--replay-task-queue=hello-greetings=fixtures.temporal.project.greet_hello",
    "--replay-task-queue=bye-greetings=fixtures.temporal.project.greet_bye",
    "--replay-task-queue=fanout=fixtures.temporal.project.fanout",
]


@pytest.fixture(autouse=True)
def _inner_session_options(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning -p no:hypothesispytest -p no:randomly"
    )


@pytest.fixture
def histories(pytester: pytest.Pytester, temporal_histories: Path) -> Path:
    out = pytester.path / "histories"
    shutil.copytree(temporal_histories / "project", out)
    return out


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--replay", "histories", "-p", "no:cacheprovider", *args)


# ---------------------------------------------------------------- 1: two classes, one name
def test_two_versions_of_one_workflow_in_one_module_are_never_chosen_silently(
    pytester: pytest.Pytester, histories: Path
) -> None:
    # hello_patch's pattern: V1 and V2 of invoice-workflow side by side. V2 with its patch guard
    # replaced by `if True:` breaks invoice-1 (recorded by V1); naming the module alone used to
    # replay with V1, the first class, and pass.
    result = run(pytester, "--replay-module", UNGUARDED, "-k", "invoice")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            f"*invoice-1.json: Temporal workflow type 'invoice-workflow' is defined by 2 classes in the replay "
            f"modules: {UNGUARDED}:InvoiceWorkflow, {UNGUARDED}:InvoiceWorkflowPatched; replaytest does not choose "
            f"one: name the class that replays this history with --replay-module MODULE:CLASS (for example "
            f"--replay-module {UNGUARDED}:InvoiceWorkflowPatched), or give its task queue a worker: "
            "--replay-task-queue invoices=MODULE:CLASS",
        ]
    )


def test_module_colon_class_picks_one_version(pytester: pytest.Pytester, histories: Path) -> None:
    broken = run(pytester, "--replay-module", f"{UNGUARDED}:InvoiceWorkflowPatched", "-k", "invoice")
    broken.assert_outcomes(failed=2)
    broken.stdout.fnmatch_lines(
        [
            "Nondeterminism in workflow invoice-1 (invoice-workflow) at history event 5:*",
            "*fixtures/temporal/variants/versions_unguarded.py:28 in run",
        ]
    )
    run(pytester, "--replay-module", f"{VERSIONS}:InvoiceWorkflowPatched", "-k", "invoice").assert_outcomes(passed=2)
    # the first version alone cannot replay what the second recorded: the class named is the one used
    v1 = run(pytester, "--replay-module", f"{VERSIONS}:InvoiceWorkflow", "-k", "invoice")
    v1.assert_outcomes(passed=1, failed=1)
    v1.stdout.fnmatch_lines(["Nondeterminism in workflow invoice-2 (invoice-workflow) at history event 5:*"])


def test_the_ini_takes_module_colon_class_too(pytester: pytest.Pytester, histories: Path) -> None:
    pytester.makeini(f"[pytest]\nreplay_modules = {UNGUARDED}:InvoiceWorkflowPatched\n")
    result = run(pytester, "-k", "invoice")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(  # failed for the edit's reason at its line, not for a set-up error
        [
            "Nondeterminism in workflow invoice-1 (invoice-workflow) at history event 5: a different activity",
            "*fixtures/temporal/variants/versions_unguarded.py:28 in run",
            "Nondeterminism in workflow invoice-2 (invoice-workflow) at history event 5: a patch marker mismatch",
            "*fixtures/temporal/variants/versions_unguarded.py:28 in run",
        ]
    )


# ---------------------------------------------------------------- 2: a whole project, one session
def test_a_project_with_one_worker_per_task_queue_replays_green_in_one_session(
    pytester: pytest.Pytester, histories: Path
) -> None:
    # both GreetingWorkflow classes under one --replay-module: ambiguous, each history fails
    mixed = run(
        pytester,
        "--replay-module=fixtures.temporal.project.greet_hello",
        "--replay-module=fixtures.temporal.project.greet_bye",
        "-k",
        "greet",
    )
    mixed.assert_outcomes(failed=2)
    mixed.stdout.fnmatch_lines(["*'GreetingWorkflow' is defined by 2 classes*--replay-task-queue hello-greetings=*"])
    # classes of different modules (a worker each): no class is offered as the example, the
    # history's queue decides (greet-hello-1 offered greet_bye's class, the last one found)
    # (the failures' own lines: under CI=true pytest's short summary repeats them untruncated)
    said = [line for line in mixed.stdout.lines if line.startswith("histories/") and "is defined by 2 classes" in line]
    assert len(said) == 2 and not [line for line in said if "for example" in line], said
    # each queue's worker: the whole project passes
    green = run(pytester, f"--replay-module={VERSIONS}:InvoiceWorkflowPatched", *QUEUES, "-v")
    green.assert_outcomes(passed=5)
    green.stdout.fnmatch_lines(["*greet-bye-1.json::greet-bye-1 PASSED*", "*greet-hello-1.json::greet-hello-1 PASSED*"])


def test_task_queues_from_the_ini_one_per_line(pytester: pytest.Pytester, histories: Path) -> None:
    pytester.makeini(
        "[pytest]\nreplay_task_queues =\n"
        "    hello-greetings = fixtures.temporal.project.greet_hello\n"
        "    bye-greetings=fixtures.temporal.project.greet_bye:GreetingWorkflow\n"
        f"    invoices={VERSIONS}:InvoiceWorkflowPatched\n"
    )
    run(pytester, "-k", "greet or invoice").assert_outcomes(passed=4)


def test_a_queue_whose_worker_lacks_the_type_names_the_queue_and_a_bad_spec_names_the_form(
    pytester: pytest.Pytester, histories: Path
) -> None:
    lacking = run(pytester, "--replay-task-queue=hello-greetings=fixtures.temporal.project.fanout", "-k", "hello")
    lacking.assert_outcomes(failed=1)
    lacking.stdout.fnmatch_lines(
        [
            "*greet-hello-1.json: Temporal workflow type 'GreetingWorkflow' is not registered by the worker of task "
            "queue 'hello-greetings' (--replay-task-queue hello-greetings=fixtures.temporal.project.fanout) "
            "(registered @workflow.defn classes: FanOutWorkflow, PackingWorkflow); add its class to "
            "--replay-task-queue hello-greetings=MODULE?:CLASS?"
        ]
    )
    bad = run(pytester, "--replay-task-queue=fixtures.temporal.project.fanout", "-k", "hello")
    bad.assert_outcomes(failed=1)
    bad.stdout.fnmatch_lines(
        ["*--replay-task-queue fixtures.temporal.project.fanout: cannot import it: *QUEUE=MODULE?:CLASS?*"]
    )


# ---------------------------------------------------------------- 12: the CLI's words in the CLI
def test_the_cli_replays_a_project_by_task_queue_and_names_its_own_options(temporal_histories: Path) -> None:
    project = temporal_histories / "project"

    def replay(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "replaytest", "replay", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
        )

    green = replay(
        str(project),
        "--module",
        f"{VERSIONS}:InvoiceWorkflowPatched",
        *(q.replace("--replay-task-queue=", "--task-queue=") for q in QUEUES),
    )
    assert green.returncode == 0, green.stdout + green.stderr
    assert green.stdout.endswith("5 histories replayed: 5 ok, 0 failed\n")
    unknown = replay(str(project / "invoice-1.json"), "--module", "fixtures.temporal.project.fanout")
    assert unknown.returncode == 1
    assert "pass the module that defines it with --module\n" in unknown.stdout
    assert "--replay-module" not in unknown.stdout
    ambiguous = replay(str(project / "invoice-1.json"), "--module", VERSIONS)
    assert "with --module MODULE:CLASS (for example --module fixtures.temporal.versions:InvoiceWorkflowPatched)" in (
        ambiguous.stdout
    )
    assert "--task-queue invoices=MODULE:CLASS" in ambiguous.stdout


# ---------------------------------------------------------------- 4, 5: a line for every divergence
@pytest.mark.parametrize(
    ("variant", "options", "event", "line", "function"),
    [
        ("fanout_activity", (), 5, 22, "<listcomp>"),  # an activity started inside asyncio.gather
        ("fanout_child", (), 14, 23, "<listcomp>"),  # a child workflow
        ("fanout_signal", (), 28, 25, "<listcomp>"),  # a signal to another workflow
        ("fanout_timer", ("--replay-args=error",), 36, 26, "<listcomp>"),  # a timer
        ("fanout_returns_early", (), 14, 23, "run"),  # the `return` that ran
        ("fanout_raises", (), 14, 23, "run"),  # the `raise`
        ("fanout_continues", (), 14, 23, "run"),  # the continue_as_new call
    ],
)
def test_every_divergence_names_the_line_that_made_the_call(
    pytester: pytest.Pytester,
    histories: Path,
    variant: str,
    options: tuple[str, ...],
    event: int,
    line: int,
    function: str,
) -> None:
    result = run(pytester, f"--replay-module=fixtures.temporal.variants.{variant}", "-k", "fanout", *options)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            # the event id where a fan-out diverges late depends on how the server batched the
            # children's completions in this recording; the line does not
            f"Nondeterminism in workflow fanout-1 (FanOutWorkflow) at history event {event if event < 20 else '*'}: *",
            f"  at *fixtures/temporal/variants/{variant}.py:{line} in {function}",
            "      *# CHANGED*",
        ]
    )


def test_an_early_end_says_the_code_ended_where_history_went_on(pytester: pytest.Pytester, histories: Path) -> None:
    result = run(pytester, "--replay-module=fixtures.temporal.variants.fanout_returns_early", "-k", "fanout")
    result.stdout.fnmatch_lines(
        [
            '  history recorded: StartChildWorkflowExecutionInitiated PackingWorkflow("a") id=pack-a',
            '  code issued:      WorkflowExecutionCompleted → ?"charge-a-5.00", "charge-b-5.00"?',
            "  the code returns here, where history went on: it recorded more after this point",
        ]
    )
