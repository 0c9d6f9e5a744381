"""Subprocess that replays Temporal-format histories with temporalio's Replayer.

Kept out of the main bench process so that importing temporalio (hundreds of modules) does
not inflate the sandbox's sys.modules scan there. Line protocol on stdin/stdout (JSON):
  -> {"op": "load", "kind": "activities"|"timers", "path": P}   <- {"events": n, "from_json_s": t}
  -> {"op": "replay", "sandboxed": true|false}                   <- {"s": t} | {"error": msg}
  -> {"op": "quit"}
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


def main() -> None:
    t0 = time.perf_counter()
    try:
        sys.path.insert(0, sys.argv[1])  # the temporal-bench folder (loop_workflows.py)
        import temporalio
        from loop_workflows import LoopActivitiesWorkflow, LoopTimersWorkflow
        from temporalio.client import WorkflowHistory
        from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
    except Exception as e:  # not installed: the bench skips the column
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        return
    version = getattr(temporalio, "__version__", None)
    if version is None:
        from importlib.metadata import version as v

        version = v("temporalio")
    print(json.dumps({"ready": True, "import_s": time.perf_counter() - t0, "version": version}), flush=True)
    loop = asyncio.new_event_loop()
    history = None
    replayers: dict[bool, Replayer] = {}
    for line in sys.stdin:
        msg = json.loads(line)
        op = msg["op"]
        if op == "quit":
            break
        try:
            if op == "load":
                text = open(msg["path"], encoding="utf-8").read()
                t = time.perf_counter()
                history = WorkflowHistory.from_json("bench-wf", text)
                from_json_s = time.perf_counter() - t
                wf = LoopActivitiesWorkflow if msg["kind"] == "activities" else LoopTimersWorkflow
                replayers = {
                    True: Replayer(workflows=[wf]),
                    False: Replayer(workflows=[wf], workflow_runner=UnsandboxedWorkflowRunner()),
                }
                reply = {"events": len(history.events), "from_json_s": from_json_s}
            elif op == "replay":
                r = replayers[bool(msg["sandboxed"])]
                t = time.perf_counter()
                loop.run_until_complete(r.replay_workflow(history))  # raises on a replay failure
                reply = {"s": time.perf_counter() - t}
            else:
                reply = {"error": f"unknown op {op}"}
        except Exception as e:
            reply = {"error": f"{type(e).__name__}: {e}"[:500]}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
