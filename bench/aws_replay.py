"""Cost of replaying AWS Lambda durable histories (tests/data/aws/) in one process.

    python bench/aws_replay.py

Prints the one-off import cost (the SDK and the sandbox) and the median time per replay of
each recorded history, with one sandbox session held as `pytest --replay` holds it.
"""

from __future__ import annotations

import importlib
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = [("order-1", "orders"), ("batch-1", "batch"), ("sink-1", "kitchen"), ("remind-1", "fanout")]


def main(repeats: int = 20) -> None:
    started = time.perf_counter()
    from replaytest import sandbox
    from replaytest.backends.aws import history
    from replaytest.backends.aws.replay import replay_history

    print(f"import (SDK + sandbox): {time.perf_counter() - started:.2f} s")
    print("| history | events | ms per replay (median) |\n|---|---|---|")
    with sandbox.session():
        for name, module_name in CASES:
            doc = json.loads((ROOT / "tests" / "data" / "aws" / f"{name}.json").read_text())
            handler = importlib.import_module(f"tests.aws_handlers.{module_name}").handler
            times = []
            for _ in range(repeats + 1):  # the first one warms up
                t = time.perf_counter()
                replay_history(history.load(doc, name), handler)
                times.append(time.perf_counter() - t)
            print(f"| {name} | {len(doc['Events'])} | {statistics.median(times[1:]) * 1000:.1f} |")


if __name__ == "__main__":
    main()
