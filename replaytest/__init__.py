"""replaytest: deterministic replay testing and debugging for Python durable workflows.

Write workflows with ``workflow`` and ``activity``, run them on the embedded ``Engine``,
export their histories, and ``replay`` the current code against them.
"""

from __future__ import annotations

from typing import Any

from . import activity, workflow
from .backends.native import replay
from .definitions import (
    ActivityError,
    ApplicationError,
    DuplicateWorkflowWarning,
    PayloadError,
    ReplaytestError,
    RetryPolicy,
)
from .history import Event, History, HistoryFormatError
from .report import Divergence, NondeterminismError, ReplayResult, UnknownWorkflowError, WorkflowTaskError

__version__ = "0.1.0"

__all__ = [
    "ActivityError",
    "ApplicationError",
    "Divergence",
    "DuplicateWorkflowWarning",
    "Engine",
    "Event",
    "History",
    "HistoryFormatError",
    "NondeterminismError",
    "PayloadError",
    "ReplayResult",
    "ReplaytestError",
    "RetryPolicy",
    "SandboxViolation",
    "UnknownWorkflowError",
    "WorkflowTaskError",
    "activity",
    "check_recovery",
    "replay",
    "workflow",
]


def __getattr__(name: str) -> Any:
    # The engine (sqlite3) and the sandbox (freezegun) load only when asked for.
    if name == "Engine":
        from .engine import Engine

        return Engine
    if name == "SandboxViolation":
        from .sandbox import SandboxViolation

        return SandboxViolation
    if name == "check_recovery":
        from .testing.recovery import check_recovery

        return check_recovery
    raise AttributeError(f"module 'replaytest' has no attribute {name!r}")
