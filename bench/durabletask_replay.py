"""Cost of replaying Durable Task histories: replaytest beside the SDK's own executor, on the
same histories, in the same process, interleaved round by round.

    python bench/durabletask_replay.py [--repeats N] [--chain N]

Histories are recorded first on the SDK's in-memory backend (tests/dt_recording.py: the
shop's orchestrators, plus one activity chain of ``--chain`` steps). Each round times, per
history:

- **SDK**: what a worker does to replay it — protobuf events parsed from their JSON
  (``ParseDict``), then ``_OrchestrationExecutor.execute(old, new)`` with the last episode as
  the new events; no checks beyond the SDK's, no sandbox, the real clock.
- **replaytest**: the export JSON document read into events (``history.load``), converted to
  protobuf, fed through the same executor with replaytest's command, argument and end checks,
  orchestrator code under the strict sandbox (one session held, as ``pytest --replay`` does).

Prints a Markdown table: medians, and replaytest ÷ SDK.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def chain(ctx: Any, n: int) -> Any:
    """n activities one after another (a long history: 4 events per step)."""
    from tests.dt_orchestrators.shop import notify

    total = []
    for i in range(n):
        total.append((yield ctx.call_activity(notify, input=f"step {i}")))
    return len(total)


def record(out: Path, steps: int) -> dict[str, Path]:
    from tests import dt_recording

    with dt_recording.running_backend(extra=(chain,)) as (_, client):
        histories = dt_recording.record(client)
        client.schedule_new_orchestration(chain, input=steps, instance_id=f"chain-{steps}")
        client.wait_for_orchestration_completion(f"chain-{steps}", timeout=300)
        histories[f"chain-{steps}"] = client.get_orchestration_history(f"chain-{steps}")
        dt_recording.write_all(histories, out, client)
    return {iid: out / "export" / f"{iid}.json" for iid in histories}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--chain", type=int, default=250)
    opts = parser.parse_args()

    from durabletask.internal import orchestrator_service_pb2 as pb
    from google.protobuf import json_format

    from replaytest import sandbox
    from replaytest.backends.durabletask import _sdk
    from replaytest.backends.durabletask import history as dt_history
    from replaytest.backends.durabletask.replay import replay_history
    from tests.dt_orchestrators import shop

    functions = {fn.__name__: fn for fn in shop.ORCHESTRATORS} | {"chain": chain}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        paths = record(Path(tmp), opts.chain)
        print(f"recorded {len(paths)} histories on the in-memory backend in {time.perf_counter() - t:.1f} s")
        exports = {iid: json.loads(p.read_text()) for iid, p in paths.items()}
        protos = {iid: json.loads((p.parent.parent / "proto" / p.name).read_text()) for iid, p in paths.items()}

    def sdk(iid: str) -> None:
        events = [json_format.ParseDict(e, pb.HistoryEvent()) for e in protos[iid]]
        last = max(i for i, e in enumerate(events) if e.HasField("orchestratorStarted"))
        name = (
            events[1].executionStarted.name
            if events[1].HasField("executionStarted")
            else events[0].executionStarted.name
        )
        executor = _sdk.new_executor_for_bench(functions[name], name)
        executor.execute(iid, events[:last], events[last:])

    def ours(iid: str) -> None:
        h = dt_history.load(exports[iid], iid)
        result = replay_history(h, functions[h.orchestrator or ""])
        assert not result.warnings, result.warnings

    times: dict[str, dict[str, list[float]]] = {iid: {"sdk": [], "ours": []} for iid in exports}
    with sandbox.session():
        for round_ in range(opts.repeats + 1):  # round 0 warms up
            for iid in exports:
                for column, fn in (("sdk", sdk), ("ours", ours)):
                    t = time.perf_counter()
                    fn(iid)
                    if round_:
                        times[iid][column].append(time.perf_counter() - t)
    print(f"\n{opts.repeats} rounds, medians; Python {sys.version.split()[0]}, durabletask {_sdk.SDK_VERSION}\n")
    print("| history | events | SDK executor (ms) | replaytest (ms) | replaytest ÷ SDK |")
    print("|---|---:|---:|---:|---:|")
    ratios = []
    for iid, cols in times.items():
        sdk_ms, our_ms = (statistics.median(cols[c]) * 1000 for c in ("sdk", "ours"))
        ratios.append(our_ms / sdk_ms)
        events = len(exports[iid]["events"])
        print(f"| {iid} | {events} | {sdk_ms:.2f} | {our_ms:.2f} | {our_ms / sdk_ms:.2f}× |")
    print(f"\nmedian ratio over the histories: {statistics.median(ratios):.2f}×")


if __name__ == "__main__":
    main()
