"""How the pytest plugin's options meet the user's environment and shell: another plugin that
owns ``--replay`` (pytest-replay), and shell globs after ``--replay``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

OWNER = ROOT / "tests" / "data" / "replay_owner"
HISTORIES = ROOT / "fixtures" / "histories"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly -p no:hypothesispytest -p no:xdist")
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    (pytester.path / "histories").mkdir()
    for name in ("order-42", "order-43", "payment-3", "onboarding-7"):
        shutil.copy(HISTORIES / f"{name}.json", pytester.path / "histories")
    shutil.copy(HISTORIES / "order-42.json", pytester.path / "histories" / "order-again.json")
    pytester.makeini(
        "[pytest]\nreplay_modules = fixtures.workflows.orders fixtures.workflows.payments fixtures.workflows.onboarding\n"
    )
    pytester.syspathinsert(OWNER)
    pytester.syspathinsert(ROOT)  # fixtures.workflows, the modules the histories name
    return pytester.path


# ---------------------------------------------------------------- 6: another plugin owns --replay
@pytest.mark.parametrize("loaded", ["before replaytest", "after replaytest"])
def test_a_plugin_owning_replay_breaks_no_session_and_replay_histories_keeps_working(
    pytester: pytest.Pytester, project: Path, loaded: str
) -> None:
    # -p loads a plugin before the installed ones; a conftest's pytest_plugins after them
    load = ["-p", "replay_owner"] if loaded == "before replaytest" else []
    if loaded == "after replaytest":
        pytester.makeconftest('pytest_plugins = ["replay_owner"]\n')
    plain = pytester.runpytest(*load, "-p", "no:cacheprovider", "test_plain.py")
    plain.assert_outcomes(passed=1)
    plain.stdout.fnmatch_lines(
        [
            "replaytest: --replay belongs to another plugin (option group 'replay'*); replay histories with "
            "--replay-histories",
        ]
    )
    assert plain.stdout.str().count("--replay belongs to another plugin") == 1
    replayed = pytester.runpytest(*load, "-p", "no:cacheprovider", "--replay-histories", "histories", "-v")
    replayed.assert_outcomes(passed=5)
    replayed.stdout.fnmatch_lines(["*histories/order-42.json::order-42 PASSED*"])
    # the other plugin's --replay is its own
    theirs = pytester.runpytest(*load, "-p", "no:cacheprovider", "test_plain.py", "--replay", "x.txt")
    theirs.stdout.fnmatch_lines(["replay-owner: replay_files=?PosixPath('x.txt')?"])


def test_without_another_plugin_both_spellings_replay_and_no_note_is_printed(
    pytester: pytest.Pytester, project: Path
) -> None:
    for option in ("--replay", "--replay-histories"):
        result = pytester.runpytest("-p", "no:cacheprovider", option, "histories")
        result.assert_outcomes(passed=5)
        assert "belongs to another plugin" not in result.stdout.str()


# ---------------------------------------------------------------- 7: shell globs
def test_every_history_file_a_shell_glob_names_replays(pytester: pytest.Pytester, project: Path) -> None:
    # `pytest --replay histories/order-*.json` reaches pytest as three paths after --replay
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--replay",
        "histories/order-42.json",
        "histories/order-43.json",
        "histories/order-again.json",
        "-v",
    )
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines_random(
        ["*order-42.json::order-42 PASSED*", "*order-43.json::order-43 PASSED*", "*order-again.json::order-42 PASSED*"]
    )


def test_test_files_beside_replay_still_run_as_tests(pytester: pytest.Pytester, project: Path) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--replay", "histories/order-42.json", "test_plain.py")
    result.assert_outcomes(passed=2)
