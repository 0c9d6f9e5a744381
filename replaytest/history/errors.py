"""The one error every history reader raises: where in which file, and why, in plain words."""

from __future__ import annotations

from ..definitions import ReplaytestError
from ..report.text import safe


class HistoryFormatError(ReplaytestError, ValueError):
    """A history file that cannot be used, with where and why in plain words."""

    def __init__(self, source: str, where: str, reason: str) -> None:
        self.source, self.where, self.reason = source, where, reason
        place = f"{source}: {where}" if where else source
        super().__init__(safe(f"{place}: {reason}"))  # a reason may quote the file's content
