"""What a backend adds to the command line: ``replaytest`` commands (``pull``), options of
``replaytest replay`` (``--handler``) and their pytest twins (``--replay-handler``, the
``replay_handlers`` ini key).

A backend declares them as data in a module that imports the standard library only, named by
an entry point in the group ``replaytest.options``: pytest loads the plugin in every session,
and the plugin reads these declarations without importing replaytest (or any SDK). A command's
code is named by ``"module:function"`` and imported only when the command runs.

This package is outside ``replaytest`` for that reason: importing ``replaytest.anything`` runs
``replaytest/__init__.py``, the whole public API.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import argparse

#: the entry-point group of these declarations (the backends themselves: ``replaytest.backends``)
GROUP = "replaytest.options"


class Option(NamedTuple):
    """A repeatable text option of one backend. Its values reach the backend as given, in
    ``ReplaySettings.backend_options[backend][dest]`` (the ini list first, then the command
    line, duplicates dropped); the backend parses them and reports a bad value per history."""

    dest: str  # the key the backend reads; the pytest option and ini key are replay_<dest>
    cli: str  # the `replaytest replay` flag, e.g. --handler
    pytest: str  # the pytest flag, e.g. --replay-handler
    metavar: str
    help: str  # for pytest --help
    cli_help: str  # for replaytest replay --help
    ini_help: str  # for the ini key in pytest --help

    @property
    def ini(self) -> str:
        return f"replay_{self.dest}"


class Command(NamedTuple):
    """A ``replaytest`` command a backend adds."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]  # adds the command's arguments
    run: str  # "module:function": function(args: argparse.Namespace) -> exit code
    install: str  # what to install when run's module is missing a dependency, e.g. pip install 'x[y]'


class BackendOptions(NamedTuple):
    """Everything one backend adds to the command line."""

    backend: str  # the backend's name (its entry point in replaytest.backends)
    options: tuple[Option, ...] = ()
    commands: tuple[Command, ...] = ()


@functools.cache
def declared() -> tuple[BackendOptions, ...]:
    """Every installed backend's declarations, ordered by backend name."""
    found = []
    for ep in entry_points(group=GROUP):
        try:
            value = ep.load()
        except Exception as e:
            raise RuntimeError(
                f"replaytest: the {GROUP} entry point {ep.name} = {ep.value} cannot be loaded "
                f"({type(e).__name__}: {e}); reinstall or remove the package that declares it"
            ) from e
        if not isinstance(value, BackendOptions):
            raise RuntimeError(
                f"replaytest: the {GROUP} entry point {ep.name} = {ep.value} is not a replaytest_options.BackendOptions"
            )
        found.append(value)
    return tuple(sorted(found, key=lambda b: b.backend))


__all__ = ["GROUP", "BackendOptions", "Command", "Option", "declared"]
