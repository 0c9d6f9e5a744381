"""The sandbox session: logical time, seeded randomness and flagged I/O for workflow code only.

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
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import freezegun
from freezegun import api as _fg

from ..modes import SandboxMode
from . import audit, clock, randomness
from ._threads import ACTIVE, STACKS, Ctx, get_ident, reactivate

_lock = threading.RLock()
_depth = 0  # open session() count (and resident() blocks running now)
_resident = False  # installed by a standalone replay() and kept for the process: see resident()
_undo: list[Callable[[], None]] = []  # how to take the current session's patches back
_registered: dict[str, types.ModuleType] = {}
_hook_installed = False


def active() -> bool:
    """True iff the calling thread is inside workflow_code() and not inside unrestricted()."""
    return get_ident() in ACTIVE


def idle() -> bool:
    """No session open and no thread in workflow code (what tests check after each other)."""
    return _depth == 0 and not _resident and not ACTIVE and not STACKS


def _installed() -> bool:
    return _depth > 0 or _resident


def _patch(obj: Any, name: str, value: Any) -> None:
    original = vars(obj)[name]
    setattr(obj, name, value)
    _undo.append(lambda: setattr(obj, name, original))


def _rebind(module: types.ModuleType) -> None:
    """Point `from time import sleep` / `from os import urandom` names of `module` at the fakes."""
    fakes = {
        id(audit.REAL_SLEEP): audit.sleep,
        id(randomness.REAL_URANDOM): randomness.urandom,
        id(audit.REAL_EXIT): audit.exit_now,
        id(audit.REAL_ABORT): audit.abort_now,
    }
    for name, value in list(vars(module).items()):
        if id(value) in fakes:
            _patch(module, name, fakes[id(value)])


def register_module(module: types.ModuleType) -> None:
    """Cover a workflow module's own `from time import sleep` / `from os import urandom` bindings
    (the patched module attributes cannot reach them) in this and later sessions."""
    with _lock:
        _registered[module.__name__] = module
        if _installed():
            _rebind(module)


def unregister_module(name: str) -> None:
    """Forget a module registered with :func:`register_module` (tests that make throwaway modules)."""
    with _lock:
        _registered.pop(name, None)


def _install() -> None:
    global _hook_installed
    if _fg.freeze_factories:
        raise RuntimeError("replaytest.sandbox.session() cannot start inside freezegun.freeze_time()")
    if not _hook_installed:
        sys.addaudithook(audit.make_audit_hook())
        _hook_installed = True
    _patch(_fg, "_should_use_real_time", clock.use_real_time)
    for name in ("now", "utcnow", "today", "fromtimestamp"):
        _patch(_fg.FakeDatetime, name, clock.gated(_fg.FakeDatetime, name, getattr(_fg.real_datetime, name)))
    _patch(_fg.FakeDate, "today", clock.gated(_fg.FakeDate, "today", _fg.real_date.today))
    freezer = freezegun.freeze_time(datetime.datetime(2000, 1, 1))  # never seen: see _logical_utc
    freezer.start()  # the one sys.modules scan of this session
    _undo.append(freezer.stop)
    _fg.freeze_factories[-1] = clock.logical_utc  # type: ignore[call-overload]  # a plain callable serves too
    # Monotonic clocks stay real everywhere (asyncio, pytest, hypothesis, debugpy rely on them).
    clocks = {
        name: getattr(_fg, "real_" + name) for name in ("monotonic", "perf_counter", "monotonic_ns", "perf_counter_ns")
    }
    for name, real in clocks.items():
        setattr(time, name, real)
    real_ids = {id(real) for real in clocks.values()}
    for obj, attr, original in freezer.undo_changes:
        if id(original) in real_ids:
            setattr(obj, attr, original)
    _patch(time, "sleep", audit.sleep)
    _patch(threading.Thread, "start", audit.thread_start)
    _patch(os._Environ, "__getitem__", audit.environ_getitem)
    _patch(os._Environ, "__iter__", audit.environ_iter)
    _patch(os, "urandom", randomness.urandom)
    _patch(os, "_exit", audit.exit_now)  # no audit event: it would end the process mid-workflow
    _patch(os, "abort", audit.abort_now)
    _patch(random, "_urandom", randomness.urandom)  # SystemRandom, hence secrets
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
        if not _installed():
            try:
                _install()
            except BaseException:
                _uninstall()
                raise
        elif len(_fg.freeze_factories) > 1:  # the caller's own freeze_time() started on top of ours
            raise RuntimeError("replaytest's sandbox cannot run workflow code inside freezegun.freeze_time()")
        _depth += 1


def _release() -> None:
    global _depth
    with _lock:
        _depth -= 1
        if not _installed():
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
def resident() -> Iterator[None]:
    """What a standalone ``replay()`` holds: the session's patches, installed by the first one
    and then kept for the rest of the process, so later calls pay no freezegun start (a
    ``sys.modules`` scan, milliseconds) and no stop. Kept patches pass through to the real
    functions outside workflow code (each asks whether the calling thread runs workflow code),
    and a ``freezegun.freeze_time()`` of the caller's own started later still works. Inside an
    open :func:`session` it only joins that session. :func:`release_resident` takes them back."""
    global _resident
    with _lock:
        if not _installed():
            _acquire()
            _resident = True
            _release()  # the patches stay: _resident keeps them installed
    _acquire()
    try:
        yield
    finally:
        _release()


def release_resident() -> None:
    """Undo what :func:`resident` kept installed, once no session is open (tests that check the
    process is left as it was; a program never needs it)."""
    global _resident
    with _lock:
        if _resident:
            _resident = False
            if not _installed():
                _uninstall()


@contextlib.contextmanager
def workflow_code(
    now: datetime.datetime,
    rng: random.Random,
    *,
    mode: SandboxMode | str = SandboxMode.STRICT,
    on_violation: Callable[[audit.SandboxViolation], None] | None = None,
) -> Iterator[None]:
    """Sandbox the calling thread for the block: time is `now` (aware), `random` draws from `rng`
    (its state is written back on exit), and I/O is flagged per `mode` (strict/warn/off)."""
    try:
        mode = SandboxMode(mode).value
    except ValueError:
        raise ValueError(f"sandbox mode must be one of {[m.value for m in SandboxMode]}, not {mode!r}") from None
    if now.tzinfo is not datetime.UTC:
        if now.utcoffset() is None:
            raise ValueError(f"workflow_code() needs a timezone-aware `now`, got {now!r}")
        now = now.astimezone(datetime.UTC)
    ctx = Ctx(now.replace(tzinfo=None), rng, mode, on_violation, sys._getframe(2))
    tid, inst = get_ident(), random._inst
    spare = randomness.spares.pop() if randomness.spares else random.Random(0)
    _acquire()
    stack = STACKS.setdefault(tid, [])
    outer = next((c for c in reversed(stack) if c is not None), None)
    try:
        randomness.copy_state(inst, spare)  # the stream outside this block
        if outer is not None:
            randomness.copy_state(inst, outer.rng)  # so a nested block that shares `rng` continues its stream
        randomness.copy_state(rng, inst)
        stack.append(ctx)
        ACTIVE[tid] = ctx
        try:
            yield
        finally:
            stack.pop()
            reactivate(tid, stack)
            randomness.copy_state(inst, rng)
    finally:
        randomness.copy_state(outer.rng if outer is not None else spare, inst)
        randomness.spares.append(spare)
        if not stack:
            STACKS.pop(tid, None)
        ctx.entry = None
        _release()


def move_to(now: datetime.datetime) -> None:
    """Set the logical time of this thread's innermost workflow_code() block. Lets a replay
    hold one block across all of a history's workflow tasks (nothing but replaytest runs
    between them) instead of entering one per task."""
    ctx = ACTIVE.get(get_ident())
    if ctx is None:
        raise RuntimeError("sandbox.move_to() needs an active workflow_code() block in this thread")
    if now.utcoffset() is None:
        raise ValueError(f"move_to() needs a timezone-aware time, got {now!r}")
    ctx.now = now  # aware; _logical_utc() converts it if workflow code reads the clock


def clock_setter() -> Callable[[datetime.datetime], None]:
    """:func:`move_to` for this thread's innermost block without its checks, for a replay that
    moves the clock once per workflow task to aware times it parsed itself (~0.1 µs a call)."""
    ctx = ACTIVE.get(get_ident())
    if ctx is None:
        raise RuntimeError("sandbox.clock_setter() needs an active workflow_code() block in this thread")
    return functools.partial(setattr, ctx, "now")


@contextlib.contextmanager
def unrestricted() -> Iterator[None]:
    """In this thread: nothing flagged and real time for the block; randomness stays seeded."""
    tid = get_ident()
    stack = STACKS.get(tid)
    if stack is None:
        yield
        return
    stack.append(None)
    ACTIVE.pop(tid, None)
    try:
        yield
    finally:
        stack.pop()
        reactivate(tid, stack)
