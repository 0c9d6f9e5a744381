"""What a replay that matched its history returns, whatever backend replayed it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .text import safe


@dataclass
class ReplayResult:
    workflow_id: str
    workflow_type: str
    status: str  # completed | failed | running
    output: Any  # the workflow's result, its failure, or None while running
    events_replayed: int
    warnings: list[str] = field(default_factory=list)
    waiting: str | None = None  # where an unfinished workflow's code is waiting
    new_commands: list[str] = field(default_factory=list)  # what the code would do next, one line each

    def summary(self) -> str:
        s = f"{self.workflow_id} ({self.workflow_type}): {self.events_replayed} events replayed, {self.status}"
        if self.status == "running":
            s += "; history ends while the workflow runs" + (f", waiting at {self.waiting}" if self.waiting else "")
        if self.new_commands:
            s += "; next the code would issue " + ", ".join(self.new_commands[:3])
        if self.warnings:
            s += f"; {len(self.warnings)} warning(s)"
        return safe(s)


class ReplayWarning(UserWarning):
    """A replay went through but noticed something: arguments that differ under
    ``--replay-args=warn``, sandbox violations under ``--replay-sandbox=warn``. Users name it
    ``replaytest_pytest.ReplayWarning`` (the plugin re-exports it lazily, so
    ``-W error::replaytest_pytest.ReplayWarning`` costs an unrelated session nothing)."""


ReplayWarning.__module__ = "replaytest_pytest"
