"""Reports are deterministic when handler code runs in threads: a map's items (and a parallel's
branches) run on threads of the SDK's own, and the item that diverges first in *time* is not
always the first in the *history*. The report always names the first divergence in recorded
order. The recorded history (tests/data/aws/remind-1.json) is replayed against a copy of the
handler that recorded it, with a rename inside every map item and item 0 held back so that
item 1 always diverges first in time."""

from __future__ import annotations

from pathlib import Path

from tests.test_aws_history import fixture
from tests.test_aws_replay import diverges, line_of, variant

RENAME = ('name=f"queue-{index}"', 'name=f"enqueue-{index}"')
#: item 0 reaches its first operation well after item 1 has diverged (wall-clock only: no I/O)
HOLD_BACK = (
    '    ctx.step(lambda _: f"queued {user}"',
    "    if index == 0:\n        __import__('threading').Event().wait(0.3)\n    ctx.step(lambda _: f\"queued {user}\"",
)


def test_the_first_item_in_recorded_order_is_reported_whichever_thread_diverges_first(tmp_path: Path) -> None:
    module, path = variant(tmp_path, "fanout", RENAME, HOLD_BACK)
    err = diverges(fixture("remind-1"), module)
    assert (err.recorded, err.issued) == ("step 'queue-0'", "step 'enqueue-0'")
    assert err.source.line == line_of(path, "enqueue-")
