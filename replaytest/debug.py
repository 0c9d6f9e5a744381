"""Debugging a replay with VS Code (debugpy): the library API behind
``replaytest replay ... --debug`` and ``pytest --replay ... --replay-debug``.

* :class:`DebugOptions` — where the debug server listens, how long to wait for the IDE, and
  where to stop (``break_at`` history event ids, ``break_on_divergence``).
* :func:`start` — ``debugpy.listen()``, print one line saying how to attach, wait for the IDE
  (optionally with a timeout). debugpy is imported only here, only when debugging.
* :class:`DebugObserver` — passed to ``replay(..., observer=...)``: stops in the workflow's own
  code right after history event N is applied, and at the line where replay diverged.
* :func:`replay_with_debugger` — the whole ``replaytest replay --debug`` command as a function.
* :func:`vscode_config` / :func:`write_launch_json` — the "Attach to replaytest" configuration.

How a stop lands in workflow code (and why not ``debugpy.breakpoint()``) is explained in
``replaytest/debug_pydevd.py``; the user-facing story is ``docs/debugging.md``.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence, TextIO

from .debug_vscode import CONFIG_NAME, LaunchJsonError, vscode_config, write_launch_json
from .definitions import ReplaytestError

__all__ = [
    "DebugOptions", "DebugError", "DebugTimeout", "parse_address", "is_loopback", "start", "listening",
    "DebugObserver", "make_observer", "start_debugging", "start_for_pytest", "replay_with_debugger", "vscode_config",
    "write_launch_json", "LaunchJsonError", "CONFIG_NAME", "DEFAULT_HOST", "DEFAULT_PORT",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5678
BREAK_ON_KINDS = ("divergence",)


class DebugError(ReplaytestError):
    """The debug session cannot start: a refused bind, a port in use, no debugpy, bad options."""


class DebugTimeout(DebugError):
    """No IDE attached within ``DebugOptions.timeout`` seconds."""


# ---------------------------------------------------------------------------------- options
@dataclass
class DebugOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT             # 0: any free port (the announced line says which)
    allow_remote: bool = False           # required for a host that is not a loopback address
    timeout: float | None = None         # seconds to wait for the IDE; None or 0: wait forever
    break_at: list[int] = field(default_factory=list)   # history event ids
    break_on_divergence: bool = False
    #: the option that sets allow_remote, named in the refusal message
    allow_remote_flag: str = "--replay-debug-allow-remote"
    #: the option that sets timeout, named in the timeout message
    timeout_flag: str = "--replay-debug-timeout"

    @classmethod
    def from_cli(cls, address: str | bool | None = None, *, break_at: Iterable[int | str] = (),
                 break_on: Iterable[str] = (), allow_remote: bool = False, timeout: float | str | None = None,
                 allow_remote_flag: str = "--replay-debug-allow-remote",
                 timeout_flag: str = "--replay-debug-timeout") -> "DebugOptions":
        """Options from command-line values: ``address`` is "HOST:PORT", "PORT", "HOST" or
        empty/None/True for the default 127.0.0.1:5678; ``break_on`` accepts "divergence"."""
        host, port = parse_address(address)
        ids = []
        for n in break_at:
            try:
                ids.append(int(n))
            except (TypeError, ValueError):
                raise DebugError(f"--break-at {n!r}: expected a history event id (a number)") from None
        divergence = False
        for kind in break_on:
            if kind not in BREAK_ON_KINDS:
                raise DebugError(f"--break-on {kind!r}: the only kind is 'divergence'")
            divergence = True
        if isinstance(timeout, str):
            try:
                timeout = float(timeout)
            except ValueError:
                raise DebugError(f"{timeout_flag} {timeout!r}: expected a number of seconds") from None
        options = cls(host, port, allow_remote, timeout or None, ids, divergence,
                      allow_remote_flag=allow_remote_flag, timeout_flag=timeout_flag)
        options.check()
        return options

    def check(self) -> None:
        """Raise DebugError for options that must not start a server (nothing is started)."""
        if not isinstance(self.port, int) or not 0 <= self.port < 65536:
            raise DebugError(f"debug port {self.port!r}: expected a number from 0 to 65535")
        if self.timeout is not None and self.timeout < 0:
            raise DebugError(f"{self.timeout_flag} {self.timeout}: expected a positive number of seconds")
        for n in self.break_at:
            if not isinstance(n, int) or n < 1:
                raise DebugError(f"--break-at {n!r}: history event ids start at 1")
        if not self.allow_remote and not is_loopback(self.host):
            raise DebugError(
                f"binding the debug server to {self.host} lets anyone who can reach this port run code on "
                f"your machine; pass {self.allow_remote_flag} if you mean it")


def parse_address(spec: str | bool | None, default_host: str = DEFAULT_HOST, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """ "HOST:PORT", "PORT", "HOST", "[IPv6]:PORT" or empty → (host, port)."""
    if spec is None or spec is True or (isinstance(spec, str) and not spec.strip()):
        return default_host, default_port
    s = str(spec).strip()
    if "/" in s or os.sep in s or s.endswith((".json", ".py")):
        # `pytest --replay-debug histories/` makes argparse take the path as the address
        raise DebugError(f"debug address {spec!r} looks like a path: write the address with = "
                         "(--debug=HOST:PORT), or put the flag after the paths")
    host, port_text = default_host, ""
    if s.startswith("["):                       # [::1]:5678 or [::1]
        end = s.find("]")
        if end < 0:
            raise DebugError(f"debug address {spec!r}: missing ] after the IPv6 address")
        host, rest = s[1:end], s[end + 1:]
        if rest and not rest.startswith(":"):
            raise DebugError(f"debug address {spec!r}: expected HOST:PORT or PORT")
        port_text = rest[1:]
    elif s.isdigit():
        port_text = s
    elif s.count(":") == 1:
        host, port_text = s.split(":")
        host = host or default_host
    else:                                       # a host name, or a bare IPv6 address
        host = s
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise DebugError(f"debug address {spec!r}: expected HOST:PORT or PORT, with a port from 0 to 65535")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1). Other names count as
    remote: a name can resolve to anything."""
    h = host.strip().strip("[]").rstrip(".").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------------------------- the server
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


def _print_line(line: str) -> None:
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
    say = announce or _print_line
    with _lock:
        if _listening is None:
            try:
                host, port = debugpy.listen((options.host, options.port))
            except Exception as e:  # RuntimeError / OSError from the adapter
                raise DebugError(f"cannot start the debug server on {options.host}:{options.port}: {e}") from e
            _listening = (str(host), int(port))
    host, port = _listening
    if not debugpy.is_client_connected():
        say(f'replaytest: waiting for a debugger on {host}:{port} — in VS Code run "{CONFIG_NAME}" '
            f"(`replaytest vscode` writes it)")
        _wait_for_client(debugpy, options, host, port)
    from . import debug_pydevd

    debug_pydevd.configure()
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
            f"Attach sooner, or give {options.timeout_flag} more seconds (0 waits forever).")


# ---------------------------------------------------------------------------------- stopping
class DebugObserver:
    """The replay observer that stops in workflow code. One can serve many replays in turn.

    * ``break_at``: after history event N is applied, stop where workflow code receives it —
      on the ``await`` that gets the activity result / timer / signal (step once and the result
      is in its variable; it is also shown right away as the local ``replaytest_event``). For an
      event that is not an outcome (a command, a workflow task event), stop where workflow
      code next resumes after it.
    * ``break_on_divergence``: stop as on an exception, at the workflow line that issued the
      divergent command (or where the code waits, for a step it no longer takes), with the
      report in the local ``replaytest_divergence`` and as the exception text.

    Without an attached IDE every hook is a no-op."""

    def __init__(self, break_at: Iterable[int] = (), break_on_divergence: bool = False,
                 announce: Callable[[str], None] | None = None) -> None:
        self.break_at = sorted(set(int(n) for n in break_at))
        self.break_on_divergence = break_on_divergence
        self.announce = announce or _print_line
        self.stops: list[tuple[str, int | None, str, int]] = []  # (why, event id, file, line)
        self._execution: Any = None
        self._pending: list[tuple[int, Any]] = []     # (requested id, the event that applied it)
        self._reached: set[int] = set()

    # -- the observer protocol (replaytest.runtime.Execution calls these)
    def event_applied(self, execution: Any, event: Any) -> None:
        self._track(execution)
        for n in self.break_at:
            if n <= event.id and n not in self._reached:
                self._reached.add(n)
                self._pending.append((n, event))

    def resumed(self, execution: Any, event: Any, frame: types.FrameType | None) -> None:
        self._track(execution)
        due = [(n, applied) for n, applied in self._pending if event.id >= applied.id]
        if not due:
            return
        self._pending = [p for p in self._pending if p not in due]
        target = _live_workflow_frame(frame) or _live_workflow_frame(sys._getframe(1))
        where = "receives it here"
        if target is None:  # a task of asyncio.gather got it; the workflow code waits on the gather
            target, where = _waiting_frame(execution), "waits here for it (and the rest of what this line awaits)"
        asked = ", ".join(str(n) for n, _ in due)
        if target is None:
            self.announce(f"replaytest: --break-at {asked}: event {event.id} was applied, but no workflow code "
                          "is there to stop in")
            return
        note = (f"--break-at {asked}: event {event.id} ({event.type}) was applied; the workflow code {where}"
                + ("" if any(n == event.id for n, _ in due) else
                   f". Event {asked} itself is not one workflow code receives; {event.id} is the next one"))
        self._stop(target, f"break-at {asked}", event.id, extra={"replaytest_event": _event_view(event),
                                                                 "replaytest_break": note})

    def divergence(self, execution: Any, error: BaseException) -> None:
        if not self.break_on_divergence:
            return
        divergence = getattr(error, "divergence", None)
        target = _live_workflow_frame(sys._getframe(1)) or _waiting_frame(execution)
        if target is not None:
            self._stop(target, "divergence", getattr(divergence, "event_id", None), error=error,
                       extra={"replaytest_divergence": divergence})
            return
        source = getattr(divergence, "source", None)
        if source is None:
            return
        # The workflow already returned (a different result): no frame of it is left, so stop
        # in a stand-in frame that the IDE shows at the reported line of the workflow's file.
        _stop_at_source(source, getattr(execution.defn.fn, "__module__", "workflow"),
                        lambda frame: self._stop(frame, "divergence", getattr(divergence, "event_id", None),
                                                 error=error, extra={"replaytest_divergence": divergence}))

    # -- after a replay
    def unreached(self) -> list[int]:
        """break_at ids of the last replay that were never applied (the history is shorter)
        or applied but never received by workflow code."""
        waiting = {n for n, _ in self._pending}
        return [n for n in self.break_at if n not in self._reached or n in waiting]

    # -- internals
    def _track(self, execution: Any) -> None:
        if execution is not self._execution:
            self._execution, self._pending, self._reached = execution, [], set()

    def _stop(self, frame: types.FrameType, why: str, event_id: int | None, *,
              error: BaseException | None = None, extra: dict[str, Any] | None = None) -> None:
        if "debugpy" not in sys.modules:  # never started: no IDE can be attached
            return
        from . import debug_pydevd

        if debug_pydevd.suspend(frame, exception=error, extra_locals=extra):
            self.stops.append((why, event_id, frame.f_code.co_filename, frame.f_lineno or 0))


def make_observer(options: DebugOptions, *, announce: Callable[[str], None] | None = None) -> DebugObserver:
    """The observer for ``replay(..., observer=...)`` under these options."""
    return DebugObserver(options.break_at, options.break_on_divergence, announce)


def start_debugging(options: DebugOptions, *, announce: Callable[[str], None] | None = None) -> DebugObserver:
    """:func:`start` (server, announcement, wait for the IDE) and the observer to pass to every
    replay afterwards: what a command that runs its own replay loop needs (``replaytest replay
    --debug`` can call this and keep its own output). Raises DebugError / DebugTimeout."""
    start(options, announce=announce)
    return make_observer(options, announce=announce)


def start_for_pytest(options: DebugOptions, *, announce: Callable[[str], None] | None = None) -> DebugObserver:
    """For the pytest plugin at session start under ``--replay-debug``: start the server, wait
    for the IDE, and return the observer to pass to every replay of the session. Raises
    DebugError / DebugTimeout (turn them into ``pytest.UsageError`` / an exit). The line
    announcing the server goes to ``announce``, by default straight to the terminal
    (``sys.__stderr__``), past pytest's output capturing."""
    announce = announce or (lambda line: print(line, file=sys.__stderr__, flush=True))
    start(options, announce=announce)
    return make_observer(options, announce=announce)


# Frames that are not workflow code: replaytest's and asyncio's (the same test as the
# runtime's `user_source`), anything generated (`<string>`), and the debugger's own.
def _is_workflow_frame(frame: types.FrameType) -> bool:
    from .sources import LIBRARY_DIRS as _LIBRARY_DIRS

    filename = frame.f_code.co_filename
    if filename.startswith(_LIBRARY_DIRS) or filename.startswith("<"):
        return False
    module = frame.f_globals.get("__name__") or ""
    return not module.startswith(("pydevd", "_pydev", "debugpy"))


def _live_workflow_frame(start: types.FrameType | None) -> types.FrameType | None:
    """The innermost workflow frame between ``start`` and the workflow loop, if the code that
    called us is workflow code; None when we were called from outside the loop or only through
    library frames (a task started by ``asyncio.gather`` has no workflow frame of its own)."""
    from .runtime import _RUN_UNTIL_IDLE

    found = None
    f = start
    while f is not None:
        if f.f_code is _RUN_UNTIL_IDLE:
            return found
        if found is None and _is_workflow_frame(f):
            found = f
        f = f.f_back
    return None


def _waiting_frame(execution: Any) -> types.FrameType | None:
    """The deepest workflow frame of the main workflow coroutine while it is suspended: where
    the code waits (e.g. on an ``asyncio.gather`` whose task just got its result)."""
    task = getattr(execution, "main", None)
    if task is None or task.done():
        return None
    coro: Any = task.get_coro()
    best = None
    while coro is not None and getattr(coro, "cr_frame", None) is not None:
        if _is_workflow_frame(coro.cr_frame):
            best = coro.cr_frame
        coro = getattr(coro, "cr_await", None)
    return best


def _event_view(event: Any) -> dict[str, Any]:
    return {"id": event.id, "type": event.type, "time": event.time, **event.attrs}


def _stop_at_source(source: Any, module: str, stop: Callable[[types.FrameType], None]) -> None:
    """Call ``stop(frame)`` with a stand-in frame whose code claims ``source``'s file, line and
    function name, so the IDE opens the workflow file at that line."""
    filename = os.path.abspath(source.file)
    name = source.function if str(source.function).isidentifier() else "workflow"
    line = max(int(source.line), 1)
    if line >= 2:
        text = "\n" * (line - 2) + f"def {name}():\n    _replaytest_stop_here()\n"
    else:
        text = "_replaytest_stop_here()\n"
    namespace: dict[str, Any] = {"__name__": module, "_replaytest_stop_here": lambda: stop(sys._getframe(1))}
    exec(compile(text, filename, "exec"), namespace)
    if line >= 2:
        namespace[name]()


# ---------------------------------------------------------------------------------- the command
def replay_with_debugger(paths: Sequence[str | os.PathLike[str]], modules: Sequence[str] = (),
                         options: DebugOptions | None = None, *, args_mismatch: str = "error",
                         sandbox: str | None = "strict", out: TextIO | None = None, err: TextIO | None = None,
                         announce: Callable[[str], None] | None = None) -> int:
    """``replaytest replay PATH... --module M... --debug``: load the histories and import the
    workflow modules (so mistakes show before anyone attaches), start the debug server and wait
    for the IDE, then replay each history under a :class:`DebugObserver`.

    Prints one summary line per replayed history to ``out`` and each failure's report to
    ``err``. Returns the exit code: 0 all replayed, 1 some history failed to replay
    (divergence, workflow task error, unknown workflow type), 2 nothing was replayed (bad
    options, unreadable history, import error, the debugger could not start or never came)."""
    from .divergence import NondeterminismError, WorkflowTaskError
    from .engine.registry import import_module
    from .history import History, history_files
    from .replay import replay, report_lines

    out = out or sys.stdout
    err = err or sys.stderr
    options = options or DebugOptions(allow_remote_flag="--debug-allow-remote", timeout_flag="--debug-timeout")
    try:
        options.check()
        histories = [History.load(p) for p in history_files(paths)]
        if modules and "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # `--module app.workflows` from the project directory
        workflows = [import_module(m) for m in modules]
    except ReplaytestError as e:  # a bad path or history, a module that does not import
        print(f"replaytest: {e}", file=err, flush=True)
        return 2
    say = announce or (lambda line: print(line, file=err, flush=True))
    for n in options.break_at:
        longest = max(len(h.events) for h in histories)
        if n > longest:
            say(f"replaytest: --break-at {n}: no history has that many events (the longest has {longest}); it will not stop")
    try:
        start(options, announce=say)
    except DebugError as e:
        print(f"replaytest: {e}", file=err, flush=True)
        return 2
    failed = 0
    for history in histories:
        observer = make_observer(options, announce=say)
        try:
            result = replay(history, workflows, args_mismatch=args_mismatch, sandbox=sandbox, observer=observer,
                            import_recorded=True)
        except (NondeterminismError, WorkflowTaskError, ReplaytestError) as e:
            result = e
        ok, lines = report_lines(history.source, result)  # as `replaytest replay` without a debugger
        failed += not ok
        print("\n".join(lines), file=out, flush=True)
        if not ok:
            continue
        missed = [n for n in observer.unreached() if n <= len(history.events)]
        if missed:
            say(f"replaytest: --break-at {', '.join(map(str, missed))}: no workflow code received "
                f"{'that event' if len(missed) == 1 else 'those events'} in {history.source}, so it did not stop")
    return 1 if failed else 0
