"""The few replaytest pieces the AWS backend uses, imported in one place.

The backend seam is being restructured on main; keeping these imports here means moving the
backend onto the new layout touches one file.
"""

from __future__ import annotations

import functools
import os
import sysconfig

from ...commands import Source
from ...definitions import ReplaytestError
from ...divergence import KINDS, Divergence, NondeterminismError, WorkflowTaskError
from ...history import HistoryFormatError
from ...replay import ReplayResult, UnknownWorkflowError
from ...sources import exception_source, return_source, source_at

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep
_NOT_USER = tuple(sorted({_PACKAGE_DIR, *(os.path.join(p, "") for key, d in sysconfig.get_paths().items()
                                          if key in ("stdlib", "platstdlib", "purelib", "platlib")
                                          for p in (d, os.path.realpath(d)))}))


@functools.lru_cache(maxsize=4096)
def is_user_file(filename: str) -> bool:
    """The user's own code: not replaytest, the standard library or an installed package."""
    if filename.startswith("<") or filename.startswith(_NOT_USER):
        return False
    return f"{os.sep}site-packages{os.sep}" not in filename and f"{os.sep}dist-packages{os.sep}" not in filename


def sandbox_module():  # type: ignore[no-untyped-def]
    """replaytest's sandbox (imports freezegun: only when a replay runs)."""
    from ... import sandbox

    return sandbox


__all__ = ["Source", "ReplaytestError", "KINDS", "Divergence", "NondeterminismError", "WorkflowTaskError",
           "HistoryFormatError", "ReplayResult", "UnknownWorkflowError", "exception_source", "return_source",
           "source_at", "is_user_file", "sandbox_module"]
