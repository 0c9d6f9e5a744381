"""The docs quote what the tools really print: the debugger's timeout (CLI and pytest, with
their exit codes) and what ``--replay-sandbox`` does per history format."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

DOCS = ROOT / "docs"


def _unwrapped(page: str) -> str:
    return " ".join((DOCS / page).read_text().split())


def _run(*argvs: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Each command, all at once (most of their time is waiting: a debugger timeout, an
    interpreter starting), from the repository root."""
    running = [subprocess.Popen(a, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for a in argvs]
    done = []
    for argv, process in zip(argvs, running):
        out, err = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(argv, process.returncode, out, err))
    return done


def test_the_debugger_timeout_is_quoted_as_the_cli_and_pytest_print_it() -> None:
    docs = _unwrapped("debugging.md")
    history = "fixtures/histories/order-42.json"
    cli, plugin = _run(
        [sys.executable, "-m", "replaytest", "replay", history, "--debug", "127.0.0.1:0", "--debug-timeout", "1"],
        [
            sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "--replay", history,
            "--replay-debug=127.0.0.1:0", "--replay-debug-timeout", "1",
        ],
    )  # fmt: skip
    for done, code in ((cli, 2), (plugin, 4)):
        [said] = [line for line in (done.stdout + done.stderr).splitlines() if "no debugger attached" in line]
        quoted = re.sub(r"127\.0\.0\.1:\d+ within 1 s", "127.0.0.1:5678 within 30 s", said)
        assert f"`{quoted}` and exits {code}" in docs, (quoted, docs[docs.find("A timeout") :][:700])
        assert done.returncode == code


def test_sandbox_modes_are_described_per_history_format_nowhere_as_deterministic_in_every_mode() -> None:
    plugin_help, cli_help = (
        done.stdout
        for done in _run(
            [sys.executable, "-m", "pytest", "--help", "-p", "no:randomly"],
            [sys.executable, "-m", "replaytest", "replay", "--help"],
        )
    )
    for text in (
        _unwrapped("pytest-plugin.md"),
        _unwrapped("cli.md"),
        " ".join(plugin_help.split()),
        " ".join(cli_help.split()),
    ):
        assert "every mode" not in text
    table = (DOCS / "pytest-plugin.md").read_text()
    assert (
        "| mode | replaytest's histories | Temporal histories | AWS Lambda durable and Durable Task histories |"
        in table
    )
    off = next(line for line in table.splitlines() if line.startswith("| `off` |"))
    assert "**still recorded**" in off and off.count("**real**") == 2  # Temporal's and AWS's clocks are real


def test_the_args_and_sandbox_defaults_name_every_history_format_they_apply_to() -> None:
    """--replay-args is warn by default for every format but replaytest's own, and --replay-sandbox=off
    leaves time real for every format but replaytest's own: Durable Task included (newuser2 #9a)."""
    plugin_help, cli_help = (
        " ".join(done.stdout.split())
        for done in _run(
            [sys.executable, "-m", "pytest", "--help", "-p", "no:randomly"],
            [sys.executable, "-m", "replaytest", "replay", "--help"],
        )
    )
    others = "Temporal, AWS and Durable Task histories"
    assert f"ReplayWarning; the default for {others})" in plugin_help
    assert f"Under off, time and randomness stay recorded for replaytest's histories only: {others} then" in plugin_help
    assert f"warn for {others})" in cli_help and f"({others} see the real ones)" in cli_help
    table = _unwrapped("pytest-plugin.md")
    assert f"| `replay_args` | `error` ({others}: `warn`) |" in table
    assert f"while {others} see the real clock" in _unwrapped("cli.md")


def test_where_directories_are_searched_every_history_suffix_is_named() -> None:
    """replay, view and --replay collect *.jsonl.gz (Durable Task exports) as well as *.json
    (newuser2 #9d: cli.md and viewer.md said `*.json` only)."""
    from replaytest_options import history_suffixes

    [plugin_help] = (" ".join(done.stdout.split()) for done in _run([sys.executable, "-m", "pytest", "--help"]))
    named = ", ".join(f"*{s}" for s in history_suffixes())
    assert f"replay every history file ({named}) under PATH" in plugin_help
    places = [
        m
        for page in ("cli.md", "viewer.md", "pytest-plugin.md")
        for m in re.findall(r"searched recursively.{0,70}", _unwrapped(page))
    ]
    assert len(places) == 3, places
    for place in places:
        assert all(f"`*{s}`" in place for s in history_suffixes()), place


def test_the_aws_page_records_a_history_with_the_local_runner_end_to_end(tmp_path: Path) -> None:
    """Item 16: the handler, the recording script and the commands of docs/aws-lambda-durable.md,
    pasted into a fresh project."""
    page = (DOCS / "aws-lambda-durable.md").read_text()
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", page, flags=re.S | re.M)
    handler = next(text for lang, text in blocks if lang == "python" and text.startswith("# app/orders.py"))
    script = next(text for lang, text in blocks if lang == "python" and text.startswith("# record_order.py"))
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "orders.py").write_text(handler)
    (tmp_path / "record_order.py").write_text(script)
    ini = next(text for lang, text in blocks if lang == "ini" and text.startswith("# pytest.ini"))
    (tmp_path / "pytest.ini").write_text(ini)  # the page's own: the walkthrough needs pythonpath (#9f)
    section = page[page.index("### Record a history locally") :]
    commands = [line[2:] for line in section.splitlines() if line.startswith("$ ")][:2]
    assert commands[0] == "python record_order.py" and commands[1].startswith("pytest --replay histories")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # the project's venv, activated
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
    assert "1 passed" in done.stdout
    quoted = section[section.index("$ pytest --replay histories") :].splitlines()[2]
    assert quoted.startswith("replaytest: 1 history replayed") and quoted in done.stdout, (quoted, done.stdout)
    history = (tmp_path / "histories" / "order-1.json").read_text()
    assert '"DurableExecutionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders:' in history


def test_install_commands_name_a_clone_or_a_wheel_with_the_extra_never_the_unpublished_name() -> None:
    """Item 8: replaytest is not on PyPI, so every documented install names a path, and every
    wheel named is the one `pip wheel` writes for this version. (docs/temporal.md's commands
    are run as written by tests/test_docs_install.py.)"""
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    installs, wheels = [], []
    for doc in sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]:
        for line in doc.read_text().splitlines():
            for command in re.findall(r"pip install (?:-e )?('[^']+'|\S+)", line):
                installs.append((doc.name, command.strip("'")))
            wheels += [(doc.name, v) for v in re.findall(r"replaytest-([^-]+)-py3-none-any\.whl", line)]
    assert installs and wheels
    for page, target in installs:
        if target.startswith(("-", "build", "aws-durable", "pytest-replay", "-r")):
            continue
        assert target.startswith(("/path/to/", ".")), (page, target)  # a clone, a wheel, or the project itself
    assert {v for _, v in wheels} == {version}, wheels


def test_the_sdk_range_each_page_quotes_is_the_extras_pin() -> None:
    """A page that says which SDK versions its extra installs quotes pyproject's requirement as
    is (the AWS page said `>=3.0,<4` for an extra pinned `>=3.0,<3.1`)."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for page, extra in (
        ("temporal.md", "temporal"),
        ("aws-lambda-durable.md", "aws"),
        ("durabletask.md", "durabletask"),
    ):
        [pin] = extras[extra]
        text = (DOCS / page).read_text()
        quoted = re.findall(r"[\w-]*(?:>=|<=|==|~=)[\d.]+(?:,\s*<[\d.]+)?", text)
        assert quoted and set(quoted) == {pin}, (page, pin, quoted)
