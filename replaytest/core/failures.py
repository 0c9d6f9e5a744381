"""The JSON form of an exception as a history stores it, with the user's line."""

from __future__ import annotations

import os
import traceback
from typing import Any

from ..definitions import ActivityError, ApplicationError
from ..report.source import Source
from .frames import exception_source


def failure_of(exc: BaseException, source: Source | None = None) -> dict[str, Any]:
    """The JSON form of an exception as the history stores it."""
    if isinstance(exc, ApplicationError):
        f: dict[str, Any] = {"type": exc.type, "message": exc.message, "non_retryable": exc.non_retryable}
    elif isinstance(exc, ActivityError):  # the activity's own failure, and which activity it was
        f = {"type": exc.type, "message": f"activity {exc.activity_type} failed: {exc.message}"}
    else:
        f = {"type": type(exc).__name__, "message": _message(exc)}
    source = source or exception_source(exc)
    if source is not None:
        f["source"] = {"file": source.file, "line": source.line, "function": source.function}
    stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-8))
    if stack:  # paths relative to the project, as in `source`: histories get committed
        stack = stack.replace(os.getcwd() + os.sep, "")
        f["stack"] = stack
    return {k: storable_text(v) if isinstance(v, str) else v for k, v in f.items()}


def _message(exc: BaseException) -> str:
    """``str(exc)``, even for an exception whose ``__str__`` raises (user code can do anything)."""
    try:
        return str(exc)
    except Exception as e:
        return f"<its __str__ raised {type(e).__name__}>"


def storable_text(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes: an exception's message is
    for people, and must not stop the history that records it from being stored as UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
