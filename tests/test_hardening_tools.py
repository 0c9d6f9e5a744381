"""Issue 14, items 14-16: check_recovery from a real pytest project, `replaytest vscode` on
links, modes and odd files, and a --replay directory outside the project."""

from __future__ import annotations

import pytest

FLOW = '''
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
'''


# ---------------------------------------------------------------------------- 16: check_recovery
def test_check_recovery_registers_the_workflows_module_and_passes_sys_path_on(pytester: pytest.Pytester) -> None:
    """``myflow`` is importable only because pytest put tests/ on sys.path (rootdir insertion)."""
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "myflow.py").write_text(FLOW)
    pytester.path.joinpath("tests", "test_flow.py").write_text('''
import myflow
from replaytest import check_recovery

def test_total_recovers():
    report = check_recovery(myflow.total, 3, save_dir=None, fresh_process="all")
    assert report.events > 10 and report.fresh_process_points == report.crash_points
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_check_recovery_says_why_the_reference_run_did_not_finish(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("myflow.py").write_text(FLOW)
    pytester.path.joinpath("test_flow.py").write_text('''
import pytest
import myflow
from replaytest import ReplaytestError, check_recovery

def test_missing():
    with pytest.raises(ReplaytestError) as e:
        check_recovery(myflow.uses_missing, save_dir=None)
    message = str(e.value)
    assert "uses_missing did not finish without a crash" in message, message
    assert "activity 'missing_activity' is not registered" in message, message
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
