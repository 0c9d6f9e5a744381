"""The few replaytest pieces the AWS backend uses, imported in one place."""

from __future__ import annotations

from typing import Any

from ...core.frames import exception_source, is_user_file, return_source, user_frame, user_source, user_tb_frames
from ...definitions import ReplaytestError
from ...history.errors import HistoryFormatError
from ...modules import ModuleImportError, import_target
from ...report import Divergence, NondeterminismError, ReplayResult, Source, UnknownWorkflowError, WorkflowTaskError
from ...report.text import short_json


def sandbox_module() -> Any:
    """replaytest's sandbox (imports freezegun: only when a replay runs)."""
    from ... import sandbox

    return sandbox


__all__ = [
    "Divergence",
    "HistoryFormatError",
    "ModuleImportError",
    "NondeterminismError",
    "ReplayResult",
    "ReplaytestError",
    "Source",
    "UnknownWorkflowError",
    "WorkflowTaskError",
    "exception_source",
    "import_target",
    "is_user_file",
    "return_source",
    "sandbox_module",
    "short_json",
    "user_frame",
    "user_source",
    "user_tb_frames",
]
