"""The backend seam from the outside: a backend added to ``replaytest.backends.BACKENDS`` is
collected, replayed and reported by ``pytest --replay`` and ``replaytest replay`` with no
change to either, and a run that replays only its histories never starts the native sandbox
(freezegun, the audit hook)."""

from __future__ import annotations

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
        recorded = [r for r, _ in doc["toy"]]
        lines = [(i + 1, f"Step {r}") for i, r in enumerate(recorded)]
        for i, (r, c) in enumerate(zip(recorded, steps)):
            if r != c:
                raise NondeterminismError(Divergence(
                    kind="command", workflow_id=entry.workflow_id, workflow_type="toy_flow", event_id=i + 1,
                    event_type="Step", recorded=f"Step {r}", issued=f"Step {c}", matched=i,
                    timeline=timeline(lines, i + 1, mark="diverges here"), history_source=display))
        return ReplayResult(entry.workflow_id, "toy_flow", "completed", None, len(recorded))


BACKEND = ToyBackend()
"""

REGISTER = """
import sys
import replaytest.backends as backends
backends.BACKENDS.insert(0, ("toy", "toy_backend"))
"""


@pytest.fixture
def toy_project(tmp_path: Path) -> Path:
    (tmp_path / "toy_backend.py").write_text(TOY_BACKEND)
    (tmp_path / "flows_v1.py").write_text("STEPS = ['a', 'b', 'c']\n")
    (tmp_path / "flows_v2.py").write_text("STEPS = ['a', 'x', 'c']\n")
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "toy-1.json").write_text('{"id": "toy-1", "toy": [["a", 1], ["b", 2], ["c", 3]]}')
    return tmp_path


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    conftest = REGISTER + textwrap.dedent("""
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
        env={**__import__("os").environ, "PYTHONPATH": str(project)},
    )


def test_pytest_collects_and_passes_a_new_backends_history_without_the_sandbox(toy_project: Path) -> None:
    run = _pytest(toy_project, "--replay-module", "flows_v1", "-v")
    assert "h/toy-1.json::toy-1 PASSED" in run.stdout, run.stdout + run.stderr
    assert "replaytest: 1 history replayed (3 events), 0 divergences" in run.stdout
    assert "FREEZEGUN LOADED: False" in run.stdout  # the native sandbox never started


def test_pytest_reports_a_new_backends_divergence_with_the_common_report(toy_project: Path) -> None:
    run = _pytest(toy_project, "--replay-module", "flows_v2", "-k", "toy_flow")
    assert "1 failed" in run.stdout, run.stdout + run.stderr
    assert "Nondeterminism in workflow toy-1 (toy_flow) at history event 2: a different command" in run.stdout
    assert "history recorded: Step b" in run.stdout and "code issued:      Step x" in run.stdout
    assert "→    2  Step b   ← diverges here" in run.stdout


def test_an_option_the_backend_cannot_honour_is_refused_not_ignored(toy_project: Path) -> None:
    run = _pytest(toy_project, "--replay-module", "flows_v1", "--replay-sandbox", "warn")
    assert "1 failed" in run.stdout and "--replay-sandbox=warn means nothing for toy histories" in run.stdout


def test_the_cli_replays_a_new_backends_history_through_the_same_loop(toy_project: Path) -> None:
    code = REGISTER + "from replaytest.cli import main\nraise SystemExit(main(['replay', 'h', '--module', 'flows_v2']))"
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=toy_project,
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "PYTHONPATH": str(toy_project)},
    )
    assert run.returncode == 1, run.stderr
    assert run.stdout.startswith(
        "FAIL  h/toy-1.json:\n      Nondeterminism in workflow toy-1 (toy_flow) at history event 2"
    )
    assert run.stdout.rstrip().endswith("1 history replayed: 0 ok, 1 failed")
