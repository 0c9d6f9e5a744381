"""What every replay of one pytest session uses, built once per process (each xdist worker):
the user's modules, the options, the debugger, and each backend's session held until exit."""

from __future__ import annotations

import importlib
import linecache
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from ..backends import ReplaySettings, Sessions
from ..report.result import ReplayWarning

SETTINGS_KEY = pytest.StashKey[ReplaySettings]()
SESSIONS_KEY = pytest.StashKey[Sessions]()
DEBUG_OPTIONS_KEY = pytest.StashKey[Any]()


def settings(config: pytest.Config) -> ReplaySettings:
    if SETTINGS_KEY not in config.stash:
        # Reports quote workflow source lines through linecache by their cwd-relative path;
        # drop lines an earlier session in this process (pytester, an IDE) cached for it.
        linecache.clearcache()
        names = list(dict.fromkeys([*config.getini("replay_modules"), *config.getoption("replay_modules")]))
        s = ReplaySettings(module_names=names,
                           args_mismatch=config.getoption("replay_args") or config.getini("replay_args") or None,
                           sandbox=config.getoption("replay_sandbox") or config.getini("replay_sandbox"),
                           project_dir=Path(config.rootpath))
        for name in names:
            try:
                s.modules.append(importlib.import_module(name))
            except Exception as e:  # a broken module fails the items that need it, not the session
                s.import_errors[name] = f"{type(e).__name__}: {e}"
        for name, err in s.import_errors.items():
            warnings.warn(ReplayWarning(f"could not import replay module {name}: {err}"))
        options = config.stash.get(DEBUG_OPTIONS_KEY, None)
        if options is not None:
            from ..debug import make_observer

            s.observer_factory = lambda: make_observer(options, announce=_announce)
        config.stash[SETTINGS_KEY] = s
    return config.stash[SETTINGS_KEY]


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
        options = DebugOptions.from_cli(config.getoption("replay_debug"), break_at=config.getoption("replay_break_at"),
                                        break_on=config.getoption("replay_break_on"),
                                        allow_remote=config.getoption("replay_debug_allow_remote"),
                                        timeout=config.getoption("replay_debug_timeout"))
        start(options, announce=_announce)
    except DebugError as e:  # DebugTimeout too: a usage problem, said in one line
        raise pytest.UsageError(str(e)) from None
    config.stash[DEBUG_OPTIONS_KEY] = options
