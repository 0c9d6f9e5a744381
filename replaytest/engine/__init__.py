"""The embedded durable engine: SQLite-backed histories, workers, leases, clocks.

``store`` (SQLite schema and transactions) → ``transitions`` (events + derived task rows,
one transaction each) → ``workflow_task`` / ``activity_task`` (running code) → ``worker``
(the polling loop) → ``engine`` (the facade). See docs/engine.md.
"""

from .clock import Clock, RealClock, VirtualClock
from .engine import DEFAULT_DB, Engine, WorkflowHandle, WorkflowInfo
from .errors import (
    DatabaseError,
    DatabaseLockedError,
    EngineError,
    WorkflowAlreadyRunningError,
    WorkflowBlockedError,
    WorkflowFailedError,
    WorkflowIdReuseError,
    WorkflowNotFoundError,
)
from .worker import WorkStats

__all__ = [
    "DEFAULT_DB",
    "Clock",
    "DatabaseError",
    "DatabaseLockedError",
    "Engine",
    "EngineError",
    "RealClock",
    "VirtualClock",
    "WorkStats",
    "WorkflowAlreadyRunningError",
    "WorkflowBlockedError",
    "WorkflowFailedError",
    "WorkflowHandle",
    "WorkflowIdReuseError",
    "WorkflowInfo",
    "WorkflowNotFoundError",
]
