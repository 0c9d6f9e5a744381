"""What a history may make replaytest do (issue 14, items 1-2): it is data. Replaying it never
imports a module it names unless that module is the user's own code, and nothing it contains
can forge a line of a report.

Probe modules write a marker file when imported: the marker is the proof, not the output.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import replaytest.pytest_support  # noqa: F401  (loaded up front for in-process pytester runs)
from tests.conftest import ROOT

ORDER_42 = ROOT / "fixtures" / "histories" / "order-42.json"
PLUGIN_DATA = ROOT / "tests" / "data" / "plugin"
FORGED = "ok    forged.json: everything replayed"


def history(**started: Any) -> dict[str, Any]:
    """order-42 with the started event's attributes changed."""
    doc = json.loads(ORDER_42.read_text(encoding="utf-8"))
    doc["events"][0]["attrs"].update(started)
    return doc


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")  # ensure_ascii: lone surrogates become \ud800 escapes
    return path


def probe(directory: Path, module: str, marker: Path) -> None:
    """``module`` (dotted: a package tree) whose every level records its import in ``marker``."""
    parts = module.split(".")
    code = f"import pathlib\npathlib.Path({str(marker)!r}).open('a').write({module!r} + '\\n')\n"
    for depth in range(1, len(parts)):
        package = directory.joinpath(*parts[:depth])
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(code)
    directory.joinpath(*parts[:-1]).mkdir(parents=True, exist_ok=True)
    directory.joinpath(*parts[:-1], parts[-1] + ".py").write_text(code)


def replay_cli(*args: str, cwd: Path, pythonpath: Sequence[Path] = ()) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, [ROOT, *pythonpath])))
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "replaytest", "replay", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=120,
    )


# ---------------------------------------------------------------- item 1: imports (CLI)
def test_cli_with_module_never_imports_the_module_a_history_names(tmp_path: Path) -> None:
    project, marker = tmp_path / "project", tmp_path / "imported.txt"
    probe(project, "probe_here", marker)  # even the project's own module: the user named theirs
    h = write(project / "h.json", history(workflow_type="nope", workflow_module="probe_here:x"))
    done = replay_cli(str(h), "--module", "fixtures.workflows.orders", cwd=project)
    assert not marker.exists(), "replay imported a module the history named"
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "workflow type 'nope' is not registered" in done.stdout
    assert "the history names probe_here:x" in done.stdout and "--module probe_here" in done.stdout


@pytest.mark.parametrize("module", ["probe_away", "probe_pkg.sub"])
def test_cli_without_module_does_not_import_a_module_outside_the_project(tmp_path: Path, module: str) -> None:
    project, elsewhere, marker = tmp_path / "project", tmp_path / "elsewhere", tmp_path / "imported.txt"
    project.mkdir()
    probe(elsewhere, module, marker)  # importable through PYTHONPATH, but not the project's code
    h = write(project / "h.json", history(workflow_type="nope", workflow_module=f"{module}:x"))
    done = replay_cli(str(h), cwd=project, pythonpath=[elsewhere])
    assert not marker.exists(), "replay imported a module from outside the project"
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert f"the history names {module}:x" in done.stdout and f"--module {module}" in done.stdout


@pytest.mark.parametrize("named", ["this:x", "unittest.__main__:x", "antigravity:x"])
def test_cli_never_imports_the_standard_library_for_a_history(tmp_path: Path, named: str) -> None:
    h = write(tmp_path / "h.json", history(workflow_type="nope", workflow_module=named))
    good = write(tmp_path / "z-good.json", history())
    done = replay_cli(str(h), str(good), "--module", "fixtures.workflows.orders", cwd=tmp_path)
    assert "Zen of Python" not in done.stdout and "Ran 0 tests" not in done.stderr
    assert done.stdout.rstrip().endswith("2 histories replayed: 1 ok, 1 failed"), done.stdout + done.stderr
    done = replay_cli(str(h), cwd=tmp_path)  # no --module: the stdlib is not the project either
    assert "Zen of Python" not in done.stdout and "Ran 0 tests" not in done.stderr
    assert done.returncode == 1 and f"the history names {named}" in done.stdout


def test_cli_without_module_imports_the_projects_own_recorded_module(tmp_path: Path) -> None:
    shutil.copy(PLUGIN_DATA / "order_workflows.py", tmp_path)
    shutil.copy(PLUGIN_DATA / "histories" / "order-42.json", tmp_path)
    done = replay_cli("order-42.json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok    order-42.json: order-42 (checkout)")


# ---------------------------------------------------------------- item 1: imports (pytest)
@pytest.fixture(autouse=True)
def _inner_session_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-W ignore::pytest.PytestAssertRewriteWarning -p no:hypothesispytest")


def test_pytest_with_replay_module_never_imports_the_module_a_history_names(pytester: pytest.Pytester) -> None:
    marker = pytester.path.parent / f"{pytester.path.name}-imported.txt"
    probe(pytester.path, "probe_named", marker)
    shutil.copy(PLUGIN_DATA / "order_workflows.py", pytester.path)
    pytester.syspathinsert()
    write(pytester.path / "histories" / "x.json", history(workflow_type="nope", workflow_module="probe_named:x"))
    result = pytester.runpytest("--replay", "histories", "--replay-module", "order_workflows")
    assert not marker.exists(), "replay imported a module the history named"
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the history names probe_named:x*--replay-module probe_named*"])


def test_pytest_without_replay_module_imports_only_the_projects_code(pytester: pytest.Pytester) -> None:
    outside = pytester.path.parent / f"{pytester.path.name}-elsewhere"
    marker = pytester.path.parent / f"{pytester.path.name}-imported.txt"
    probe(outside, "probe_outside", marker)
    pytester.syspathinsert(outside)
    pytester.syspathinsert()
    shutil.copy(PLUGIN_DATA / "order_workflows.py", pytester.path)
    shutil.copy(PLUGIN_DATA / "histories" / "order-42.json", pytester.path / "order-42.json")
    write(pytester.path / "h" / "x.json", history(workflow_type="nope", workflow_module="probe_outside:x"))
    write(pytester.path / "h" / "zen.json", history(workflow_id="zen", workflow_type="nope", workflow_module="this:x"))
    shutil.move(pytester.path / "order-42.json", pytester.path / "h" / "order-42.json")
    result = pytester.runpytest("--replay", "h", "-v")
    assert not marker.exists(), "replay imported a module from outside the rootdir"
    assert "Zen of Python" not in result.stdout.str()
    result.assert_outcomes(passed=1, failed=2)  # order-42's recorded module is the project's own
    result.stdout.fnmatch_lines(["*the history names probe_outside:x*--replay-module probe_outside*"])


# ---------------------------------------------------------------- item 2: forged lines
NASTY_IDS = [
    "order-42\n" + FORGED,
    "order-42\r" + FORGED,
    "order-42\x1b[2K\x1b[1G" + FORGED,
    "order-42\u2028" + FORGED,
    "order-42\x85" + FORGED,
]


@pytest.mark.parametrize("wid", NASTY_IDS, ids=["newline", "return", "ansi", "line-separator", "nel"])
def test_cli_report_escapes_control_characters_in_ids(tmp_path: Path, wid: str) -> None:
    h = write(tmp_path / "h.json", history(workflow_id=wid))
    done = replay_cli(str(h), "--module", "fixtures.workflows.orders", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert not any(line.startswith("ok    forged") for line in lines), done.stdout
    assert all(c not in done.stdout for c in "\r\x1b\u2028\x85"), repr(done.stdout)
    assert lines[0].startswith(f"ok    {h}: order-42\\") and FORGED in lines[0]


def test_cli_report_escapes_payloads_and_types(tmp_path: Path) -> None:
    doc = json.loads((ROOT / "fixtures" / "histories" / "order-43.json").read_text(encoding="utf-8"))
    doc["events"][-1]["attrs"]["failure"]["message"] = "declined\n" + FORGED
    doc["events"][-1]["attrs"]["failure"]["type"] = "CardDeclined\x1b[31m"
    h = write(tmp_path / "h.json", doc)
    done = replay_cli(str(h), "--module", "fixtures.workflows.orders", cwd=tmp_path)
    assert not any(line.startswith("ok    forged") for line in done.stdout.splitlines()), done.stdout
    assert "\x1b" not in done.stdout and "declined\\n" + FORGED in done.stdout


def test_list_and_show_escape_workflow_ids(tmp_path: Path) -> None:
    from fixtures.workflows import orders
    from replaytest import Engine

    db = tmp_path / "engine.db"
    engine = Engine(db)
    try:
        engine.start(orders.process_order, {"id": "1", "email": "a@b", "card": "4242", "items": []}, id="x\n" + FORGED)
    finally:
        engine.close()
    for command in (["list"], ["show", "x\n" + FORGED]):
        done = subprocess.run(
            [sys.executable, "-m", "replaytest", *command, "--db", str(db)],
            cwd=ROOT,
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=60,
        )
        assert not any(line.startswith("ok    forged") for line in done.stdout.splitlines()), done.stdout


def test_pytest_item_names_and_junit_escape_control_characters(pytester: pytest.Pytester) -> None:
    shutil.copy(PLUGIN_DATA / "order_workflows.py", pytester.path)
    pytester.syspathinsert()
    recorded = json.loads((PLUGIN_DATA / "histories" / "order-42.json").read_text(encoding="utf-8"))
    recorded["events"][0]["attrs"]["workflow_id"] = "order-42\nPASSED " + FORGED + "\x1b[31m"
    write(pytester.path / "h" / "order.json", recorded)
    result = pytester.runpytest("--replay", "h", "-v", "--junitxml=out.xml")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "\x1b[31m" not in out and not any(line.startswith("PASSED ok") for line in out.splitlines())
    result.stdout.fnmatch_lines(["h/order.json::order-42\\nPASSED ok    forged.json*\\x1b[31m PASSED*"])
    case = next(ET.parse(pytester.path / "out.xml").iter("testcase"))
    assert "\n" not in case.get("name", "") and "\x1b" not in case.get("name", "")


# ---------------------------------------------------------------- issue 19, items 5-6: what a history may import
def plugin_history(**started: Any) -> dict[str, Any]:
    """tests/data/plugin's order-42 (workflow ``checkout``) with the started event's attributes changed."""
    doc = json.loads((PLUGIN_DATA / "histories" / "order-42.json").read_text(encoding="utf-8"))
    doc["events"][0]["attrs"].update(started)
    return doc


def test_a_history_naming_setup_py_does_not_run_it_and_the_run_goes_on(tmp_path: Path) -> None:
    """The project's own setup.py defines no workflow ``x``: replay reads it and leaves it alone."""
    marker = tmp_path / "imported.txt"
    (tmp_path / "setup.py").write_text(
        f"import pathlib, sys\npathlib.Path({str(marker)!r}).write_text('ran')\nsys.exit('usage: setup.py [options]')\n"
    )
    shutil.copy(PLUGIN_DATA / "order_workflows.py", tmp_path)
    h = write(tmp_path / "h.json", plugin_history(workflow_type="x", workflow_module="setup:x"))
    good = write(tmp_path / "z-good.json", plugin_history())
    done = replay_cli(str(h), str(good), cwd=tmp_path)
    assert not marker.exists(), "replay ran setup.py"
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("2 histories replayed: 1 ok, 1 failed"), done.stdout + done.stderr
    assert "defines no workflow 'x'" in done.stdout and "setup.py" in done.stdout


@pytest.mark.parametrize(
    "raised", ["SystemExit(0)", "KeyboardInterrupt()", "type('Boom', (BaseException,), {})('boom')"]
)
def test_a_module_that_raises_a_base_exception_on_import_fails_only_its_history(tmp_path: Path, raised: str) -> None:
    (tmp_path / "exits_on_import.py").write_text(
        f"from replaytest import workflow\n\n\n@workflow.defn\nasync def x() -> None:\n    pass\n\n\nraise {raised}\n"
    )
    shutil.copy(PLUGIN_DATA / "order_workflows.py", tmp_path)
    h = write(tmp_path / "h.json", plugin_history(workflow_type="x", workflow_module="exits_on_import:x"))
    good = write(tmp_path / "z-good.json", plugin_history())
    done = replay_cli(str(h), str(good), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("2 histories replayed: 1 ok, 1 failed"), done.stdout
    kind = raised.split("(")[0] if not raised.startswith("type") else "Boom"
    fail = next(line for line in done.stdout.splitlines() if "exits_on_import" in line and kind in line)
    assert "importing" in fail and "exits_on_import.py" in fail


def test_a_namespace_package_portion_outside_the_project_is_not_imported(tmp_path: Path) -> None:
    """``ns`` has a portion in the project and one on PYTHONPATH; ``ns.wf`` would load from the latter."""
    project, elsewhere, marker = tmp_path / "project", tmp_path / "elsewhere", tmp_path / "imported.txt"
    (project / "ns").mkdir(parents=True)
    (project / "ns" / "here.py").write_text("")
    (elsewhere / "ns").mkdir(parents=True)
    (elsewhere / "ns" / "wf.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        + (PLUGIN_DATA / "order_workflows.py").read_text()
    )
    h = write(project / "h.json", plugin_history(workflow_module="ns.wf:checkout"))
    done = replay_cli(str(h), cwd=project, pythonpath=[elsewhere])
    assert not marker.exists(), "replay imported a namespace portion outside the project"
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "outside the project" in done.stdout and str(elsewhere / "ns" / "wf.py") in done.stdout


@pytest.mark.parametrize("module", ["ns.deep.order_workflows", "pkg.order_workflows"])
def test_the_projects_own_dotted_module_is_imported(tmp_path: Path, module: str) -> None:
    *packages, name = module.split(".")
    where = tmp_path.joinpath(*packages)
    where.mkdir(parents=True)
    if packages[0] == "pkg":
        (where / "__init__.py").write_text("")
    shutil.copy(PLUGIN_DATA / "order_workflows.py", where / f"{name}.py")
    h = write(tmp_path / "h.json", plugin_history(workflow_module=f"{module}:checkout"))
    done = replay_cli(str(h), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"ok    {h}: order-42 (checkout)")


def test_a_module_named_with_module_that_exits_on_import_is_one_line_and_no_success(tmp_path: Path) -> None:
    (tmp_path / "exits_on_import.py").write_text("raise SystemExit('usage: exits_on_import.py')\n")
    good = write(tmp_path / "good.json", plugin_history())
    done = replay_cli(str(good), "--module", "exits_on_import", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "replaytest: error: importing module 'exits_on_import' failed: SystemExit: usage: exits_on_import.py "
        "(at exits_on_import.py:1)"
    ]


def test_pytest_a_module_raising_keyboard_interrupt_on_import_fails_only_its_item(pytester: pytest.Pytester) -> None:
    """Not the session: one history's module stopping pytest would hide every other result."""
    (pytester.path / "interrupts.py").write_text(
        "from replaytest import workflow\n\n\n@workflow.defn\nasync def x() -> None:\n    pass\n\n\n"
        "raise KeyboardInterrupt\n"
    )
    shutil.copy(PLUGIN_DATA / "order_workflows.py", pytester.path)
    pytester.syspathinsert()
    write(pytester.path / "h" / "a.json", plugin_history(workflow_type="x", workflow_module="interrupts:x"))
    write(pytester.path / "h" / "b.json", plugin_history())
    result = pytester.runpytest("--replay", "h")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*importing interrupts (*interrupts.py)*raised KeyboardInterrupt*"])
