"""A user's type checker reads replaytest's annotations (the wheel ships py.typed: see
test_packaging.py): functions decorated with @workflow.defn and @activity.defn keep their own
types under `mypy --strict`, so a wrong call is caught where it is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

FLOWS = """\
from replaytest import activity, workflow


@activity.defn
def add(a: int, b: int) -> int:
    return a + b


@activity.defn(name="multiply")
def mul(a: int, b: int) -> int:
    return a * b


@workflow.defn
async def total(n: int) -> int:
    result: int = await workflow.execute_activity(add, n, 1)
    return result + mul(2, 3)


@workflow.defn(name="named-total")
async def named_total(n: int) -> int:
    return await total(n)
"""


def mypy_strict(project: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict flows.py`` as a user runs it: replaytest's own modules are read, not reported."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--cache-dir", ".mypy", "flows.py"],
        cwd=project,
        env={**os.environ, "MYPYPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_decorated_workflows_and_activities_keep_their_types_under_mypy_strict(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    clean = mypy_strict(tmp_path)
    assert clean.returncode == 0, clean.stdout
    wrong = len(FLOWS.splitlines()) + 1  # the line of the first mistake below
    (tmp_path / "flows.py").write_text(FLOWS + 'WRONG: str = add(1, 2)\nmul("2", 3)\n')
    caught = mypy_strict(tmp_path)
    lines = caught.stdout.splitlines()
    assert caught.returncode == 1, caught.stdout
    assert f"flows.py:{wrong}: error: Incompatible types in assignment" in caught.stdout, lines
    assert f'flows.py:{wrong + 1}: error: Argument 1 to "mul" has incompatible type "str"' in caught.stdout, lines
