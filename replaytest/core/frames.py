"""Places in the user's workflow code: which frames are the user's, where a command was
issued, where code waits, where it raised or returns.

:func:`is_user_file` is THE rule every report, the debugger and the sandbox use, so that two
reports can never name different lines: a frame is the user's unless it is replaytest's own,
the standard library's (asyncio included), an installed package's (site-packages: temporalio,
debugpy, …) or code without a file (``<frozen …>``, ``<string>``). Reports name places
relative to the working directory (for people) and keep the absolute path (for reading back).
"""

from __future__ import annotations

import ast
import asyncio
import dis
import functools
import inspect
import os
import sysconfig
import textwrap
import traceback
import types
from collections.abc import Callable, Iterator
from typing import Any

from ..report.source import Source, abspath_in, display_path_in
from .loop import RUN_UNTIL_IDLE

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_NOT_USER = tuple(
    sorted(
        {
            _PACKAGE_DIR,
            *(
                os.path.join(p, "")
                for key, d in sysconfig.get_paths().items()
                if key in ("stdlib", "platstdlib", "purelib", "platlib")
                for p in (d, os.path.realpath(d))
            ),
        }
    )
)


@functools.lru_cache(maxsize=4096)
def is_user_file(filename: str) -> bool:
    """True for the user's own code (see the module docstring for the one rule)."""
    if filename.startswith("<") or filename.startswith(_NOT_USER):
        return False
    return f"{os.sep}site-packages{os.sep}" not in filename and f"{os.sep}dist-packages{os.sep}" not in filename


def is_user_frame(frame: types.FrameType) -> bool:
    return is_user_file(frame.f_code.co_filename)


def user_frame(start: types.FrameType | None, *, require_loop: bool = False) -> types.FrameType | None:
    """The innermost user frame from ``start`` outwards, looking no further than the workflow
    loop. With ``require_loop``, None unless the loop is on the stack too (we were called from
    workflow code, not from outside it)."""
    found = None
    f = start
    while f is not None:
        if f.f_code is RUN_UNTIL_IDLE:
            return found
        if found is None and is_user_frame(f):
            if not require_loop:
                return f
            found = f
        f = f.f_back
    return None if require_loop else found


def blocked_frame(task: asyncio.Task[Any] | None) -> types.FrameType | None:
    """The deepest user frame of a suspended workflow coroutine: where it waits."""
    if task is None or task.done():
        return None
    coro: Any = task.get_coro()
    best = None
    while coro is not None and getattr(coro, "cr_frame", None) is not None:
        if is_user_frame(coro.cr_frame):
            best = coro.cr_frame
        coro = coro.cr_await
    return best


def source_at(filename: str, line: int, function: str) -> Source:
    cwd = os.getcwd()  # both paths are cached per (file, working directory): ~1 µs, not ~30
    return Source(display_path_in(filename, cwd), line, function, path=abspath_in(filename, cwd))


def frame_source(frame: types.FrameType | None) -> Source | None:
    return None if frame is None else source_at(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def user_source(frame: types.FrameType | None) -> Source | None:
    """Where the user's code is at ``frame`` or further out (within the workflow loop)."""
    return frame_source(user_frame(frame))


def blocked_source(task: asyncio.Task[Any] | None) -> Source | None:
    """Where a suspended workflow coroutine is waiting."""
    return frame_source(blocked_frame(task))


def return_source(fn: Callable[..., Any]) -> Source | None:
    """Where a workflow function returns when no frame says so: its one ``return`` statement,
    else its ``def`` line (never a guess among several ``return``s: see :func:`exit_source`
    for the one that ran). Only computed for a report, so parsing the source here costs
    nothing on replay."""
    code = fn.__code__
    try:
        lines, first = inspect.getsourcelines(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, SyntaxError):
        return source_at(code.co_filename, code.co_firstlineno, fn.__name__)
    func = next(n for n in ast.walk(tree) if isinstance(n, (ast.AsyncFunctionDef, ast.FunctionDef)))
    returns = sorted(n.lineno for n in _own_nodes(func) if isinstance(n, ast.Return))
    line = returns[0] if len(returns) == 1 else func.lineno
    return source_at(code.co_filename, first + line - 1, fn.__name__)


#: how :func:`exit_source` knows where a function ended
RETURNED, RAN_OFF_END, NOT_KNOWN = "return", "end", "not known"


def exit_source(code: types.CodeType, lasti: int, line: int) -> tuple[Source, str]:
    """Where a finished function left off, from its frame's last instruction (``lasti``) and
    line (a finished coroutine's frame object keeps both, CPython 3.11+), and how that is known:
    ``RETURNED`` (the `return` statement that ran), ``RAN_OFF_END`` (no `return` ran: the last
    line that ran) or ``NOT_KNOWN`` (the last line that ran; which `return` ended it is not
    known). Only lines the frame reached are named: never a `return` in a branch not taken.

    The last instruction is the `return`'s own, unless a ``with`` exit or a ``finally`` body ran
    after it: then the bytecode just before those is the `return`'s. Parses the source: for a
    report only."""
    source = source_at(code.co_filename, line, code.co_name)
    returns, shared, unwinding = _exit_lines(code)
    if line in returns:
        return source, RETURNED
    if line in shared:  # `if x: return y` on one line ran, but did its `return`?
        return source, NOT_KNOWN
    if line not in unwinding:
        return source, RAN_OFF_END
    for instruction in reversed([i for i in dis.get_instructions(code) if i.offset <= lasti]):
        at = instruction.positions.lineno if instruction.positions else None
        if at is None or (at in unwinding and at not in returns and at not in shared):
            continue  # the `with` exits and `finally` bodies run on the way out
        if at in returns and at not in unwinding:
            return source_at(code.co_filename, at, code.co_name), RETURNED
        break  # a `return` inside a `finally` (did it run?), or no `return` right before the exits
    return source, NOT_KNOWN


@functools.lru_cache(maxsize=256)
def _exit_lines(code: types.CodeType) -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
    """Lines of ``code``'s own `return` statements: (those that are nothing else, those shared
    with another statement, lines that run as it leaves: `with` headers and `finally` bodies);
    all empty when its source cannot be read."""
    try:
        lines, first = inspect.getsourcelines(code)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, SyntaxError, TypeError):
        return frozenset(), frozenset(), frozenset()
    func = next((n for n in ast.walk(tree) if isinstance(n, (ast.AsyncFunctionDef, ast.FunctionDef))), None)
    if func is None:
        return frozenset(), frozenset(), frozenset()
    returns: set[int] = set()
    others: set[int] = set()
    unwinding: set[int] = set()
    for n in _own_nodes(func):
        if isinstance(n, ast.Return):
            returns.update(range(n.lineno, (n.end_lineno or n.lineno) + 1))
        elif isinstance(n, ast.stmt):
            others.add(n.lineno)
        if isinstance(n, (ast.With, ast.AsyncWith)):
            unwinding.update(range(n.lineno, n.body[0].lineno))
        elif isinstance(n, ast.Try | ast.TryStar) and n.finalbody:
            unwinding.update(range(n.finalbody[0].lineno, (n.finalbody[-1].end_lineno or 0) + 1))
    offset = first - 1
    shared = returns & others
    return (
        frozenset(x + offset for x in returns - shared),
        frozenset(x + offset for x in shared),
        frozenset(x + offset for x in unwinding),
    )


def _own_nodes(func: ast.AST) -> Iterator[ast.AST]:
    """Nodes of ``func`` excluding nested function bodies."""
    for child in ast.iter_child_nodes(func):
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _own_nodes(child)


def exception_source(exc: BaseException) -> Source | None:
    """The innermost user line in the exception's traceback."""
    best = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if is_user_frame(frame):
            best = source_at(frame.f_code.co_filename, lineno, frame.f_code.co_name)
    return best


def user_tb_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """The user's frames of an exception's traceback, outermost first (for reports)."""
    return [fs for fs in traceback.extract_tb(exc.__traceback__) if is_user_file(fs.filename)]
