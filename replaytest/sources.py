"""Places in the user's workflow code: where a command was issued, where code waits, where it
raised or returns, and the JSON form of a failure with its line.

Reports name these places relative to the working directory (for people) and keep the
absolute path (for reading the line back). Frames of replaytest and asyncio are never the
user's place.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import inspect
import os
import textwrap
import traceback
from typing import Any, Callable, Iterator

from .commands import Source
from .definitions import ActivityError, ApplicationError

LIBRARY_DIRS = (os.path.dirname(__file__) + os.sep, os.path.dirname(asyncio.__file__) + os.sep)
_LIBRARY_DIRS = LIBRARY_DIRS  # the short name used below


def source_at(filename: str, line: int, function: str) -> Source:
    cwd = os.getcwd()  # both paths are cached per (file, working directory): ~1 µs, not ~30
    return Source(_display_path(filename, cwd), line, function, path=_abspath(filename, cwd))


@functools.lru_cache(maxsize=1024)
def _abspath(filename: str, cwd: str) -> str:
    return os.path.abspath(filename)


def display_path(filename: str) -> str:
    # called for every command issued (user_source); os.path.relpath costs ~25 µs, so cache
    # per (file, working directory)
    return _display_path(filename, os.getcwd())


@functools.lru_cache(maxsize=1024)
def _display_path(filename: str, cwd: str) -> str:
    try:
        rel = os.path.relpath(filename, cwd)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel


def blocked_source(task: asyncio.Task[Any] | None) -> Source | None:
    """Where a suspended workflow coroutine is waiting (the deepest user frame)."""
    if task is None or task.done():
        return None
    coro: Any = task.get_coro()
    best = None
    while coro is not None and getattr(coro, "cr_frame", None) is not None:
        frame = coro.cr_frame
        if not frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
            best = source_at(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
        coro = coro.cr_await
    return best


def return_source(fn: Callable[..., Any]) -> Source | None:
    """Where a workflow function returns: its one ``return`` statement, else its ``def``
    line. Only computed for a report, so parsing the source here costs nothing on replay."""
    code = fn.__code__
    try:
        lines, first = inspect.getsourcelines(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (OSError, SyntaxError):
        return source_at(code.co_filename, code.co_firstlineno, fn.__name__)
    func = next(n for n in ast.walk(tree) if isinstance(n, (ast.AsyncFunctionDef, ast.FunctionDef)))
    returns = [n for n in _own_nodes(func) if isinstance(n, ast.Return)]
    line = returns[0].lineno if len(returns) == 1 else func.lineno
    return source_at(code.co_filename, first + line - 1, fn.__name__)


def _own_nodes(func: ast.AST) -> Iterator[ast.AST]:
    """Nodes of ``func`` excluding nested function bodies."""
    for child in ast.iter_child_nodes(func):
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _own_nodes(child)


def exception_source(exc: BaseException) -> Source | None:
    """The innermost workflow-code line in the exception's traceback."""
    best = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if not filename.startswith(_LIBRARY_DIRS) and not filename.startswith("<"):
            best = source_at(filename, lineno, frame.f_code.co_name)
    return best


def failure_of(exc: BaseException, source: Source | None = None) -> dict[str, Any]:
    """The JSON form of an exception as the history stores it."""
    if isinstance(exc, ApplicationError):
        f: dict[str, Any] = {"type": exc.type, "message": exc.message, "non_retryable": exc.non_retryable}
    elif isinstance(exc, ActivityError):  # the activity's own failure, and which activity it was
        f = {"type": exc.type, "message": f"activity {exc.activity_type} failed: {exc.message}"}
    else:
        f = {"type": type(exc).__name__, "message": str(exc)}
    source = source or exception_source(exc)
    if source is not None:
        f["source"] = {"file": source.file, "line": source.line, "function": source.function}
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-8))
    if stack:  # paths relative to the project, as in `source`: histories get committed
        stack = stack.replace(os.getcwd() + os.sep, "")
        f["stack"] = stack
    return f
