"""``replaytest pull`` against a real Temporal dev server: histories land as files named by
workflow id (run id added only when an id has several runs), existing files are kept unless
--overwrite, the files replay with ``pytest --replay``, and an unreachable server or a bad
query is one line naming the address."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "replaytest", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def server(temporal_server: Any) -> Any:
    """The session's server: namespace default holds order-1, ship-1, coupon-1 (terminated),
    coupon-2 and dup (two runs), recorded once (tests/temporal_recording.py)."""
    return temporal_server


def test_pull_writes_one_file_per_execution_and_they_replay(server: Any, tmp_path: Path) -> None:
    out = tmp_path / "pulled"
    done = cli("pull", "--address", server.address, "-o", str(out))
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in out.iterdir())
    dup = [n for n in names if n.startswith("dup@")]
    assert len(dup) == 2 and "dup.json" not in names, names
    assert {"order-1.json", "ship-1.json", "coupon-1.json", "coupon-2.json"} <= set(names), names
    assert done.stdout.startswith(f"pulled 6 histories from {server.address} (namespace default) into {out}")
    replayed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--replay",
            str(out),
            "--replay-module",
            "fixtures.temporal.orders",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
            "-q",
            "-k",
            "not coupon",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "4 passed" in replayed.stdout
    failing = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--replay",
            str(out / "order-1.json"),
            "--replay-module",
            "fixtures.temporal.variants.renamed",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:hypothesispytest",
            "-q",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert failing.returncode == 1 and "at history event 11: a different activity" in failing.stdout


def test_existing_files_are_kept_unless_overwrite(server: Any, tmp_path: Path) -> None:
    out = tmp_path / "pulled"
    query = 'WorkflowId="order-1"'
    assert cli("pull", "--address", server.address, "--query", query, "-o", str(out)).returncode == 0
    (out / "order-1.json").write_text("edited")
    again = cli("pull", "--address", server.address, "--query", query, "-o", str(out))
    assert again.returncode == 0 and "pulled 0 histories" in again.stdout and "kept 1 existing" in again.stdout
    assert (out / "order-1.json").read_text() == "edited"
    forced = cli("pull", "--address", server.address, "--query", query, "-o", str(out), "--overwrite")
    assert forced.returncode == 0 and "pulled 1 history" in forced.stdout
    assert (out / "order-1.json").read_text().lstrip().startswith("{")


def test_query_and_limit_select_executions(server: Any, tmp_path: Path) -> None:
    done = cli(
        "pull", "--address", server.address, "--query", 'WorkflowType="OrderWorkflow"', "-o", str(tmp_path / "a")
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["order-1.json"]
    limited = cli("pull", "--address", server.address, "--limit", "2", "-o", str(tmp_path / "b"))
    assert limited.returncode == 0 and len(list((tmp_path / "b").iterdir())) == 2


def test_an_invalid_query_is_one_line_naming_the_address(server: Any, tmp_path: Path) -> None:
    done = cli("pull", "--address", server.address, "--query", "NotAField ~~ 3", "-o", str(tmp_path))
    assert done.returncode == 1 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(
        f"replaytest pull: the Temporal server at {server.address} (namespace default) "
        "refused the query 'NotAField ~~ 3':"
    ), line


def test_an_unreachable_server_is_one_line_naming_the_address(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"  # nothing listens once the socket closes
    done = cli("pull", "--address", address, "-o", str(tmp_path / "x"))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"replaytest pull: cannot reach the Temporal server at {address}"), line
    assert not (tmp_path / "x").exists()
