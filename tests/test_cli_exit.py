"""How ``replaytest`` ends (issue 19, item 14). temporalio's Core threads can call into Python
while the interpreter finalizes, which aborts it (SIGABRT or SIGSEGV after every line was
printed, about 1 run in 40 of a short Temporal history): a run that loaded temporalio ends with
``os._exit`` once its output is flushed, so the interpreter never finalizes. The abort itself
is a race; what decides it is deterministic: whether the process finalizes at all. An atexit
hook of the user's module tells (finalization runs it, ``os._exit`` does not); the output must
be complete and the exit code right either way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

MARKER = """
import atexit
from pathlib import Path

atexit.register(lambda: Path("finalized").write_text("the interpreter finalized"))
"""


def _replay(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "replaytest", "replay", *args, "--module", "marker"],
        cwd=project,
        env=env,
        capture_output=True,  # pipes: stdout is block-buffered, so an unflushed line would be lost
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "marker.py").write_text(MARKER)
    shutil.copy(ROOT / "fixtures" / "histories" / "order-42.json", tmp_path / "order-42.json")
    (tmp_path / "broken.json").write_text('{"events": [')
    return tmp_path


def test_a_run_that_loaded_temporalio_never_finalizes_and_says_everything(
    project: Path, temporal_histories: Path
) -> None:
    shutil.copy(temporal_histories / "cli" / "ship-1.json", project / "ship-1.json")
    r = _replay(
        project,
        *("ship-1.json", "order-42.json", "broken.json"),
        *("--module", "fixtures.temporal.orders", "--module", "fixtures.workflows.orders"),
    )
    lines = r.stdout.splitlines()
    assert r.returncode == 1, r.stdout + r.stderr  # broken.json failed
    assert lines[0].startswith("ok    ship-1.json: ship-1 (ShippingWorkflow)"), r.stdout
    assert any(line.startswith("ok    order-42.json: order-42") for line in lines)
    assert lines[-1] == "2 histories replayed: 2 ok, 0 failed; 1 file not replayed: not a usable history (FAIL above)"
    assert not (project / "finalized").exists(), "the run finalized the interpreter after loading temporalio"


def test_a_run_without_temporalio_finalizes_as_usual(project: Path) -> None:
    r = _replay(project, "order-42.json", "--module", "fixtures.workflows.orders")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "1 history replayed: 1 ok, 0 failed"
    assert (project / "finalized").read_text() == "the interpreter finalized"  # the marker works: atexit ran
