"""The session settings a backend replays with (mirrors ``replaytest.backends.ReplaySettings``
until the restructured layout provides it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable


@dataclass
class ReplaySettings:
    modules: list[ModuleType]
    module_names: list[str]
    args_mismatch: str = "warn"       # error | warn | ignore (Temporal's default: warn)
    sandbox: str = "on"               # Temporal: on (temporalio's sandbox) | off
    project_dir: Path = field(default_factory=Path.cwd)
    handlers: list[str] = field(default_factory=list)
    observer_factory: Callable[[], Any] | None = None
