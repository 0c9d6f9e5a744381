"""Every private name of an SDK that replaytest touches, one test each: an upgrade that drops
or renames one fails here by name, not as replays that quietly stop seeing timers, patches,
operations or debugger stops. Each backend lists its names in its ``_sdk.py`` (pydevd's in
``replaytest/debug/_pydevd.py``); this file only resolves them."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from replaytest.backends.aws import _sdk as aws_sdk
from replaytest.backends.durabletask import _sdk as durabletask_sdk
from replaytest.backends.temporal import _sdk as temporal_sdk

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(temporal_sdk.PRIVATE_NAMES))
def test_temporalio_still_has(name: str) -> None:
    assert temporal_sdk.PRIVATE_NAMES[name]() is not None


@pytest.mark.parametrize("name", sorted(aws_sdk.PRIVATE_NAMES))
def test_the_aws_sdk_still_has(name: str) -> None:
    assert aws_sdk.PRIVATE_NAMES[name]() is not None


@pytest.mark.parametrize("name", sorted(durabletask_sdk.PRIVATE_NAMES))
def test_durabletask_still_has(name: str) -> None:
    assert durabletask_sdk.PRIVATE_NAMES[name]() is not None


# pydevd is resolved in a process of its own: importing it changes the interpreter it runs in
PYDEVD_PROBE = """
import json
from replaytest.debug import _pydevd
found = {}
for name in _pydevd.PRIVATE_NAMES:
    try:
        _pydevd.resolve(name)
        found[name] = None
    except Exception as e:
        found[name] = f"{type(e).__name__}: {e}"
print(json.dumps(found))
"""


def _pydevd_names() -> list[str]:
    """_pydevd.PRIVATE_NAMES, read from its source (plain data) without importing pydevd here."""
    tree = ast.parse((ROOT / "replaytest" / "debug" / "_pydevd.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PRIVATE_NAMES" for t in node.targets):
            names: list[str] = ast.literal_eval(node.value)
            return names
    raise AssertionError("replaytest/debug/_pydevd.py has no PRIVATE_NAMES")


@pytest.fixture(scope="module")
def pydevd_found() -> dict[str, str | None]:
    done = subprocess.run([sys.executable, "-c", PYDEVD_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found: dict[str, str | None] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("name", _pydevd_names())
def test_pydevd_still_has(name: str, pydevd_found: dict[str, str | None]) -> None:
    assert name in pydevd_found and pydevd_found[name] is None, pydevd_found.get(name)


def test_a_name_pydevd_does_not_have_is_reported_not_found() -> None:
    """The probe can fail: a name pydevd never had does not resolve."""
    done = subprocess.run(
        [sys.executable, "-c", "from replaytest.debug import _pydevd; _pydevd.resolve('PyDB.no_such_member')"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "AttributeError" in done.stderr


@pytest.mark.parametrize("package", ["temporalio", "aws-durable-execution-sdk-python", "debugpy", "durabletask"])
def test_an_sdk_whose_private_names_we_touch_is_pinned_to_one_minor_version(package: str) -> None:
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    pins = [s for s in specs if re.match(rf"{re.escape(package)}\s*[<>=]", s)]
    assert pins, f"{package} is not a dependency"
    for spec in pins:
        low = re.search(r">=\s*(\d+)\.(\d+)", spec)
        high = re.search(r"<\s*(\d+)\.(\d+)", spec)
        assert low and high, f"{spec}: needs >=X.Y,<X.(Y+1)"
        assert (int(high[1]), int(high[2])) == (int(low[1]), int(low[2]) + 1), f"{spec}: more than one minor version"
