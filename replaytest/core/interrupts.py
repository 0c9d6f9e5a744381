"""Raising an exception in another thread: how a stuck piece of workflow code is stopped (the
engine's deadlock watchdog, an AWS replay's handler threads). CPython raises it at the thread's
next bytecode boundary; code blocked inside one C call sees it only when that call returns."""

from __future__ import annotations

import ctypes


def raise_in(thread_id: int, exc: type[BaseException]) -> None:
    """Raise ``exc`` in the thread ``thread_id`` asynchronously. Never cleared with
    ``PyThreadState_SetAsyncExc(id, NULL)``: on CPython 3.11 that leaves the interpreter's eval
    breaker set for good, and a traced generator then spins forever at its first line."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc))
