"""I/O and other nondeterminism in workflow code: the audit hook, and wrappers for what audit
hooks cannot see (time.sleep, starting threads, reading the environment).

Only the events in ``AUDITED`` are ever flagged, and only on a thread inside workflow code; a
flagged call is reported once, at the user's line (``core.frames.is_user_file``).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
import types
import warnings
import zoneinfo
from collections.abc import Callable
from typing import Any

from ..core.frames import is_user_file
from ._threads import ACTIVE, get_ident

REAL_SLEEP = time.sleep
REAL_THREAD_START = threading.Thread.start
REAL_EXIT = os._exit
REAL_ABORT = os.abort

# Audit events that are I/O or otherwise nondeterministic. Only these are ever flagged.
AUDITED = frozenset(
    """
    open os.listdir os.scandir glob.glob os.remove os.rmdir os.rename os.truncate os.mkdir os.link
    os.symlink os.chmod os.chown os.utime os.chdir os.putenv os.unsetenv shutil.rmtree
    shutil.copyfile shutil.copytree shutil.move shutil.make_archive shutil.unpack_archive
    tempfile.mkstemp tempfile.mkdtemp socket.connect socket.bind socket.sendto socket.sendmsg
    socket.getaddrinfo socket.gethostbyname socket.gethostbyaddr socket.gethostname
    socket.getnameinfo socket.getservbyname socket.getservbyport http.client.connect
    urllib.Request ftplib.connect smtplib.connect poplib.connect imaplib.open nntplib.connect
    telnetlib.Telnet.open webbrowser.open sqlite3.connect subprocess.Popen os.system os.exec
    os.posix_spawn os.spawn os.fork os.forkpty os.kill os.killpg pty.spawn
""".split()
)
# Callers that do their own I/O on the workflow's thread without it being the workflow's doing.
_IMPORT_MACHINERY = ("<frozen importlib._bootstrap", "<frozen zipimport")
_EXEMPT_MODULES = ("linecache", "traceback")  # they read source lines for tracebacks
_TZ_DATA = tuple(os.path.join(p, "") for p in zoneinfo.TZPATH) + (f"{os.sep}tzdata{os.sep}zoneinfo{os.sep}",)
DEBUGGER_MODULES = ("pydevd", "_pydev", "debugpy")
_OWN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class SandboxViolation(Exception):
    """Raised (strict mode) when workflow code does I/O or other nondeterminism.

    ``call`` is the operation that was caught (``socket.connect``); ``via`` the library
    function the workflow line called that did it (``urllib.request.urlopen``), if any: that
    call is what the user wrote and what the report names first."""

    def __init__(
        self, call: str, filename: str | None = None, lineno: int | None = None, via: str | None = None
    ) -> None:
        self.call, self.filename, self.lineno, self.via = call, filename, lineno, via
        shown = filename and filename.removeprefix(os.path.join(os.getcwd(), ""))  # as editors and CI show it
        where = f"{shown}:{lineno}" if shown else "an unknown location"
        what = f"{via}() at {where} (inside it: {call})" if via else f"{call} at {where}"
        super().__init__(
            f"workflow code called {what} — workflows must be deterministic; "
            "do I/O in an activity, or wrap it in `with workflow.unsafe.sandbox_unrestricted():` "
            "if you are sure it is safe"
        )

    @property
    def key(self) -> tuple[str | None, int | None, str]:
        """One place and what the user called there: the many operations inside one library
        call (urlopen reads the environment, resolves, connects) are one violation."""
        return self.filename, self.lineno, self.via or self.call

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.call, self.filename, self.lineno, self.via)


#: Library modules that only forward a call (``os.environ.get`` runs Mapping.get): not named
#: as what the workflow called.
_PLUMBING = ("_collections_abc", "collections.abc")


def _called(frame: types.FrameType | None) -> str | None:
    """``module.function`` of the library frame a workflow line called, for the report."""
    if frame is None:
        return None
    module = frame.f_globals.get("__name__") or ""
    if not module or module in _PLUMBING:
        return None
    return f"{module}.{getattr(frame.f_code, 'co_qualname', frame.f_code.co_name)}"


def flag(call: str, frame: types.FrameType | None) -> None:
    """Report `call`, made by `frame`'s code, unless the thread is not sandboxed or the call
    comes from an import, linecache/traceback or the debugger."""
    tid = get_ident()
    ctx = ACTIVE.get(tid)
    if ctx is None or ctx.mode == "off":
        return
    site = fallback = library = via = None
    f = frame
    while f is not None:  # from the call outwards, up to the frame that entered workflow_code()
        filename = f.f_code.co_filename
        module = f.f_globals.get("__name__") or ""
        if filename.startswith(_IMPORT_MACHINERY) or module.startswith(_EXEMPT_MODULES + DEBUGGER_MODULES):
            return
        if not filename.startswith(_OWN_DIR):
            fallback = fallback or f
            if site is None and is_user_file(filename):
                site, via = f, _called(library)
            elif site is None:
                library = f  # the outermost library frame so far: what the user's line called
        if f is ctx.entry:
            break
        f = f.f_back
    site = site or fallback
    del ACTIVE[tid]  # the handler runs unsandboxed and cannot re-enter _flag
    try:
        violation = SandboxViolation(
            call, site.f_code.co_filename if site else None, site.f_lineno if site else None, via
        )
        if ctx.mode == "strict":
            raise violation
        if ctx.on_violation is not None:
            ctx.on_violation(violation)
        else:
            warnings.warn_explicit(
                str(violation), RuntimeWarning, violation.filename or "<workflow>", violation.lineno or 0
            )
    finally:
        ACTIVE[tid] = ctx


def make_audit_hook() -> Callable[[str, tuple[Any, ...]], None]:
    """The process's one audit hook: a dict truthiness test while no thread is sandboxed."""
    actives, audited, ident, getframe = ACTIVE, AUDITED, get_ident, sys._getframe

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if not (actives and event in audited and ident() in actives):
            return
        if event == "open":
            path = os.fspath(args[0]) if isinstance(args[0], os.PathLike) else args[0]
            if isinstance(path, str) and (path.startswith(_TZ_DATA[:-1]) or _TZ_DATA[-1] in path):
                return  # ZoneInfo(...) reads the tz database (from C: no frame to recognise)
            event = f"open({path!r}, {args[1]!r})" if args[1] is not None else f"os.open({path!r})"
        flag(event, getframe(1))  # raising here aborts the operation

    return hook


# ---- things audit hooks cannot see ------------------------------------------------------------
def flagging(real: Callable[..., Any], describe: Callable[..., str]) -> Callable[..., Any]:
    """Wrap `real` so that a sandboxed thread's call is flagged first; others pay one dict lookup."""

    @functools.wraps(real)
    def wrapper(*args: Any) -> Any:
        if get_ident() in ACTIVE:
            flag(describe(*args), sys._getframe(1))
        return real(*args)

    return wrapper


sleep = flagging(REAL_SLEEP, lambda secs: "time.sleep")
thread_start = flagging(REAL_THREAD_START, lambda thread: "threading.Thread.start")
# __getitem__ covers os.environ[k], .get(k), `k in`, os.getenv(k); __iter__ covers dict(os.environ)
environ_getitem = flagging(os._Environ.__getitem__, lambda env, key: f"os.environ[{key!r}]")
environ_iter = flagging(os._Environ.__iter__, lambda env: "iter(os.environ)")


def refusing(real: Callable[..., Any], call: str) -> Callable[..., Any]:
    """Wrap a call that ends the process (``os._exit``, ``os.abort``): in workflow code it is a
    SandboxViolation in strict *and* warn mode -- going on would end the worker or the replay run,
    which no workflow may do (as ``sys.exit()`` only fails its task). ``off`` lets it through."""

    @functools.wraps(real)
    def wrapper(*args: Any) -> Any:
        ctx = ACTIVE.get(get_ident())
        if ctx is not None and ctx.mode != "off":
            mode, ctx.mode = ctx.mode, "strict"  # warn mode too: reported by raising, never done
            try:
                flag(call, sys._getframe(1))
            finally:
                ctx.mode = mode
        return real(*args)

    return wrapper


exit_now = refusing(REAL_EXIT, "os._exit")
abort_now = refusing(REAL_ABORT, "os.abort")
