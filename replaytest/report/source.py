"""A place in the user's code, as every report names it."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Source:
    """Where in workflow code something happened (a command issued, an exception raised)."""

    file: str  # relative to the working directory when under it: for people
    line: int
    function: str
    code: str = ""
    path: str = field(default="", compare=False)  # absolute: for reading the line back

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function, "code": self.code}

    def __str__(self) -> str:
        return f"{self.file}:{self.line} in {self.function}"


@functools.lru_cache(maxsize=1024)
def abspath_in(filename: str, cwd: str) -> str:
    """``os.path.abspath`` for a working directory ``cwd`` (cached per pair: ~1 µs, not ~30)."""
    return os.path.abspath(filename)


def display_path(filename: str) -> str:
    return display_path_in(filename, os.getcwd())


@functools.lru_cache(maxsize=1024)
def display_path_in(filename: str, cwd: str) -> str:
    """``filename`` relative to ``cwd`` when under it, else as it is (cached per pair)."""
    try:
        rel = os.path.relpath(filename, cwd)  # ~25 µs, hence the cache
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel
