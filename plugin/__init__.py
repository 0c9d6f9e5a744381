"""pytest plugin for replaytest: ``pytest --replay histories/``, the ``replay`` marker and the
``replayed`` / ``engine`` fixtures.

Loaded by every pytest session in an environment where replaytest is installed, so this
module only declares options, hooks and fixtures. Everything that costs something (the
replayer, asyncio, jsonschema, freezegun, sqlite3, debugpy) lives in
``replaytest.pytest_support`` and is imported the first time a session actually collects a
history or uses a fixture.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from replaytest_options import declared as backend_options
from replaytest_options import history_suffixes, shared_options

if TYPE_CHECKING:
    from _pytest.config.argparsing import OptionGroup, Parser

__all__ = ["ReplayWarning", "add_debugger_options"]

#: replaytest.modes.ArgsMode and SandboxMode, for --help (this module cannot import the library
#: at startup; tests/test_plugin.py checks the copies)
ARGS_MODES = ("error", "warn", "ignore")
SANDBOX_MODES = ("strict", "warn", "off")

#: Absolute history paths (files or directories) this session treats as histories.
PATHS_KEY = pytest.StashKey[tuple[Path, ...]]()
#: --replay paths (as typed) and ini replay_paths in use under which there is no history file at all.
EMPTY_KEY = pytest.StashKey[list[str]]()
#: The message a ``replayed`` fixture failed with, raised when the test body would run.
MARKED_FAILURE_KEY = pytest.StashKey[str]()


def __getattr__(name: str) -> Any:
    # ReplayWarning lives in the library (which must never import this plugin); importing it
    # only when asked keeps an unrelated session free of the library.
    if name == "ReplayWarning":
        from replaytest.report.result import ReplayWarning

        return ReplayWarning
    raise AttributeError(name)


#: the parser of the session being configured, and who took ``--replay`` from us (see below)
_parser: Parser | None = None
_replay_owner: str | None = None


def _owner_of(parser: Parser, name: str, besides: object = None) -> str | None:
    """The option group (another plugin's) that already declares ``name``, else None."""
    for group in [*parser._groups, parser._anonymous]:
        for option in group.options:
            if option is not besides and name in option.names():
                return group.name
    return None


def pytest_addoption(parser: Parser) -> None:
    global _parser, _replay_owner
    _parser, _replay_owner = parser, _owner_of(parser, "--replay")
    group = parser.getgroup("replaytest", "replaytest: replay durable workflow histories")
    # --replay-histories always works; --replay too unless another plugin (pytest-replay) has it
    spellings = ("--replay-histories",) if _replay_owner else ("--replay", "--replay-histories")
    group.addoption(
        *spellings,
        action="append",
        default=[],
        metavar="PATH",
        dest="replay_paths",
        help=f"replay every history file ({', '.join('*' + s for s in history_suffixes())}) under PATH (a file "
        "or a directory, searched recursively) as one test item PATH::<workflow-id>. Repeatable; further history files "
        "named after it (a shell glob) replay too. Without other path arguments only these "
        "histories are collected. --replay-histories is the same option (the one to use when "
        "another plugin, such as pytest-replay, owns --replay).",
    )
    group.addoption(
        "--replay-module",
        action="append",
        default=[],
        metavar="MODULE",
        dest="replay_modules",
        help="import MODULE and replay histories with the workflows it defines (repeatable; "
        "added to the replay_modules ini list). MODULE:NAME picks one workflow class or function "
        "(for several definitions of one workflow type). The module a history records is also "
        "tried when it is importable.",
    )
    group.addoption(
        "--replay-args",
        choices=ARGS_MODES,
        default=None,
        dest="replay_args",
        help="activity arguments (and timer and wait durations; replaytest's own histories compare those "
        "strictly) that differ from history: error (a nondeterminism failure; the default for replaytest histories), warn (a "
        "ReplayWarning; the default for Temporal, AWS and Durable Task histories) or ignore.",
    )
    group.addoption(
        "--replay-sandbox",
        choices=SANDBOX_MODES,
        default=None,
        dest="replay_sandbox",
        help="I/O in workflow code during replay: strict (fails the item, default), warn "
        "(a ReplayWarning) or off (not checked). Under off, time and randomness stay recorded "
        "for replaytest's histories only: Temporal, AWS and Durable Task histories then see the real ones.",
    )
    group.addoption(
        "--replay-save-failures",
        default=None,
        metavar="DIR",
        dest="replay_save_failures",
        help="when a test that ran a workflow under a fault plan (replaytest.faults.run_under_plan, "
        "e.g. a hypothesis example) fails, write the history of its last run to "
        "DIR/<workflow-id>-<hash>.json: a --replay regression test as is.",
    )
    group.addoption(
        "--replay-timeout",
        default=None,
        metavar="SECONDS",
        dest="replay_timeout",
        help="fail a history whose replay has not finished after SECONDS; the session goes on "
        "(default 300, or the replay_timeout ini value; 0: no limit; none under --replay-debug).",
    )
    group.addoption(
        "--replay-html",
        default=None,
        metavar="PATH",
        dest="replay_html",
        help="write one self-contained HTML page of the session's histories to PATH: a timeline per "
        "history, failures first with the divergence marked, filterable by verdict, workflow type and text.",
    )
    optparser = getattr(parser, "optparser", None)  # pytest >= 9 builds argparse as options are added
    if optparser is not None and not _replay_owner:
        _give_way_on_conflict(optparser, optparser._option_string_actions["--replay"])
    add_debugger_options(group)
    for option, backends in shared_options():  # e.g. --replay-handler (AWS, Durable Task): declared by backends
        helps = [o for b in backend_options() if b.backend in backends for o in b.options if o.pytest == option.pytest]
        group.addoption(
            option.pytest,
            action="append",
            default=[],
            metavar=option.metavar,
            dest=option.ini,
            help=" ".join(h.help for h in helps),
        )
        parser.addini(option.ini, type=option.ini_type, default=[], help=" ".join(h.ini_help for h in helps))
    parser.addini(
        "replay_timeout",
        default="",
        help="default of --replay-timeout: seconds a replay may take before its item fails (0: no limit).",
    )
    parser.addini(
        "replay_paths",
        type="paths",
        default=[],
        help="histories (files or directories, relative to the ini file) replayed by a plain "
        "`pytest` run that names no paths; --replay replaces them.",
    )
    parser.addini(
        "replay_modules",
        type="args",
        default=[],
        help="modules whose workflows replay histories (like --replay-module).",
    )
    parser.addini(
        "replay_args",
        default="",
        help="default of --replay-args: error, warn or ignore (unset: each history format's own default).",
    )
    parser.addini("replay_sandbox", default="strict", help="default of --replay-sandbox: strict, warn or off.")


def add_debugger_options(group: OptionGroup) -> None:
    """The debugger's options. The server starts in pytest_sessionstart
    (``replaytest.pytest_support.start_debugger``); every replay then gets an observer."""
    group.addoption(
        "--replay-debug",
        nargs="?",
        const="",
        default=None,
        metavar="HOST:PORT",
        dest="replay_debug",
        help="start a debugpy server (default 127.0.0.1:5678; write --replay-debug=HOST:PORT to "
        "change it), print how to attach, and wait for VS Code before replaying. "
        "`replaytest vscode` writes the launch configuration.",
    )
    group.addoption(
        "--replay-break-at",
        action="append",
        type=int,
        default=[],
        metavar="N",
        dest="replay_break_at",
        help="pause in workflow code right after history event N is applied (repeatable; implies --replay-debug).",
    )
    group.addoption(
        "--replay-break-on",
        action="append",
        choices=["divergence"],
        default=[],
        dest="replay_break_on",
        help="divergence: stop the debugger on the workflow line that issued a divergent "
        "command (implies --replay-debug).",
    )
    group.addoption(
        "--replay-debug-allow-remote",
        action="store_true",
        dest="replay_debug_allow_remote",
        help="allow --replay-debug to bind a non-loopback address. A debug server runs any "
        "code its client sends: only on networks you trust.",
    )
    group.addoption(
        "--replay-debug-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        dest="replay_debug_timeout",
        help="give up when no debugger attaches within SECONDS (default: wait forever).",
    )


def _debugging(config: pytest.Config) -> bool:
    return (
        config.getoption("replay_debug", None) is not None
        or bool(config.getoption("replay_break_at", None))
        or bool(config.getoption("replay_break_on", None))
    )


def _give_way_on_conflict(optparser: Any, ours: Any) -> None:
    """pytest >= 9: argparse refuses a second ``--replay`` the moment a plugin loaded after this
    one declares it. Every option group of this session's parser (existing and later ones)
    gives ``--replay`` to the newcomer instead; any other conflict stays an error."""

    def guard(container: Any) -> Any:
        refuse = container._handle_conflict_error

        def handle(action: Any, conflicts: list[tuple[str, Any]]) -> None:
            global _replay_owner
            rest = [(name, old) for name, old in conflicts if not (name == "--replay" and old is ours)]
            if len(rest) < len(conflicts):
                ours.option_strings.remove("--replay")
                container._option_string_actions.pop("--replay", None)
                _replay_owner = str(getattr(container, "title", None) or "another plugin")
            if rest:
                refuse(action, rest)

        container._handle_conflict_error = handle
        return container

    add_group = optparser.add_argument_group
    optparser.add_argument_group = lambda *args, **kwargs: guard(add_group(*args, **kwargs))
    for container in [optparser, *optparser._action_groups]:
        guard(container)


def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
    """pytest < 9 builds argparse only when it parses: a plugin registered after this one that
    declares ``--replay`` too (pytest-replay) would make argparse refuse every session in the
    environment. Give ``--replay`` up to it and keep ``--replay-histories``. (No ``plugin_name``
    argument: pytest 7's hookspec has none, and pluggy refuses the plugin, every session dies.)"""
    global _replay_owner
    if _parser is None or _replay_owner is not None or hasattr(_parser, "optparser"):
        return
    ours = next((o for o in _parser.getgroup("replaytest").options if "--replay" in o.names()), None)
    if ours is None:
        return
    owner = _owner_of(_parser, "--replay", besides=ours)
    long_opts = getattr(ours, "_long_opts", None)  # pytest < 9's Argument
    if owner is not None and long_opts is not None:
        long_opts.remove("--replay")
        _replay_owner = owner


def pytest_report_header(config: pytest.Config) -> str | None:
    if _replay_owner is None or _parser is not config._parser:
        return None
    return (
        f"replaytest: --replay belongs to another plugin (option group {_replay_owner!r}, e.g. pytest-replay); "
        "replay histories with --replay-histories"
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not _debugging(config) or hasattr(config, "workerinput"):
        return
    if (config.getoption("numprocesses", None) or 0) not in (0, "0"):
        raise pytest.UsageError("--replay-debug needs the replays in one process: add -n 0 (or -p no:xdist)")
    from replaytest.pytest_support import start_debugger

    start_debugger(config)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "replay(path, **options): replay the history at path (relative to rootdir) before the test and "
        "pass the ReplayResult as the `replayed` fixture; options: args_mismatch, sandbox, workflows. "
        "Items collected from --replay histories carry this marker too.",
    )
    for name, allowed in (("replay_args", ARGS_MODES), ("replay_sandbox", SANDBOX_MODES)):
        value = config.getoption(name) or config.getini(name)
        if value and value not in allowed:
            raise pytest.UsageError(f"{name} = {value!r}: must be one of {', '.join(allowed)}")
    if config.getoption("replay_timeout", None) is not None or config.getini("replay_timeout"):
        from replaytest.pytest_support.settings import timeout_of  # said now, not at the first replay

        timeout_of(config)
    cli = [_absolute(config.invocation_params.dir / p) for p in config.getoption("replay_paths")]
    if cli:  # `--replay histories/q-*.json`: the shell's other matches arrive as plain arguments
        cli += _history_arguments(config, cli)
    ini = [_absolute(p) for p in config.getini("replay_paths")]
    for path in cli:
        if not path.exists():
            raise pytest.UsageError(f"--replay {path}: no such file or directory")
    _warn_if_the_project_ini_was_skipped(config, cli)
    # pytest hands pytest_collect_file un-resolved absolute paths; match symlinked spellings too
    roots = cli + ini + [p.resolve() for p in cli + ini]
    config.stash[PATHS_KEY] = tuple(dict.fromkeys(roots))
    config.stash[EMPTY_KEY] = [
        typed for typed, path in zip(config.getoption("replay_paths"), cli) if not _has_history(path)
    ]
    if not cli and config.args_source != pytest.Config.ArgsSource.ARGS:  # the ini's paths are this run's
        config.stash[EMPTY_KEY] += _empty_ini_paths(config, ini)
    _add_collection_args(config, cli, [p for p in ini if p.exists()])
    if config.getoption("replay_html", None) and not hasattr(config, "workerinput"):
        config.pluginmanager.register(HtmlReport(config.getoption("replay_html"), config), "replaytest-html")


class HtmlReport:
    """--replay-html: each replay's verdict is collected where the reports arrive (so from every
    xdist worker), and the page is written once the session ends."""

    def __init__(self, target: str, config: pytest.Config) -> None:
        self.target, self.config = target, config
        self.records: list[Any] = []  # the replay_view user_properties: dicts
        self.note = ""

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            for prop in report.user_properties:
                if isinstance(prop, (tuple, list)) and len(prop) == 2 and prop[0] == "replay_view":
                    self.records.append(prop[1])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        from replaytest.view.sections import write_session_page

        self.note = write_session_page(self.records, Path(self.config.invocation_params.dir) / self.target, self.target)

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.note:
            terminalreporter.write_line(self.note)


def _history_arguments(config: pytest.Config, cli: list[Path]) -> list[Path]:
    """Path arguments that are existing history files (``*.json``, ``*.jsonl.gz``), given beside
    ``--replay``: histories too."""
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return []
    found = []
    for arg in config.args:
        path = _absolute(config.invocation_params.dir / arg)
        if "::" not in arg and path.name.endswith(history_suffixes()) and path.is_file() and path not in cli:
            found.append(path)
    return found


def _empty_ini_paths(config: pytest.Config, ini: list[Path]) -> list[str]:
    """The ini's replay_paths for a run that replays them: one that does not exist is a usage
    error (like ``--replay PATH``; a typo must not leave the run green with nothing replayed);
    those without a history file, as the end-of-run line shows them. A run that names its own
    paths never reads them, so it is not stopped by them."""
    base = config.inipath.parent if config.inipath else Path(config.invocation_params.dir)
    inipath = config.inipath
    source = f"replay_paths in {_shown(inipath, Path(config.invocation_params.dir))}" if inipath else "-o replay_paths"
    empty = []
    for path in ini:
        typed = _shown(path, base)
        if not path.exists():
            raise pytest.UsageError(
                f"{source} names {typed}: no such file or directory (relative to {base}); correct the entry or remove it"
            )
        if not _has_history(path):
            empty.append(f"{typed} ({source})")
    return empty


def _shown(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when it lies under it, else as it is."""
    return os.path.relpath(path, base) if path.is_relative_to(base) else str(path)


def _has_history(path: Path) -> bool:
    """A history file at or under ``path`` (stops at the first one found)."""
    suffixes = history_suffixes()
    if path.is_file():
        return path.name.endswith(suffixes)
    return any(next(path.rglob(f"*{suffix}"), None) is not None for suffix in suffixes)


#: where pytest looks for its configuration, and the section a shared file must have
_INI_FILES = (
    ("pytest.toml", ""),
    (".pytest.toml", ""),
    ("pytest.ini", ""),
    (".pytest.ini", ""),
    ("pyproject.toml", "[tool.pytest"),
    ("tox.ini", "[pytest]"),
    ("setup.cfg", "[tool:pytest]"),
)


def _project_ini(start: Path) -> Path | None:
    """The ini file pytest would read for a run in ``start`` that names no paths."""
    for directory in (start, *start.parents):
        for name, section in _INI_FILES:
            candidate = directory / name
            try:
                if candidate.is_file() and (not section or section in candidate.read_text(encoding="utf-8")):
                    return candidate
            except (OSError, UnicodeDecodeError):
                continue
    return None


def _warn_if_the_project_ini_was_skipped(config: pytest.Config, cli: list[Path]) -> None:
    """``pytest --replay ../histories``: pytest reads its ini before this plugin is loaded, so it
    takes ``../histories`` for a test path, moves rootdir to the common ancestor and skips the
    project's ini (replay_modules and all). ``--replay=../histories`` does not; say so."""
    if not cli or config.getoption("inifilename", None) or config.getoption("rootdir", None):
        return  # the user chose the configuration
    expected = _project_ini(Path(config.invocation_params.dir))
    if expected is None or config.inipath == expected:
        return
    outside = [p for p in cli if not p.is_relative_to(expected.parent)]
    if not outside:
        return
    raw = next(
        (v for v in config.getoption("replay_paths") if _absolute(config.invocation_params.dir / v) == outside[0]),
        str(outside[0]),
    )
    config.issue_config_time_warning(
        pytest.PytestConfigWarning(
            f"--replay {raw} lies outside the project, and pytest took it for a test path before replaytest was "
            f"loaded: rootdir moved to {config.rootpath} and {expected} was not read (replay_modules and the other "
            f"settings in it are ignored). Write --replay={raw} (with '='), or pass -c {expected}."
        ),
        stacklevel=2,
    )


def _absolute(path: Path | str) -> Path:
    """Absolute and normalized like pytest's own paths, symlinks kept."""
    return Path(os.path.abspath(path))


def _add_collection_args(config: pytest.Config, cli: list[Path], ini: list[Path]) -> None:
    """Make pytest walk the history paths. ``--replay`` paths are walked on top of explicit
    path arguments, or instead of testpaths/cwd when there are none (``pytest --replay h/``
    replays, it does not run the whole suite). ini paths join only a run that names no paths,
    so ``pytest tests/test_x.py`` stays just that."""
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    if cli:
        args = list(config.args) if explicit else []
        new = cli
        config.args_source = pytest.Config.ArgsSource.ARGS  # the header no longer says "testpaths: …"
    elif ini and not explicit:
        args, new = list(config.args), ini
    else:
        return
    covered = [_absolute(config.invocation_params.dir / a.split("::")[0]) for a in args]
    for path in new:
        if not any(path == c or c in path.parents for c in covered):
            args.append(str(path))
            covered.append(path)
    config.args[:] = args


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not file_path.name.endswith(history_suffixes()):
        return None
    roots = parent.config.stash.get(PATHS_KEY, ())
    if not any(file_path == root or root in file_path.parents for root in roots):
        return None
    from replaytest.pytest_support import HistoryFile

    return HistoryFile.from_parent(parent, path=file_path)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> None:
    # A `replayed` fixture whose replay failed: fail the test (not its setup) with the report.
    failure = pyfuncitem.stash.get(MARKED_FAILURE_KEY, None)
    if failure is not None:
        pytest.fail(failure, pytrace=False)


def pytest_runtest_setup(item: pytest.Item) -> None:
    faults = sys.modules.get("replaytest.testing.faults")  # only if some test ran a fault plan: no import here
    if faults is not None:
        faults.clear_last_run()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    # --replay-save-failures: a failing test's last run under a fault plan becomes a history file.
    outcome = yield
    report = outcome.get_result()
    directory = item.config.getoption("replay_save_failures", None)
    faults = sys.modules.get("replaytest.testing.faults")
    if directory and faults is not None and report.when == "call" and report.failed:
        run = faults.last_run()
        if run is not None:
            path = run.save(Path(item.config.invocation_params.dir) / directory)
            command = shlex.join(["pytest", "--replay", str(path)])  # pastes unchanged, whatever the path
            report.sections.append(
                (
                    "replaytest",
                    f"history of the failing run under {run.plan.to_json()} "
                    f"saved to {path}; replay it with `{command}`",
                )
            )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for typed in terminalreporter.config.stash.get(EMPTY_KEY, []):  # else pytest only says "no tests ran"
        patterns = ", ".join(f"*{suffix}" for suffix in history_suffixes())
        terminalreporter.write_line(f"replaytest: no history files ({patterns}) found under {typed}")
    if "replaytest.pytest_support" in sys.modules:  # something was replayed: its notes (e.g. --replay-break-at)
        for line in sys.modules["replaytest.pytest_support"].end_notes(terminalreporter.config):
            terminalreporter.write_line(line)
    stats = terminalreporter.stats
    if not any(
        p[0] == "replay_outcome"
        for reports in stats.values()
        for r in reports
        if getattr(r, "when", None) == "call"
        for p in getattr(r, "user_properties", ())
    ):
        return
    from replaytest.pytest_support import summary_line

    terminalreporter.write_sep("-", "replaytest")
    terminalreporter.write_line(summary_line(stats))


@pytest.fixture
def replayed(request: pytest.FixtureRequest) -> Any:
    """The ReplayResult of the history named by the test's ``@pytest.mark.replay(path)``."""
    from replaytest.pytest_support import replay_marked

    result, failure = replay_marked(request)
    if failure is not None:
        request.node.stash[MARKED_FAILURE_KEY] = failure
    return result


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    """A fresh embedded engine on a temporary SQLite file with a virtual clock."""
    from replaytest.pytest_support import make_engine

    yield from make_engine(tmp_path)


@pytest.fixture
def check_recovery(tmp_path: Path) -> Any:
    """``replaytest.check_recovery`` saving the histories of broken crash points under tmp_path."""
    import functools

    from replaytest.testing.recovery import check_recovery as check

    return functools.partial(check, save_dir=tmp_path / "recovery-failures")
