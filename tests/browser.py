"""A real headless Chromium for the page tests: Debian's ``chromium`` driven by playwright
(playwright's own browser download does not work here). ``make test`` installs chromium when
it is missing; a test never skips for it, it fails saying how to install it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A browser context on a fresh profile; closed (and its profile removed) on exit."""
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        pytest.fail(
            "the page tests need Debian's chromium: run `make test` as root (it installs it) or "
            "`apt-get update && apt-get install -y chromium`",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="replaytest-chromium-")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=shutil.which("chromium") or CHROMIUM,
            args=ARGS,
            headless=True,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


class Page:
    """One page opened from a file, with every console error and network request recorded."""

    def __init__(self, context: Any, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("body[data-ready='1']", timeout=15_000)

    def close(self) -> None:
        self.page.close()
