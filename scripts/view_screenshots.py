"""Regenerate the page screenshots in docs/ (docs/viewer.md, the README).

usage: python scripts/view_screenshots.py [TEMPORAL_HISTORY.json]

Needs Debian's chromium (as the browser tests). The Temporal shot needs a recorded history,
e.g. the ``order-1.json`` that ``python -m tests.temporal_recording ADDRESS OUT`` writes.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 1100
sys.path.insert(0, str(ROOT))

from replaytest.cli.view import view_files  # noqa: E402
from tests.browser import Page, chromium  # noqa: E402


def shot(context: object, page_path: Path, out: Path, height: int, click: str | None = None) -> None:
    page = Page(context, page_path)
    if click:
        page.page.locator(click).first.click()
    page.page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": WIDTH, "height": height})
    page.close()
    print(f"{out} ({out.stat().st_size // 1024} KiB)")


def main() -> None:
    os.chdir(ROOT)  # file names in the page as a user in the project sees them
    tmp = Path(tempfile.mkdtemp())
    quiet = {"out": io.StringIO(), "err": io.StringIO()}
    divergence = tmp / "divergence.html"
    view_files(["fixtures/histories/order-42.json"], str(divergence), ["fixtures.broken.orders_v2"], **quiet)
    with chromium(width=WIDTH) as context:
        shot(context, divergence, ROOT / "docs" / "viewer-divergence.png", 900)
        if len(sys.argv) > 1:
            temporal = tmp / "temporal.html"
            (tmp / "histories").mkdir()
            shutil.copy(sys.argv[1], tmp / "histories" / "order-1.json")
            os.chdir(tmp)
            view_files(["histories/order-1.json"], str(temporal), **quiet)
            shot(context, temporal, ROOT / "docs" / "viewer-temporal.png", 760)


if __name__ == "__main__":
    main()
