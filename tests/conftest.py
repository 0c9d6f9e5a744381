"""Shared helpers for the engine and CLI tests: a database path and a CLI runner."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

# Loaded before any in-process pytester run: such a run takes the modules it imported out of
# sys.modules afterwards, and msgspec resolves the typed history structs' annotations through
# sys.modules (a module imported first inside a pytester run leaves 'Event' undefined later).
import replaytest.history.typed  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def run_replaytest(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m replaytest ARGS`` from the repository root, with ``env`` added to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "replaytest", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def copy_checkout(dest: Path) -> Path:
    """A copy of this checkout's source tree, as a clone holds it (pip builds in the source
    directory: build/ and *.egg-info stay in the copy)."""
    shutil.copytree(
        ROOT,
        dest,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", ".mypy_cache", ".hypothesis", ".ruff_cache",
            ".pytest_cache", "demo-out", ".replaytest",
        ),
    )  # fmt: skip
    return dest


#: what replaytest itself warns with; an error in this suite unless a test expects it
REPLAYTEST_WARNINGS = ("replaytest.DuplicateWorkflowWarning", "replaytest_pytest.ReplayWarning")


def pytest_configure(config: pytest.Config) -> None:
    """This suite turns replaytest's own warnings into errors. Not so the `pytest --replay`
    sessions some tests start from the repository root (they load this file too): those stand
    for a user's session, where a ReplayWarning is a warning."""
    if not getattr(config.option, "replay_paths", None):
        for category in REPLAYTEST_WARNINGS:
            config.addinivalue_line("filterwarnings", f"error::{category}")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A fresh engine database file (real SQLite, WAL) in the test's tmp dir."""
    return tmp_path / "engine.db"


class CLI(Protocol):
    """The ``cli`` fixture's runner."""

    def __call__(self, *args: str, use_db: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def cli(db: Path) -> CLI:
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
        # a session run in this process starts from this test's warning filters: it sees
        # replaytest's warnings as a user's session does (the filter is undone after the test)
        import replaytest.history.typed  # noqa: F401  (imported lazily: loaded here, an in-process run cannot unload it)
        from replaytest import DuplicateWorkflowWarning
        from replaytest.report.result import ReplayWarning

        for category in (DuplicateWorkflowWarning, ReplayWarning):
            warnings.filterwarnings("always", category=category)


@pytest.fixture(autouse=True)
def _no_resident_sandbox() -> Iterator[None]:
    """A standalone replay() keeps the sandbox's patches for the rest of the process (see
    sandbox.resident); tests that check the process is left as it was start from a clean one."""
    yield
    from replaytest import sandbox

    sandbox.release_resident()


@pytest.fixture(scope="session")
def temporal_histories(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Temporal fixture histories (tests/temporal_recording.py), recorded once per test
    run with a real worker and shared by xdist workers: ``DIR/cli/<id>.json``,
    ``DIR/client/<id>.json``, ``DIR/project/<id>.json`` and ``DIR/local/local-1.json``. Treat as read-only; copy before
    editing. The recording server's stopped database is ``DIR/server`` (``temporal_server``)."""
    from tests import temporal_recording, temporal_server

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # this run's, common to its workers
    out = shared / "temporal-histories"
    with open(shared / "temporal-histories.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "done").exists():
            server = temporal_server.start(out / "server", namespaces=temporal_recording.NAMESPACES)
            try:  # in a process of its own: a test process keeps no client or worker of temporalio's
                subprocess.run(
                    [sys.executable, "-m", "tests.temporal_recording", server.address, str(out)],
                    cwd=ROOT,
                    check=True,
                    timeout=300,
                )
            finally:
                server.stop()
            (out / "done").write_text("ok")
    return out


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory, temporal_histories: Path) -> Iterator[object]:
    """A real Temporal dev server for this test process (see tests/temporal_server.py),
    started from a copy of the recording server's database: namespace ``default`` holds the
    fixture executions and ``dup`` (two runs), ``project`` the project's, ``pull-files``
    those of tests/test_temporal_pull_files.py (their run ids in
    ``temporal_histories / "pull-files-runs.json"``). Tests read it and add nothing; errors,
    never skips, when it cannot start."""
    from tests import temporal_server as server

    running = server.start(tmp_path_factory.mktemp("temporal-server"), copy_of=temporal_histories / "server")
    try:
        yield running
    finally:
        running.stop(keep_database=False)
