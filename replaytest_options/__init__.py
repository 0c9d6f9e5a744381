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
from typing import TYPE_CHECKING, Literal, NamedTuple

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
    ini_type: Literal["args", "linelist"] = (
        "args"  # the ini key's pytest type: "args" (shell words) or "linelist" (one per line)
    )

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
    #: None: the command itself. A flag (``--durabletask``): a variant of a command another
    #: backend declares under the same name, chosen by that flag (``replaytest pull --durabletask``)
    switch: str | None = None


class BackendOptions(NamedTuple):
    """Everything one backend adds to the command line."""

    backend: str  # the backend's name (its entry point in replaytest.backends)
    options: tuple[Option, ...] = ()
    commands: tuple[Command, ...] = ()
    #: history file names this backend reads besides ``*.json`` (``.jsonl.gz``): collected by
    #: ``--replay DIR`` and ``replaytest replay DIR``, decoded by the backend's ``decode``
    files: tuple[str, ...] = ()


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


def history_suffixes() -> tuple[str, ...]:
    """The endings of history file names: ``.json`` and what installed backends add."""
    return tuple(dict.fromkeys([".json", *(suffix for b in declared() for suffix in b.files)]))


def shared_options() -> list[tuple[Option, list[str]]]:
    """Each option once, with the backends that declare it: several backends may declare the
    same flag (``--replay-handler``), which then reaches each of them."""
    seen: dict[str, tuple[Option, list[str]]] = {}
    for b in declared():
        for option in b.options:
            known = seen.get(option.pytest)
            if known is not None and (known[0].cli, known[0].dest) != (option.cli, option.dest):
                raise RuntimeError(
                    f"replaytest: the backends {known[1][0]} and {b.backend} declare {option.pytest} differently "
                    f"({known[0].cli}/{known[0].dest} and {option.cli}/{option.dest})"
                )
            seen.setdefault(option.pytest, (option, []))[1].append(b.backend)
    return list(seen.values())


__all__ = ["GROUP", "BackendOptions", "Command", "Option", "declared", "history_suffixes", "shared_options"]
