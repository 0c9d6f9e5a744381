"""A workflow that reads the wall clock and the `random` module directly, in several tasks."""
import random
import uuid
from datetime import datetime, timezone

from replaytest import workflow


@workflow.defn
async def reads_clock_and_random(n: int) -> list:
    seen = []
    for _ in range(n):
        seen.append([datetime.now(timezone.utc).isoformat(), random.random(), str(uuid.uuid4())])
        await workflow.sleep(3600)
    return seen
