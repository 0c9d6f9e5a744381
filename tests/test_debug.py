"""The debugger, driven as VS Code drives it: a replay waits under debugpy in a subprocess, the
test attaches over a socket and speaks the Debug Adapter Protocol (tests/dap_client.py), no mocks.

The replay runs the real command, `python -m replaytest replay ... --debug` (and, in two
tests, `python -m pytest --replay ... --replay-debug`). Every wait is bounded and every
subprocess is killed in `finally`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from replaytest.debug import DebugError, DebugOptions, is_loopback, parse_address
from tests.dap_client import DAPClient

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "debug"
HISTORY = DATA / "checkout-1.json"
SHOP = DATA / "shop.py"
CLI = ("-m", "replaytest", "replay")
LIBRARY_DIR = str(ROOT / "replaytest") + os.sep


def line_of(path: Path, marker: str) -> int:
    for n, text in enumerate(path.read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# {marker}"):
            return n
    raise AssertionError(f"no line marked # {marker} in {path}")


# ----------------------------------------------------------------------------------- harness
class Debuggee:
    def __init__(self, proc: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.proc, self.out_path, self.err_path = proc, out, err

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def address(self, timeout: float = 20.0) -> tuple[str, int]:
        """Read the announced host:port, as a user reads it off the terminal."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"waiting for a debugger on (\S+):(\d+) ", self.stderr)
            if m:
                return m.group(1), int(m.group(2))
            if self.proc.poll() is not None:
                raise AssertionError(f"the replay exited ({self.proc.returncode}) before listening:\n{self.stderr}")
            time.sleep(0.05)
        raise AssertionError(f"no 'waiting for a debugger' line within {timeout} s:\n{self.stderr}")

    def attach(self, breakpoints: dict[str, list[int]] | None = None, **kw: Any) -> DAPClient:
        host, port = self.address()
        client = DAPClient.connect(host, port)
        client.attach(breakpoints, **kw)
        return client

    def finish(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout)


@contextmanager
def debuggee(tmp_path: Path, *args: str, command: tuple[str, ...] = CLI) -> Iterator[Debuggee]:
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-Xfrozen_modules=off", *command, *args], cwd=ROOT, stdout=o, stderr=e, env=env
        )
    try:
        yield Debuggee(proc, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def replay_args(*extra: str, module: str = "tests.data.debug.shop") -> list[str]:
    return [str(HISTORY), "--module", module, "--debug=127.0.0.1:0", "--debug-timeout", "30", *extra]


def top(client: DAPClient, stop: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    frames = client.frames(stop["threadId"])
    return frames[0], frames


def values(client: DAPClient, frame: dict[str, Any]) -> dict[str, str]:
    return {name: v["value"] for name, v in client.locals(frame["id"]).items()}


def assert_finished(d: Debuggee, code: int = 0) -> None:
    rc = d.finish()
    assert rc == code, f"exit code {rc}\nstdout:\n{d.stdout}\nstderr:\n{d.stderr}"


# ----------------------------------------------------------------------------------- tests
def test_breakpoint_in_workflow_code_hits_with_recorded_values(tmp_path: Path) -> None:
    label_line = line_of(SHOP, "@label")
    with debuggee(tmp_path, *replay_args("--sandbox", "warn")) as d:
        with d.attach({str(SHOP): [label_line]}) as client:
            stop = client.stopped()
            assert stop["reason"] == "breakpoint"
            frame, frames = top(client, stop)
            assert (frame["source"]["path"], frame["line"], frame["name"]) == (str(SHOP), label_line, "checkout")
            # justMyCode: replaytest's own frames (an editable install, outside site-packages) are hidden
            assert not [f for f in frames if f.get("source", {}).get("path", "").startswith(LIBRARY_DIR)], frames
            local = values(client, frame)
            assert local["receipt"] == "'receipt-25'"  # activity results recorded in history
            assert local["shipment"] == "{'label': 'L-receipt-25'}"
            assert client.evaluate("shipment['label'].upper()", frame["id"]) == "'L-RECEIPT-25'"
            # the debug console evaluates as workflow code: logical time from history
            assert "2026, 3, 1, 10, 0" in client.evaluate("__import__('datetime').datetime.now()", frame["id"], "repl")
            # "step into" over `await asyncio.gather(workflow.execute_activity(...), ...)` stays in workflow code
            for expected in (line_of(SHOP, "@gather"), line_of(SHOP, "@sleep")):
                mark = client.mark()
                client.request("stepIn", {"threadId": stop["threadId"]})
                stop = client.stopped(after=mark)
                frame, frames = top(client, stop)
                assert (frame["source"]["path"], frame["line"]) == (str(SHOP), expected)
                assert not [f for f in frames if f.get("source", {}).get("path", "").startswith(LIBRARY_DIR)], frames
            client.continue_(stop["threadId"])
            assert_finished(d)
    assert "order-42 (checkout): 31 events replayed, completed" in d.stdout
    assert '"label": "L-receipt-25"' in d.stdout
    assert "warning" not in d.stdout  # the sandbox (warn mode) flagged nothing the debugger did


def test_break_at_stops_where_workflow_code_receives_the_event(tmp_path: Path) -> None:
    ship, label, gather, sleep = (line_of(SHOP, m) for m in ("@ship", "@label", "@gather", "@sleep"))
    with debuggee(tmp_path, *replay_args("--break-at", "13", "--break-at", "20")) as d:
        with d.attach() as client:
            # event 13: ActivityTaskCompleted ship → the await that receives it
            stop = client.stopped()
            frame, _ = top(client, stop)
            assert (frame["source"]["path"], frame["line"]) == (str(SHOP), ship)
            local = values(client, frame)
            assert (
                "'id': 13" in local["replaytest_event"]
                and "'result': {'label': 'L-receipt-25'}" in local["replaytest_event"]
            )
            mark = client.mark()
            client.next(stop["threadId"])  # one step: the result is in its variable
            stop = client.stopped(after=mark)
            frame, _ = top(client, stop)
            assert frame["line"] == label
            assert values(client, frame)["shipment"] == "{'label': 'L-receipt-25'}"
            mark = client.mark()
            client.continue_(stop["threadId"])
            # event 20: one result of an asyncio.gather → where the workflow waits on the gather
            stop = client.stopped(after=mark)
            frame, _ = top(client, stop)
            assert (frame["source"]["path"], frame["line"]) == (str(SHOP), gather)
            assert "'id': 20" in values(client, frame)["replaytest_event"]
            mark = client.mark()
            client.next(stop["threadId"])
            stop = client.stopped(after=mark)
            frame, _ = top(client, stop)
            assert frame["line"] == sleep
            assert values(client, frame)["notes"] == "['notified buyer', 'notified seller']"
            client.continue_(stop["threadId"])
            assert_finished(d)
    assert "31 events replayed, completed" in d.stdout


def test_pytest_replay_debug_waits_for_vscode_and_stops_at_the_event(tmp_path: Path) -> None:
    """`pytest --replay h.json --replay-debug --replay-break-at N`, attached as VS Code does."""
    ship, label = line_of(SHOP, "@ship"), line_of(SHOP, "@label")
    pytest_args = ("-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q")
    with debuggee(
        tmp_path,
        "--replay",
        str(HISTORY),
        "--replay-module",
        "tests.data.debug.shop",
        "--replay-debug=127.0.0.1:0",
        "--replay-debug-timeout",
        "30",
        "--replay-break-at",
        "13",
        command=pytest_args,
    ) as d:
        with d.attach({str(SHOP): [label]}) as client:
            stop = client.stopped()
            frame, frames = top(client, stop)
            assert (frame["source"]["path"], frame["line"]) == (str(SHOP), ship)
            assert "'id': 13" in values(client, frame)["replaytest_event"]
            assert not [f for f in frames if f.get("source", {}).get("path", "").startswith(LIBRARY_DIR)], frames
            mark = client.mark()
            client.continue_(stop["threadId"])
            stop = client.stopped(after=mark)  # the user's own breakpoint, on the next line
            frame, _ = top(client, stop)
            assert (stop["reason"], frame["line"]) == ("breakpoint", label)
            assert values(client, frame)["shipment"] == "{'label': 'L-receipt-25'}"
            client.continue_(stop["threadId"])
            assert_finished(d)
    assert "1 passed" in d.stdout


def test_pytest_replay_debug_refuses_xdist_and_remote_binds(tmp_path: Path) -> None:
    base = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--replay",
        str(HISTORY),
        "--replay-module",
        "tests.data.debug.shop",
    ]
    xdist = subprocess.run([*base, "-n", "2", "--replay-debug"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert xdist.returncode == 4 and "--replay-debug needs the replays in one process: add -n 0" in xdist.stderr
    remote = subprocess.run([*base, "--replay-debug=0.0.0.0:0"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert remote.returncode == 4 and "pass --replay-debug-allow-remote if you mean it" in remote.stderr
    assert "waiting for a debugger" not in remote.stderr


@pytest.mark.parametrize(
    "module, marker, kind",
    [
        ("shop_edited", "@diverges", "missing"),  # the code issues another activity: stops on that await
        ("shop_waits", "@waits", "missing"),  # the code issues nothing and waits: stops where it waits
        ("shop_result", "@return", "result"),  # the code returns something else: stops at the return
    ],
)
def test_divergence_stops_at_the_divergent_line(tmp_path: Path, module: str, marker: str, kind: str) -> None:
    path = DATA / f"{module}.py"
    line = line_of(path, marker)
    with debuggee(tmp_path, *replay_args("--break-on", "divergence", module=f"tests.data.debug.{module}")) as d:
        with d.attach() as client:
            stop = client.stopped()
            assert stop["reason"] == "exception" and stop["text"] == "NondeterminismError"
            assert "Nondeterminism in workflow order-42 (checkout) at history event" in stop["description"]
            frame, _ = top(client, stop)
            assert (frame["source"]["path"], frame["line"]) == (str(path), line)
            assert "replaytest_divergence" in values(client, frame)
            assert client.evaluate("replaytest_divergence.kind", frame["id"]) == repr(kind)
            info = client.request("exceptionInfo", {"threadId": stop["threadId"]})
            assert info["exceptionId"] == "NondeterminismError"
            client.continue_(stop["threadId"])
            assert_finished(d, 1)
    assert "FAIL  " in d.stdout
    assert f"{path.relative_to(ROOT)}:{line}" in d.stdout  # the report, as without a debugger


def test_remote_bind_is_refused_without_the_flag(tmp_path: Path) -> None:
    with debuggee(tmp_path, str(HISTORY), "--module", "tests.data.debug.shop", "--debug=0.0.0.0:0") as d:
        assert_finished(d, 2)
    assert (
        "binding the debug server to 0.0.0.0 lets anyone who can reach this port run code on your "
        "machine; pass --debug-allow-remote if you mean it"
    ) in d.stderr
    assert "waiting for a debugger" not in d.stderr
    # the library refuses before importing debugpy, so nothing can have started
    code = (
        "import sys\nfrom replaytest.debug import start, DebugOptions, DebugError\n"
        "try:\n    start(DebugOptions(host='0.0.0.0', port=0))\nexcept DebugError as e:\n    print(e)\n"
        "print('debugpy imported:', 'debugpy' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert "--replay-debug-allow-remote if you mean it" in run.stdout
    assert "debugpy imported: False" in run.stdout


def test_waiting_for_the_debugger_times_out_with_a_clear_message(tmp_path: Path) -> None:
    with debuggee(
        tmp_path, str(HISTORY), "--module", "tests.data.debug.shop", "--debug=127.0.0.1:0", "--debug-timeout", "1"
    ) as d:
        host, port = d.address()
        assert_finished(d, 2)
    assert f"no debugger attached to {host}:{port} within 1 s; gave up waiting" in d.stderr
    assert "--debug-timeout" in d.stderr
    assert "events replayed" not in d.stdout


# ----------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "spec, expected",
    [
        (None, ("127.0.0.1", 5678)),
        ("", ("127.0.0.1", 5678)),
        (True, ("127.0.0.1", 5678)),
        ("5679", ("127.0.0.1", 5679)),
        ("0.0.0.0:5680", ("0.0.0.0", 5680)),
        ("localhost", ("localhost", 5678)),
        (":5681", ("127.0.0.1", 5681)),
        ("[::1]:5682", ("::1", 5682)),
        ("::1", ("::1", 5678)),
    ],
)
def test_parse_address(spec: Any, expected: tuple[str, int]) -> None:
    assert parse_address(spec) == expected


@pytest.mark.parametrize("spec", ["host:port", "1.2.3.4:99999", "[::1", "[::1]x", "histories/", "h.json"])
def test_parse_address_refuses_nonsense(spec: str) -> None:
    with pytest.raises(DebugError, match="debug address"):
        parse_address(spec)


def test_options_from_cli() -> None:
    o = DebugOptions.from_cli("127.0.0.1:6000", break_at=["7", 13], break_on=["divergence"], timeout="2.5")
    assert (o.host, o.port, o.break_at, o.break_on_divergence, o.timeout) == ("127.0.0.1", 6000, [7, 13], True, 2.5)
    assert DebugOptions.from_cli("0.0.0.0", allow_remote=True).host == "0.0.0.0"
    assert DebugOptions.from_cli(None, timeout="0").timeout is None  # 0: wait forever
    with pytest.raises(DebugError, match="only kind is 'divergence'"):
        DebugOptions.from_cli(None, break_on=["activity"])
    with pytest.raises(DebugError, match="event ids start at 1"):
        DebugOptions.from_cli(None, break_at=[0])
    with pytest.raises(DebugError, match="pass --debug-allow-remote if you mean it"):
        DebugOptions.from_cli("10.1.2.3:5678", allow_remote_flag="--debug-allow-remote")
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com") and not is_loopback("::")


# ----------------------------------------------------------------------------------- a break-at that never stops
@pytest.mark.parametrize("event", ["28", "999"])
def test_pytest_says_when_a_break_at_event_is_never_received(tmp_path: Path, event: str) -> None:
    """Event 28 is the WorkflowTaskScheduled after the last timer fired (like the quickstart's
    13 of 16): no workflow code receives it; 999 is past the end of the 31-event history."""
    pytest_args = ("-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q")
    with debuggee(
        tmp_path,
        "--replay",
        str(HISTORY),
        "--replay-module",
        "tests.data.debug.shop",
        "--replay-debug=127.0.0.1:0",
        "--replay-debug-timeout",
        "30",
        "--replay-break-at",
        event,
        command=pytest_args,
    ) as d:
        with d.attach():
            assert d.finish() == 0, d.stdout + d.stderr
    assert f"replaytest: --replay-break-at {event}: " in d.stdout and "so it did not stop" in d.stdout, d.stdout


def test_the_cli_and_pytest_share_which_break_at_a_replay_never_stopped_at() -> None:
    """ReplayDebugging makes each replay's observer and answers afterwards, for both callers:
    event 13 is received by workflow code, 31 (the close) is applied but nothing resumes after
    it, and the history has no event 999."""
    import importlib.util

    from replaytest import History, replay
    from replaytest.debug import ReplayDebugging

    spec = importlib.util.spec_from_file_location("debug_shop_for_missed_breaks", SHOP)
    assert spec is not None and spec.loader is not None
    shop = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shop)
    said: list[str] = []
    debugging = ReplayDebugging(DebugOptions(break_at=[13, 31, 999]), said.append)
    assert debugging.missed(31) == ([], [])  # nothing replayed yet
    result = replay(History.load(str(HISTORY)), [shop], sandbox="warn", observer=debugging.observer())
    assert result.events_replayed == 31
    assert debugging.missed(31) == ([31], [999])
    debugging.observer()  # the next replay starts afresh
    assert debugging.missed(31) == ([13, 31], [999])
    assert said == []
