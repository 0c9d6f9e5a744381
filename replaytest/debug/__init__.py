"""Debugging a replay with VS Code (debugpy): the library API behind
``replaytest replay ... --debug`` and ``pytest --replay ... --replay-debug``.

* ``options`` — :class:`DebugOptions`: where the server listens (loopback unless explicitly
  allowed), how long to wait for the IDE, where to stop.
* ``server`` — :func:`start`: ``debugpy.listen()``, one line saying how to attach, wait.
* ``observer`` — :class:`DebugObserver`: stops in the workflow's own code after history event
  N is applied, and at the line where replay diverged.
* ``vscode`` — the "Attach to replaytest" launch configuration.
* ``_pydevd`` — how a stop lands in workflow code (and why not ``debugpy.breakpoint()``).
"""

from .observer import DebugObserver, ReplayDebugging, make_observer, start_debugging
from .options import (
    BREAK_ON_KINDS,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DebugError,
    DebugOptions,
    DebugTimeout,
    is_loopback,
    parse_address,
)
from .server import listening, start
from .vscode import CONFIG_NAME, LaunchJsonError, vscode_config, write_launch_json

__all__ = [
    "BREAK_ON_KINDS",
    "CONFIG_NAME",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DebugError",
    "DebugObserver",
    "DebugOptions",
    "DebugTimeout",
    "LaunchJsonError",
    "ReplayDebugging",
    "is_loopback",
    "listening",
    "make_observer",
    "parse_address",
    "start",
    "start_debugging",
    "vscode_config",
    "write_launch_json",
]
