"""The replay debugger for Temporal histories: ``--replay-break-at N`` and
``--replay-break-on divergence`` stop in the workflow's own frame.

Stops go through the seam's debugger (``ReplayDebugger``), made before the replay starts (outside
temporalio's sandbox). The replay runs with temporalio's ``debug_mode`` (activations on the worker's loop thread, no
deadlock detector while paused). The capture hooks (``capture.py``) call :meth:`DebugPlan.at`
each time workflow code issues a command, with the live frame of the workflow line:

* break-at N: the first time workflow code runs in a workflow task that started at or after
  event N, i.e. once N was applied, it stops at the next command the code issues;
* divergence: the command is compared with the command history recorded at that place in
  that workflow task, and a mismatch stops on the line, as on an exception, before temporalio
  even sees it.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from typing import Any

from ...report.divergence import NondeterminismError
from .. import ReplayDebugger
from .compare import Recorded, describe_issued, mismatch_kind, recorded_names, recorded_tasks, same
from .events import TEvent, describe
from .report import TemporalDivergence, source_of


class DebugPlan:
    def __init__(
        self,
        observer: ReplayDebugger,
        events: Sequence[TEvent],
        workflow_id: str,
        workflow_type: str,
        source: str,
        to_json: Callable[[Sequence[Any]], list[Any]],
    ) -> None:
        self.observer = observer
        self.workflow_id, self.workflow_type, self.source, self.to_json = workflow_id, workflow_type, source, to_json
        self.events = {e.id: e for e in events}
        tasks = recorded_tasks(events)
        self.expected: dict[int, list[Recorded]] = {t.started: t.commands for t in tasks}
        self.later = recorded_names(tasks)  # as the report has it, so both name the same kind
        self.issued_in: dict[int, int] = {}
        self.diverged = False
        self.break_on_divergence = observer.break_on_divergence

    def at(self, issued: Any, task: int, frame: types.FrameType | None) -> None:
        """Workflow code issued ``issued`` during the workflow task started at ``task``."""
        due = self.observer.take_due(task)  # marked reached: the observer's unreached() tells the rest
        if due:
            self._break_at(due, task, frame)
        if issued is None or not self.break_on_divergence or self.diverged:
            return
        if issued.kind in ("local_activity", "signal"):
            return
        index = self.issued_in.get(task, 0)
        self.issued_in[task] = index + 1
        if task not in self.expected:
            return  # beyond the recorded workflow tasks: new commands, not a divergence
        expected = [r for r in self.expected[task] if not (r.kind == "patch" and r.deprecated)]
        recorded = expected[index] if index < len(expected) else None
        if recorded is not None and same(recorded, issued):
            return
        self.diverged = True
        if frame is None:
            return
        event: TEvent | None
        if recorded is not None:
            kind, detail = mismatch_kind(recorded, issued, self.later)
            event, what = recorded.event, describe(recorded.event)
        else:
            kind, detail = "extra", ""
            event, what = self.events.get(task), "no further command in this workflow task: the workflow waited"
        divergence = TemporalDivergence(
            kind,
            self.workflow_id,
            self.workflow_type,
            event.id if event else task,
            event.type if event else None,
            what,
            describe_issued(issued, self.to_json),
            source_of(issued.frame),
            detail=detail,
            history_source=self.source,
        )
        self.observer.diverged(NondeterminismError(divergence), frame, self.workflow_type)

    def _break_at(self, due: list[int], task: int, frame: types.FrameType | None) -> None:
        asked = ", ".join(map(str, due))
        if frame is None:
            self.observer.announce(f"replaytest: --break-at {asked}: applied, but no workflow code is there to stop in")
            return
        event = self.events.get(due[-1])
        view = {"id": event.id, "type": event.type, **event.attrs} if event else {}
        note = (
            f"--break-at {asked}: history up to event {task} is applied; the workflow code continues here "
            "with the next command it issues"
        )
        self.observer.stop(frame, f"break-at {asked}", task, {"replaytest_event": view, "replaytest_break": note})
