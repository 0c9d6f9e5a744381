"""The debugger in Lambda durable handler code, driven as VS Code drives it (Debug Adapter
Protocol over a socket, tests/dap_client.py): `replaytest replay --debug` on a recorded AWS
history, in a subprocess that is always killed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aws_durable_execution_sdk_python  # noqa: F401  (a dev dependency: without it this module errors, never skips)

from tests.test_debug import Debuggee, assert_finished, top, values

ROOT = Path(__file__).resolve().parents[1]
HISTORY = ROOT / "tests" / "data" / "aws" / "order-1.json"
ORDERS = ROOT / "tests" / "aws_handlers" / "orders.py"


def line(path: Path, text: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if text in t)


@contextmanager
def replaying(tmp_path: Path, handler: str, *extra: str, path: Path = ROOT) -> Iterator[Debuggee]:
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(path)]), PYTHONUNBUFFERED="1")
    args = [str(HISTORY), "--handler", handler, "--debug=127.0.0.1:0", "--debug-timeout", "30", *extra]
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


def test_a_breakpoint_in_handler_code_sees_recorded_results(tmp_path: Path):
    at = line(ORDERS, 'context.step(lambda _: "sent", name="notify")')
    with replaying(tmp_path, "tests.aws_handlers.orders:handler") as d:
        with d.attach({str(ORDERS): [at]}) as client:
            stop = client.stopped()
            frame, _ = top(client, stop)
            assert (frame["source"]["path"], frame["line"], frame["name"]) == (str(ORDERS), at, "handler")
            local = values(client, frame)
            assert local["paid"] == "{'charged': 42}" and local["shipped"] == "['label-1', 'pickup-1']"
            # the debug console evaluates as handler code: the time history recorded
            assert "2026, 11, 27" in client.evaluate("__import__('datetime').datetime.now()", frame["id"], "repl")
            client.continue_(stop["threadId"])
            assert_finished(d)
    assert "order-1 (orders): 18 events replayed, completed" in d.stdout


def test_break_at_stops_where_handler_code_receives_the_operation(tmp_path: Path):
    charge = line(ORDERS, 'name="charge"')
    with replaying(tmp_path, "tests.aws_handlers.orders:handler", "--break-at", "8") as d:
        with d.attach() as client:
            stop = client.stopped()  # event 8: StepSucceeded charge
            frame, _ = top(client, stop)
            assert (frame["source"]["path"], frame["line"]) == (str(ORDERS), charge)
            assert "'id': 8" in values(client, frame)["replaytest_event"]
            mark = client.mark()
            client.next(stop["threadId"])  # one step: the recorded result is in its variable
            stop = client.stopped(after=mark)
            frame, _ = top(client, stop)
            assert frame["line"] == charge + 1 and values(client, frame)["paid"] == "{'charged': 42}"
            client.continue_(stop["threadId"])
            assert_finished(d)


def stops_on_divergence(tmp_path: Path, name: str, old: str, new: str, kind: str, at: str) -> tuple[Debuggee, dict]:
    """Replay an edited copy of orders.py with --break-on divergence: the stop is an exception
    at the line containing ``at`` with the report of ``kind`` in ``replaytest_divergence``.
    Returns the finished debuggee and the frame it stopped in."""
    edited = tmp_path / f"{name}.py"
    edited.write_text(ORDERS.read_text().replace(old, new))
    with replaying(tmp_path, f"{name}:handler", "--break-on", "divergence", path=tmp_path) as d:
        with d.attach() as client:
            stop = client.stopped()
            assert stop["reason"] == "exception" and stop["text"] == "NondeterminismError"
            frame, _ = top(client, stop)
            assert (frame["source"]["path"], frame["line"]) == (str(edited), line(edited, at))
            assert client.evaluate("replaytest_divergence.kind", frame["id"]) == repr(kind)
            client.continue_(stop["threadId"])
            assert_finished(d, 1)
    return d, frame


def test_break_on_divergence_stops_at_the_divergent_handler_line(tmp_path: Path):
    d, frame = stops_on_divergence(
        tmp_path, "edited_orders", 'name="book-pickup"', 'name="schedule-pickup"', "command", "schedule-pickup"
    )
    assert frame["name"] == "ship"
    assert "a different operation" in d.stdout


def test_break_on_divergence_for_a_dropped_step_stops_at_the_return(tmp_path: Path):
    stops_on_divergence(
        tmp_path,
        "short_orders",
        '    context.step(lambda _: "sent", name="notify")\n',
        "",
        "missing",
        'return {"reserved": reserved',
    )
