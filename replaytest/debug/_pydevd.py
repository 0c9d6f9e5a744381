"""The part of the debugger support that talks to pydevd, debugpy's vendored debugger core.

Everything here uses pydevd internals (as of debugpy 1.8.x, the pinned minor version) and is
kept in this one module so that a debugpy upgrade has one place to check; each name is listed in
:data:`PRIVATE_NAMES`, which ``tests/test_sdk_names.py`` resolves one by one. Nothing outside
``replaytest.debug`` imports this module. Imported only once a debug session started.

Why not ``debugpy.breakpoint()``: it stops at the first non-debugger frame of its caller, which
is replaytest's own code; with ``justMyCode`` that frame is not the user's, so the stop is
dropped. Instead we do what pydevd's own trace function does when a breakpoint hits: mark the
thread suspended and call ``PyDB.do_wait_suspend(thread, frame, ...)`` with the *workflow's*
frame. The IDE then shows that frame on top (the replaytest frames between it and us are
above it and not shown), with its real locals, and stepping continues from it.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from typing import Any

os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # see server._debugpy

import debugpy.server.api  # noqa: F401  (puts debugpy's vendored pydevd on sys.path)
import pydevd
from _pydevd_bundle.pydevd_comm_constants import CMD_SET_BREAK, CMD_STEP_CAUGHT_EXCEPTION
from _pydevd_bundle.pydevd_constants import get_global_debugger
from _pydevd_bundle.pydevd_filtering import ExcludeFilter


def _hidden_dirs() -> list[str]:
    """replaytest's and its pytest plugin's directories: hidden from the user (justMyCode) even
    in an editable install, where they are not under site-packages and would count as "my code"."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the replaytest package
    dirs = [here]
    plugin = sys.modules.get("replaytest_pytest")
    if plugin is not None and plugin.__file__:
        dirs.append(os.path.dirname(os.path.abspath(plugin.__file__)))
    return dirs


def _our_filters() -> list[Any]:
    # Path filters (glob "dir/**"), so pydevd does not need module names for them.
    return [ExcludeFilter(os.path.join(d, "**"), True, True) for d in _hidden_dirs()]


#: Exit codes of a replay that found a problem (1) or was misused (2): its normal outcomes, not
#: crashes, so an IDE that stops on uncaught exceptions should not stop on them at exit.
QUIET_EXIT_CODES = (1, 2)


def configure() -> None:
    """Adjust the session after the IDE attached (and again on every re-attach):

    * replaytest's frames become "not my code" whenever the client asked for justMyCode. The
      client's ``rules`` replace pydevd's exclude filters on every attach and ``justMyCode``
      arrives separately, so both setters are wrapped on the PyDB instance: our filters come
      *after* the client's rules (a rule that includes replaytest wins), only under justMyCode.
    * ``SystemExit(1)``/``SystemExit(2)`` (a failed replay or test run) do not stop the IDE as an
      uncaught exception, unless the client configured ``breakOnSystemExit`` itself."""
    py_db = get_global_debugger()
    if py_db is None:
        return
    apply = getattr(py_db, "_replaytest_configure", None)
    if apply is None:
        apply = _install(py_db)
    apply()


def _install(py_db: Any) -> Any:
    files = py_db._files_filtering
    client_rules: list[Any] = list(files._exclude_filters)
    set_exclude = py_db.set_exclude_filters
    set_libraries = py_db.set_use_libraries_filter
    set_ignored_exits = py_db.set_ignore_system_exit_codes

    def apply() -> None:
        ours = _our_filters() if files.use_libraries_filter() else []
        set_exclude(client_rules + ours)
        if getattr(py_db, "_break_on_system_exit", None) is None:
            set_ignored_exits(set(py_db._ignore_system_exit_codes) | set(QUIET_EXIT_CODES))

    def set_exclude_filters(exclude_filters: list[Any]) -> None:
        client_rules[:] = list(exclude_filters)
        apply()

    def set_use_libraries_filter(use: bool) -> None:
        set_libraries(use)
        apply()

    def set_ignore_system_exit_codes(codes: Any) -> None:
        set_ignored_exits(codes)
        apply()

    py_db.set_exclude_filters = set_exclude_filters
    py_db.set_use_libraries_filter = set_use_libraries_filter
    py_db.set_ignore_system_exit_codes = set_ignore_system_exit_codes
    py_db._replaytest_configure = apply
    return apply


def suspend(
    frame: types.FrameType, *, exception: BaseException | None = None, extra_locals: dict[str, Any] | None = None
) -> bool:
    """Stop the current thread in the IDE showing ``frame`` (a workflow frame: running and on
    this thread's stack, or a suspended coroutine's) as the top frame. Blocks until the user
    continues or steps. With ``exception`` the stop reads as an exception stop (VS Code shows
    its message). ``extra_locals`` appear among the frame's locals during the stop.
    Returns False (and does nothing) when no client is attached."""
    py_db = get_global_debugger()
    if py_db is None or not py_db.is_attached():
        return False
    thread = threading.current_thread()
    added = _add_locals(frame, extra_locals or {})
    try:
        if exception is not None:
            tb = types.TracebackType(None, frame, max(frame.f_lasti, 0), frame.f_lineno or 0)
            arg = (type(exception), exception, tb)
            py_db.send_caught_exception_stack(thread, arg, id(frame))
            try:
                py_db.set_suspend(thread, CMD_STEP_CAUGHT_EXCEPTION)
                py_db.do_wait_suspend(thread, frame, "exception", arg)
            finally:
                py_db.send_caught_exception_stack_proceeded(thread)
        else:
            py_db.set_suspend(thread, CMD_SET_BREAK)
            py_db.do_wait_suspend(thread, frame, "line", None)
    finally:
        _remove_locals(frame, added)
    return True


def _add_locals(frame: types.FrameType, values: dict[str, Any]) -> list[str]:
    # Frame.f_locals is a dict snapshot in 3.11/3.12 that keeps extra keys until removed
    # (and a write-through proxy with extra-key support from 3.13): the variables view and
    # the debug console read it, the function's own code cannot see the names.
    added = []
    f_locals = frame.f_locals
    for name, value in values.items():
        if name not in f_locals:
            added.append(name)
        try:
            f_locals[name] = value
        except Exception:
            pass
    return added


def _remove_locals(frame: types.FrameType, names: list[str]) -> None:
    f_locals = frame.f_locals
    for name in names:
        try:
            del f_locals[name]
        except Exception:
            try:
                f_locals[name] = None
            except Exception:
                pass


#: every pydevd name used above: a module's (``_pydevd_bundle.MODULE.NAME``) or a member of a
#: debugger instance (``PyDB.PATH``); each must resolve (tests/test_sdk_names.py, in a process of
#: its own). Plain data, so the test can list them without importing pydevd.
PRIVATE_NAMES = (
    "_pydevd_bundle.pydevd_comm_constants.CMD_SET_BREAK",
    "_pydevd_bundle.pydevd_comm_constants.CMD_STEP_CAUGHT_EXCEPTION",
    "_pydevd_bundle.pydevd_constants.get_global_debugger",
    "_pydevd_bundle.pydevd_filtering.ExcludeFilter",
    "PyDB._files_filtering._exclude_filters",
    "PyDB._files_filtering.use_libraries_filter",
    "PyDB.set_exclude_filters",
    "PyDB.set_use_libraries_filter",
    "PyDB.set_ignore_system_exit_codes",
    "PyDB._ignore_system_exit_codes",
    "PyDB._break_on_system_exit",
    "PyDB.is_attached",
    "PyDB.send_caught_exception_stack",
    "PyDB.send_caught_exception_stack_proceeded",
    "PyDB.set_suspend",
    "PyDB.do_wait_suspend",
)


def resolve(name: str) -> object:
    """One of PRIVATE_NAMES (AttributeError or ImportError when pydevd no longer has it)."""
    import importlib

    head, _, path = name.partition(".")
    if head == "PyDB":
        value: object = pydevd.PyDB(set_as_global=False)
    else:
        module, _, path = path.rpartition(".")
        value = importlib.import_module(f"{head}.{module}")
    for part in path.split("."):
        value = getattr(value, part)
    return value
