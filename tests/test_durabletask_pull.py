"""``replaytest pull --durabletask`` against the SDK's in-memory backend (a live gRPC server on
127.0.0.1 in a process of its own): histories written in the export JSON form replay as the
recorded ones do; existing files are kept; an unreachable address is one line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from replaytest import sandbox
from replaytest.backends import ReplaySettings
from replaytest.backends.durabletask import history as dt_history
from replaytest.backends.durabletask.orchestrators import resolve
from replaytest.backends.durabletask.pull import PullError, main, pull
from replaytest.backends.durabletask.replay import replay_history

from .dt_orchestrators import shop

pytest_plugins = ["tests.dt_fixtures"]


def test_pulled_histories_replay(dt_served: str, tmp_path: Path) -> None:
    done = pull(tmp_path, address=dt_served)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert done.written == len(names) == 13  # the 11 top-level instances and batch-1's 2 children
    assert "batch-1-pen.json" in names and "order-1.json" in names
    with sandbox.session():
        for path in tmp_path.iterdir():
            doc = json.loads(path.read_text())
            assert doc["schema_version"] == "1.0" and doc["metadata"]["instance_id"] == doc["instance_id"]
            h = dt_history.load(doc, str(path))
            result = replay_history(h, resolve(h.orchestrator or "", [], [shop], str(path), [], ReplaySettings()))
            assert result.status in ("completed", "failed", "running"), path.name


def test_filters_and_existing_files(dt_served: str, tmp_path: Path) -> None:
    done = pull(tmp_path, address=dt_served, statuses=["failed"])
    assert (done.written, [p.name for p in tmp_path.iterdir()]) == (1, ["report-1.json"])
    done = pull(tmp_path, address=dt_served, statuses=["running"], limit=1)
    assert done.written == 1 and (tmp_path / "approval-open.json").exists()
    (tmp_path / "order-1.json").write_text("mine")
    done = pull(tmp_path, address=dt_served, instances=["order-1", "fanout-1"])
    assert (done.written, done.kept) == (1, 1)
    assert (tmp_path / "order-1.json").read_text() == "mine"


def test_an_unreachable_address_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    assert main(str(tmp_path), f"127.0.0.1:{port}") == 1
    err = capsys.readouterr().err
    assert err == f"replaytest pull: cannot reach a Durable Task backend at 127.0.0.1:{port}: connection refused\n"
    with pytest.raises(PullError, match="expected HOST:PORT"):
        pull(tmp_path, address="no-port")


def test_a_listener_that_is_not_grpc_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("replaytest.backends.durabletask.pull.CONNECT_TIMEOUT", 1.0)
    with socket.socket() as s:  # accepts connections, never speaks HTTP/2
        s.bind(("127.0.0.1", 0))
        s.listen()
        address = f"127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(PullError) as caught:
            pull(tmp_path, address=address)
    assert str(caught.value) == f"cannot reach a Durable Task backend at {address}: no answer within 1 s"


def test_replaytest_pull_durabletask(dt_served: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from replaytest.cli.main import main as cli

    out = tmp_path / "pulled"
    argv = [
        "pull",
        "--durabletask",
        "--address",
        dt_served,
        "--status",
        "failed",
        "--status",
        "completed",
        "-o",
        str(out),
    ]
    assert cli(argv) == 0
    assert capsys.readouterr().out.startswith(f"pulled 11 histories from {dt_served} into {out};")
    assert cli(argv) == 0
    assert capsys.readouterr().out.startswith(
        f"pulled 0 histories from {dt_served} into {out}; kept 11 existing file(s)"
    )
    assert cli(["replay", str(out), "--module", "tests.dt_orchestrators.shop"]) == 0
    assert "11 histories replayed: 11 ok, 0 failed" in capsys.readouterr().out


def test_a_planted_link_is_never_written_through(dt_served: str, tmp_path: Path) -> None:
    """As for Temporal's pull (issue 19, item 9): the temporary file is created exclusively."""
    out, outside = tmp_path / "pulled", tmp_path / "outside.txt"
    out.mkdir()
    outside.write_text("not yours")
    for name in ("order-1.json.tmp", ".order-1.json.tmp", "order-1.tmp"):
        (out / name).symlink_to(outside)
    done = pull(out, address=dt_served, instances=["order-1"])
    assert done.written == 1
    assert outside.read_text() == "not yours"
    assert json.loads((out / "order-1.json").read_text())["instance_id"] == "order-1"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp") and not p.is_symlink()]  # no leftovers
