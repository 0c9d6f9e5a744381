"""The sandbox: logical time, seeded randomness and flagged I/O for workflow code only.

``sessions`` (the process-wide patches, one freezegun start), ``clock``, ``randomness`` and
``audit`` (I/O). Used by the native backend and the engine; a session that replays only
other platforms' histories never starts it.
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
