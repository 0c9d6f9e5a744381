"""Session fixtures of the Durable Task tests: histories recorded once per test session (one
recording shared by the xdist workers, under a file lock), and a served backend for ``pull``.

A test module uses them with ``pytest_plugins = ["tests.dt_fixtures"]``."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dt_histories(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DIR with export/<id>.json, export/<id>.jsonl.gz and proto/<id>.json for every recorded
    instance (see tests/dt_recording.py): recorded on the SDK's in-memory backend, in a process
    of its own, once for all xdist workers of the session."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "durabletask-histories"
    with open(shared / "durabletask-histories.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "done").exists():
            subprocess.run(
                [sys.executable, "-m", "tests.dt_recording", str(out)],
                cwd=REPO,
                check=True,
                timeout=120,
                capture_output=True,
            )
            (out / "done").touch()
    return out


@pytest.fixture(scope="module")
def dt_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a live in-memory Durable Task backend (127.0.0.1, a free port) holding the
    recorded instances; stopped when the module's tests end."""
    out = tmp_path_factory.mktemp("served")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.dt_recording", str(out), "--serve"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"the in-memory Durable Task backend did not start: {line!r}")
        yield line.split()[1]
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
