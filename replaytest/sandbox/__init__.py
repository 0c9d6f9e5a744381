"""The sandbox: logical time, seeded randomness and flagged I/O for workflow code only.

``sessions`` (the process-wide patches, one freezegun start), ``clock``, ``randomness`` and
``audit`` (I/O). Used by the engine and by the native and AWS backends (each holds one sandbox
session per run); Temporal histories run in temporalio's own sandbox, so a session that replays
only those never starts this one.
"""

from ..modes import SandboxMode
from .audit import SandboxViolation
from .sessions import (
    active,
    clock_setter,
    idle,
    move_to,
    register_module,
    release_resident,
    resident,
    session,
    unregister_module,
    unrestricted,
    workflow_code,
)

__all__ = [
    "SandboxMode",
    "SandboxViolation",
    "active",
    "clock_setter",
    "idle",
    "move_to",
    "register_module",
    "release_resident",
    "resident",
    "session",
    "unregister_module",
    "unrestricted",
    "workflow_code",
]
