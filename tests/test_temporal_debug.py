"""The replay debugger on Temporal histories, driven as VS Code drives it (the real Debug
Adapter Protocol client of tests/dap_client.py against `replaytest replay --debug`): it stops
in the workflow's own frame after event N, and on the line that issued a divergent command."""

from __future__ import annotations

from pathlib import Path

from tests.test_debug import ROOT, assert_finished, debuggee, top, values

ORDERS = ROOT / "fixtures" / "temporal" / "orders.py"
REORDERED = ROOT / "fixtures" / "temporal" / "variants" / "reordered.py"


def line_with(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def args(history: Path, module: str, *extra: str) -> list[str]:
    return [str(history), "--module", module, "--debug=127.0.0.1:0", "--debug-timeout", "60", *extra]


def test_break_at_stops_in_the_workflow_frame_once_the_event_is_applied(
    tmp_path: Path, temporal_histories: Path
) -> None:
    history = temporal_histories / "cli" / "order-1.json"
    charge = line_with(ORDERS, "await workflow.execute_activity(charge_card")
    with debuggee(tmp_path, *args(history, "fixtures.temporal.orders", "--break-at", "7")) as d:
        with d.attach() as client:
            stop = client.stopped()  # event 7: reserve_stock completed; the code goes on to charge the card
            frame, _ = top(client, stop)
            assert (frame["source"]["path"], frame["line"], frame["name"]) == (str(ORDERS), charge, "run")
            local = values(client, frame)
            assert "'id': 7" in local["replaytest_event"] and "ActivityTaskCompleted" in local["replaytest_event"]
            assert "'amount': 649.0" in local["order"]  # the recorded workflow input, live
            client.continue_(stop["threadId"])
            assert_finished(d)
    assert "ok    " in d.stdout


def test_break_on_divergence_stops_on_the_line_that_issued_the_divergent_command(
    tmp_path: Path, temporal_histories: Path
) -> None:
    history = temporal_histories / "cli" / "order-1.json"
    line = line_with(REORDERED, "# CHANGED")
    with debuggee(tmp_path, *args(history, "fixtures.temporal.variants.reordered", "--break-on", "divergence")) as d:
        with d.attach() as client:
            stop = client.stopped()
            assert stop["reason"] == "exception" and stop["text"] == "NondeterminismError"
            assert "at history event 5: commands in a different order" in stop["description"]
            frame, _ = top(client, stop)
            assert (frame["source"]["path"], frame["line"]) == (str(REORDERED), line)
            assert client.evaluate("replaytest_divergence.kind", frame["id"]) == "'order'"
            client.continue_(stop["threadId"])
            assert_finished(d, 1)
    assert "at history event 5: commands in a different order" in d.stdout
    assert f"{REORDERED.relative_to(ROOT)}:{line}" in d.stdout


def test_a_bad_temporal_file_is_refused_before_waiting_for_the_ide(tmp_path: Path, temporal_histories: Path) -> None:
    import json
    import subprocess
    import sys

    doc = json.loads((temporal_histories / "cli" / "order-1.json").read_text())
    doc["events"][4]["eventType"] = "EVENT_TYPE_NOT_A_THING"
    bad = tmp_path / "order-1.json"
    bad.write_text(json.dumps(doc))
    done = subprocess.run(
        [sys.executable, "-m", "replaytest", "replay", *args(bad, "fixtures.temporal.orders")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "event 5: unknown event type 'NotAThing'" in done.stderr and "waiting for a debugger" not in done.stderr
