"""What every replay of one pytest session uses, built once per process (each xdist worker):
the user's modules, the options, the debugger, and each backend's session held until exit."""

from __future__ import annotations

import importlib
import linecache
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from replaytest_options import declared as backend_options

from ..backends import DEFAULT_REPLAY_TIMEOUT, ReplaySettings, Sessions, parse_timeout
from ..modes import ArgsMode, SandboxMode
from ..modules import import_problem, import_spec

if TYPE_CHECKING:
    from ..debug import DebugOptions, ReplayDebugging

SETTINGS_KEY = pytest.StashKey[ReplaySettings]()
SESSIONS_KEY = pytest.StashKey[Sessions]()
DEBUG_OPTIONS_KEY: pytest.StashKey[DebugOptions] = pytest.StashKey()
DEBUGGING_KEY: pytest.StashKey[ReplayDebugging] = pytest.StashKey()  # set when a debugger is attached
NOTES_KEY = pytest.StashKey[list[str]]()  # lines for the end of the session


def settings(config: pytest.Config) -> ReplaySettings:
    if SETTINGS_KEY not in config.stash:
        # Reports quote workflow source lines through linecache by their cwd-relative path;
        # drop lines an earlier session in this process (pytester, an IDE) cached for it.
        linecache.clearcache()
        names = list(dict.fromkeys([*config.getini("replay_modules"), *config.getoption("replay_modules")]))
        args = config.getoption("replay_args") or config.getini("replay_args")  # checked in pytest_configure
        s = ReplaySettings(
            module_names=names,
            args_mismatch=ArgsMode(args) if args else None,
            sandbox=SandboxMode(config.getoption("replay_sandbox") or config.getini("replay_sandbox")),
            project_dir=Path(config.rootpath),
            module_flag="--replay-module",
            backend_options={
                declared.backend: {
                    option.dest: list(dict.fromkeys([*config.getini(option.ini), *config.getoption(option.ini)]))
                    for option in declared.options
                }
                for declared in backend_options()
            },
            timeout=timeout_of(config),
        )
        for name in names:
            try:
                s.modules.append(import_spec(name) if ":" in name else importlib.import_module(name))
            except Exception as e:  # fails every item (see module_errors), not the session
                s.import_errors[name] = import_problem(name, e, Path(config.rootpath))
        options = config.stash.get(DEBUG_OPTIONS_KEY, None)
        if options is not None:
            from ..debug import ReplayDebugging

            debugging = config.stash[DEBUGGING_KEY] = ReplayDebugging(options, _announce)
            s.observer_factory = debugging.observer
        config.stash[SETTINGS_KEY] = s
    return config.stash[SETTINGS_KEY]


def timeout_of(config: pytest.Config) -> float | None:
    """--replay-timeout, else the replay_timeout ini value, else the default (a UsageError in one
    line for a value that is not a number of seconds)."""
    given = config.getoption("replay_timeout", None)
    flag = "--replay-timeout"
    if given is None:
        given, flag = config.getini("replay_timeout") or DEFAULT_REPLAY_TIMEOUT, "replay_timeout (ini)"
    try:
        return parse_timeout(given, flag)
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None


def module_errors(config: pytest.Config) -> str:
    """The modules the user named that do not import, as one failure for every item: replaying
    with other code instead (the module a history recorded) would hide a typo."""
    s = settings(config)
    typed = set(config.getoption("replay_modules"))
    lines = [
        f"{'--replay-module' if name in typed else 'replay_modules (ini)'} {name}: cannot import it: {err}"
        for name, err in s.import_errors.items()
    ]
    if lines:
        lines.append("  fix the module name (or its import error); no history is replayed with other code instead")
    return "\n".join(lines)


def report_missed_breaks(config: pytest.Config, display: str, events: int) -> None:
    """--replay-break-at N that the last replay never stopped at: say so, as the CLI does,
    instead of finishing as if the debugger had nothing to show."""
    debugging = config.stash.get(DEBUGGING_KEY, None)
    if debugging is None:
        return
    within, beyond = debugging.missed(events)
    whys = [(n, f"no workflow code received event {n} in {display}") for n in within]
    whys += [(n, f"{display} has only {events} events") for n in beyond]
    for n, why in whys:
        # said at the end of the session: output during an item is captured (and hidden when it passes)
        config.stash.setdefault(NOTES_KEY, []).append(f"replaytest: --replay-break-at {n}: {why}, so it did not stop")


def end_notes(config: pytest.Config) -> list[str]:
    """Lines for the end of the session (see report_missed_breaks)."""
    return config.stash.get(NOTES_KEY, [])


def sessions(config: pytest.Config) -> Sessions:
    """Each backend's session (the native sandbox: one freezegun start, ~50 ms, instead of a
    start and stop per history), opened on first use and closed at unconfigure."""
    if SESSIONS_KEY not in config.stash:
        held = Sessions(settings(config))
        config.add_cleanup(held.close)
        config.stash[SESSIONS_KEY] = held
    return config.stash[SESSIONS_KEY]


def _announce(line: str) -> None:
    print(line, file=sys.__stderr__, flush=True)


def start_debugger(config: pytest.Config) -> None:
    """Start debugpy, say how to attach, wait for the IDE (see ``replaytest.debug``)."""
    from ..debug import DebugError, DebugOptions, start

    try:
        options = DebugOptions.from_cli(
            config.getoption("replay_debug"),
            break_at=config.getoption("replay_break_at"),
            break_on=config.getoption("replay_break_on"),
            allow_remote=config.getoption("replay_debug_allow_remote"),
            timeout=config.getoption("replay_debug_timeout"),
        )
        start(options, announce=_announce)
    except DebugError as e:  # DebugTimeout too: a usage problem, said in one line
        raise pytest.UsageError(str(e)) from None
    config.stash[DEBUG_OPTIONS_KEY] = options
