"""The debugger in Durable Task orchestrator code, driven as VS Code drives it (Debug Adapter
Protocol over a socket, tests/dap_client.py): ``replaytest replay --debug`` on a history
recorded on the SDK's in-memory backend, in a subprocess that is always killed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.test_debug import Debuggee, assert_finished, top, values

ROOT = Path(__file__).resolve().parents[1]
SHOP = ROOT / "tests" / "dt_orchestrators" / "shop.py"
EDITS = ROOT / "tests" / "dt_orchestrators" / "edits"

pytest_plugins = ["tests.dt_fixtures"]


def line(path: Path, text: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if text in t)


@contextmanager
def replaying(tmp_path: Path, history: Path, module: str, *extra: str) -> Iterator[Debuggee]:
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    args = [str(history), "--module", module, "--debug=127.0.0.1:0", "--debug-timeout", "30", *extra]
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-Xfrozen_modules=off", "-m", "replaytest", "replay", *args],
            cwd=ROOT,
            stdout=o,
            stderr=e,
            env=env,
        )
    try:
        yield Debuggee(proc, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_a_breakpoint_in_an_orchestrator_sees_recorded_results(tmp_path: Path, dt_histories: Path) -> None:
    at = line(SHOP, "yield ctx.call_activity(notify, input=f\"order {order['id']} {shipped}\")")
    history = dt_histories / "export" / "order-1.jsonl.gz"
    with replaying(tmp_path, history, "tests.dt_orchestrators.shop") as d:
        with d.attach({str(SHOP): [at]}) as client:
            stop = client.stopped()
            frame, _ = top(client, stop)
            assert (frame["source"]["path"], frame["line"], frame["name"]) == (str(SHOP), at, "order_saga")
            assert values(client, frame)["shipped"] == "'shipped lamp'"
            # the debug console evaluates as orchestrator code: the time of the replayed episode
            now = client.evaluate("__import__('datetime').datetime.now().isoformat()", frame["id"], "repl")
            recorded = client.evaluate("ctx.current_utc_datetime.isoformat()", frame["id"], "repl")
            assert now == recorded
            client.continue_(stop["threadId"])
            assert_finished(d)
    assert "order-1 (order_saga): 28 events replayed, completed" in d.stdout


def test_break_at_stops_where_the_orchestrator_runs_on_after_the_event(tmp_path: Path, dt_histories: Path) -> None:
    notify = line(SHOP, "yield ctx.call_activity(notify, input=f\"order {order['id']} {shipped}\")")
    history = dt_histories / "export" / "order-1.json"
    with replaying(tmp_path, history, "tests.dt_orchestrators.shop", "--break-at", "22") as d:
        with d.attach() as client:
            stop = client.stopped()  # history event 22: TaskCompleted #4 (ship)
            user, _ = top(client, stop)
            assert (user["source"]["path"], user["line"], user["name"]) == (str(SHOP), notify, "order_saga")
            assert "'id': 22" in values(client, user)["replaytest_event"]
            assert values(client, user)["shipped"] == "'shipped lamp'"
            client.continue_(stop["threadId"])
            assert_finished(d)


def test_break_on_divergence_stops_at_the_edited_line(tmp_path: Path, dt_histories: Path) -> None:
    edited = EDITS / "renamed.py"
    history = dt_histories / "proto" / "order-1.json"
    module = "tests.dt_orchestrators.edits.renamed"
    with replaying(tmp_path, history, module, "--break-on", "divergence") as d:
        with d.attach() as client:
            stop = client.stopped()
            assert stop["reason"] == "exception" and stop["text"] == "NondeterminismError"
            frame, _ = top(client, stop)
            assert (frame["source"]["path"], frame["line"]) == (str(edited), line(edited, "# edit"))
            assert client.evaluate("replaytest_divergence.kind", frame["id"]) == repr("command")
            client.continue_(stop["threadId"])
            assert_finished(d, 1)
    assert "a different command" in d.stdout
