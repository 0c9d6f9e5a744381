"""A history's file name is anyone's text, like its contents: a newline, CR or ESC in it never
forges a CLI line, restyles a terminal under ``pytest -v``, or makes ``--junitxml`` output
unparseable. Real files with those names, the real CLI and real pytest sessions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import ROOT

NAMES = ["a\nFAIL  forged.json", "b\x1b[31mred.json", "c\rcr.json"]
BROKEN = "d\x1b[2Jbroken.json"


@pytest.fixture
def histories(tmp_path: Path) -> Path:
    h = tmp_path / "h"
    h.mkdir()
    for name in NAMES:
        shutil.copy(ROOT / "fixtures" / "histories" / "order-42.json", h / name)
    (h / BROKEN).write_text("{not json")
    return h


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_ADDOPTS": ""}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, timeout=120)


def _clean(output: bytes) -> str:
    text = output.decode()
    assert "\x1b" not in text and "\r" not in text, text
    assert not any(line.startswith("FAIL  forged") for line in text.splitlines()), text
    return text


def test_the_cli_escapes_file_names(histories: Path) -> None:
    r = _run(histories.parent, "-m", "replaytest", "replay", "h", "--module", "fixtures.workflows.orders")
    out = _clean(r.stdout + r.stderr)
    assert "ok    h/a\\nFAIL  forged.json: order-42" in out
    assert "ok    h/b\\x1b[31mred.json: order-42" in out
    assert "ok    h/c\\rcr.json: order-42" in out
    assert "FAIL  h/d\\x1b[2Jbroken.json: line 1 column 2: invalid JSON" in out
    assert r.returncode == 1


def test_pytest_v_and_junit_escape_file_names(histories: Path) -> None:
    junit = histories.parent / "junit.xml"
    r = _run(
        histories.parent,
        "-m",
        "pytest",
        "--replay",
        "h",
        "--replay-module",
        "fixtures.workflows.orders",
        "-v",
        "-n",
        "0",  # node ids are made the same way in xdist workers (tests/test_replay_timeout.py runs -n 2)
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "-o",
        "junit_family=xunit1",
        f"--junitxml={junit}",
    )
    out = _clean(r.stdout + r.stderr)
    passed = [line for line in out.splitlines() if "PASSED" in line]  # -v lines (xdist puts PASSED first)
    assert any("h/a\\nFAIL  forged.json::order-42" in line for line in passed), out
    assert any("h/b\\x1b[31mred.json::order-42" in line for line in passed), out
    assert "invalid history file h/d\\x1b[2Jbroken.json: line 1 column 2" in out
    cases = list(ET.parse(junit).getroot().iter("testcase"))  # parses: no raw ESC in it
    assert sorted(c.get("file") or "" for c in cases) == sorted(
        ["h/a\\nFAIL  forged.json", "h/b\\x1b[31mred.json", "h/c\\rcr.json", "h/d\\x1b[2Jbroken.json"]
    )
    assert r.returncode == 1
