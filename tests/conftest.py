"""Shared helpers for the engine and CLI tests: a database path and a CLI runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A fresh engine database file (real SQLite, WAL) in the test's tmp dir."""
    return tmp_path / "engine.db"


@pytest.fixture
def cli(db: Path):
    """Run ``python -m replaytest ARGS`` from the repository root (so ``fixtures.workflows.*``
    imports as it would for a user); ``--db`` is added for engine commands."""
    def run(*args: str, use_db: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "replaytest", *args]
        if use_db and args and args[0] not in ("schema", "replay"):
            argv += ["--db", str(db)]
        return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return run


@pytest.fixture(autouse=True)
def _inner_sessions_keep_their_order(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-randomly shuffles this suite to prove its tests are order-independent; the
    pytest sessions a test starts itself (pytester) keep their collection order, which their
    expected output spells out."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # it clears PYTEST_ADDOPTS when it starts: set it after
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")
