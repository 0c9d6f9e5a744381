"""The sandbox: logical time, seeded randomness and flagged I/O for workflow code only.

Steps are short and frequent, so everything expensive (freezegun's scan of ``sys.modules``,
the audit hook, the monkeypatches) happens once per :func:`session`. A step
(:func:`workflow_code`) only records "this thread is in workflow code" in a dict and swaps the
``random`` module's state. Every fake asks that dict about the *calling thread* and otherwise
behaves like the original, so the engine, pytest, asyncio and debugger threads keep real time.

Nothing here holds a real time function or the real ``datetime`` class in a module global:
freezegun's scan would rewrite it. The reals are read from ``freezegun.api``, which it skips.
"""
from __future__ import annotations

import contextlib
import datetime
import functools
import os
import random
import _random
import sys
import sysconfig
import threading
import time
import types
import warnings
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any

import freezegun
from freezegun import api as _fg

__all__ = ["SandboxViolation", "session", "workflow_code", "active", "unrestricted", "register_module"]

_MODES = ("strict", "warn", "off")
_get_ident = threading.get_ident
_REAL_SLEEP = time.sleep
_REAL_URANDOM = os.urandom
_REAL_THREAD_START = threading.Thread.start

# Audit events that are I/O or otherwise nondeterministic. Only these are ever flagged.
_AUDITED = frozenset("""
    open os.listdir os.scandir glob.glob os.remove os.rmdir os.rename os.truncate os.mkdir os.link
    os.symlink os.chmod os.chown os.utime os.chdir os.putenv os.unsetenv shutil.rmtree
    shutil.copyfile shutil.copytree shutil.move shutil.make_archive shutil.unpack_archive
    tempfile.mkstemp tempfile.mkdtemp socket.connect socket.bind socket.sendto socket.sendmsg
    socket.getaddrinfo socket.gethostbyname socket.gethostbyaddr socket.gethostname
    socket.getnameinfo socket.getservbyname socket.getservbyport http.client.connect
    urllib.Request ftplib.connect smtplib.connect poplib.connect imaplib.open nntplib.connect
    telnetlib.Telnet.open webbrowser.open sqlite3.connect subprocess.Popen os.system os.exec
    os.posix_spawn os.spawn os.fork os.forkpty os.kill os.killpg pty.spawn
""".split())
# Callers that do their own I/O on the workflow's thread without it being the workflow's doing.
_IMPORT_MACHINERY = ("<frozen importlib._bootstrap", "<frozen zipimport")
_EXEMPT_MODULES = ("linecache", "traceback")  # they read source lines for tracebacks
_TZ_DATA = tuple(os.path.join(p, "") for p in zoneinfo.TZPATH) + (f"{os.sep}tzdata{os.sep}zoneinfo{os.sep}",)
_DEBUGGER_MODULES = ("pydevd", "_pydev", "debugpy")
_OWN_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_LIBRARY_PREFIXES = tuple({os.path.join(p, "") for k, d in sysconfig.get_paths().items()
                           if k in ("stdlib", "platstdlib", "purelib", "platlib")
                           for p in (d, os.path.realpath(d))}) + ("<frozen ",)


class SandboxViolation(Exception):
    """Raised (strict mode) when workflow code does I/O or other nondeterminism."""

    def __init__(self, call: str, filename: str | None = None, lineno: int | None = None) -> None:
        self.call, self.filename, self.lineno = call, filename, lineno
        shown = filename and filename.removeprefix(os.path.join(os.getcwd(), ""))  # as editors and CI show it
        where = f"{shown}:{lineno}" if shown else "an unknown location"
        super().__init__(f"workflow code called {call} at {where} — workflows must be deterministic; "
                         "do I/O in an activity, or wrap it in `with workflow.unsafe.sandbox_unrestricted():` "
                         "if you are sure it is safe")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.call, self.filename, self.lineno)


class _Ctx:
    """One workflow_code() block: the logical time (naive UTC) and how to treat violations."""
    __slots__ = ("now", "rng", "mode", "on_violation", "entry")

    def __init__(self, now: datetime.datetime, rng: random.Random, mode: str,
                 on_violation: Callable[[SandboxViolation], None] | None, entry: types.FrameType) -> None:
        self.now, self.rng, self.mode, self.on_violation = now, rng, mode, on_violation
        self.entry: types.FrameType | None = entry  # the frame that entered the block: stack walks stop there


# Per-thread state. A thread is *active* iff it has an entry in _ACTIVE; _STACKS also keeps it
# while unrestricted() (None on the stack), because randomness stays deterministic there.
_ACTIVE: dict[int, _Ctx] = {}
_STACKS: dict[int, list[_Ctx | None]] = {}

_lock = threading.RLock()
_depth = 0                                   # open session() count
_undo: list[Callable[[], None]] = []         # how to take the current session's patches back
_registered: dict[str, types.ModuleType] = {}
_hook_installed = False


def active() -> bool:
    """True iff the calling thread is inside workflow_code() and not inside unrestricted()."""
    return _get_ident() in _ACTIVE


def _reactivate(tid: int, stack: list[_Ctx | None]) -> None:
    if stack and stack[-1] is not None:
        _ACTIVE[tid] = stack[-1]
    else:
        _ACTIVE.pop(tid, None)


def _flag(call: str, frame: types.FrameType | None) -> None:
    """Report `call`, made by `frame`'s code, unless the thread is not sandboxed or the call
    comes from an import, linecache/traceback or the debugger."""
    tid = _get_ident()
    ctx = _ACTIVE.get(tid)
    if ctx is None or ctx.mode == "off":
        return
    site = fallback = None
    f = frame
    while f is not None:  # from the call outwards, up to the frame that entered workflow_code()
        filename = f.f_code.co_filename
        module = f.f_globals.get("__name__") or ""
        if filename.startswith(_IMPORT_MACHINERY) or module.startswith(_EXEMPT_MODULES + _DEBUGGER_MODULES):
            return
        if not filename.startswith(_OWN_DIR):
            fallback = fallback or f
            if site is None and not (filename.startswith(_LIBRARY_PREFIXES) or "site-packages" in filename):
                site = f
        if f is ctx.entry:
            break
        f = f.f_back
    site = site or fallback
    del _ACTIVE[tid]  # the handler runs unsandboxed and cannot re-enter _flag
    try:
        violation = SandboxViolation(call, site.f_code.co_filename if site else None, site.f_lineno if site else None)
        if ctx.mode == "strict":
            raise violation
        if ctx.on_violation is not None:
            ctx.on_violation(violation)
        else:
            warnings.warn_explicit(str(violation), RuntimeWarning, violation.filename or "<workflow>",
                                   violation.lineno or 0)
    finally:
        _ACTIVE[tid] = ctx


def _make_audit_hook() -> Callable[[str, tuple[Any, ...]], None]:
    """The process's one audit hook: a dict truthiness test while no thread is sandboxed."""
    actives, audited, ident, getframe = _ACTIVE, _AUDITED, _get_ident, sys._getframe

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if not (actives and event in audited and ident() in actives):
            return
        if event == "open":
            path = os.fspath(args[0]) if isinstance(args[0], os.PathLike) else args[0]
            if isinstance(path, str) and (path.startswith(_TZ_DATA[:-1]) or _TZ_DATA[-1] in path):
                return  # ZoneInfo(...) reads the tz database (from C: no frame to recognise)
            event = f"open({path!r}, {args[1]!r})" if args[1] is not None else f"os.open({path!r})"
        _flag(event, getframe(1))  # raising here aborts the operation
    return hook


# ---- things audit hooks cannot see ------------------------------------------------------------
def _flagging(real: Callable[..., Any], describe: Callable[..., str]) -> Callable[..., Any]:
    """Wrap `real` so that a sandboxed thread's call is flagged first; others pay one dict lookup."""
    @functools.wraps(real)
    def wrapper(*args: Any) -> Any:
        if _get_ident() in _ACTIVE:
            _flag(describe(*args), sys._getframe(1))
        return real(*args)
    return wrapper


_sleep = _flagging(_REAL_SLEEP, lambda secs: "time.sleep")
_thread_start = _flagging(_REAL_THREAD_START, lambda thread: "threading.Thread.start")
# __getitem__ covers os.environ[k], .get(k), `k in`, os.getenv(k); __iter__ covers dict(os.environ)
_environ_getitem = _flagging(os._Environ.__getitem__, lambda env, key: f"os.environ[{key!r}]")
_environ_iter = _flagging(os._Environ.__iter__, lambda env: "iter(os.environ)")


def _urandom(size: int) -> bytes:
    """os.urandom (and so uuid4, secrets, SystemRandom): the workflow's generator in workflow code."""
    if _get_ident() in _STACKS:
        return random._inst.randbytes(size)  # type: ignore[attr-defined]
    return _REAL_URANDOM(size)


# ---- randomness: the `random` module's generator holds the workflow's state during a block ----
def _slow_copy(src: random.Random, dst: random.Random) -> None:
    dst.setstate(src.getstate())


def _make_state_copier() -> Callable[[random.Random, random.Random], None]:
    """A step moves Mersenne Twister state four times, and getstate()/setstate() box and unbox
    625 ints (~15 µs a move). In CPython the state is `int index; uint32_t state[624]` right after
    the object header, so plain `random.Random` objects get a byte copy (~1 µs) instead — used
    only if it reproduces getstate() exactly on a trial pair."""
    offset, size = object.__basicsize__, 4 + 624 * 4
    if sys.implementation.name != "cpython" or offset + size > _random.Random.__basicsize__:
        return _slow_copy
    import ctypes

    def copy(src: random.Random, dst: random.Random) -> None:
        if type(src) is not random.Random or type(dst) is not random.Random:
            return _slow_copy(src, dst)
        ctypes.memmove(id(dst) + offset, id(src) + offset, size)
        dst.gauss_next = src.gauss_next  # type: ignore[attr-defined]

    a, b = random.Random(1), random.Random(2)
    a.gauss(0, 1)
    copy(a, b)
    return copy if b.getstate() == a.getstate() and b.random() == a.random() else _slow_copy


_copy_state = _make_state_copier()
_spares: list[random.Random] = []  # generators that hold the outside stream during a block


# ---- time: one freezegun start per session, gated per thread -----------------------------------
def _is_debugger(frame: types.FrameType) -> bool:
    return (frame.f_globals.get("__name__") or "").startswith(_DEBUGGER_MODULES)


def _use_real_time() -> bool:
    """Replaces freezegun.api._should_use_real_time, which every time.* fake consults."""
    return _get_ident() not in _ACTIVE or _is_debugger(sys._getframe(2))


def _logical_utc() -> datetime.datetime:
    """Replaces freezegun's time factory: the calling thread's logical time (naive UTC)."""
    ctx = _ACTIVE.get(_get_ident())
    if ctx is None:
        return _fg.real_datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    now = ctx.now
    if now.tzinfo is not None:  # set by move_to(): converted here, on the rarer read
        now = ctx.now = now.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return now


def _gate(cls: type, name: str, real: Callable[..., Any]) -> None:
    """FakeDatetime.now() & co. ignore freezegun's predicate: give them the real method outside."""
    fake = vars(cls)[name].__func__

    def method(klass: type, *args: Any, **kwargs: Any) -> Any:
        if _get_ident() in _ACTIVE and not _is_debugger(sys._getframe(1)):
            return fake(klass, *args, **kwargs)
        return real(*args, **kwargs)
    _patch(cls, name, classmethod(method))


def _patch(obj: Any, name: str, value: Any) -> None:
    original = vars(obj)[name]
    setattr(obj, name, value)
    _undo.append(lambda: setattr(obj, name, original))


def _rebind(module: types.ModuleType) -> None:
    """Point `from time import sleep` / `from os import urandom` names of `module` at the fakes."""
    fakes = {id(_REAL_SLEEP): _sleep, id(_REAL_URANDOM): _urandom}
    for name, value in list(vars(module).items()):
        if id(value) in fakes:
            _patch(module, name, fakes[id(value)])


def register_module(module: types.ModuleType) -> None:
    """Cover a workflow module's own `from time import sleep` / `from os import urandom` bindings
    (the patched module attributes cannot reach them) in this and later sessions."""
    with _lock:
        _registered[module.__name__] = module
        if _depth:
            _rebind(module)


def _install() -> None:
    global _hook_installed
    if _fg.freeze_factories:
        raise RuntimeError("replaytest.sandbox.session() cannot start inside freezegun.freeze_time()")
    if not _hook_installed:
        sys.addaudithook(_make_audit_hook())
        _hook_installed = True
    _patch(_fg, "_should_use_real_time", _use_real_time)
    for name in ("now", "utcnow", "today", "fromtimestamp"):
        _gate(_fg.FakeDatetime, name, getattr(_fg.real_datetime, name))
    _gate(_fg.FakeDate, "today", _fg.real_date.today)
    freezer = freezegun.freeze_time(datetime.datetime(2000, 1, 1))  # never seen: see _logical_utc
    freezer.start()  # the one sys.modules scan of this session
    _undo.append(freezer.stop)
    _fg.freeze_factories[-1] = _logical_utc
    # Monotonic clocks stay real everywhere (asyncio, pytest, hypothesis, debugpy rely on them).
    clocks = {name: getattr(_fg, "real_" + name) for name in ("monotonic", "perf_counter", "monotonic_ns", "perf_counter_ns")}
    for name, real in clocks.items():
        setattr(time, name, real)
    real_ids = {id(real) for real in clocks.values()}
    for obj, attr, original in freezer.undo_changes:
        if id(original) in real_ids:
            setattr(obj, attr, original)
    _patch(time, "sleep", _sleep)
    _patch(threading.Thread, "start", _thread_start)
    _patch(os._Environ, "__getitem__", _environ_getitem)
    _patch(os._Environ, "__iter__", _environ_iter)
    _patch(os, "urandom", _urandom)
    _patch(random, "_urandom", _urandom)  # SystemRandom, hence secrets
    for module in _registered.values():
        _rebind(module)


def _uninstall() -> None:
    error = None
    while _undo:
        try:
            _undo.pop()()
        except Exception as exc:  # keep undoing the rest
            error = error or exc
    if error is not None:
        raise error


def _acquire() -> None:
    global _depth
    with _lock:
        if _depth == 0:
            try:
                _install()
            except BaseException:
                _uninstall()
                raise
        _depth += 1


def _release() -> None:
    global _depth
    with _lock:
        _depth -= 1
        if _depth == 0:
            _uninstall()


@contextlib.contextmanager
def session() -> Iterator[None]:
    """Install the process-wide patches (reference counted); the outermost exit undoes them all."""
    _acquire()
    try:
        yield
    finally:
        _release()


@contextlib.contextmanager
def workflow_code(now: datetime.datetime, rng: random.Random, *, mode: str = "strict",
                  on_violation: Callable[[SandboxViolation], None] | None = None) -> Iterator[None]:
    """Sandbox the calling thread for the block: time is `now` (aware), `random` draws from `rng`
    (its state is written back on exit), and I/O is flagged per `mode` (strict/warn/off)."""
    if mode not in _MODES:
        raise ValueError(f"sandbox mode must be one of {_MODES}, not {mode!r}")
    if now.tzinfo is not datetime.timezone.utc:
        if now.utcoffset() is None:
            raise ValueError(f"workflow_code() needs a timezone-aware `now`, got {now!r}")
        now = now.astimezone(datetime.timezone.utc)
    ctx = _Ctx(now.replace(tzinfo=None), rng, mode, on_violation, sys._getframe(2))
    tid, inst = _get_ident(), random._inst  # type: ignore[attr-defined]
    spare = _spares.pop() if _spares else random.Random(0)
    _acquire()
    stack = _STACKS.setdefault(tid, [])
    outer = next((c for c in reversed(stack) if c is not None), None)
    try:
        _copy_state(inst, spare)  # the stream outside this block
        if outer is not None:
            _copy_state(inst, outer.rng)  # so a nested block that shares `rng` continues its stream
        _copy_state(rng, inst)
        stack.append(ctx)
        _ACTIVE[tid] = ctx
        try:
            yield
        finally:
            stack.pop()
            _reactivate(tid, stack)
            _copy_state(inst, rng)
    finally:
        _copy_state(outer.rng if outer is not None else spare, inst)
        _spares.append(spare)
        if not stack:
            _STACKS.pop(tid, None)
        ctx.entry = None
        _release()


def move_to(now: datetime.datetime) -> None:
    """Set the logical time of this thread's innermost workflow_code() block. Lets a replay
    hold one block across all of a history's workflow tasks (nothing but replaytest runs
    between them) instead of entering one per task."""
    ctx = _ACTIVE.get(_get_ident())
    if ctx is None:
        raise RuntimeError("sandbox.move_to() needs an active workflow_code() block in this thread")
    if now.utcoffset() is None:
        raise ValueError(f"move_to() needs a timezone-aware time, got {now!r}")
    ctx.now = now  # aware; _logical_utc() converts it if workflow code reads the clock


@contextlib.contextmanager
def unrestricted() -> Iterator[None]:
    """In this thread: nothing flagged and real time for the block; randomness stays seeded."""
    tid = _get_ident()
    stack = _STACKS.get(tid)
    if stack is None:
        yield
        return
    stack.append(None)
    _ACTIVE.pop(tid, None)
    try:
        yield
    finally:
        stack.pop()
        _reactivate(tid, stack)
