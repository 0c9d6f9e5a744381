"""Subprocess: the embedded engine on a real SQLite file.

usage: python bench/_engine_bench.py shape|steps|recovery WORKDIR N
  shape     run loop_activities(3), export, compare with bench/gen_history.py's history
  steps     activity steps per second of loop_activities(N) through a live worker
  recovery  a running workflow with ~N events (loop_then_wait), then a new worker rebuilds it
Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

_perf = time.perf_counter


def main() -> None:
    what, work, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
    import gen_history

    from bench import workflows as W
    from replaytest import Engine, sandbox
    from replaytest.core.execution import Execution
    from replaytest.core.tasks import catch_up

    work.mkdir(parents=True, exist_ok=True)
    db = work / f"engine-{what}.db"
    for p in work.glob(f"engine-{what}.db*"):
        p.unlink()
    out: dict = {}
    if what == "shape":
        with Engine(db).register(W) as e:
            e.start(W.loop_activities, 3, id="shape", seed=1, run_id="r1").result()
            got = e.history("shape").to_dict()["events"]
        want = gen_history.events("activities", 3, "shape")
        diff = []
        for a, b in zip(got, want):
            if a["type"] != b["type"] or sorted(a["attrs"]) != sorted(b["attrs"]):
                diff.append(
                    {
                        "id": a["id"],
                        "engine": [a["type"], sorted(a["attrs"])],
                        "generator": [b["type"], sorted(b["attrs"])],
                    }
                )
            else:
                for k, v in a["attrs"].items():
                    if k not in ("worker", "workflow_module") and v != b["attrs"][k]:
                        diff.append({"id": a["id"], "attr": k, "engine": v, "generator": b["attrs"][k]})
        if len(got) != len(want):
            diff.append({"events": [len(got), len(want)]})
        out = {"same": not diff, "diff": diff[:5], "events": len(got)}
    elif what == "steps":
        with Engine(db).register(W) as e:
            e.start(W.loop_activities, 2, id="warm").result()  # imports, first sandbox session
            t0 = _perf()
            h = e.start(W.loop_activities, n, id="steps")
            assert h.result() == n
            wall = _perf() - t0
            events = len(e.history("steps"))
        out = {"steps": n, "wall_s": wall, "steps_per_s": n / wall, "events": events, "db": "WAL, synchronous=FULL"}
    elif what == "recovery":
        iterations = max(1, (n - 4) // 6)
        t0 = _perf()
        with Engine(db).register(W) as e:
            h = e.start(W.loop_then_wait, iterations, id="recover")
            e.work(until_idle=True)
            assert h.status == "running"
            events = len(e.history("recover"))
        out["build_s"] = _perf() - t0
        out["events"] = events
        # a new worker (fresh Engine: empty sticky cache) on the same file
        with Engine(db).register(W) as e2:
            t0 = _perf()
            hist = e2.history("recover")
            out["read_history_s"] = _perf() - t0
            first = hist.events[0].attrs
            ex = Execution(
                W.loop_then_wait.__replaytest_workflow__,
                workflow_id=first["workflow_id"],
                run_id=first["run_id"],
                args=first["input"],
                seed=first["seed"],
                history=hist.events,
                sandbox="strict",
            )
            with sandbox.session():
                t0 = _perf()
                catch_up(ex, hist.events)
                out["catch_up_s"] = _perf() - t0
            e2.signal("recover", "go")
            t0 = _perf()
            stats = e2.work(until_idle=True)
            out["recovery_s"] = _perf() - t0
            out["events_replayed"] = stats.events_replayed
            assert e2.get_handle("recover").status == "completed"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
