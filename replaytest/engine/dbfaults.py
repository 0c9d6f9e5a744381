"""What can go wrong with the engine's database file, each as one line naming it.

A damaged file, a read-only one, a ``--db`` below a regular file, a directory that cannot be
created, a write lock another process holds too long: faults of the file, never of a
workflow, so they are :class:`DatabaseError` (the CLI prints one line, a worker waits out a
lock). A value SQLite refuses (``DataError``: too big) is not among them — that one is the
data's fault, pinned on the workflow that wrote it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..definitions import ReplaytestError
from .errors import DatabaseError, DatabaseLockedError

DEFAULT_LOCK_TIMEOUT = 30.0


def lock_timeout_from_env() -> float:
    """``REPLAYTEST_LOCK_TIMEOUT`` (seconds to wait for another process's write lock), default 30."""
    text = os.environ.get("REPLAYTEST_LOCK_TIMEOUT")
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise ReplaytestError(f"REPLAYTEST_LOCK_TIMEOUT must be a number of seconds from 0 to 86400, not {text!r}")
    return value


def of_the_database(e: BaseException) -> bool:
    """A failure of the file (locked, read-only, damaged, disk full, I/O), not of a value written."""
    return isinstance(e, sqlite3.OperationalError) or type(e) is sqlite3.DatabaseError


def prepare_path(path_text: str) -> None:
    """Create the database's directory, or say in one line why it cannot be."""
    path = Path(path_text)
    if path.is_dir():
        raise DatabaseError(f"the engine database path {path_text} is a directory; pass a file path with --db")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        reason = f"{blocker} is not a directory" if blocker is not None else (e.strerror or str(e))
        raise DatabaseError(
            f"cannot create the directory for the engine database {path_text}: {reason}; pass another --db path"
        ) from None


def fault(path: str, e: sqlite3.Error, lock_timeout: float) -> DatabaseError:
    """One line for an SQLite failure of the file at ``path``, and what to do."""
    text = str(e)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return DatabaseLockedError(path, lock_timeout)
    if "readonly" in low or "read-only" in low:
        return DatabaseError(
            f"the engine database {path} is read-only ({text}); make the file and its "
            "directory writable, or pass another --db path (listing and exporting still work)"
        )
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return DatabaseError(
            f"the engine database {path} is damaged or not an SQLite file ({text}); "
            "restore it from a backup or pass another --db path"
        )
    return DatabaseError(f"the engine database {path} cannot be used: {text}; pass another --db path")
