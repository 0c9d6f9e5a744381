"""docs/temporal.md's install commands, run as written from a user's own project (issue 18,
item 8): a fresh virtual environment, `pip install` from a clone of this repository and from a
wheel built by the documented `pip wheel`, both with the `temporal` extra, then the page's
next command, `pytest --replay`, on recorded Temporal histories. The commands are read from
the page, so the page and this test cannot drift apart. It uses the package index (pip's own
cache makes a second run cheap).

Each project already pins a pytest older than 9 (7.4, the oldest replaytest supports, and
8.4): pip keeps it, so the same sessions also check the plugin under the pytest that builds
its argparse parser only when it parses (item 6's other path: another plugin owning
``--replay``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, copy_checkout

TEMPORAL = ROOT / "docs" / "temporal.md"
OWNER = ROOT / "tests" / "data" / "replay_owner"  # declares --replay as pytest-replay 1.8.0 does


def section(page: Path, title: str) -> str:
    """The text of the ``## TITLE...`` section, up to the next ``## `` heading."""
    text = page.read_text()
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def console_blocks(text: str) -> list[list[str]]:
    """The ``$ command`` lines of each console block."""
    blocks = re.findall(r"^```console\n(.*?)^```", text, flags=re.S | re.M)
    return [[line[2:] for line in block.splitlines() if line.startswith("$ ")] for block in blocks]


def run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def users_project(root: Path, temporal_histories: Path) -> Path:
    """The user's own project: their workflows (here the fixtures the page's examples name),
    the pytest configuration the page shows, the histories they pulled."""
    project = root / "shop"
    shutil.copytree(ROOT / "fixtures", project / "fixtures", ignore=shutil.ignore_patterns("__pycache__"))
    toml = re.findall(r"^```toml\n(.*?)^```", TEMPORAL.read_text(), flags=re.S | re.M)
    (project / "pyproject.toml").write_text(next(t for t in toml if "[tool.pytest.ini_options]" in t))
    shutil.copytree(temporal_histories / "cli", project / "histories")  # coupon-1, order-1, ship-1
    (project / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    return project


def activated(venv: Path) -> dict[str, str]:
    """The environment of a shell where the user activated ``venv``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH", "VIRTUAL_ENV"))}
    return {**env, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}"}


@pytest.mark.parametrize(
    "route, pytest_pin", [("from a clone", "7.4.4"), ("from a wheel", "8.4.2")], ids=["clone", "wheel"]
)
def test_the_documented_install_works_as_written_in_a_users_project(
    tmp_path: Path, temporal_histories: Path, route: str, pytest_pin: str
) -> None:
    clone, wheels = tmp_path / "replaytest", tmp_path / "wheels"
    copy_checkout(clone)
    project = users_project(tmp_path, temporal_histories)
    venv = project / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = activated(venv)
    pinned = run(f"pip install -q 'pytest=={pytest_pin}'", project, env)  # the project's own pin
    assert pinned.returncode == 0, pinned.stderr

    clone_route, wheel_route = console_blocks(section(TEMPORAL, "Install"))[:2]
    commands = clone_route if route == "from a clone" else wheel_route
    assert any(c.startswith("pip install ") and "[temporal]" in c for c in commands), commands
    for command in commands:
        done = run(
            command.replace("/path/to/replaytest", str(clone)).replace("/path/to/wheels", str(wheels)), project, env
        )
        assert done.returncode == 0, f"docs/temporal.md: $ {command}\n{done.stdout}\n{done.stderr}"

    # the page's next command, as written, in the project with the page's configuration
    green = next(c for c in console_blocks(section(TEMPORAL, "Green"))[0] if c.startswith("pytest --replay"))
    replayed = run(green, project, env)
    assert replayed.returncode == 0 and "3 passed" in replayed.stdout, f"$ {green}\n{replayed.stdout}{replayed.stderr}"
    assert f"pytest-{pytest_pin}" in replayed.stdout  # the project's pytest, kept by the install
    for name in ("coupon-1", "order-1", "ship-1"):
        assert f"histories/{name}.json ." in replayed.stdout, replayed.stdout

    # pytest < 9 with another plugin owning --replay, loaded before replaytest (-p) and after it
    # (a conftest's pytest_plugins): no session breaks, its --replay is its own, replaytest's
    # --replay-histories replays, and one line says so
    env["PYTHONPATH"] = str(OWNER)
    histories = green.replace("pytest --replay ", "--replay-histories ")
    for load, conftest in (("-p replay_owner", ""), ("", 'pytest_plugins = ["replay_owner"]\n')):
        (project / "conftest.py").write_text(conftest)
        both = run(f"pytest {load} test_plain.py --replay x.txt {histories}", project, env)
        assert both.returncode == 0 and "4 passed" in both.stdout, both.stdout + both.stderr
        assert "replay-owner: replay_files=[PosixPath('x.txt')]" in both.stdout
        assert both.stdout.count("replaytest: --replay belongs to another plugin (option group 'replay'") == 1
