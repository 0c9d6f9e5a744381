"""Write replaytest-format histories of the bench shapes without running an engine.

usage: python bench/gen_history.py activities|timers N OUT.json

The event shapes are the ones the engine records (see tests/data/smoke-w1.json): per loop
iteration one workflow task (WorkflowTaskScheduled/Started/Completed) followed by
ActivityTaskScheduled/Started/Completed, or TimerStarted/TimerFired. The event count is the
same as Temporal's for the same N (``gen_loop_history.py`` in shared/temporal-bench):
6N+5 for activities, 5N+5 for timers.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BASE = datetime(2026, 1, 1, tzinfo=UTC)
RETRY = {
    "initial_interval": 1.0,
    "backoff_coefficient": 2.0,
    "maximum_interval": 100.0,
    "maximum_attempts": 0,
    "non_retryable_error_types": [],
}
WORKFLOW_TYPE = {"activities": "loop_activities", "timers": "loop_timers"}


def event_count(kind: str, n: int) -> int:
    return (6 if kind == "activities" else 5) * n + 5


def events(kind: str, n: int, workflow_id: str | None = None) -> list[dict[str, Any]]:
    """The history as a list of event dicts (``id``, ``time``, ``type``, ``attrs``)."""
    if kind not in WORKFLOW_TYPE:
        raise ValueError(f"kind must be activities or timers, not {kind!r}")
    out: list[dict[str, Any]] = []
    clock = [0]  # seconds since BASE; timers move it by their duration

    def stamp() -> str:
        t = BASE + timedelta(seconds=clock[0])
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"

    def add(type_: str, **attrs: Any) -> int:
        out.append({"id": len(out) + 1, "time": stamp(), "type": type_, "attrs": attrs})
        return len(out)

    wf_type = WORKFLOW_TYPE[kind]
    add(
        "WorkflowExecutionStarted",
        workflow_type=wf_type,
        workflow_module=f"bench.workflows:{wf_type}",
        workflow_id=workflow_id or f"bench-{kind}-{n}",
        run_id="r1",
        input=[n],
        seed=1,
    )

    def workflow_task() -> None:
        s = add("WorkflowTaskScheduled", attempt=1)
        st = add("WorkflowTaskStarted", scheduled_event_id=s, worker="bench-worker")
        add("WorkflowTaskCompleted", started_event_id=st)

    workflow_task()
    for i in range(n):
        seq = str(i + 1)
        if kind == "activities":
            sid = add(
                "ActivityTaskScheduled",
                activity_id=seq,
                activity_type="say_hello",
                input=[str(i)],
                retry_policy=RETRY,
                start_to_close_timeout=60.0,
            )
            add("ActivityTaskStarted", activity_id=seq, scheduled_event_id=sid, attempt=1)
            add("ActivityTaskCompleted", activity_id=seq, scheduled_event_id=sid, result=f"Hello, {i}!")
        else:
            tid = add("TimerStarted", timer_id=seq, duration=1.0)
            clock[0] += 1
            add("TimerFired", timer_id=seq, started_event_id=tid)
        workflow_task()
    add("WorkflowExecutionCompleted", result=n)
    assert len(out) == event_count(kind, n)
    return out


def to_json(evs: list[dict[str, Any]]) -> str:
    """The same text layout as History.to_json: one event per line."""
    lines = ",\n".join("  " + json.dumps(e, ensure_ascii=False) for e in evs)
    return f'{{"format": "replaytest.history", "version": 1, "events": [\n{lines}\n]}}\n'


def write(kind: str, n: int, out: str | Path, workflow_id: str | None = None) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_json(events(kind, n, workflow_id)), encoding="utf-8")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    print(write(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
