"""Histories that pass the schema but are impossible (an outcome of an activity never
scheduled, a timer that never started): a clear invalid-history report naming the file and
the event — in the library, the CLI, the CLI under --debug and pytest alike — never an
internal exception."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from replaytest import History, HistoryFormatError

ROOT = Path(__file__).resolve().parents[1]
ORDER = ROOT / "fixtures" / "histories" / "order-42.json"


def _events() -> list[dict]:
    return json.loads(ORDER.read_text())["events"]


def _write(tmp_path: Path, name: str, events: list[dict]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"format": "replaytest.history", "version": 1, "events": events}))
    return path


def _never_scheduled(tmp_path: Path) -> Path:
    events = _events()
    done = next(e for e in events if e["type"] == "ActivityTaskCompleted")
    done["attrs"]["scheduled_event_id"] = 99
    return _write(tmp_path, "never-scheduled.json", events)


def _never_started_timer(tmp_path: Path) -> Path:
    events = _events()
    closing = events.pop()
    events.append(
        {
            "id": len(events) + 1,
            "time": closing["time"],
            "type": "TimerFired",
            "attrs": {"timer_id": "7", "started_event_id": 3},
        }
    )
    return _write(tmp_path, "never-started.json", events)


@pytest.mark.parametrize(
    ("make", "event", "reason"),
    [
        (_never_scheduled, 7, "scheduled_event_id 99 does not name an earlier ActivityTaskScheduled event"),
        (_never_started_timer, None, "does not name an earlier TimerStarted event"),
    ],
)
def test_load_names_the_file_and_the_event(tmp_path: Path, make, event, reason) -> None:
    path = make(tmp_path)
    with pytest.raises(HistoryFormatError) as info:
        History.load(path)
    assert str(path) in str(info.value) and reason in str(info.value)
    if event is not None:
        assert f"event {event} (ActivityTaskCompleted)" in str(info.value)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "replaytest", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_cli_replay_reports_it_and_replays_the_rest(tmp_path: Path) -> None:
    bad = _never_scheduled(tmp_path)
    run = _cli("replay", str(bad), str(ORDER))
    assert run.returncode == 1
    assert f"FAIL  {bad}: /events/6: event 7 (ActivityTaskCompleted): scheduled_event_id 99" in run.stdout
    assert "ok    " in run.stdout and "2 histories replayed: 1 ok, 1 failed" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr and "KeyError" not in run.stdout + run.stderr


def test_cli_replay_debug_refuses_it_before_waiting_for_the_ide(tmp_path: Path) -> None:
    bad = _never_started_timer(tmp_path)
    run = _cli("replay", str(bad), "--debug=127.0.0.1:0", "--debug-timeout", "5")
    assert run.returncode == 2
    assert run.stderr.startswith(f"replaytest: error: {bad}: ") and "TimerStarted" in run.stderr
    assert "waiting for a debugger" not in run.stderr and "Traceback" not in run.stderr


def test_pytest_item_fails_with_the_report(pytester: pytest.Pytester, tmp_path: Path) -> None:
    bad = _never_scheduled(tmp_path)
    result = pytester.runpytest("--replay", str(bad), "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "invalid history file" in out and "event 7 (ActivityTaskCompleted)" in out
    assert "Traceback" not in out and "KeyError" not in out and "1 invalid history file" in out
