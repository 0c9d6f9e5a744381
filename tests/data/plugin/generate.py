"""Regenerate ./histories by running order_workflows.py on the embedded engine:

    .venv/bin/python tests/data/plugin/generate.py

A virtual clock from a fixed start and fixed ids and seeds make the files reproducible. The
module is imported as top-level ``order_workflows`` (what the histories record), because the
plugin tests copy it into each test project under that name.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import order_workflows  # noqa: E402

from replaytest import Engine  # noqa: E402
from replaytest.engine import VirtualClock  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
ORDER = {"id": "order-42", "items": [{"sku": "tea", "price": 450, "qty": 2}, {"sku": "mug", "price": 1200, "qty": 1}]}
RUNS = [  # (file, workflow, id, argument)
    ("order-42.json", order_workflows.checkout, "order-42", ORDER),
    ("order-43.json", order_workflows.checkout, "order-43", {**ORDER, "id": "order-43"}),
    ("nested/greet-ada.json", order_workflows.greet, "greet-ada", "ada"),
    # its workflow task raises ZeroDivisionError: the history ends in WorkflowTaskFailed
    ("discount-7.json", order_workflows.discount, "discount-7", {**ORDER, "id": "discount-7", "coupons": 0}),
]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp) / "engine.db", clock=VirtualClock(start=START)).register(order_workflows)
        for seed, (_, fn, workflow_id, arg) in enumerate(RUNS, start=1):
            engine.start(fn, arg, id=workflow_id, seed=seed, run_id=f"run-{workflow_id}")
        engine.work()
        for file, _, workflow_id, _ in RUNS:
            history = engine.history(workflow_id)
            history.save(HERE / "histories" / file)
            print(f"histories/{file}: {len(history)} events, {history.status}")
        engine.close()


if __name__ == "__main__":
    main()
