"""The ``replaytest`` command line's grammar: every command and its options, with the commands
and ``replay`` options the installed backends declare (``replaytest_options``). Declarative:
nothing here runs a command or imports a backend."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from replaytest_options import Command, shared_options
from replaytest_options import declared as backend_options

from ..modes import ArgsMode, SandboxMode


class UsageError(Exception):
    """A mistake on the command line: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse prints usage + error; we print one line
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, metavar="PATH", help="engine database (default: .replaytest/engine.db)")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("replaytest")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown (not installed)"


_REUSE_POLICIES = ["reject-duplicate", "allow-duplicate", "allow-duplicate-failed-only"]


def _id_reuse_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--id-reuse-policy",
        choices=_REUSE_POLICIES,
        default="reject-duplicate",
        metavar="POLICY",
        help="when --id names a finished workflow: reject-duplicate (default), allow-duplicate (a new run), "
        "allow-duplicate-failed-only",
    )


def _backend_commands(argv: Sequence[str] | None) -> list[tuple[str, Command, list[Command]]]:
    """(name, the command that runs, its switched variants) per backend command name: a
    variant (``pull --durabletask``) runs when its switch follows the command's name in ``argv``."""
    words = list(argv or [])
    by_name: dict[str, list[Command]] = {}
    for declared in backend_options():
        for command in declared.commands:
            by_name.setdefault(command.name, []).append(command)
    out = []
    for name, found in by_name.items():
        variants = [c for c in found if c.switch]
        plain = [c for c in found if not c.switch]
        after = words[words.index(name) + 1 :] if name in words else []
        chosen = next((c for c in variants if c.switch in after), plain[0] if plain else found[0])
        out.append((name, chosen, variants))
    return out


def _backend_replay_options(p: argparse.ArgumentParser) -> None:
    """The replay options the installed backends add (e.g. --handler: AWS, Durable Task)."""
    for option, backends in shared_options():
        helps = [
            o.cli_help for b in backend_options() if b.backend in backends for o in b.options if o.cli == option.cli
        ]
        p.add_argument(
            option.cli,
            action="append",
            default=[],
            dest=f"option.{option.dest}",
            metavar=option.metavar,
            help="; ".join(helps),
        )


def given_backend_options(args: argparse.Namespace) -> dict[str, dict[str, list[str]]]:
    given: dict[str, dict[str, list[str]]] = {}
    for declared in backend_options():
        for option in declared.options:
            given.setdefault(declared.backend, {})[option.dest] = getattr(args, f"option.{option.dest}")
    return given


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="replaytest", description="Deterministic replay testing for Python durable workflows.")
    parser.add_argument("--version", action="version", version=f"replaytest {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("run", help="start a workflow and work until it finishes (virtual clock); print its result")
    p.add_argument("workflow", metavar="MODULE:WORKFLOW")
    p.add_argument(
        "--input", action="append", default=[], metavar="JSON", help="one workflow argument; repeat for more"
    )
    p.add_argument("--id", help="workflow id (default: TYPE-<random>)")
    p.add_argument("--real-time", action="store_true", help="wait out timers and retries on the real clock")
    p.add_argument("-v", "--verbose", action="store_true", help="log every retry and workflow close")
    _id_reuse_option(p)
    _db_option(p)

    p = sub.add_parser("start", help="start a workflow for a worker to run")
    p.add_argument("workflow", metavar="MODULE:WORKFLOW")
    p.add_argument(
        "--input", action="append", default=[], metavar="JSON", help="one workflow argument; repeat for more"
    )
    p.add_argument("--id", required=True, help="workflow id")
    _id_reuse_option(p)
    _db_option(p)

    p = sub.add_parser("worker", help="run workflows and activities from the given modules")
    p.add_argument(
        "--module", action="append", required=True, metavar="M", help="module with workflows/activities; repeatable"
    )
    p.add_argument("--until-idle", action="store_true", help="exit when nothing is runnable or due")
    p.add_argument("--virtual-clock", action="store_true", help="skip ahead to the next timer/retry when idle")
    p.add_argument(
        "--lease-seconds",
        type=float,
        default=30.0,
        metavar="S",
        help="how long a claimed task stays ours without renewal (default 30)",
    )
    p.add_argument(
        "--deadlock-timeout",
        type=float,
        default=2.0,
        metavar="S",
        help="fail a workflow task whose code runs S seconds without yielding, as a potential deadlock (default 2)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="log only warnings")
    _db_option(p)

    p = sub.add_parser("signal", help="send a signal to a running workflow")
    p.add_argument("id")
    p.add_argument("name")
    p.add_argument("--payload", default="null", metavar="JSON")
    _db_option(p)

    p = sub.add_parser("list", help="list workflows (newest run of each id)")
    p.add_argument(
        "--status",
        choices=["running", "completed", "failed"],
        help="failed includes running workflows whose workflow task keeps failing",
    )
    _db_option(p)

    p = sub.add_parser("show", help="print a workflow's history as a timeline")
    p.add_argument("id")
    p.add_argument(
        "--run", metavar="RUN_ID", help="an older run of this id (a unique prefix will do; default: the newest)"
    )
    _db_option(p)

    p = sub.add_parser("export", help="write histories as JSON files (DIR/<workflow-id>.json, or one FILE.json)")
    p.add_argument("id", nargs="?")
    p.add_argument("--all", action="store_true", help="every workflow (see --status)")
    p.add_argument(
        "--status",
        choices=["running", "completed", "failed"],
        help="failed includes running workflows whose workflow task keeps failing",
    )
    p.add_argument("--run", metavar="RUN_ID", help="with an ID: an older run of it (a unique prefix will do)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR|FILE.json",
        help="a directory, or (with an ID) a file name ending in .json",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace existing files (default: keep them; with an ID that is an error, with --all/--status the "
        "others are written and the kept ones named)",
    )
    _db_option(p)

    sub.add_parser("schema", help="print the JSON Schema of the history format")

    p = sub.add_parser("replay", help="replay history files against the current workflow code")
    p.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    p.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="M",
        help="module with the workflows (default: the module each history names); MODULE:NAME picks one "
        "workflow class or function",
    )
    _backend_replay_options(p)
    p.add_argument(
        "--args",
        choices=[m.value for m in ArgsMode],
        default=None,
        help="what a changed activity argument is (default: error for replaytest histories, "
        "warn for Temporal, AWS and Durable Task histories)",
    )
    p.add_argument(
        "--sandbox",
        choices=[m.value for m in SandboxMode],
        default="strict",
        help="I/O in workflow code: fail (strict, default), warn, or off; under off, time and randomness "
        "stay recorded for replaytest's histories only (Temporal, AWS and Durable Task histories see the real ones)",
    )
    p.add_argument(
        "--timeout",
        default=None,
        metavar="SECONDS",
        help="fail a history whose replay has not finished after SECONDS and go on with the next "
        "(default 300; 0: no limit; none while a debugger is attached)",
    )
    p.add_argument(
        "--debug",
        nargs="?",
        const="",
        default=None,
        metavar="HOST:PORT",
        help="wait for VS Code on a debugpy server (default 127.0.0.1:5678) before replaying",
    )
    p.add_argument(
        "--break-at",
        action="append",
        default=[],
        metavar="N",
        help="pause in workflow code right after history event N is applied (repeatable; implies --debug)",
    )
    p.add_argument(
        "--break-on",
        action="append",
        default=[],
        choices=["divergence"],
        help="divergence: stop on the workflow line that issued a divergent command (implies --debug)",
    )
    p.add_argument(
        "--debug-allow-remote",
        action="store_true",
        help="allow --debug on a non-loopback address (a debug server runs any code its client sends)",
    )
    p.add_argument(
        "--debug-timeout",
        default=None,
        metavar="SECONDS",
        help="give up when no debugger attaches within SECONDS (default: wait forever)",
    )

    p = sub.add_parser(
        "view", help="write one self-contained HTML page with a timeline per history (replayed with --module)"
    )
    p.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    p.add_argument(
        "-o", "--output", default=None, metavar="OUT.html", help="the page to write (default: replaytest-view.html)"
    )
    p.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="M",
        help="replay each history with the workflows in M and mark its verdict on the page (repeatable; "
        "M:NAME picks one workflow, as for `replaytest replay`); without it (or a backend's option such as --handler) the page shows the histories only",
    )
    _backend_replay_options(p)
    p.add_argument("--args", choices=[m.value for m in ArgsMode], default=None, help="as for `replaytest replay`")
    p.add_argument(
        "--sandbox", choices=[m.value for m in SandboxMode], default="strict", help="as for `replaytest replay`"
    )
    p.add_argument("--timeout", default=None, metavar="SECONDS", help="as for `replaytest replay` (default 300)")

    for name, chosen, variants in _backend_commands(argv):  # e.g. pull (Temporal; --durabletask)
        others = [f"with {v.switch}: {v.help}" for v in variants if v is not chosen]  # the command list names all
        p = sub.add_parser(name, help="; ".join([chosen.help, *others]))
        chosen.arguments(p)
        for variant in variants:
            if variant is chosen:
                p.add_argument(variant.switch or "", action="store_true", help=variant.help)
            elif variant.switch:
                p.add_argument(
                    variant.switch,
                    action="store_true",
                    help=f"{variant.help} (its options: replaytest {name} {variant.switch} --help)",
                )
        p.set_defaults(backend_command=chosen)

    p = sub.add_parser("vscode", help='add an "Attach to replaytest" configuration to .vscode/launch.json')
    p.add_argument("--print", action="store_true", dest="print_only", help="print the configuration; write nothing")
    p.add_argument("--path", default=".vscode/launch.json", help="the launch.json to merge into")
    p.add_argument("--port", type=int, default=5678, help="the port --debug / --replay-debug listens on")
    return parser
