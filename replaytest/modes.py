"""The option vocabularies a user gives (``--replay-args``, ``--replay-sandbox``, the ini
keys, the marker, ``replaytest replay --args/--sandbox``), parsed once where they are given.

Everything may import this module. The pytest plugin keeps its own copy of the words for its
``--help`` (it cannot import the library at startup); a test checks it against these enums.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from .definitions import ReplaytestError


class ArgsMode(StrEnum):
    """What a changed activity argument against history is: a failure, a warning, or nothing."""

    ERROR = "error"
    WARN = "warn"
    IGNORE = "ignore"


class SandboxMode(StrEnum):
    """strict: a flagged call raises; warn: it is reported and goes on; off: nothing is flagged."""

    STRICT = "strict"
    WARN = "warn"
    OFF = "off"


class ModeError(ReplaytestError, ValueError):
    """A mode the option does not know: one line naming the option and its words."""


M = TypeVar("M", ArgsMode, SandboxMode)


def parse_mode(kind: type[M], value: M | str, what: str) -> M:
    """``value`` as a ``kind``, or a ModeError naming ``what`` (the option as the user wrote it)
    and the words it accepts."""
    try:
        return kind(value)
    except ValueError:
        raise ModeError(f"{what} must be {words(kind)}, not {value!r}") from None


def words(kind: type[ArgsMode] | type[SandboxMode]) -> str:
    """``error, warn or ignore``: a mode's words as a sentence says them."""
    values = [m.value for m in kind]
    return ", ".join(values[:-1]) + " or " + values[-1]


__all__ = ["ArgsMode", "ModeError", "SandboxMode", "parse_mode", "words"]
