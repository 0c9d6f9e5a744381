"""``replaytest pull`` loses nothing and writes nowhere else: one execution, one file, whatever
was pulled before and in whatever order; a workflow id that looks like another's run file gets
its own file; temporary files are created exclusively (a planted link is never followed); and
``--per-type N`` keeps the newest N histories of each workflow type. A namespace of its own on
the session's server (the counts here must not see other tests' executions)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``replaytest ARGS`` against this module's namespace."""
    return subprocess.run(
        [sys.executable, "-m", "replaytest", *args, "--namespace", NAMESPACE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


NAMESPACE = "pull-files"


@pytest.fixture
def server(temporal_server: Any, temporal_histories: Path) -> tuple[str, dict[str, list[str]]]:
    """The session's server and the run ids of each workflow id in its namespace pull-files:
    dup (two runs), dup-<first run> and dup@<first run> (one each), greet-1..3 (three
    GreetingWorkflow, started in that order), recorded once (tests/temporal_recording.py)."""
    runs: dict[str, list[str]] = json.loads((temporal_histories / "pull-files-runs.json").read_text())
    return temporal_server.address, runs


def held_runs(out: Path) -> Counter[tuple[str, str]]:
    """(workflow id, run id) of every history file in ``out``."""
    held: Counter[tuple[str, str]] = Counter()
    for path in out.glob("*.json"):
        attrs = json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]
        held[(attrs["workflowId"], attrs["originalExecutionRunId"])] += 1
    return held


def every_run(runs: dict[str, list[str]]) -> Counter[tuple[str, str]]:
    return Counter((wid, run) for wid, ids in runs.items() for run in ids)


def test_one_execution_one_file_even_beside_an_id_that_looks_like_a_run_file(server: Any, tmp_path: Path) -> None:
    address, runs = server
    out = tmp_path / "pulled"
    done = cli("pull", "--address", address, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"pulled 7 histories from {address}"), done.stdout
    assert "kept" not in done.stdout  # nothing was there
    assert held_runs(out) == every_run(runs)
    first, second = runs["dup"]
    names = {p.name for p in out.iterdir()}
    assert {f"dup@{first}.json", f"dup@{second}.json", f"dup-{first}.json", f"dup%40{first}.json"} <= names
    # pulled again, with --overwrite: every file replaced by the same execution's history
    again = cli("pull", "--address", address, "-o", str(out), "--overwrite")
    assert again.returncode == 0 and again.stdout.startswith("pulled 7 histories"), again.stdout
    assert held_runs(out) == every_run(runs)


@pytest.mark.parametrize("first_pull", ["older run first", "newer run first"])
def test_re_pulling_never_duplicates_a_run(server: Any, tmp_path: Path, first_pull: str) -> None:
    address, runs = server
    out = tmp_path / "pulled"
    older, newer = runs["dup"]
    wanted = older if first_pull == "older run first" else newer
    one = cli("pull", "--address", address, "--query", f'WorkflowId="dup" AND RunId="{wanted}"', "-o", str(out))
    assert one.returncode == 0 and one.stdout.startswith("pulled 1 history"), one.stdout + one.stderr
    assert [p.name for p in out.iterdir()] == ["dup.json"]
    both = cli("pull", "--address", address, "--query", 'WorkflowId="dup"', "-o", str(out))
    assert both.returncode == 0, both.stderr
    assert both.stdout.startswith("pulled 1 history") and "kept 1 existing file" in both.stdout, both.stdout
    other = newer if wanted == older else older
    assert sorted(p.name for p in out.iterdir()) == ["dup.json", f"dup@{other}.json"]
    assert held_runs(out) == Counter({("dup", older): 1, ("dup", newer): 1})


def test_overwrite_never_replaces_another_runs_history(server: Any, tmp_path: Path) -> None:
    address, runs = server
    out = tmp_path / "pulled"
    older, newer = runs["dup"]
    cli("pull", "--address", address, "--query", f'WorkflowId="dup" AND RunId="{older}"', "-o", str(out))
    forced = cli("pull", "--address", address, "--query", 'WorkflowId="dup"', "-o", str(out), "--overwrite")
    assert forced.returncode == 0 and forced.stdout.startswith("pulled 2 histories"), forced.stdout
    assert held_runs(out) == Counter({("dup", older): 1, ("dup", newer): 1})


def test_a_planted_link_is_never_written_through(server: Any, tmp_path: Path) -> None:
    address, runs = server
    out, outside = tmp_path / "pulled", tmp_path / "outside.txt"
    out.mkdir()
    outside.write_text("not yours")
    for name in ("greet-1.json.tmp", ".greet-1.json.tmp", "greet-1.tmp"):
        (out / name).symlink_to(outside)
    done = cli("pull", "--address", address, "--query", 'WorkflowId="greet-1"', "-o", str(out))
    assert done.returncode == 0 and done.stdout.startswith("pulled 1 history"), done.stdout + done.stderr
    assert outside.read_text() == "not yours"
    assert held_runs(out) == Counter({("greet-1", runs["greet-1"][0]): 1})
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]  # no leftovers


def test_per_type_keeps_the_newest_histories_of_each_workflow_type(server: Any, tmp_path: Path) -> None:
    address, runs = server
    out = tmp_path / "recent"
    done = cli("pull", "--address", address, "--per-type", "2", "-o", str(out))
    assert done.returncode == 0, done.stderr
    held = held_runs(out)
    greetings = sorted(wid for wid, _ in held if wid.startswith("greet-"))
    assert greetings == ["greet-2", "greet-3"]  # the newest two of three GreetingWorkflow
    assert len([wid for wid, _ in held if not wid.startswith("greet-")]) == 2  # of the four ShippingWorkflow
    assert ("dup@" + runs["dup"][0], runs[f"dup@{runs['dup'][0]}"][0]) in held  # the newest ShippingWorkflow
    refused = cli("pull", "--address", address, "--per-type", "0", "-o", str(out))
    assert refused.returncode == 2 and "--per-type 0: keep at least 1" in refused.stderr
