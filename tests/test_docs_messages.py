"""The docs quote what the tools really print: the debugger's timeout (CLI and pytest, with
their exit codes) and what ``--replay-sandbox`` does per history format."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

DOCS = ROOT / "docs"


def _unwrapped(page: str) -> str:
    return " ".join((DOCS / page).read_text().split())


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_debugger_timeout_is_quoted_as_the_cli_and_pytest_print_it() -> None:
    docs = _unwrapped("debugging.md")
    history = "fixtures/histories/order-42.json"
    cli = _run(sys.executable, "-m", "replaytest", "replay", history, "--debug", "127.0.0.1:0", "--debug-timeout", "1")
    plugin = _run(
        sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "--replay", history,
        "--replay-debug=127.0.0.1:0", "--replay-debug-timeout", "1",
    )  # fmt: skip
    for done, code in ((cli, 2), (plugin, 4)):
        [said] = [line for line in (done.stdout + done.stderr).splitlines() if "no debugger attached" in line]
        quoted = re.sub(r"127\.0\.0\.1:\d+ within 1 s", "127.0.0.1:5678 within 30 s", said)
        assert f"`{quoted}` and exits {code}" in docs, (quoted, docs[docs.find("A timeout") :][:700])
        assert done.returncode == code


def test_sandbox_modes_are_described_per_history_format_nowhere_as_deterministic_in_every_mode() -> None:
    plugin_help = _run(sys.executable, "-m", "pytest", "--help", "-p", "no:randomly").stdout
    cli_help = _run(sys.executable, "-m", "replaytest", "replay", "--help").stdout
    for text in (
        _unwrapped("pytest-plugin.md"),
        _unwrapped("cli.md"),
        " ".join(plugin_help.split()),
        " ".join(cli_help.split()),
    ):
        assert "every mode" not in text
    table = (DOCS / "pytest-plugin.md").read_text()
    assert "| mode | replaytest's histories | Temporal histories | AWS Lambda durable histories |" in table
    off = next(line for line in table.splitlines() if line.startswith("| `off` |"))
    assert "**still recorded**" in off and off.count("**real**") == 2  # Temporal's and AWS's clocks are real
