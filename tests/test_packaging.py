"""The wheel as pip builds it from a copy of the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import copy_checkout


def test_the_wheel_builds_without_warnings_and_holds_every_package(tmp_path: Path) -> None:
    source = copy_checkout(tmp_path / "src")  # a copy: building leaves build/ and *.egg-info behind
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    assert "deprecated" not in built.stderr and "BuildBackendWarning" not in built.stderr, built.stderr
    (wheel,) = tmp_path.glob("replaytest-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"replaytest/history/history-v1.json", "replaytest_pytest/__init__.py"} <= names
    assert {"replaytest/py.typed", "replaytest_pytest/py.typed"} <= names  # PEP 561: our annotations are read
    # every package of the source tree is in the wheel (pyproject lists them: a new one must be added there)
    packages = {str(p.relative_to(source)) for p in (source / "replaytest").rglob("__init__.py")}
    assert packages <= names, f"missing from [tool.setuptools] packages: {sorted(packages - names)}"
    metadata = next(n for n in names if n.endswith("METADATA"))
    assert "License-Expression: MIT" in zipfile.ZipFile(wheel).read(metadata).decode()
