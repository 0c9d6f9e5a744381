"""The docs as a new user meets them: the quickstart pasted into a fresh project, every
documented `replaytest` command parsed as the shell and the CLI read it, the commands `make
demo` prints, and the reference tables kept whole and complete (issue 12, items 13–15)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent


# ---------------------------------------------------------------- 13. the quickstart, pasted
def doc_blocks(path: Path) -> list[tuple[str, str]]:
    """(language, text) of each fenced code block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", path.read_text(), flags=re.S | re.M)


def doc_commands(path: Path) -> list[str]:
    """Every `$ command` line of the page's code blocks, in order."""
    return [
        line[2:]
        for lang, text in doc_blocks(path)
        if lang in ("", "console", "bash", "shell")
        for line in text.splitlines()
        if line.startswith("$ ")
    ]


def test_the_quickstart_works_pasted_into_a_fresh_project(tmp_path: Path) -> None:
    page = DOCS / "quickstart.md"
    blocks = doc_blocks(page)
    code = next(text for lang, text in blocks if lang == "python" and text.startswith("# app/orders.py"))
    config = next(text for lang, text in blocks if lang == "toml")
    project = tmp_path / "fresh"
    (project / "app").mkdir(parents=True)
    (project / "app" / "orders.py").write_text(code)
    (project / "pyproject.toml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    ran = []
    for command in doc_commands(page):
        if "--replay-debug" in command:  # waits for an IDE: covered by tests/test_debug.py
            continue
        done = subprocess.run(
            ["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"$ {command}\n{done.stdout}\n{done.stderr}"
        ran.append(command.split()[:2])
    assert ["pytest", "--replay"] in ran and ["replaytest", "run"] in ran and ["replaytest", "export"] in ran
    assert list((project / "tests" / "histories").glob("*.json"))


# ---------------------------------------------------------------- 14. commands that paste unchanged
def test_demo_prints_shell_quoted_commands() -> None:
    script = (ROOT / "scripts" / "demo.sh").read_text()
    functions = "\n".join(line for line in script.splitlines() if re.match(r"(show|run)\(\)", line))
    argv = ["replaytest", "run", "m:wf", "--input", '{"id": "1001", "note": "it\'s $5"}', "--id", "a b"]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for call, shown in (("show", argv), ("run", ["true", *argv])):  # `run` prints, then runs
        done = subprocess.run(
            ["bash", "-c", f'{functions}\n{call} "$@"', "bash", *shown],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        line = done.stdout.strip()
        assert done.returncode == 0 and line.startswith("$ ") and shlex.split(line[2:]) == shown, line


def replaytest_commands() -> Iterator[tuple[str, str]]:
    """Every documented `$ replaytest ...` line except the mistakes shown on purpose (those
    whose next line is the one-line usage error)."""
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for _lang, text in doc_blocks(page):
            lines = text.splitlines() + [""]
            for line, after in zip(lines, lines[1:]):
                if line.startswith("$ replaytest ") and not after.startswith("replaytest: error:"):
                    yield page.name, line[2:]


@pytest.mark.parametrize("page, command", list(replaytest_commands()))
def test_documented_commands_parse_as_the_shell_and_replaytest_read_them(page: str, command: str) -> None:
    from replaytest.cli import build_parser

    argv = shlex.split(command, comments=True)
    for stop in ("|", ">", "2>", "&&", ";"):  # the shell's part of the line
        argv = argv[: argv.index(stop)] if stop in argv else argv
    if argv[1:] == ["--version"]:
        return  # argparse prints it and exits; test_cli covers the output
    args = build_parser(argv[1:]).parse_args(argv[1:])  # argv: a command's variant (pull --durabletask)
    values = [*(getattr(args, "input", None) or []), *([args.payload] if getattr(args, "payload", None) else [])]
    for value in values:
        json.loads(value)


# ---------------------------------------------------------------- 15. docs
def test_markdown_tables_are_not_split_by_blank_lines() -> None:
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        lines = page.read_text().splitlines()
        for i in range(1, len(lines) - 1):
            split = lines[i].strip() == "" and lines[i - 1].startswith("|") and lines[i + 1].startswith("|")
            assert not split, f"{page.name}:{i + 1}: a blank line splits a table"


def test_cli_md_synopsis_lists_every_command_and_replay_option() -> None:
    from replaytest.cli import build_parser

    synopsis = doc_blocks(DOCS / "cli.md")[0][1]
    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    assert isinstance(commands, dict)
    for name, _sub in commands.items():
        assert f"replaytest {name}" in synopsis, name
    replay_line = next(line for line in synopsis.splitlines() if line.startswith("replaytest replay"))
    for action in commands["replay"]._actions:
        long = [o for o in action.option_strings if o.startswith("--") and o != "--help"]
        for option in long:
            assert option in replay_line, option


def test_the_command_list_names_every_variant_of_a_backend_command() -> None:
    """`replaytest --help` lists `pull` once: its line says what `pull --durabletask` does too
    (it named only the Temporal pull, newuser2 #9b)."""
    from replaytest.cli import build_parser
    from replaytest_options import declared

    listing = " ".join(build_parser(["--help"]).format_help().split())
    variants = [c for b in declared() for c in b.commands if c.switch]
    assert variants
    for command in variants:
        assert f"with {command.switch}: {' '.join(command.help.split())}" in listing, command.name
    for command in (c for b in declared() for c in b.commands if not c.switch):
        assert " ".join(command.help.split()) in listing, command.name


def test_every_divergence_kind_is_in_the_kinds_table() -> None:
    from replaytest.report import KINDS

    page = (DOCS / "nondeterminism-reports.md").read_text()
    for kind, (title, _) in KINDS.items():
        assert f"| `{kind}` | {title} |" in page, kind
