"""How the pytest plugin's options meet the user's environment and shell: another plugin that
owns ``--replay`` (pytest-replay), and shell globs after ``--replay``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


# ---------------------------------------------------------------- 9: a bare `pytest` that cannot import
def users_project(root: Path, layout: str) -> Path:
    """A project whose package ``shop`` (shop.orders) lies in ``root`` or in ``root/src``."""
    package = root / layout / "shop"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "fixtures" / "workflows" / "orders.py", package / "orders.py")
    (root / "histories").mkdir()
    shutil.copy(HISTORIES / "order-42.json", root / "histories")
    return package.parent.resolve()


def users_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}


@pytest.mark.parametrize("layout", [".", "src"])
def test_a_bare_pytest_that_cannot_import_the_users_module_says_why_and_what_fixes_it(
    tmp_path: Path, layout: str
) -> None:
    home = users_project(tmp_path, layout)
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nreplay_modules = ["shop.orders"]\n')
    pytest_script = str(Path(sys.executable).parent / "pytest")  # the console script: cwd is not on sys.path
    argv = [pytest_script, "--replay", "histories", "-p", "no:randomly", "-p", "no:cacheprovider"]
    bare = subprocess.run(argv, cwd=tmp_path, env=users_env(), capture_output=True, text=True, timeout=120)
    assert bare.returncode == 1, bare.stdout + bare.stderr
    # `python -m pytest` puts the current directory on sys.path: no fix for a src layout
    also = ", or run `python -m pytest`" if layout == "." else ""
    toml, ini = f'pythonpath = ["{layout}"]', f"pythonpath = {layout}"
    assert (
        "replay_modules (ini) shop.orders: cannot import it: ModuleNotFoundError: No module named 'shop'; shop is in "
        f"{home}, but pytest put no directory of this project on sys.path: add `{toml}` to "
        f"[tool.pytest.ini_options] in pyproject.toml (or `{ini}` to [pytest] in pytest.ini){also}\n"
    ) in bare.stdout
    # each suggested line, pasted where the hint says, fixes the run (a bare `pythonpath = src` is not TOML)
    (tmp_path / "pyproject.toml").write_text(f'[tool.pytest.ini_options]\n{toml}\nreplay_modules = ["shop.orders"]\n')
    fixed = subprocess.run(argv, cwd=tmp_path, env=users_env(), capture_output=True, text=True, timeout=120)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    (tmp_path / "pyproject.toml").unlink()
    (tmp_path / "pytest.ini").write_text(f"[pytest]\n{ini}\nreplay_modules = shop.orders\n")
    fixed = subprocess.run(argv, cwd=tmp_path, env=users_env(), capture_output=True, text=True, timeout=120)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_the_cli_in_a_src_layout_says_where_the_package_is_and_what_fixes_it(tmp_path: Path) -> None:
    home = users_project(tmp_path, "src")
    argv = [str(Path(sys.executable).parent / "replaytest"), "replay", "histories", "--module", "shop.orders"]
    bare = subprocess.run(argv, cwd=tmp_path, env=users_env(), capture_output=True, text=True, timeout=120)
    assert bare.returncode == 2 and bare.stdout == "", bare.stdout + bare.stderr
    assert bare.stderr == (
        f"replaytest: error: cannot import module 'shop.orders': no module named 'shop'; shop is in {home}, which is "
        "not on sys.path: run replaytest with PYTHONPATH=src\n"
    )
    env = {**users_env(), "PYTHONPATH": "src"}
    fixed = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert fixed.returncode == 0 and "1 ok, 0 failed" in fixed.stdout, fixed.stdout + fixed.stderr


# ---------------------------------------------------------------- 15: messages that mislead
def test_a_missing_sdk_is_counted_as_such_and_files_that_are_no_history_name_every_export(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(ROOT / "tests" / "data" / "aws" / "order-1.json", project / "histories" / "aws-order.json")
    (project / "histories" / "empty.json").write_text("")
    (project / "histories" / "random.json").write_text('{"hello": "world"}')
    pytester.makeconftest("import sys\nsys.modules['aws_durable_execution_sdk_python'] = None  # not installed\n")
    pytester.makeini("[pytest]\n")  # no replay modules: the SDK is what is missing, not a handler
    handler = ("--replay-handler", "aws_handlers.orders:handler")
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{ROOT / 'tests'}")  # fixtures and the handler
    # a process of its own: this one may have imported the SDK already
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--replay", "histories", "-k", "aws or empty or random", *handler
    )
    result.assert_outcomes(failed=3)
    aws = (
        "`aws lambda get-durable-execution-history --include-execution-data` (AWS Lambda durable) or "
        "`replaytest pull --durabletask --address HOST:PORT -o DIR` (Durable Task)"  # every format read: #9g
    )
    result.stdout.fnmatch_lines_random(
        [
            f"invalid history file histories/empty.json: the file is empty; export a history with*{aws}",
            f"invalid history file histories/random.json: not a workflow history: export a history with*{aws}",
            "histories/aws-order.json: replaying an AWS Lambda durable execution needs the SDK it runs on: *",
            "replaytest: 0 histories replayed (0 events), 0 divergences, 2 invalid history files, "
            "1 history not replayed: its SDK is not installed",
        ]
    )


# ---------------------------------------------------------------- 1: MODULE:NAME for every backend
def test_module_colon_name_picks_one_workflow_for_native_and_aws_histories(
    pytester: pytest.Pytester, project: Path
) -> None:
    pytester.makeini("[pytest]\n")  # no replay_modules: only what the option names
    pytester.syspathinsert(ROOT / "tests")  # aws_handlers
    shutil.copy(ROOT / "tests" / "data" / "aws" / "order-1.json", project / "histories" / "aws-order.json")
    native = pytester.runpytest(
        "-p", "no:cacheprovider", "--replay", "histories", "-k", "order and not aws",
        "--replay-module", "fixtures.workflows.orders:process_order",
    )  # fmt: skip
    native.assert_outcomes(passed=3)
    aws = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--replay",
        "histories/aws-order.json",
        "--replay-module",
        "aws_handlers.orders:handler",
    )
    aws.assert_outcomes(passed=1)
    missing = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--replay",
        "histories/order-42.json",
        "--replay-module",
        "fixtures.workflows.orders:nope",
    )
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(["*--replay-module fixtures.workflows.orders:nope: cannot import it: *has no 'nope'*"])
