"""Issue 14, items 14-16: check_recovery from a real pytest project, `replaytest vscode` on
links, modes and odd files, and a --replay directory outside the project."""

from __future__ import annotations

import pytest

FLOW = """
from replaytest import activity, workflow

@activity.defn
def add(a: int, b: int) -> int:
    return a + b

@workflow.defn
async def total(n: int) -> int:
    s = 0
    for i in range(n):
        s = await workflow.execute_activity(add, s, i)
    return s

@workflow.defn
async def uses_missing() -> int:
    return await workflow.execute_activity("missing_activity", 1)
"""


# ---------------------------------------------------------------------------- 16: check_recovery
def test_check_recovery_registers_the_workflows_module_and_passes_sys_path_on(pytester: pytest.Pytester) -> None:
    """``myflow`` is importable only because pytest put tests/ on sys.path (rootdir insertion)."""
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "myflow.py").write_text(FLOW)
    pytester.path.joinpath("tests", "test_flow.py").write_text("""
import myflow
from replaytest import check_recovery

def test_total_recovers():
    report = check_recovery(myflow.total, 3, save_dir=None, fresh_process="all")
    assert report.events > 10 and report.fresh_process_points == report.crash_points
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_run_under_plan_registers_the_workflows_own_module() -> None:
    from fixtures.workflows import orders
    from replaytest.testing.faults import run_under_plan

    order = {
        "id": "42",
        "email": "ada@example.com",
        "card": "4242-4242-4242-4242",
        "items": [{"sku": "tea", "price": 12.5, "qty": 2}],
    }
    run = run_under_plan(orders.process_order, order)  # no modules=: its activities live beside it
    assert run.status == "completed", run.blocked


def test_check_recovery_says_why_the_reference_run_did_not_finish(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("myflow.py").write_text(FLOW)
    pytester.path.joinpath("test_flow.py").write_text("""
import pytest
import myflow
from replaytest import ReplaytestError, check_recovery

def test_missing():
    with pytest.raises(ReplaytestError) as e:
        check_recovery(myflow.uses_missing, save_dir=None)
    message = str(e.value)
    assert "uses_missing did not finish without a crash" in message, message
    assert "activity 'missing_activity' is not registered" in message, message
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# ---------------------------------------------------------------------------- 14: replaytest vscode
def vscode(cwd, *args: str):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "replaytest", "vscode", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


OTHER = '{\n    "version": "0.2.0",\n    // mine\n    "configurations": [{"name": "Other", "type": "python"}]\n}\n'


def configurations(path) -> list:  # type: ignore[no-untyped-def]
    from replaytest.debug.vscode import _Parser

    return _Parser(path.read_text()).document().value["configurations"]


def test_vscode_writes_through_a_symlink_to_the_shared_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    shared = tmp_path / "shared" / "launch.json"
    shared.parent.mkdir()
    shared.write_text(OTHER)
    (tmp_path / ".vscode").mkdir()
    link = tmp_path / ".vscode" / "launch.json"
    link.symlink_to(shared)
    proc = vscode(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and link.resolve() == shared.resolve()
    assert [c["name"] for c in configurations(shared)] == ["Other", "Attach to replaytest"]
    assert "// mine" in shared.read_text()


def test_vscode_keeps_a_hard_link_and_the_file_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    launch = tmp_path / ".vscode" / "launch.json"
    launch.parent.mkdir()
    launch.write_text(OTHER)
    launch.chmod(0o640)
    other_name = tmp_path / "backup-launch.json"
    os.link(launch, other_name)
    proc = vscode(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert launch.stat().st_ino == other_name.stat().st_ino and launch.stat().st_nlink == 2
    assert [c["name"] for c in configurations(other_name)] == ["Other", "Attach to replaytest"]
    assert launch.stat().st_mode & 0o777 == 0o640


def test_vscode_refuses_a_read_only_launch_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    launch = tmp_path / ".vscode" / "launch.json"
    launch.parent.mkdir()
    launch.write_text(OTHER)
    launch.chmod(0o444)
    proc = vscode(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "read-only" in proc.stderr and "launch.json" in proc.stderr
    assert launch.read_text() == OTHER and launch.stat().st_mode & 0o777 == 0o444


def test_vscode_refuses_a_dangling_symlink_that_points_outside_vscode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".vscode").mkdir()
    outside = tmp_path / "elsewhere" / "launch.json"
    outside.parent.mkdir()
    (tmp_path / ".vscode" / "launch.json").symlink_to(outside)
    proc = vscode(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "symlink" in proc.stderr and str(outside) in proc.stderr
    assert not outside.exists()


def test_vscode_refuses_deep_nesting_with_a_clear_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    launch = tmp_path / ".vscode" / "launch.json"
    launch.parent.mkdir()
    deep = '{"version": "0.2.0", "x": ' + "[" * 5000 + "]" * 5000 + ', "configurations": []}'
    launch.write_text(deep)
    proc = vscode(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr
    assert "nested too deeply" in proc.stderr
    assert launch.read_text() == deep


def test_vscode_keeps_custom_keys_of_an_existing_attach_entry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    launch = tmp_path / ".vscode" / "launch.json"
    launch.parent.mkdir()
    launch.write_text(
        '{"version": "0.2.0", "configurations": [{"name": "Attach to replaytest", "type": "debugpy", '
        '"request": "attach", "connect": {"host": "127.0.0.1", "port": 5678}, '
        '"env": {"A": "1"}, "subProcess": false}]}'
    )
    proc = vscode(tmp_path, "--port", "5679")
    assert proc.returncode == 0, proc.stderr
    (entry,) = configurations(launch)
    assert entry["connect"]["port"] == 5679 and entry["env"] == {"A": "1"} and entry["subProcess"] is False


# ---------------------------------------------------------------------------- 15: --replay outside the project
def _project_with_outside_histories(pytester: pytest.Pytester) -> str:
    """pytester.path is the project (pytest.ini names its workflow module); the history lies in
    a sibling directory and names a module that does not exist, so only the ini can replay it."""
    import json
    import subprocess
    import sys

    pytester.path.joinpath("flows.py").write_text(FLOW)
    pytester.path.joinpath("pytest.ini").write_text("[pytest]\nreplay_modules = flows\n")
    outside = pytester.path.parent / f"{pytester.path.name}-histories"
    outside.mkdir()
    db = pytester.path / "engine.db"
    for args in (["run", "flows:total", "--input", "2", "--id", "t1"], ["export", "t1", "-o", str(outside)]):
        done = subprocess.run(
            [sys.executable, "-m", "replaytest", *args, "--db", str(db)],
            cwd=pytester.path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    history = outside / "t1.json"
    doc = json.loads(history.read_text())
    doc["events"][0]["attrs"]["workflow_module"] = "not_here:total"
    history.write_text(json.dumps(doc))
    return f"../{outside.name}"


def test_replay_dir_outside_the_project_warns_that_the_ini_was_not_read(pytester: pytest.Pytester) -> None:
    rel = _project_with_outside_histories(pytester)
    result = pytester.runpytest_subprocess("--replay", rel, "-p", "no:cacheprovider")
    text = result.stdout.str()
    assert "pytest.ini was not read" in text, text
    assert f"--replay={rel}" in text


def test_replay_equals_dir_outside_the_project_keeps_the_ini(pytester: pytest.Pytester) -> None:
    rel = _project_with_outside_histories(pytester)
    result = pytester.runpytest_subprocess(f"--replay={rel}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "was not read" not in result.stdout.str()


def test_vscode_refuses_a_launch_json_that_is_not_a_regular_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    (tmp_path / ".vscode").mkdir()
    os.mkfifo(tmp_path / ".vscode" / "launch.json")  # reading it would wait forever
    proc = vscode(tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "is not a regular file" in proc.stderr
