"""The backend seam from the outside: a new backend is one package plus its entry point. A toy
backend in a distribution of its own (its own pyproject.toml, pip-installed) is collected,
replayed and reported by ``pytest --replay`` and ``replaytest replay`` with no change to
replaytest; its option and command reach pytest and the CLI; and a run that replays only its
histories never starts the native sandbox (freezegun, the audit hook)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A tiny backend: a "toy" history is {"toy": [[step, recorded], ...]}; the user's module names
# the steps the code takes today; a step taken differently is a divergence at its event.
TOY_BACKEND = """
import contextlib
from replaytest.backends import Entry
from replaytest.report import Divergence, NondeterminismError, ReplayResult, UnsupportedOption, timeline


class ToyBackend:
    name = "toy"

    def claims(self, doc):
        return isinstance(doc, dict) and "toy" in doc

    def entries(self, path, doc):
        return [Entry(path, 0, doc.get("id"), "toy_flow", self.name)]

    def validate(self, doc, display):
        pass

    @contextlib.contextmanager
    def session(self, settings):
        yield

    def replay(self, entry, doc, settings, *, display):
        if settings.sandbox == "warn":
            raise UnsupportedOption(f"{display}: --replay-sandbox=warn means nothing for toy histories")
        steps = [s for m in settings.modules for s in getattr(m, "STEPS", [])]
        tolerated = settings.option("toy", "tolerate")  # the backend's own option
        recorded = [r for r, _ in doc["toy"]]
        lines = [(i + 1, f"Step {r}") for i, r in enumerate(recorded)]
        for i, (r, c) in enumerate(zip(recorded, steps)):
            if r != c and c not in tolerated:
                raise NondeterminismError(Divergence(
                    kind="command", workflow_id=entry.workflow_id, workflow_type="toy_flow", event_id=i + 1,
                    event_type="Step", recorded=f"Step {r}", issued=f"Step {c}", matched=i,
                    timeline=timeline(lines, i + 1, mark="diverges here"), history_source=display))
        return ReplayResult(entry.workflow_id, "toy_flow", "completed", None, len(recorded))


BACKEND = ToyBackend()
"""

# What the toy backend adds to the command line: standard library only, read at startup.
TOY_OPTIONS = """
from replaytest_options import BackendOptions, Command, Option


def _count_arguments(parser):
    parser.add_argument("path")


OPTIONS = BackendOptions(
    "toy",
    options=(
        Option(
            dest="tolerate",
            cli="--tolerate",
            pytest="--replay-tolerate",
            metavar="STEP",
            help="a toy step the code may take instead of the recorded one",
            cli_help="a toy step the code may take instead of the recorded one",
            ini_help="toy steps the code may take instead of the recorded ones",
        ),
    ),
    commands=(Command("toy-count", "count the steps of a toy history", _count_arguments, "toy_commands:count", ""),),
)
"""

TOY_COMMANDS = """
import json


def count(args):
    print(len(json.load(open(args.path))["toy"]), "steps")
    return 0
"""

TOY_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "replaytest-toy-backend"
version = "0.1"

[project.entry-points."replaytest.backends"]
toy = "toy_backend:BACKEND"

[project.entry-points."replaytest.options"]
toy = "toy_options:OPTIONS"

[tool.setuptools]
py-modules = ["toy_backend", "toy_options", "toy_commands"]
"""


@pytest.fixture(scope="module")
def toy_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy backend built and pip-installed as a distribution of its own, into a directory
    that only this module's subprocesses put on sys.path (so no other test sees it)."""
    source = tmp_path_factory.mktemp("toy-dist")
    (source / "pyproject.toml").write_text(TOY_PYPROJECT)
    (source / "toy_backend.py").write_text(TOY_BACKEND)
    (source / "toy_options.py").write_text(TOY_OPTIONS)
    (source / "toy_commands.py").write_text(TOY_COMMANDS)
    target = tmp_path_factory.mktemp("toy-site")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    done = subprocess.run([*pip, "--target", str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(p.name.startswith("replaytest_toy_backend-") for p in target.glob("*.dist-info"))
    return target


def _env(toy_install: Path, project: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(toy_install), str(project)])}


@pytest.fixture
def toy_project(tmp_path: Path) -> Path:
    (tmp_path / "flows_v1.py").write_text("STEPS = ['a', 'b', 'c']\n")
    (tmp_path / "flows_v2.py").write_text("STEPS = ['a', 'x', 'c']\n")
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "toy-1.json").write_text('{"id": "toy-1", "toy": [["a", 1], ["b", 2], ["c", 3]]}')
    return tmp_path


def _pytest(project: Path, toy_install: Path, *args: str) -> subprocess.CompletedProcess[str]:
    conftest = textwrap.dedent("""
        import sys

        def pytest_unconfigure(config):
            print("FREEZEGUN LOADED:", "freezegun" in sys.modules)
    """)
    (project / "conftest.py").write_text(conftest)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-s",
            "--rootdir",
            str(project),
            "--replay",
            "h",
            *args,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(toy_install, project),
    )


def test_pytest_collects_and_passes_a_new_backends_history_without_the_sandbox(
    toy_project: Path, toy_install: Path
) -> None:
    run = _pytest(toy_project, toy_install, "--replay-module", "flows_v1", "-v")
    assert "h/toy-1.json::toy-1 PASSED" in run.stdout, run.stdout + run.stderr
    assert "replaytest: 1 history replayed (3 events), 0 divergences" in run.stdout
    assert "FREEZEGUN LOADED: False" in run.stdout  # the native sandbox never started


def test_pytest_reports_a_new_backends_divergence_with_the_common_report(toy_project: Path, toy_install: Path) -> None:
    run = _pytest(toy_project, toy_install, "--replay-module", "flows_v2", "-k", "toy_flow")
    assert "1 failed" in run.stdout, run.stdout + run.stderr
    assert "Nondeterminism in workflow toy-1 (toy_flow) at history event 2: a different command" in run.stdout
    assert "history recorded: Step b" in run.stdout and "code issued:      Step x" in run.stdout
    assert "→    2  Step b   ← diverges here" in run.stdout


def test_an_option_the_backend_cannot_honour_is_refused_not_ignored(toy_project: Path, toy_install: Path) -> None:
    run = _pytest(toy_project, toy_install, "--replay-module", "flows_v1", "--replay-sandbox", "warn")
    assert "1 failed" in run.stdout and "--replay-sandbox=warn means nothing for toy histories" in run.stdout


def _cli(project: Path, toy_install: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = f"from replaytest.cli import main\nraise SystemExit(main({list(args)!r}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(toy_install, project),
    )


def test_the_cli_replays_a_new_backends_history_through_the_same_loop(toy_project: Path, toy_install: Path) -> None:
    run = _cli(toy_project, toy_install, "replay", "h", "--module", "flows_v2")
    assert run.returncode == 1, run.stderr
    assert run.stdout.startswith(
        "FAIL  h/toy-1.json:\n      Nondeterminism in workflow toy-1 (toy_flow) at history event 2"
    )
    assert run.stdout.rstrip().endswith("1 history replayed: 0 ok, 1 failed")


def test_the_backends_own_option_reaches_it_from_pytest_the_ini_and_the_cli(
    toy_project: Path, toy_install: Path
) -> None:
    run = _pytest(toy_project, toy_install, "--replay-module", "flows_v2", "--replay-tolerate", "x", "-v")
    assert "h/toy-1.json::toy-1 PASSED" in run.stdout, run.stdout + run.stderr
    (toy_project / "pytest.ini").write_text("[pytest]\nreplay_tolerate = x\n")
    run = _pytest(toy_project, toy_install, "--replay-module", "flows_v2", "-v")
    assert "h/toy-1.json::toy-1 PASSED" in run.stdout, run.stdout + run.stderr
    run = _cli(toy_project, toy_install, "replay", "h", "--module", "flows_v2", "--tolerate", "x")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.rstrip().endswith("1 history replayed: 1 ok, 0 failed")
    helped = _pytest(toy_project, toy_install, "--help")
    assert "--replay-tolerate=STEP" in helped.stdout and "replay_tolerate (args)" in helped.stdout


def test_the_backends_own_command_runs_from_the_cli(toy_project: Path, toy_install: Path) -> None:
    run = _cli(toy_project, toy_install, "toy-count", "h/toy-1.json")
    assert (run.returncode, run.stdout) == (0, "3 steps\n"), run.stderr


# A document in two formats at once: Temporal's lower-case "events" and AWS's "Events".
BOTH_FORMATS = '{"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}], "Events": []}'


def test_a_document_two_backends_claim_is_refused_whatever_their_order(tmp_path: Path) -> None:
    import io
    import json

    from replaytest.backends import AmbiguousFormat, backend_for, registered
    from replaytest.cli.replay import replay_files

    assert [name for name, _ in registered()][-1] == "native"  # the fallback, asked last
    with pytest.raises(AmbiguousFormat, match=r"^both\.json: both the aws and the temporal backend read this"):
        backend_for(json.loads(BOTH_FORMATS), "both.json")
    (tmp_path / "both.json").write_text(BOTH_FORMATS)
    out = io.StringIO()
    assert replay_files([tmp_path / "both.json"], out=out, err=io.StringIO()) == 1
    assert out.getvalue().startswith(f"FAIL  {tmp_path / 'both.json'}: both the aws and the temporal backend")


def test_pytest_fails_the_item_of_a_document_two_backends_claim(pytester: pytest.Pytester) -> None:
    pytester.makefile(".json", both=BOTH_FORMATS)
    result = pytester.runpytest("--replay", "both.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*invalid history file both.json: both the aws and the temporal backend read this*"])
