"""The few replaytest pieces the AWS backend uses, imported in one place."""

from __future__ import annotations

from typing import Any

from ...core.frames import exception_source, is_user_file, return_source, source_at, user_tb_frames
from ...definitions import ReplaytestError
from ...history.errors import HistoryFormatError
from ...report import (KINDS, Divergence, NondeterminismError, ReplayResult, Source, UnknownWorkflowError,
                       UnsupportedOption, WorkflowTaskError)


def sandbox_module() -> Any:
    """replaytest's sandbox (imports freezegun: only when a replay runs)."""
    from ... import sandbox

    return sandbox


__all__ = ["Source", "ReplaytestError", "KINDS", "Divergence", "NondeterminismError", "WorkflowTaskError",
           "HistoryFormatError", "ReplayResult", "UnknownWorkflowError", "UnsupportedOption", "exception_source",
           "return_source", "source_at", "is_user_file", "sandbox_module", "user_tb_frames"]
