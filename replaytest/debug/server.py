"""The debug server: ``debugpy.listen()`` once per process, one line saying how to attach,
and a wait for the IDE (optionally with a timeout). debugpy is imported only here, only when
debugging."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from .options import DebugError, DebugOptions, DebugTimeout
from .vscode import CONFIG_NAME

_listening: tuple[str, int] | None = None
_lock = threading.Lock()


def listening() -> tuple[str, int] | None:
    """(host, port) of this process's debug server, once started."""
    return _listening


def _debugpy() -> Any:
    # The frozen-modules check warns about breakpoints in the (frozen) standard library,
    # which workflow debugging does not need; keep the one announced line the only output.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    try:
        import debugpy
    except ImportError:
        raise DebugError("debugging needs debugpy: pip install debugpy") from None
    return debugpy


def print_line(line: str) -> None:
    stream = sys.stderr if sys.stderr is not None else sys.__stderr__
    print(line, file=stream, flush=True)


def start(options: DebugOptions, *, announce: Callable[[str], None] | None = None) -> tuple[str, int]:
    """Start the debug server (once per process), announce how to attach in one line, and
    wait for the IDE. Returns the (host, port) listened on.

    Raises DebugError (nothing started) for a non-loopback host without ``allow_remote``, a
    port in use or a missing debugpy, and DebugTimeout when ``options.timeout`` expires first.
    ``announce`` receives the line (default: printed to stderr); a pytest plugin can route it
    past output capturing."""
    global _listening
    options.check()
    debugpy = _debugpy()
    say = announce or print_line
    with _lock:
        if _listening is None:
            try:
                host, port = debugpy.listen((options.host, options.port))
            except Exception as e:  # RuntimeError / OSError from the adapter
                raise DebugError(f"cannot start the debug server on {options.host}:{options.port}: {e}") from e
            _listening = (str(host), int(port))
    host, port = _listening
    if not debugpy.is_client_connected():
        say(
            f'replaytest: waiting for a debugger on {host}:{port} — in VS Code run "{CONFIG_NAME}" '
            f"(`replaytest vscode` writes it)"
        )
        _wait_for_client(debugpy, options, host, port)
    from . import _pydevd

    _pydevd.configure()
    return host, port


def _wait_for_client(debugpy: Any, options: DebugOptions, host: str, port: int) -> None:
    timeout = options.timeout
    if not timeout:
        debugpy.wait_for_client()
        return
    done = threading.Event()

    def watchdog() -> None:
        if done.wait(timeout):
            return
        while not done.is_set():  # cancel() exists once wait_for_client() is waiting
            try:
                debugpy.wait_for_client.cancel()
            except RuntimeError:
                pass
            done.wait(0.05)

    threading.Thread(target=watchdog, name="replaytest-debug-timeout", daemon=True).start()
    try:
        debugpy.wait_for_client()
    finally:
        done.set()
    if not debugpy.is_client_connected():
        raise DebugTimeout(
            f"no debugger attached to {host}:{port} within {timeout:g} s; gave up waiting. "
            f"Attach sooner, or give {options.timeout_flag} more seconds (0 waits forever)."
        )
